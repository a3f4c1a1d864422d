//! The photo-like style of the synthetic pictures: a sky with clouds over hills and textured ground, objects
//! in natural colours standing on the ground with soft shadows and light from above, the sun in the sky with
//! a glow, then lens blur and sensor noise. Built from the same seeded stream, so a picture repeats exactly.

use crate::rng::uniform;
use image::{Rgb, RgbImage};
use imageproc::drawing::draw_filled_ellipse_mut;
use rand::rngs::StdRng;
use rand::RngExt;

/// An RGB colour near `base`, each channel moved by up to `spread`.
fn near(rng: &mut StdRng, base: [f32; 3], spread: f32) -> [f32; 3] {
    base.map(|c| (c + uniform(rng, -spread, spread)).clamp(0.0, 255.0))
}

fn rgb(c: [f32; 3]) -> Rgb<u8> {
    Rgb(c.map(|v| v.round().clamp(0.0, 255.0) as u8))
}

fn mix(a: [f32; 3], b: [f32; 3], t: f32) -> [f32; 3] {
    [0, 1, 2].map(|i| a[i] * (1.0 - t) + b[i] * t)
}

/// Smooth value noise in [0, 1]: random values on a grid of `cell` pixels (repeating beyond the picture),
/// interpolated with smoothstep.
struct Noise {
    cols: usize,
    cell: f32,
    values: Vec<f32>,
}

impl Noise {
    fn new(side: u32, cell: f32, rng: &mut StdRng) -> Self {
        let cols = (side as f32 / cell).ceil() as usize + 2;
        let values = (0..cols * cols).map(|_| rng.random::<f32>()).collect();
        Noise { cols, cell, values }
    }

    fn at(&self, x: f32, y: f32) -> f32 {
        let (gx, gy) = (x / self.cell, y / self.cell);
        let (ix, iy) = (gx.floor() as usize, gy.floor() as usize);
        let s = |t: f32| t * t * (3.0 - 2.0 * t);
        let (tx, ty) = (s(gx.fract()), s(gy.fract()));
        let v = |i: usize, j: usize| self.values[(j % self.cols) * self.cols + i % self.cols];
        let top = v(ix, iy) * (1.0 - tx) + v(ix + 1, iy) * tx;
        let bottom = v(ix, iy + 1) * (1.0 - tx) + v(ix + 1, iy + 1) * tx;
        top * (1.0 - ty) + bottom * ty
    }
}

/// Two octaves of value noise in [0, 1].
fn texture(side: u32, cell: f32, rng: &mut StdRng) -> impl Fn(f32, f32) -> f32 {
    let (coarse, fine) = (
        Noise::new(side, cell, rng),
        Noise::new(side, cell / 3.0, rng),
    );
    move |x, y| 0.65 * coarse.at(x, y) + 0.35 * fine.at(x, y)
}

/// Sky, clouds, hills and ground; returns the picture and the horizon's row (objects stand below it).
pub fn background(side: u32, rng: &mut StdRng) -> (RgbImage, f32) {
    let s = side as f32;
    let horizon = uniform(rng, 0.45, 0.62) * s;
    // A clear, hazy or evening sky, lighter towards the horizon.
    let (zenith, haze) = match rng.random_range(0..3) {
        0 => (
            near(rng, [70.0, 120.0, 200.0], 25.0),
            near(rng, [180.0, 205.0, 230.0], 15.0),
        ),
        1 => (
            near(rng, [140.0, 150.0, 165.0], 20.0),
            near(rng, [205.0, 205.0, 210.0], 15.0),
        ),
        _ => (
            near(rng, [90.0, 100.0, 170.0], 20.0),
            near(rng, [240.0, 170.0, 120.0], 20.0),
        ),
    };
    let grass = match rng.random_range(0..3) {
        0 => near(rng, [80.0, 130.0, 55.0], 20.0),
        1 => near(rng, [130.0, 125.0, 70.0], 20.0),
        _ => near(rng, [115.0, 95.0, 70.0], 15.0),
    };
    let hill = mix(near(rng, [60.0, 95.0, 80.0], 15.0), haze, 0.35);
    let ground = texture(side, s / 6.0, rng);
    let clouds = texture(side, s / 4.0, rng);
    let cover = uniform(rng, 0.35, 0.75);
    let (f1, f2, p1, p2) = (
        uniform(rng, 2.0, 5.0),
        uniform(rng, 6.0, 11.0),
        uniform(rng, 0.0, 6.3),
        uniform(rng, 0.0, 6.3),
    );
    let img = RgbImage::from_fn(side, side, |x, y| {
        let (xf, yf) = (x as f32, y as f32);
        let u = xf / s;
        let ridge =
            horizon - s * (0.05 + 0.04 * (f1 * u + p1).sin() + 0.02 * (f2 * u + p2).sin()).max(0.0);
        let c = if yf < ridge {
            let sky = mix(zenith, haze, (yf / horizon).clamp(0.0, 1.0).powf(1.5));
            let w = ((clouds(xf, yf * 2.5) - cover) / 0.2).clamp(0.0, 1.0) * 0.85;
            mix(sky, [245.0, 245.0, 248.0], w)
        } else if yf < horizon {
            let t = ground(xf, yf) * 0.25;
            mix(hill, [30.0, 50.0, 40.0], t)
        } else {
            // Farther ground is lighter and hazier; texture is grass or soil patches.
            let depth = ((yf - horizon) / (s - horizon)).clamp(0.0, 1.0);
            let t = ground(xf * 1.5, yf * 3.0);
            let c = mix(grass, [grass[0] * 0.55, grass[1] * 0.6, grass[2] * 0.5], t);
            mix(c, haze, 0.3 * (1.0 - depth))
        };
        rgb(c)
    });
    (img, horizon)
}

/// The natural colours of class `k`'s object: (main, second) as the flat style's c1 and c2.
pub fn palette(k: usize, rng: &mut StdRng) -> (Rgb<u8>, Rgb<u8>) {
    let (a, b) = match k {
        // house: plaster, brick or timber walls; tiled or slate roof
        0 => (
            [
                [225.0, 210.0, 180.0],
                [170.0, 80.0, 60.0],
                [150.0, 110.0, 75.0],
            ][rng.random_range(0..3)],
            [[150.0, 50.0, 40.0], [70.0, 70.0, 80.0], [110.0, 60.0, 40.0]][rng.random_range(0..3)],
        ),
        // tree: green or autumn crown, brown trunk
        1 => (
            [
                [50.0, 110.0, 40.0],
                [90.0, 140.0, 50.0],
                [190.0, 120.0, 40.0],
            ][rng.random_range(0..3)],
            [95.0, 65.0, 40.0],
        ),
        // sun: disc and rays
        2 => ([255.0, 225.0, 90.0], [255.0, 185.0, 60.0]),
        // car: paint and glass
        _ => (
            [
                [180.0, 30.0, 30.0],
                [30.0, 60.0, 150.0],
                [220.0, 220.0, 215.0],
                [40.0, 40.0, 45.0],
            ][rng.random_range(0..4)],
            [120.0, 160.0, 190.0],
        ),
    };
    (rgb(near(rng, a, 18.0)), rgb(near(rng, b, 12.0)))
}

/// Where class `k`'s object of side `d` goes: on the ground for house, tree and car, in the sky for the sun.
pub fn place(k: usize, d: f32, side: u32, horizon: f32, rng: &mut StdRng) -> (f32, f32) {
    let s = side as f32;
    let x = uniform(rng, 0.0, s - d);
    let y = if k == 2 {
        uniform(rng, 0.0, (horizon - d).max(0.0) + 1.0).min(s - d)
    } else {
        // The base stands a little below the horizon, nearer or farther.
        let base = uniform(rng, horizon + 0.04 * s, s);
        (base - d).clamp(0.0, s - d)
    };
    (x, y)
}

/// A soft shadow under a ground object whose box is (x, y, d), drawn before the object.
pub fn shadow(img: &mut RgbImage, x: f32, y: f32, d: f32) {
    let mut layer = img.clone();
    let centre = ((x + 0.55 * d) as i32, (y + 0.98 * d) as i32);
    draw_filled_ellipse_mut(
        &mut layer,
        centre,
        (0.55 * d) as i32,
        (0.08 * d).max(1.0) as i32,
        Rgb([0, 0, 0]),
    );
    for (p, q) in img.pixels_mut().zip(layer.pixels()) {
        if p != q {
            *p = rgb(mix(p.0.map(f32::from), [20.0, 25.0, 20.0], 0.45));
        }
    }
}

/// Light from above on the object's pixels (those that differ from `before`), a glow around the sun, then
/// lens blur and sensor noise over the whole picture. `k` is `None` for a picture without its object.
pub fn finish(
    img: &mut RgbImage,
    before: &RgbImage,
    k: Option<usize>,
    bbox: [f32; 4],
    rng: &mut StdRng,
) {
    let (top, bottom) = (bbox[1], bbox[3].max(bbox[1] + 1.0));
    let grain = texture(img.width(), 3.0, rng);
    for (x, y, p) in img.enumerate_pixels_mut() {
        if *p == *before.get_pixel(x, y) {
            continue;
        }
        let t = ((y as f32 - top) / (bottom - top)).clamp(0.0, 1.0);
        let light = 1.12 - 0.3 * t + 0.12 * (grain(x as f32, y as f32) - 0.5);
        *p = rgb(p.0.map(|c| c as f32 * light));
    }
    if k == Some(2) {
        let (cx, cy) = ((bbox[0] + bbox[2]) / 2.0, (bbox[1] + bbox[3]) / 2.0);
        let r = (bbox[2] - bbox[0]).max(1.0);
        for (x, y, p) in img.enumerate_pixels_mut() {
            let dist = ((x as f32 - cx).powi(2) + (y as f32 - cy).powi(2)).sqrt() / r;
            let glow = (1.0 - dist).clamp(0.0, 1.0).powi(2) * 0.45;
            *p = rgb(mix(p.0.map(f32::from), [255.0, 240.0, 200.0], glow));
        }
    }
    *img = imageproc::filter::gaussian_blur_f32(img, 0.6);
    sensor_noise(img, 10.0, rng);
}

/// Uniform noise of width `spread` added to every channel of every pixel (both styles end with it).
pub fn sensor_noise(img: &mut RgbImage, spread: f32, rng: &mut StdRng) {
    for p in img.pixels_mut() {
        for c in 0..3 {
            let n = (rng.random::<f32>() - 0.5) * spread;
            p[c] = (p[c] as f32 + n).clamp(0.0, 255.0) as u8;
        }
    }
}

//! Synthetic labelled pictures with known object boxes: each class is a drawn object with distinctive parts
//! (a house with roof and door, a tree with trunk and crown, a sun with rays, a car with wheels) in a random
//! colour, size and position over a cluttered background of the same distribution for every class.
//! The ground truth for localisation (`skelcam image localize --format synthetic`).

use super::images::{BBox, ImageItem, ImageSet};
use super::synth_scene;
use crate::rng::{rng_for, streams, uniform};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_circle_mut, draw_filled_rect_mut, draw_polygon_mut};
use imageproc::point::Point;
use imageproc::rect::Rect;
use rand::rngs::StdRng;
use rand::RngExt;
use serde::{Deserialize, Serialize};

pub const CLASSES: [&str; 4] = ["house", "tree", "sun", "car"];

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SynthImageConfig {
    /// Number of classes, 2–4 (house, tree, sun, car in that order).
    pub classes: usize,
    pub train_per_class: usize,
    pub test_per_class: usize,
    /// Side of the generated square pictures in pixels.
    pub side: u32,
    pub seed: u64,
    /// Draw new training pictures every epoch (picture `i` of epoch `e` from its own stream) instead of
    /// showing the same ones again: a generator never runs out, so the model cannot memorise backgrounds.
    #[serde(default)]
    pub fresh: bool,
    /// `flat` (shapes in random colours over clutter) or `photo` (a landscape with natural colours,
    /// shading and blur: see [`super::synth_scene`]).
    #[serde(default)]
    pub style: SynthStyle,
    /// Share of training pictures drawn without their object (the same picture with the object left out)
    /// and trained towards equal probabilities for every class: a picture with no evidence gets no answer,
    /// so no class can be recognised by the absence of the others, and every class's map has to sit on its
    /// own object. Test pictures always show their object.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub empty_fraction: f32,
}

fn is_zero(v: &f32) -> bool {
    *v == 0.0
}

/// How the synthetic pictures are drawn.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum SynthStyle {
    /// Objects in random colours anywhere over a cluttered background: nothing but the shape tells the class.
    #[default]
    Flat,
    /// Photo-like landscapes: objects in natural colours on the ground (the sun in the sky), soft light.
    Photo,
}

impl Default for SynthImageConfig {
    fn default() -> Self {
        SynthImageConfig {
            classes: 3,
            train_per_class: 160,
            test_per_class: 40,
            side: 96,
            seed: 1,
            fresh: false,
            style: SynthStyle::Flat,
            empty_fraction: 0.0,
        }
    }
}

fn colour(rng: &mut StdRng) -> Rgb<u8> {
    Rgb([rng.random::<u8>(), rng.random::<u8>(), rng.random::<u8>()])
}

fn rect(img: &mut RgbImage, x: f32, y: f32, w: f32, h: f32, c: Rgb<u8>) {
    let (w, h) = (w.round().max(1.0) as u32, h.round().max(1.0) as u32);
    draw_filled_rect_mut(
        img,
        Rect::at(x.round() as i32, y.round() as i32).of_size(w, h),
        c,
    );
}

fn polygon(img: &mut RgbImage, pts: &[(f32, f32)], c: Rgb<u8>) {
    let mut p: Vec<Point<i32>> = pts
        .iter()
        .map(|&(x, y)| Point::new(x.round() as i32, y.round() as i32))
        .collect();
    p.dedup();
    if p.len() >= 3 && p.first() != p.last() {
        draw_polygon_mut(img, &p, c);
    }
}

/// Cluttered background: a vertical gradient, small rectangles and bars, and pixel noise.
fn background(side: u32, rng: &mut StdRng) -> RgbImage {
    let (a, b) = (colour(rng), colour(rng));
    let mut img = RgbImage::from_fn(side, side, |_, y| {
        let t = y as f32 / side as f32;
        Rgb([0, 1, 2].map(|c| (a[c] as f32 * (1.0 - t) + b[c] as f32 * t) as u8))
    });
    let s = side as f32;
    for _ in 0..14 {
        let c = colour(rng);
        let (w, h) = if rng.random::<bool>() {
            (uniform(rng, 0.03, 0.12) * s, uniform(rng, 0.03, 0.12) * s)
        } else if rng.random::<bool>() {
            (uniform(rng, 0.15, 0.4) * s, 0.02 * s + 1.0)
        } else {
            (0.02 * s + 1.0, uniform(rng, 0.15, 0.4) * s)
        };
        rect(
            &mut img,
            uniform(rng, 0.0, s - w),
            uniform(rng, 0.0, s - h),
            w,
            h,
            c,
        );
    }
    img
}

/// Draw class `k`'s object in the box (x, y, size) in colours `c1` and `c2` and return its exact bounding box.
fn object(
    img: &mut RgbImage,
    k: usize,
    (x, y, d): (f32, f32, f32),
    (c1, c2): (Rgb<u8>, Rgb<u8>),
) -> BBox {
    match k {
        0 => {
            // house: body, triangular roof, door
            rect(img, x + 0.1 * d, y + 0.45 * d, 0.8 * d, 0.55 * d, c1);
            polygon(
                img,
                &[(x, y + 0.47 * d), (x + 0.5 * d, y), (x + d, y + 0.47 * d)],
                c2,
            );
            rect(
                img,
                x + 0.42 * d,
                y + 0.7 * d,
                0.16 * d,
                0.3 * d,
                Rgb([20, 20, 20]),
            );
        }
        1 => {
            // tree: trunk and round crown
            rect(img, x + 0.42 * d, y + 0.55 * d, 0.16 * d, 0.45 * d, c2);
            draw_filled_circle_mut(
                img,
                ((x + 0.5 * d) as i32, (y + 0.33 * d) as i32),
                (0.33 * d) as i32,
                c1,
            );
            draw_filled_circle_mut(
                img,
                ((x + 0.3 * d) as i32, (y + 0.45 * d) as i32),
                (0.2 * d) as i32,
                c1,
            );
            draw_filled_circle_mut(
                img,
                ((x + 0.7 * d) as i32, (y + 0.45 * d) as i32),
                (0.2 * d) as i32,
                c1,
            );
        }
        2 => {
            // sun: disc with eight rays
            let (cx, cy) = (x + 0.5 * d, y + 0.5 * d);
            for i in 0..8 {
                let a = i as f32 * std::f32::consts::FRAC_PI_4;
                let (dx, dy) = (a.cos(), a.sin());
                let (px, py) = (-dy * 0.05 * d, dx * 0.05 * d);
                let (r0, r1) = (0.2 * d, 0.5 * d);
                polygon(
                    img,
                    &[
                        (cx + dx * r0 + px, cy + dy * r0 + py),
                        (cx + dx * r1 + px, cy + dy * r1 + py),
                        (cx + dx * r1 - px, cy + dy * r1 - py),
                        (cx + dx * r0 - px, cy + dy * r0 - py),
                    ],
                    c2,
                );
            }
            draw_filled_circle_mut(img, (cx as i32, cy as i32), (0.28 * d) as i32, c1);
        }
        _ => {
            // car: body, cabin with window, two dark wheels
            rect(img, x, y + 0.45 * d, d, 0.3 * d, c1);
            rect(img, x + 0.2 * d, y + 0.2 * d, 0.55 * d, 0.27 * d, c1);
            rect(img, x + 0.27 * d, y + 0.25 * d, 0.41 * d, 0.15 * d, c2);
            for wx in [0.22, 0.78] {
                draw_filled_circle_mut(
                    img,
                    ((x + wx * d) as i32, (y + 0.8 * d) as i32),
                    (0.15 * d) as i32,
                    Rgb([15, 15, 15]),
                );
            }
        }
    }
    let bottom = if k == 3 { y + 0.95 * d } else { y + d };
    let top = if k == 3 { y + 0.2 * d } else { y };
    [
        x.max(0.0),
        top.max(0.0),
        (x + d).min(img.width() as f32),
        bottom.min(img.height() as f32),
    ]
}

/// [`object`] when `with_object`, else nothing drawn and the square (x, y, size) it would have stood in.
fn object_or_its_place(
    img: &mut RgbImage,
    k: usize,
    (x, y, d): (f32, f32, f32),
    colours: (Rgb<u8>, Rgb<u8>),
    with_object: bool,
) -> BBox {
    if with_object {
        object(img, k, (x, y, d), colours)
    } else {
        [x, y, x + d, y + d]
    }
}

/// One picture of class `k` and its object box, from its own seeded stream.
pub fn picture(cfg: &SynthImageConfig, k: usize, stream: u64) -> (RgbImage, BBox) {
    draw(cfg, k, stream, true)
}

/// Picture `stream` of class `k` with its object left out: the same background, clutter and noise.
pub fn empty_picture(cfg: &SynthImageConfig, k: usize, stream: u64) -> RgbImage {
    draw(cfg, k, stream, false).0
}

/// Picture `stream` of class `k`, with or without the object; every random draw happens either way, so
/// the two differ only where the object (and its shadow and glow) would be.
fn draw(cfg: &SynthImageConfig, k: usize, stream: u64, with_object: bool) -> (RgbImage, BBox) {
    let mut rng = rng_for(cfg.seed, streams::PICTURE + stream);
    if cfg.style == SynthStyle::Photo {
        return photo_picture(cfg.side, k, &mut rng, with_object);
    }
    let mut img = background(cfg.side, &mut rng);
    let s = cfg.side as f32;
    let d = uniform(&mut rng, 0.35, 0.55) * s;
    let (x, y) = (uniform(&mut rng, 0.0, s - d), uniform(&mut rng, 0.0, s - d));
    let colours = (colour(&mut rng), colour(&mut rng));
    let bbox = object_or_its_place(&mut img, k, (x, y, d), colours, with_object);
    synth_scene::sensor_noise(&mut img, 24.0, &mut rng);
    (img, bbox)
}

/// A picture in the photo-like style and its object box.
fn photo_picture(side: u32, k: usize, rng: &mut StdRng, with_object: bool) -> (RgbImage, BBox) {
    let (mut img, horizon) = synth_scene::background(side, rng);
    let d = uniform(rng, 0.35, 0.55) * side as f32;
    let (x, y) = synth_scene::place(k, d, side, horizon, rng);
    if k != 2 && with_object {
        synth_scene::shadow(&mut img, x, y, d);
    }
    let before = img.clone();
    let colours = synth_scene::palette(k, rng);
    let bbox = object_or_its_place(&mut img, k, (x, y, d), colours, with_object);
    synth_scene::finish(&mut img, &before, with_object.then_some(k), bbox, rng);
    (img, bbox)
}

/// Whether training picture `item` is shown without its object in `epoch` (a draw of `empty_fraction`).
pub fn shown_empty(cfg: &SynthImageConfig, epoch: usize, item: usize) -> bool {
    cfg.empty_fraction > 0.0
        && rng_for(
            cfg.seed,
            streams::EMPTY_PICTURE + streams::picture_view(epoch, item),
        )
        .random::<f32>()
            < cfg.empty_fraction
}

/// Training picture `item` of class `class` as shown in `epoch`: drawn anew when `fresh` is set, without its
/// object when [`shown_empty`]. `None` when the fixed set's own picture is shown unchanged.
pub fn training_picture(
    cfg: &SynthImageConfig,
    class: usize,
    epoch: usize,
    item: usize,
) -> Option<(RgbImage, bool)> {
    let empty = shown_empty(cfg, epoch, item);
    let stream = if cfg.fresh {
        streams::fresh_picture(epoch, item)
    } else if empty {
        // The fixed set's picture `item` (see `generate`: pictures alternate between the classes).
        item as u64
    } else {
        return None;
    };
    Some((draw(cfg, class, stream, !empty).0, empty))
}

/// The whole synthetic set: `train_per_class` + `test_per_class` pictures of each class.
pub fn generate(cfg: &SynthImageConfig) -> crate::Result<ImageSet> {
    if !(2..=CLASSES.len()).contains(&cfg.classes) || cfg.side < 32 {
        return Err(crate::Error::usage(format!(
            "synthetic images: classes must be 2–{} (got {}) and side at least 32 (got {})",
            CLASSES.len(),
            cfg.classes,
            cfg.side
        )));
    }
    if !(0.0..1.0).contains(&cfg.empty_fraction) {
        return Err(crate::Error::invalid(
            "synthetic.empty_fraction",
            cfg.empty_fraction,
            "a share of the training pictures in [0, 1)",
        ));
    }
    crate::limits::IMAGE_SIDE.check("side", cfg.side as u64)?;
    let mut set = ImageSet {
        classes: CLASSES[..cfg.classes]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        split: "synthetic test part".into(),
        ..Default::default()
    };
    let per = cfg.train_per_class + cfg.test_per_class;
    for i in 0..per {
        for (k, class) in CLASSES.iter().enumerate().take(cfg.classes) {
            let (img, bbox) = picture(cfg, k, (i * cfg.classes + k) as u64);
            let test = i >= cfg.train_per_class;
            let item = ImageItem {
                name: format!(
                    "{}/{}.{i:05}.png",
                    if test { "test" } else { "train" },
                    class
                ),
                label: k,
                original: img.dimensions(),
                image: img,
                boxes: vec![bbox],
            };
            if test {
                set.test.push(item)
            } else {
                set.train.push(item)
            }
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(style: SynthStyle) -> SynthImageConfig {
        SynthImageConfig {
            classes: 4,
            side: 96,
            style,
            ..Default::default()
        }
    }

    #[test]
    fn both_styles_repeat_from_their_stream_and_box_the_object_inside_the_picture() {
        for style in [SynthStyle::Flat, SynthStyle::Photo] {
            let cfg = config(style);
            for stream in 0..12 {
                let k = stream as usize % 4;
                let (a, bbox) = picture(&cfg, k, stream);
                let (b, again) = picture(&cfg, k, stream);
                assert!(a == b && bbox == again, "{style:?} stream {stream}");
                assert!(picture(&cfg, k, stream + 100).0 != a);
                let [x0, y0, x1, y1] = bbox;
                assert!(0.0 <= x0 && x0 < x1 && x1 <= 96.0 && 0.0 <= y0 && y0 < y1 && y1 <= 96.0);
                assert!(
                    x1 - x0 >= 0.3 * 96.0,
                    "{style:?}: objects are 35-55 % of the side"
                );
            }
        }
        let flat = picture(&config(SynthStyle::Flat), 0, 3).0;
        assert!(flat != picture(&config(SynthStyle::Photo), 0, 3).0);
    }

    #[test]
    fn an_empty_training_picture_is_its_picture_with_only_the_object_left_out() {
        let cfg = config(SynthStyle::Flat);
        for stream in 0..8u64 {
            let k = stream as usize % 4;
            let ((full, [x0, y0, x1, y1]), empty) =
                (picture(&cfg, k, stream), empty_picture(&cfg, k, stream));
            // Drawing rounds to whole pixels, so the object may reach a pixel past its exact box.
            let inside = |x: u32, y: u32| {
                let (x, y) = (x as f32 + 0.5, y as f32 + 0.5);
                x0 - 2.0 <= x && x <= x1 + 2.0 && y0 - 2.0 <= y && y <= y1 + 2.0
            };
            let mut changed = 0;
            for (x, y, p) in full.enumerate_pixels() {
                if !inside(x, y) {
                    assert_eq!(
                        p,
                        empty.get_pixel(x, y),
                        "stream {stream}: ({x}, {y}) outside the box"
                    );
                } else if p != empty.get_pixel(x, y) {
                    changed += 1;
                }
            }
            let area = (x1 - x0) * (y1 - y0);
            assert!(
                changed as f32 > 0.2 * area,
                "stream {stream}: the object covers {changed} of {area} px"
            );
        }
        // The photo style leaves out the object, its shadow and the sun's glow.
        let photo = config(SynthStyle::Photo);
        assert!(empty_picture(&photo, 2, 5) != picture(&photo, 2, 5).0);
    }

    #[test]
    fn the_empty_share_of_training_pictures_follows_the_setting_and_repeats() {
        let mut cfg = SynthImageConfig {
            empty_fraction: 0.25,
            ..config(SynthStyle::Flat)
        };
        let empty = (0..2000).filter(|&i| shown_empty(&cfg, 3, i)).count();
        assert!((400..600).contains(&empty), "{empty} of 2000");
        let drawn = |cfg: &SynthImageConfig| -> Vec<bool> {
            (0..50).map(|i| shown_empty(cfg, 7, i)).collect()
        };
        assert_eq!(drawn(&cfg), drawn(&cfg));
        // A fixed set shows its own picture unchanged unless it is shown empty, and then without its object.
        for item in 0..40 {
            let k = item % 4;
            match training_picture(&cfg, k, 7, item) {
                None => assert!(!shown_empty(&cfg, 7, item)),
                Some((img, empty)) => {
                    assert!(empty);
                    assert!(img == empty_picture(&cfg, k, item as u64));
                }
            }
        }
        cfg.empty_fraction = 1.0;
        let err = generate(&cfg).unwrap_err().to_string();
        assert!(err.contains("empty_fraction"), "{err}");
        cfg.empty_fraction = 0.0;
        assert!((0..200).all(|i| !shown_empty(&cfg, 0, i)));
    }

    #[test]
    fn photo_style_stands_objects_on_the_ground_and_puts_the_sun_in_the_sky() {
        let cfg = config(SynthStyle::Photo);
        for stream in 0..40u64 {
            let k = stream as usize % 4;
            let [_, _, _, bottom] = picture(&cfg, k, stream).1;
            if k == 2 {
                // The horizon lies at 45-62 % of the side; the sun ends above it.
                assert!(bottom <= 0.62 * 96.0 + 1.0, "sun ends at {bottom}");
            } else {
                assert!(bottom >= 0.45 * 96.0, "class {k} ends at {bottom}");
            }
        }
    }
}

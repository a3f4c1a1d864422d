//! Image preprocessing: fast resizing (`fast_image_resize`), ImageNet normalisation into (3, S, S) planes, and
//! training augmentation (random resized crop, horizontal flip, colour jitter) from a seeded generator.

use crate::rng::uniform;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use fast_image_resize::{FilterType, ResizeAlg, ResizeOptions, Resizer};
use image::RgbImage;
use rand::rngs::StdRng;
use rand::RngExt;
use rayon::prelude::*;

/// ImageNet channel means and standard deviations (torchvision's `Normalize`).
pub const MEAN: [f32; 3] = [0.485, 0.456, 0.406];
pub const STD: [f32; 3] = [0.229, 0.224, 0.225];

/// Resize `src` (or its crop (left, top, width, height)) to `w`×`h`, bilinear.
pub fn resize(src: &RgbImage, w: u32, h: u32, crop: Option<(f64, f64, f64, f64)>) -> RgbImage {
    let mut dst = RgbImage::new(w.max(1), h.max(1));
    let mut opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
    if let Some((l, t, cw, ch)) = crop {
        opts = opts.crop(l, t, cw, ch);
    }
    Resizer::new()
        .resize(src, &mut dst, &opts)
        .expect("resize of an RGB8 image into an RGB8 buffer cannot fail");
    dst
}

/// Shrink so the shorter side is at most `side` (never enlarges).
pub fn shrink_to(src: &RgbImage, side: u32) -> RgbImage {
    let (w, h) = src.dimensions();
    let short = w.min(h);
    if short <= side {
        return src.clone();
    }
    let f = side as f64 / short as f64;
    resize(
        src,
        ((w as f64 * f).round() as u32).max(1),
        ((h as f64 * f).round() as u32).max(1),
        None,
    )
}

/// Colour jitter factors (brightness, contrast, saturation); 1 = unchanged.
#[derive(Debug, Clone, Copy)]
pub struct Jitter {
    pub brightness: f32,
    pub contrast: f32,
    pub saturation: f32,
}

impl Jitter {
    pub const NONE: Jitter = Jitter {
        brightness: 1.0,
        contrast: 1.0,
        saturation: 1.0,
    };
}

/// The training view of an image: a random crop covering 35–100 % of the area with aspect 3/4–4/3, resized
/// to `size`², flipped with probability ½, and colour jitter of ±20 %.
pub fn random_view(img: &RgbImage, size: u32, rng: &mut StdRng) -> (RgbImage, Jitter) {
    let (w, h) = (img.width() as f64, img.height() as f64);
    let mut crop = (0.0, 0.0, w, h);
    for _ in 0..10 {
        let area = w * h * uniform(rng, 0.35, 1.0) as f64;
        let ratio = (uniform(rng, (0.75f32).ln(), (4.0f32 / 3.0).ln()) as f64).exp();
        let (cw, ch) = ((area * ratio).sqrt(), (area / ratio).sqrt());
        if cw <= w && ch <= h {
            let l = rng.random::<f64>() * (w - cw);
            let t = rng.random::<f64>() * (h - ch);
            crop = (l, t, cw, ch);
            break;
        }
    }
    let mut out = resize(img, size, size, Some(crop));
    if rng.random::<f32>() < 0.5 {
        image::imageops::flip_horizontal_in_place(&mut out);
    }
    let jitter = Jitter {
        brightness: uniform(rng, 0.8, 1.2),
        contrast: uniform(rng, 0.8, 1.2),
        saturation: uniform(rng, 0.8, 1.2),
    };
    (out, jitter)
}

/// The evaluation view: the whole picture resized to `size`² (aspect not kept, so a CAM maps back onto it).
pub fn eval_view(img: &RgbImage, size: u32) -> RgbImage {
    if img.dimensions() == (size, size) {
        return img.clone();
    }
    resize(img, size, size, None)
}

/// Write `img` as normalised planes (3·H·W, channel-major) after colour jitter.
pub fn normalise_into(img: &RgbImage, j: Jitter, out: &mut [f32]) {
    let hw = (img.width() * img.height()) as usize;
    let px: Vec<[f32; 3]> = img
        .pixels()
        .map(|p| {
            let rgb = [
                p[0] as f32 / 255.0,
                p[1] as f32 / 255.0,
                p[2] as f32 / 255.0,
            ];
            let rgb = rgb.map(|c| c * j.brightness);
            let grey = 0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2];
            rgb.map(|c| grey + (c - grey) * j.saturation)
        })
        .collect();
    let mean_grey = if j.contrast != 1.0 {
        px.iter()
            .map(|p| 0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2])
            .sum::<f32>()
            / hw.max(1) as f32
    } else {
        0.0
    };
    for (i, p) in px.iter().enumerate() {
        for c in 0..3 {
            let v = (mean_grey + (p[c] - mean_grey) * j.contrast).clamp(0.0, 1.0);
            out[c * hw + i] = (v - MEAN[c]) / STD[c];
        }
    }
}

/// A batch (N, 3, S, S) from per-sample views, built in parallel.
pub fn batch_tensor(views: &[(RgbImage, Jitter)], size: u32) -> Result<Tensor> {
    let plane = 3 * (size * size) as usize;
    let mut data = vec![0f32; views.len() * plane];
    data.par_chunks_mut(plane)
        .zip(views)
        .for_each(|(dst, (img, j))| normalise_into(img, *j, dst));
    Tensor::from_vec(
        data,
        (views.len(), 3, size as usize, size as usize),
        &Device::Cpu,
    )
    .map_err(Error::from)
}

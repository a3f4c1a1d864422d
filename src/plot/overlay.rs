//! Photo overlays: a [0, 1] map in JET colours blended over the picture, with a caption box such as
//! `dog 97.3%`; the bare heatmap; boxes drawn for localisation; PNG files written atomically.

use super::jet;
use crate::data::images::BBox;
use crate::{Error, Result};
use ab_glyph::{FontRef, PxScale};
use image::{Rgb, RgbImage};
use imageproc::drawing::{draw_filled_rect_mut, draw_hollow_rect_mut, draw_text_mut, text_size};
use imageproc::rect::Rect;
use ndarray::Array2;
use std::path::Path;

fn jet_px(v: f32) -> Rgb<u8> {
    let c = jet(v as f64);
    Rgb([c.0, c.1, c.2])
}

/// The map (same size as the picture) in JET colours.
pub fn heatmap_image(map01: &Array2<f32>) -> RgbImage {
    let (h, w) = map01.dim();
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        jet_px(map01[[y as usize, x as usize]])
    })
}

/// (1 − alpha) · photo + alpha · JET(map), per pixel; `map01` must have the photo's size.
pub fn blend(photo: &RgbImage, map01: &Array2<f32>, alpha: f32) -> RgbImage {
    let a = alpha.clamp(0.0, 1.0);
    RgbImage::from_fn(photo.width(), photo.height(), |x, y| {
        let p = photo.get_pixel(x, y);
        let j = jet_px(map01[[y as usize, x as usize]]);
        Rgb([0, 1, 2].map(|c| ((1.0 - a) * p[c] as f32 + a * j[c] as f32).round() as u8))
    })
}

/// Small pictures are drawn enlarged towards this many pixels on their longer side.
pub const SHOWN_SIDE: u32 = 288;

/// The picture enlarged by the largest whole factor that keeps its longer side within [`SHOWN_SIDE`], each
/// pixel a block (a 96-px picture is drawn at 288 px, a 256-px one as it is).
pub fn enlarged(photo: &RgbImage) -> std::borrow::Cow<'_, RgbImage> {
    let (w, h) = photo.dimensions();
    let f = SHOWN_SIDE / w.max(h).max(1);
    if f <= 1 {
        return std::borrow::Cow::Borrowed(photo);
    }
    let big = image::imageops::resize(photo, w * f, h * f, image::imageops::FilterType::Nearest);
    std::borrow::Cow::Owned(big)
}

/// White text on a black box in the top-left corner, sized to the picture.
pub fn caption(img: &mut RgbImage, text: &str) {
    let font =
        FontRef::try_from_slice(dejavu::sans::regular()).expect("the bundled DejaVu font parses");
    let px = (img.width().min(img.height()) as f32 / 12.0).clamp(11.0, 32.0);
    let scale = PxScale::from(px);
    let (tw, th) = text_size(scale, &font, text);
    let pad = (px / 4.0).ceil() as u32;
    let (bw, bh) = (
        (tw + 2 * pad).min(img.width()),
        (th + 2 * pad).min(img.height()),
    );
    draw_filled_rect_mut(
        img,
        Rect::at(0, 0).of_size(bw.max(1), bh.max(1)),
        Rgb([0, 0, 0]),
    );
    draw_text_mut(
        img,
        Rgb([255, 255, 255]),
        pad as i32,
        pad as i32,
        scale,
        &font,
        text,
    );
}

/// Outline a box (x0, y0, x1, y1) with a 2-px line.
pub fn draw_box(img: &mut RgbImage, b: &BBox, colour: Rgb<u8>) {
    for d in 0..2 {
        let (x0, y0) = (b[0] as i32 + d, b[1] as i32 + d);
        let (w, h) = ((b[2] - b[0]) as i32 - 2 * d, (b[3] - b[1]) as i32 - 2 * d);
        if w > 0 && h > 0 {
            draw_hollow_rect_mut(img, Rect::at(x0, y0).of_size(w as u32, h as u32), colour);
        }
    }
}

/// Encode as PNG and write atomically.
pub fn save_png(img: &RgbImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::Other(format!("encode {}: {e}", path.display())))?;
    crate::io::write_atomic(path, &bytes)
}

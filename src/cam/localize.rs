//! Localisation from a CAM, as in the CAM paper: keep the pixels ≥ 20 % of the map's maximum, take the
//! bounding box of the largest 8-connected region, count a hit at IoU ≥ 0.5; and the pointing game
//! (Zhang et al. 2016): the map's maximum must fall inside a ground-truth box, with a 15-px tolerance.

use super::image::upsample_bilinear;
use crate::data::images::BBox;
use ndarray::Array2;

/// The CAM paper's box for a raw (feature-resolution) map shown on an (h, w) picture: upsample, keep the
/// pixels ≥ `frac` × the map's maximum, box the largest region. The raw map, not a min-max scaled one:
/// shifting a map with a negative background up to 0 would move the threshold below the map's zero and
/// grow every box. Also returns the upsampled map (for the pointing game and the pictures).
pub fn cam_box(raw: &Array2<f32>, h: usize, w: usize, frac: f32) -> (Option<BBox>, Array2<f32>) {
    let up = upsample_bilinear(raw, h, w);
    (largest_component_box(&up, frac), up)
}

/// Bounding box (x0, y0, x1, y1; x1/y1 exclusive) of the largest 8-connected region with map ≥ frac · max.
/// `None` when the map has no positive maximum.
pub fn largest_component_box(map: &Array2<f32>, frac: f32) -> Option<BBox> {
    let max = map.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    if !(max > 0.0 && max.is_finite()) {
        return None;
    }
    let (h, w) = map.dim();
    let on = map.mapv(|v| v >= frac * max);
    let mut seen = Array2::from_elem((h, w), false);
    let mut best: Option<(usize, BBox)> = None;
    for sy in 0..h {
        for sx in 0..w {
            if !on[[sy, sx]] || seen[[sy, sx]] {
                continue;
            }
            let (mut count, mut bb) = (0usize, [sx, sy, sx, sy]);
            let mut stack = vec![(sy, sx)];
            seen[[sy, sx]] = true;
            while let Some((y, x)) = stack.pop() {
                count += 1;
                bb = [bb[0].min(x), bb[1].min(y), bb[2].max(x), bb[3].max(y)];
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                        if ny < 0 || nx < 0 || ny >= h as i64 || nx >= w as i64 {
                            continue;
                        }
                        let (ny, nx) = (ny as usize, nx as usize);
                        if on[[ny, nx]] && !seen[[ny, nx]] {
                            seen[[ny, nx]] = true;
                            stack.push((ny, nx));
                        }
                    }
                }
            }
            if best.as_ref().is_none_or(|(c, _)| count > *c) {
                let b = [
                    bb[0] as f32,
                    bb[1] as f32,
                    (bb[2] + 1) as f32,
                    (bb[3] + 1) as f32,
                ];
                best = Some((count, b));
            }
        }
    }
    best.map(|(_, b)| b)
}

/// Intersection over union of two boxes.
pub fn iou(a: &BBox, b: &BBox) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area = |r: &BBox| (r[2] - r[0]).max(0.0) * (r[3] - r[1]).max(0.0);
    let union = area(a) + area(b) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// The pixel (x, y) of the map's maximum (first in row-major order).
pub fn argmax2(map: &Array2<f32>) -> (usize, usize) {
    let mut best = (f32::NEG_INFINITY, (0, 0));
    for ((y, x), &v) in map.indexed_iter() {
        if v > best.0 {
            best = (v, (x, y));
        }
    }
    best.1
}

/// Pointing-game hit: the centre of pixel (x, y) lies inside some box grown by `tolerance` pixels.
pub fn pointing_hit((x, y): (usize, usize), boxes: &[BBox], tolerance: f32) -> bool {
    let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
    boxes.iter().any(|b| {
        px >= b[0] - tolerance
            && px <= b[2] + tolerance
            && py >= b[1] - tolerance
            && py <= b[3] + tolerance
    })
}

/// The pointing game's baseline that needs no map: a hit when the centre of a `width` × `height` picture
/// lies inside some box (with the tolerance).
pub fn centre_hit(boxes: &[BBox], width: u32, height: u32) -> bool {
    let centre = ((width / 2) as usize, (height / 2) as usize);
    pointing_hit(centre, boxes, pointing_tolerance(width, height))
}

/// The pointing game's 15-px tolerance, given for 224-px pictures, scaled to a picture's longer side.
pub fn pointing_tolerance(width: u32, height: u32) -> f32 {
    15.0 * width.max(height) as f32 / 224.0
}

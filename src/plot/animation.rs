//! `skeleton.gif`: the sequence animated at its own frames (at most [`MAX_GIF_FRAMES`], evenly
//! subsampled), every present person drawn in the x–y plane, bones coloured by body part, joints coloured
//! (JET) and sized by the CAM at that moment, the frame number and the class in the corner.

use super::{ensure_font, jet};
use crate::data::Layout;
use crate::{Error, Result};
use ndarray::{Array3, Array4};
use plotters::prelude::*;
use std::path::Path;

/// The most frames one animation shows.
pub const MAX_GIF_FRAMES: usize = 100;
/// Milliseconds per shown frame (15 frames/s).
pub const FRAME_MS: u32 = 66;
const SIZE: (u32, u32) = (360, 400);
/// Muted colours for the bones of the layout's parts (smallest part first), distinct from the JET joints.
const PART_COLOURS: [RGBColor; 6] = [
    RGBColor(230, 140, 30),
    RGBColor(0, 140, 130),
    RGBColor(150, 60, 170),
    RGBColor(120, 90, 70),
    RGBColor(90, 120, 60),
    RGBColor(60, 90, 150),
];
const BONE_DEFAULT: RGBColor = RGBColor(150, 150, 150);

pub struct SkeletonAnimation<'a> {
    pub layout: &'a Layout,
    /// Coordinates (3, frames, V, M).
    pub coords: &'a Array4<f32>,
    /// Importance in [0, 1], (frames, V, M).
    pub importance: &'a Array3<f32>,
    pub persons_present: &'a [bool],
    /// Shown in the corner of every frame, e.g. the class and its probability.
    pub label: String,
    /// Milliseconds per shown frame.
    pub delay_ms: u32,
}

/// The frames shown: all of them up to `max`, else `max` evenly spread (first and last included).
pub fn shown_frames(total: usize, max: usize) -> Vec<usize> {
    super::skeleton::key_frames(total, max)
}

/// Each bone's colour: that of the smallest part holding both its joints, grey when none does.
fn bone_colours(layout: &Layout) -> Vec<RGBColor> {
    let mut parts: Vec<&Vec<usize>> = layout.parts.values().collect();
    parts.sort_by_key(|p| p.len());
    layout
        .edges
        .iter()
        .map(|&[a, b]| {
            parts
                .iter()
                .position(|p| p.contains(&a) && p.contains(&b))
                .map(|i| PART_COLOURS[i % PART_COLOURS.len()])
                .unwrap_or(BONE_DEFAULT)
        })
        .collect()
}

impl SkeletonAnimation<'_> {
    /// The (x, y) square every frame is drawn in: the extent of every present joint, padded.
    fn bounds(&self) -> (f64, f64, f64) {
        let (_, t_n, v_n, m_n) = self.coords.dim();
        let (mut lo, mut hi) = ([f32::INFINITY; 2], [f32::NEG_INFINITY; 2]);
        for m in (0..m_n).filter(|&m| self.persons_present.get(m) == Some(&true)) {
            for t in 0..t_n {
                for v in 0..v_n {
                    for d in 0..2 {
                        let x = self.coords[[d, t, v, m]];
                        if x.is_finite() {
                            lo[d] = lo[d].min(x);
                            hi[d] = hi[d].max(x);
                        }
                    }
                }
            }
        }
        if !(lo[0] <= hi[0] && lo[1] <= hi[1]) {
            return (0.0, 0.0, 1.0);
        }
        let half = 0.55 * (hi[0] - lo[0]).max(hi[1] - lo[1]).max(1e-3);
        (
            ((lo[0] + hi[0]) / 2.0) as f64,
            ((lo[1] + hi[1]) / 2.0) as f64,
            half as f64,
        )
    }

    /// Frame `t` as indices into [`cube_palette`].
    fn draw_frame(
        &self,
        t: usize,
        total: usize,
        (cx, cy, half): (f64, f64, f64),
    ) -> Result<Vec<u8>> {
        let mut buf = vec![255u8; (SIZE.0 * SIZE.1 * 3) as usize];
        let fail = |e: &dyn std::fmt::Display| Error::Other(format!("animation frame {t}: {e}"));
        {
            let root = BitMapBackend::with_buffer(&mut buf, SIZE).into_drawing_area();
            root.fill(&WHITE).map_err(|e| fail(&e))?;
            let corner = format!("frame {t} ({total} frames)   {}", self.label);
            root.draw(&Text::new(corner, (8, 8), ("sans-serif", 15).into_font()))
                .map_err(|e| fail(&e))?;
            let mut chart = ChartBuilder::on(&root)
                .margin(12)
                .margin_top(32)
                .build_cartesian_2d(cx - half..cx + half, cy - half..cy + half)
                .map_err(|e| fail(&e))?;
            let colours = bone_colours(self.layout);
            let (c_n, _, v_n, m_n) = self.coords.dim();
            for m in (0..m_n).filter(|&m| self.persons_present.get(m) == Some(&true)) {
                let p = |v: usize| {
                    (
                        self.coords[[0, t, v, m]] as f64,
                        self.coords[[1, t, v, m]] as f64,
                    )
                };
                let here = |v: usize| (0..c_n).any(|c| self.coords[[c, t, v, m]] != 0.0);
                if !(0..v_n).any(here) {
                    continue; // this person is absent from this frame
                }
                let bones = self.layout.edges.iter().zip(&colours);
                chart
                    .draw_series(
                        bones
                            .filter(|(e, _)| here(e[0]) && here(e[1]))
                            .map(|(e, c)| {
                                PathElement::new(vec![p(e[0]), p(e[1])], c.stroke_width(4))
                            }),
                    )
                    .map_err(|e| fail(&e))?;
                chart
                    .draw_series((0..v_n).filter(|&v| here(v)).map(|v| {
                        let w = self.importance[[t, v, m]].clamp(0.0, 1.0) as f64;
                        Circle::new(p(v), (3.0 + 8.0 * w) as i32, jet(w).filled())
                    }))
                    .map_err(|e| fail(&e))?;
            }
            root.present().map_err(|e| fail(&e))?;
        }
        Ok(buf
            .chunks_exact(3)
            .map(|p| cube_index(p[0], p[1], p[2]))
            .collect())
    }

    /// Render and write the GIF atomically (looping forever).
    pub fn write(&self, path: &Path) -> Result<()> {
        ensure_font();
        let total = self.coords.dim().1;
        let bounds = self.bounds();
        let gif_err = |e: gif::EncodingError| Error::Other(format!("{}: {e}", path.display()));
        let mut bytes = Vec::new();
        {
            let (w, h) = (SIZE.0 as u16, SIZE.1 as u16);
            let mut enc = gif::Encoder::new(&mut bytes, w, h, &cube_palette()).map_err(gif_err)?;
            enc.set_repeat(gif::Repeat::Infinite).map_err(gif_err)?;
            for t in shown_frames(total, MAX_GIF_FRAMES) {
                let mut frame =
                    gif::Frame::from_indexed_pixels(w, h, self.draw_frame(t, total, bounds)?, None);
                frame.delay = (self.delay_ms / 10).max(2) as u16;
                enc.write_frame(&frame).map_err(gif_err)?;
            }
        }
        crate::io::write_atomic(path, &bytes)
    }
}

/// The 216 colours of a 6×6×6 cube (channel levels 0, 51, …, 255), as the GIF's one global palette.
fn cube_palette() -> Vec<u8> {
    (0..216u32)
        .flat_map(|i| [i / 36, (i / 6) % 6, i % 6].map(|l| (l * 51) as u8))
        .collect()
}

/// The cube colour nearest to (r, g, b), channel by channel.
fn cube_index(r: u8, g: u8, b: u8) -> u8 {
    let level = |c: u8| (c as u32 + 25) / 51;
    (level(r) * 36 + level(g) * 6 + level(b)) as u8
}

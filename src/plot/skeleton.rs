//! `skeleton.png`: the skeleton drawn (x–y projection) at a few key frames, bones in grey, joints coloured
//! (JET) and sized by their CAM importance in that frame.

use super::{jet, DrawResult, Figure};
use crate::data::Layout;
use ndarray::{Array3, Array4};
use plotters::coord::Shift;
use plotters::prelude::*;

pub struct SkeletonFrames<'a> {
    pub title: String,
    pub layout: &'a Layout,
    /// Coordinates (3, frames, V, M).
    pub coords: &'a Array4<f32>,
    /// Importance in [0, 1], (frames, V, M).
    pub importance: &'a Array3<f32>,
    pub persons_present: &'a [bool],
    /// Frames to draw.
    pub frames: Vec<usize>,
}

/// `n` frames spread evenly over `total` (first and last included).
pub fn key_frames(total: usize, n: usize) -> Vec<usize> {
    if total <= n {
        return (0..total).collect();
    }
    (0..n).map(|i| (i * (total - 1)) / (n - 1).max(1)).collect()
}

impl Figure for SkeletonFrames<'_> {
    fn size(&self) -> (u32, u32) {
        (240 * self.frames.len().max(1) as u32 + 20, 380)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(&self.title, ("sans-serif", 18))?;
        let (_, t_n, v_n, m_n) = self.coords.dim();
        // One square range for all panels so that frames are comparable.
        let mut bounds = [
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        for t in 0..t_n {
            for m in (0..m_n).filter(|&m| self.persons_present.get(m) == Some(&true)) {
                for v in 0..v_n {
                    let (x, y) = (self.coords[[0, t, v, m]], self.coords[[1, t, v, m]]);
                    bounds = [
                        bounds[0].min(x),
                        bounds[1].max(x),
                        bounds[2].min(y),
                        bounds[3].max(y),
                    ];
                }
            }
        }
        if !bounds.iter().all(|b| b.is_finite()) {
            bounds = [-1.0, 1.0, -1.0, 1.0];
        }
        let (cx, cy) = ((bounds[0] + bounds[1]) / 2.0, (bounds[2] + bounds[3]) / 2.0);
        let half = 0.55 * (bounds[1] - bounds[0]).max(bounds[3] - bounds[2]).max(1e-3);
        let panels = root.split_evenly((1, self.frames.len().max(1)));
        for (area, &t) in panels.iter().zip(&self.frames) {
            let mut chart = ChartBuilder::on(area)
                .caption(format!("frame {t}"), ("sans-serif", 14))
                .margin(6)
                .build_cartesian_2d(
                    (cx - half) as f64..(cx + half) as f64,
                    (cy - half) as f64..(cy + half) as f64,
                )?;
            for m in (0..m_n).filter(|&m| self.persons_present.get(m) == Some(&true)) {
                let p = |v: usize| {
                    (
                        self.coords[[0, t, v, m]] as f64,
                        self.coords[[1, t, v, m]] as f64,
                    )
                };
                for &[a, b] in &self.layout.edges {
                    chart.draw_series(std::iter::once(PathElement::new(
                        vec![p(a), p(b)],
                        RGBColor(150, 150, 150).stroke_width(3),
                    )))?;
                }
                chart.draw_series((0..v_n).map(|v| {
                    let w = self.importance[[t, v, m]].clamp(0.0, 1.0) as f64;
                    Circle::new(p(v), (3.0 + 7.0 * w) as i32, jet(w).filled())
                }))?;
            }
        }
        Ok(())
    }
}

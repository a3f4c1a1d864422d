//! `joints.png`: joint importance (CAM summed over time) as sorted horizontal bars coloured by body part.

use super::{DrawResult, Figure};
use crate::data::Layout;
use plotters::coord::Shift;
use plotters::prelude::*;

/// Colour of a body part (the same in every figure).
pub fn part_colour(part: &str) -> RGBColor {
    match part {
        "left_arm" => RGBColor(31, 119, 180),
        "right_arm" => RGBColor(214, 39, 40),
        "hands" => RGBColor(148, 103, 189),
        "legs" => RGBColor(44, 160, 44),
        "trunk" => RGBColor(255, 127, 14),
        _ => RGBColor(127, 127, 127),
    }
}

pub struct JointBars<'a> {
    pub title: String,
    pub layout: &'a Layout,
    /// One value per joint.
    pub values: Vec<f32>,
    pub x_label: String,
    /// Show at most this many joints (the most important).
    pub top: usize,
}

impl Figure for JointBars<'_> {
    fn size(&self) -> (u32, u32) {
        (760, 120 + 22 * self.top.min(self.values.len()) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let mut order: Vec<usize> = (0..self.values.len()).collect();
        order.sort_by(|&a, &b| self.values[b].total_cmp(&self.values[a]).then(a.cmp(&b)));
        order.truncate(self.top);
        let n = order.len();
        let lo = self.values.iter().copied().fold(0f32, f32::min) as f64;
        let hi = self.values.iter().copied().fold(0f32, f32::max) as f64;
        let hi = if hi > lo { hi } else { lo + 1.0 };
        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 18))
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(130)
            .build_cartesian_2d(lo..hi * 1.05, 0f64..n as f64)?;
        let names: Vec<String> = order
            .iter()
            .map(|&j| self.layout.joints[j].clone())
            .collect();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(2 * n + 1)
            .y_label_formatter(&|y| {
                let i = y.floor() as usize;
                if (y - y.floor() - 0.5).abs() < 1e-6 && i < n {
                    names[n - 1 - i].clone()
                } else {
                    String::new()
                }
            })
            .x_desc(self.x_label.as_str())
            .label_style(("sans-serif", 12))
            .draw()?;
        chart.draw_series(order.iter().enumerate().map(|(r, &j)| {
            let y = (n - 1 - r) as f64;
            let colour = part_colour(self.layout.part_of(j));
            Rectangle::new(
                [(0f64.max(lo), y + 0.15), (self.values[j] as f64, y + 0.85)],
                colour.filled(),
            )
        }))?;
        for part in crate::data::layout::REQUIRED_PARTS
            .iter()
            .chain(std::iter::once(&"other"))
        {
            let c = part_colour(part);
            chart
                .draw_series(std::iter::empty::<Rectangle<(f64, f64)>>())?
                .label(*part)
                .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled()));
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .label_font(("sans-serif", 12))
            .draw()?;
        Ok(())
    }
}

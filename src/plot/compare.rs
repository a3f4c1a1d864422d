//! `metrics.png` of `cam-compare`: one panel per metric, one bar per method.

use crate::Result;
use plotters::prelude::*;
use std::path::Path;

/// Bars of `values[method][metric]` with the metric names `metrics` and method names `methods`.
pub fn draw(path: &Path, methods: &[String], metrics: &[&str], values: &[Vec<f64>]) -> Result<()> {
    let cols = metrics.len().clamp(1, 3);
    let rows = metrics.len().div_ceil(cols).max(1);
    super::render_png(path, (420 * cols as u32, 330 * rows as u32), |root| {
        for (i, area) in root
            .split_evenly((rows, cols))
            .iter()
            .enumerate()
            .take(metrics.len())
        {
            let col: Vec<f64> = values
                .iter()
                .map(|v| v[i])
                .filter(|x| x.is_finite())
                .collect();
            let top = col.iter().copied().fold(0f64, f64::max);
            let hi = if top > 1e-9 { top * 1.1 } else { 1.0 };
            let lo = col.iter().copied().fold(0f64, f64::min) * 1.1;
            let mut chart = ChartBuilder::on(area)
                .caption(metrics[i], ("sans-serif", 16))
                .margin(8)
                .x_label_area_size(30)
                .y_label_area_size(95)
                .build_cartesian_2d(lo..hi, (0..methods.len()).into_segmented())?;
            chart
                .configure_mesh()
                .disable_y_mesh()
                .x_labels(5)
                .y_labels(methods.len())
                .y_label_formatter(&|k| match k {
                    SegmentValue::CenterOf(i) => methods.get(*i).cloned().unwrap_or_default(),
                    _ => String::new(),
                })
                .draw()?;
            chart.draw_series(
                values
                    .iter()
                    .enumerate()
                    .filter(|(_, v)| v[i].is_finite())
                    .map(|(k, v)| {
                        let colour = if methods[k] == "random" {
                            RGBColor(160, 160, 160)
                        } else {
                            RGBColor(40, 90, 170)
                        };
                        let mut r = Rectangle::new(
                            [
                                (0.0, SegmentValue::Exact(k)),
                                (v[i], SegmentValue::Exact(k + 1)),
                            ],
                            colour.filled(),
                        );
                        r.set_margin(3, 3, 0, 0);
                        r
                    }),
            )?;
        }
        Ok(())
    })
}

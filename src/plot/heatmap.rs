//! Joint × time CAM heatmaps (`heatmap.png` / `heatmap.svg`): joints by name on the vertical axis, frames on
//! the horizontal one, a JET colour bar with its scale, one panel per present person; and grids of small
//! heatmaps for class summaries.

use super::jet;
use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::DrawResult;

/// One panel: `map` is (frames, V) with values in [lo, hi].
pub struct Panel<'a> {
    pub title: String,
    pub map: &'a Array2<f32>,
    pub x_desc: &'a str,
}

/// Draw panels side by side with a shared colour bar.
pub fn draw_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    joints: &[String],
    panels: &[Panel],
    range: (f32, f32),
    bar_label: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    let (w, _) = root.dim_in_pixel();
    let root = root.titled(title, ("sans-serif", 20))?;
    let (main, bar) = root.split_horizontally(w.saturating_sub(110));
    let areas = main.split_evenly((1, panels.len().max(1)));
    let (lo, hi) = range;
    let span = if hi > lo { hi - lo } else { 1.0 };
    for (area, p) in areas.iter().zip(panels) {
        let (frames, v) = p.map.dim();
        let mut chart = ChartBuilder::on(area)
            .caption(&p.title, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(36)
            .y_label_area_size(if joints.is_empty() { 30 } else { 120 })
            .build_cartesian_2d(0f64..frames as f64, 0f64..v as f64)?;
        let name = |y: &f64| {
            let i = y.floor() as usize;
            if (y - y.floor() - 0.5).abs() < 1e-6 && i < v {
                joints
                    .get(v - 1 - i)
                    .cloned()
                    .unwrap_or_else(|| (v - 1 - i).to_string())
            } else {
                String::new()
            }
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_desc(p.x_desc)
            .y_labels(2 * v + 1)
            .y_label_formatter(&name)
            .x_label_formatter(&|x| format!("{x:.0}"))
            .label_style(("sans-serif", 11))
            .draw()?;
        chart.draw_series((0..frames).flat_map(|t| {
            (0..v).map(move |j| {
                let val = (p.map[[t, j]] - lo) / span;
                let y = (v - 1 - j) as f64;
                Rectangle::new(
                    [(t as f64, y), (t as f64 + 1.0, y + 1.0)],
                    jet(val as f64).filled(),
                )
            })
        }))?;
    }
    colour_bar(&bar, lo, hi, bar_label)
}

/// A vertical JET colour bar with ticks from `lo` to `hi`.
pub fn colour_bar<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    lo: f32,
    hi: f32,
    label: &str,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let hi = if hi > lo { hi } else { lo + 1.0 };
    let mut chart = ChartBuilder::on(area)
        .margin_top(40)
        .margin_bottom(44)
        .margin_right(8)
        .y_label_area_size(60)
        .build_cartesian_2d(0f64..1.0, lo as f64..hi as f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .disable_x_axis()
        .y_desc(label)
        .y_labels(6)
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(("sans-serif", 11))
        .draw()?;
    let steps = 100;
    let d = (hi - lo) as f64 / steps as f64;
    chart.draw_series((0..steps).map(|i| {
        let y = lo as f64 + i as f64 * d;
        Rectangle::new(
            [(0.0, y), (1.0, y + d)],
            jet((i as f64 + 0.5) / steps as f64).filled(),
        )
    }))?;
    Ok(())
}

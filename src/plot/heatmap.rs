//! Joint × time CAM heatmaps (`heatmap.png` / `heatmap.svg`): joints by name on the vertical axis, frames on
//! the horizontal one, a JET colour bar with its scale, one panel per present person; and grids of small
//! heatmaps for class summaries.

use super::jet;
use ndarray::Array2;
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{DrawResult, Figure};

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

/// A titled figure of joint × time panels with one colour bar (`heatmap.png`, `ragcn_cam.png`, class maps).
pub struct HeatmapFigure {
    pub title: String,
    pub joints: Vec<String>,
    pub panels: Vec<(String, Array2<f32>)>,
    pub range: (f32, f32),
    pub bar_label: String,
    pub x_desc: String,
}

impl Figure for HeatmapFigure {
    fn size(&self) -> (u32, u32) {
        (
            160 + 560 * self.panels.len().max(1) as u32,
            140 + 18 * self.joints.len() as u32,
        )
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let panels: Vec<Panel> = self
            .panels
            .iter()
            .map(|(t, m)| Panel {
                title: t.clone(),
                map: m,
                x_desc: &self.x_desc,
            })
            .collect();
        draw_panels(
            root,
            &self.title,
            &self.joints,
            &panels,
            self.range,
            &self.bar_label,
        )
    }
}

/// A grid of small joint × time maps with one colour bar: the class summaries (`summary.png`, one map per
/// class) or one sample explained by every method (`cam-compare`).
pub struct SummaryGrid<'a> {
    pub title: &'a str,
    /// One caption per map.
    pub classes: &'a [String],
    pub joints: &'a [String],
    pub means: &'a [Array2<f32>],
    pub x_desc: &'a str,
}

impl Figure for SummaryGrid<'_> {
    fn size(&self) -> (u32, u32) {
        let cols = 4.min(self.classes.len()).max(1) as u32;
        let rows = self.classes.len().div_ceil(cols as usize) as u32;
        (
            150 + 330 * cols,
            60 + rows * (60 + 12 * self.joints.len() as u32),
        )
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(self.title, ("sans-serif", 20))?;
        let (w, _) = root.dim_in_pixel();
        let (main, bar) = root.split_horizontally(w.saturating_sub(110));
        let cols = 4.min(self.classes.len()).max(1);
        let rows = self.classes.len().div_ceil(cols);
        for (c, area) in main
            .split_evenly((rows, cols))
            .iter()
            .enumerate()
            .take(self.classes.len())
        {
            let p = [Panel {
                title: self.classes[c].clone(),
                map: &self.means[c],
                x_desc: self.x_desc,
            }];
            draw_panel_only(area, self.joints, &p[0])?;
        }
        colour_bar(&bar, 0.0, 1.0, "mean CAM")
    }
}

fn draw_panel_only<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    joints: &[String],
    p: &Panel,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (bins, v) = p.map.dim();
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 13))
        .margin(4)
        .x_label_area_size(18)
        .y_label_area_size(95)
        .build_cartesian_2d(0f64..1.0, 0f64..v as f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(3)
        .x_label_formatter(&|x| format!("{x:.1}"))
        .y_labels(2 * v + 1)
        .y_label_formatter(&|y| {
            let i = y.floor() as usize;
            if (y - y.floor() - 0.5).abs() < 1e-6 && i < v {
                joints.get(v - 1 - i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 9))
        .draw()?;
    chart.draw_series((0..bins).flat_map(|b| {
        (0..v).map(move |j| {
            let y = (v - 1 - j) as f64;
            let x0 = b as f64 / bins as f64;
            Rectangle::new(
                [(x0, y), (x0 + 1.0 / bins as f64, y + 1.0)],
                jet(p.map[[b, j]] as f64).filled(),
            )
        })
    }))?;
    Ok(())
}

//! `robustness.png`: top-1 of every run under each occlusion and jitter condition, one line per run.

use crate::Result;
use plotters::prelude::*;
use std::path::Path;

/// Draw the accuracies `table` (run name, top-1 per condition) over the condition `labels`.
pub fn draw(path: &Path, labels: &[String], table: &[(String, Vec<f64>)]) -> Result<()> {
    super::render_png(path, (1100, 480), |root| {
        let n = labels.len();
        let mut chart = ChartBuilder::on(root)
            .caption(
                "top-1 accuracy under occlusion and jitter",
                ("sans-serif", 20),
            )
            .margin(12)
            .x_label_area_size(110)
            .y_label_area_size(50)
            .build_cartesian_2d(-0.5f64..n as f64 - 0.5, 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_labels(n)
            .x_label_formatter(&|_| String::new())
            .y_desc("top-1")
            .draw()?;
        let palette = [RED, BLUE, GREEN, MAGENTA, CYAN, BLACK];
        for (k, (name, accs)) in table.iter().enumerate() {
            let c = palette[k % palette.len()];
            chart
                .draw_series(
                    LineSeries::new(
                        accs.iter().enumerate().map(|(i, &y)| (i as f64, y)),
                        c.stroke_width(2),
                    )
                    .point_size(3),
                )?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        // Condition names under the axis, rotated (plotters' own rotated tick labels overlap the axis line).
        let style = ("sans-serif", 12)
            .into_font()
            .transform(FontTransform::Rotate90)
            .color(&BLACK)
            .pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Left,
                plotters::style::text_anchor::VPos::Center,
            ));
        for (i, label) in labels.iter().enumerate() {
            let (x, y) = chart.backend_coord(&(i as f64, 0.0));
            root.draw(&Text::new(label.clone(), (x, y + 8), style.clone()))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerLeft)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .draw()?;
        Ok(())
    })
}

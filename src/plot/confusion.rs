//! `confusion.png`: row-normalised confusion matrix with class names on both axes and counts in the cells.

use crate::Result;
use plotters::prelude::*;
use std::path::Path;

pub fn draw(
    path: &Path,
    confusion: &[Vec<usize>],
    classes: &[String],
    subtitle: &str,
) -> Result<()> {
    let k = classes.len().max(1);
    let cell = (640 / k).clamp(14, 60) as u32;
    let label_w = 20 + 8 * classes.iter().map(|c| c.len()).max().unwrap_or(4) as u32;
    let size = (
        label_w + cell * k as u32 + 60,
        label_w + cell * k as u32 + 70,
    );
    let font = (cell as f64 * 0.35).clamp(9.0, 16.0);
    super::render_png(path, size, |root| {
        let mut chart = ChartBuilder::on(root)
            .caption(format!("confusion matrix ({subtitle})"), ("sans-serif", 20))
            .margin(15)
            .x_label_area_size(label_w)
            .y_label_area_size(label_w)
            .build_cartesian_2d(0..k, 0..k)?;
        let name = |i: &usize| classes.get(*i).cloned().unwrap_or_default();
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(k)
            .y_labels(k)
            .x_label_formatter(&name)
            .y_label_formatter(&|i| name(&(k - 1 - i)))
            .x_label_style(
                ("sans-serif", font)
                    .into_font()
                    .transform(FontTransform::Rotate90),
            )
            .y_label_style(("sans-serif", font))
            .x_desc("predicted")
            .y_desc("true")
            .draw()?;
        for (t, row) in confusion.iter().enumerate() {
            let total: usize = row.iter().sum();
            for (p, &count) in row.iter().enumerate() {
                let frac = if total > 0 {
                    count as f64 / total as f64
                } else {
                    0.0
                };
                let y = k - 1 - t;
                let shade = (255.0 * (1.0 - frac)) as u8;
                let color = RGBColor(shade, shade, 255);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(p, y), (p + 1, y + 1)],
                    color.filled(),
                )))?;
                if count > 0 && cell >= 18 {
                    let txt = if frac > 0.5 { WHITE } else { BLACK };
                    chart.draw_series(std::iter::once(Text::new(
                        count.to_string(),
                        (p, y + 1),
                        ("sans-serif", font).into_font().color(&txt),
                    )))?;
                }
            }
        }
        Ok(())
    })
}

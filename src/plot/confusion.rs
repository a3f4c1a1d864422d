//! `confusion.png`: row-normalised confusion matrix with class names on both axes and counts in the cells.

use crate::Result;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

pub fn draw(
    path: &Path,
    confusion: &[Vec<usize>],
    classes: &[String],
    subtitle: &str,
) -> Result<()> {
    let k = classes.len().max(1);
    let cell = (640 / k).clamp(16, 60) as i32;
    let font = (cell as f64 * 0.45).clamp(10.0, 15.0);
    let label_w =
        14 + (font * 0.62 * classes.iter().map(|c| c.len()).max().unwrap_or(4) as f64) as i32;
    let (left, top) = (label_w + 30, 40);
    let grid = cell * k as i32;
    let title = format!("confusion matrix ({subtitle}); rows: true class, columns: predicted");
    let size = (
        ((left + grid + 20) as u32).max(16 + 9 * title.len() as u32),
        (top + grid + label_w + 30) as u32,
    );
    super::render_png(path, size, |root| {
        let title_style = ("sans-serif", 17)
            .into_font()
            .color(&BLACK)
            .pos(Pos::new(HPos::Left, VPos::Top));
        root.draw(&Text::new(title.clone(), (8, 8), title_style))?;
        let label = ("sans-serif", font).into_font();
        for (t, row) in confusion.iter().enumerate() {
            let total: usize = row.iter().sum();
            let y0 = top + t as i32 * cell;
            for (p, &count) in row.iter().enumerate() {
                let frac = if total > 0 {
                    count as f64 / total as f64
                } else {
                    0.0
                };
                let x0 = left + p as i32 * cell;
                let shade = (255.0 * (1.0 - 0.85 * frac)) as u8;
                root.draw(&Rectangle::new(
                    [(x0, y0), (x0 + cell, y0 + cell)],
                    RGBColor(shade, shade, 255).filled(),
                ))?;
                if count > 0 && cell >= 18 {
                    let color = if frac > 0.5 { WHITE } else { BLACK };
                    let style = label
                        .clone()
                        .color(&color)
                        .pos(Pos::new(HPos::Center, VPos::Center));
                    root.draw(&Text::new(
                        count.to_string(),
                        (x0 + cell / 2, y0 + cell / 2),
                        style,
                    ))?;
                }
            }
        }
        root.draw(&Rectangle::new(
            [(left, top), (left + grid, top + grid)],
            BLACK.stroke_width(1),
        ))?;
        for (i, name) in classes.iter().enumerate() {
            let c = i as i32 * cell + cell / 2;
            root.draw(&Text::new(
                name.clone(),
                (left - 6, top + c),
                label
                    .clone()
                    .color(&BLACK)
                    .pos(Pos::new(HPos::Right, VPos::Center)),
            ))?;
            let rotated = label
                .clone()
                .transform(FontTransform::Rotate90)
                .color(&BLACK)
                .pos(Pos::new(HPos::Left, VPos::Center));
            root.draw(&Text::new(
                name.clone(),
                (left + c, top + grid + 6),
                rotated,
            ))?;
        }
        Ok(())
    })
}

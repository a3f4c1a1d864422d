//! `curves.png`: loss and top-1 accuracy per epoch, train and test.

use crate::train::skeleton::EpochRecord;
use crate::Result;
use plotters::prelude::*;
use std::path::Path;

pub fn draw(path: &Path, history: &[EpochRecord]) -> Result<()> {
    super::render_png(path, (1000, 420), |root| {
        let (left, right) = root.split_horizontally(500);
        let n = history.len().max(1) as f64;
        let max_loss = history
            .iter()
            .flat_map(|r| [Some(r.train_loss), r.test_loss])
            .flatten()
            .filter(|v| v.is_finite())
            .fold(0.1f64, f64::max);
        let mut chart = ChartBuilder::on(&left)
            .caption("loss", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.5..n + 0.5, 0.0..max_loss * 1.05)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("cross-entropy")
            .label_style(("sans-serif", 14))
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                history.iter().map(|r| (r.epoch as f64, r.train_loss)),
                BLUE.stroke_width(2),
            ))?
            .label("train")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                history
                    .iter()
                    .filter_map(|r| r.test_loss.map(|l| (r.epoch as f64, l))),
                RED.stroke_width(2),
            ))?
            .label("test")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .label_font(("sans-serif", 14))
            .draw()?;

        let mut chart = ChartBuilder::on(&right)
            .caption("top-1 accuracy", ("sans-serif", 22))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.5..n + 0.5, 0.0..1.0)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("accuracy")
            .label_style(("sans-serif", 14))
            .draw()?;
        chart
            .draw_series(LineSeries::new(
                history.iter().map(|r| (r.epoch as f64, r.train_top1)),
                BLUE.stroke_width(2),
            ))?
            .label("train (augmented)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(
                history
                    .iter()
                    .filter_map(|r| r.test_top1.map(|a| (r.epoch as f64, a))),
                RED.stroke_width(2),
            ))?
            .label("test")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .label_font(("sans-serif", 14))
            .draw()?;
        Ok(())
    })
}

/// `masks.png` (RA-GCN runs): the mean fraction of the input hidden from each stream, per epoch.
pub fn draw_masks(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let streams = history
        .iter()
        .map(|r| r.masked_fraction.len())
        .max()
        .unwrap_or(0);
    super::render_png(path, (620, 400), |root| {
        let n = history.len().max(1) as f64;
        let hi = history
            .iter()
            .flat_map(|r| r.masked_fraction.iter().copied())
            .fold(0.05f64, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption("input hidden from each stream", ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(55)
            .build_cartesian_2d(0.5..n + 0.5, 0.0..hi * 1.1)?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_desc("mean masked fraction")
            .label_style(("sans-serif", 14))
            .draw()?;
        let palette = [BLACK, RED, BLUE, GREEN, MAGENTA, CYAN];
        for s in 1..streams {
            let c = palette[s % palette.len()];
            chart
                .draw_series(LineSeries::new(
                    history
                        .iter()
                        .filter_map(|r| r.masked_fraction.get(s).map(|&f| (r.epoch as f64, f))),
                    c.stroke_width(2),
                ))?
                .label(format!("stream {}", s + 1))
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 18, y)], c.stroke_width(2))
                });
        }
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .label_font(("sans-serif", 14))
            .draw()?;
        Ok(())
    })
}

//! `curves.png`: loss and top-1 accuracy per epoch, train and test.

use crate::train::record::EpochRecord;
use crate::Result;
use plotters::prelude::*;
use std::path::Path;

/// One panel: epochs on x, named (label, colour, points) series on y in [0, y_max].
/// One curve: its legend label, colour and (epoch, value) points.
type Series = (String, RGBColor, Vec<(f64, f64)>);

fn panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    y_desc: &str,
    y_max: f64,
    epochs: usize,
    series: Vec<Series>,
    legend_at: SeriesLabelPosition,
) -> super::DrawResult
where
    DB::ErrorType: 'static,
{
    let n = epochs.max(1) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(55)
        .build_cartesian_2d(0.5..n + 0.5, 0.0..y_max)?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .x_label_formatter(&|x| format!("{x:.0}"))
        .y_desc(y_desc)
        .label_style(("sans-serif", 14))
        .draw()?;
    for (label, colour, points) in series {
        chart
            .draw_series(LineSeries::new(points, colour.stroke_width(2)))?
            .label(label)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(legend_at)
        .border_style(BLACK)
        .background_style(WHITE.mix(0.8))
        .label_font(("sans-serif", 14))
        .draw()?;
    Ok(())
}

pub fn draw(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let pts = |f: &dyn Fn(&EpochRecord) -> Option<f64>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
            .collect()
    };
    let max_loss = history
        .iter()
        .flat_map(|r| [Some(r.train_loss), r.test_loss])
        .flatten()
        .filter(|v| v.is_finite())
        .fold(0.1f64, f64::max);
    super::render_png(path, (1000, 420), |root| {
        let (left, right) = root.split_horizontally(500);
        let loss = vec![
            ("train".to_string(), BLUE, pts(&|r| Some(r.train_loss))),
            ("test".to_string(), RED, pts(&|r| r.test_loss)),
        ];
        panel(
            &left,
            "loss",
            "cross-entropy",
            max_loss * 1.05,
            history.len(),
            loss,
            SeriesLabelPosition::UpperRight,
        )?;
        let acc = vec![
            (
                "train (augmented)".to_string(),
                BLUE,
                pts(&|r| Some(r.train_top1)),
            ),
            ("test".to_string(), RED, pts(&|r| r.test_top1)),
        ];
        panel(
            &right,
            "top-1 accuracy",
            "accuracy",
            1.0,
            history.len(),
            acc,
            SeriesLabelPosition::LowerRight,
        )
    })
}

/// `masks.png` (RA-GCN runs): the mean fraction of the input hidden from each stream, per epoch.
pub fn draw_masks(path: &Path, history: &[EpochRecord]) -> Result<()> {
    let streams = history
        .iter()
        .map(|r| r.masked_fraction.len())
        .max()
        .unwrap_or(0);
    let hi = history
        .iter()
        .flat_map(|r| r.masked_fraction.iter().copied())
        .fold(0.05f64, f64::max);
    let palette = [BLACK, RED, BLUE, GREEN, MAGENTA, CYAN];
    let series = (1..streams)
        .map(|s| {
            let pts = history
                .iter()
                .filter_map(|r| r.masked_fraction.get(s).map(|&f| (r.epoch as f64, f)))
                .collect();
            (format!("stream {}", s + 1), palette[s % palette.len()], pts)
        })
        .collect();
    super::render_png(path, (620, 400), |root| {
        panel(
            root,
            "input hidden from each stream",
            "mean masked fraction",
            hi * 1.1,
            history.len(),
            series,
            SeriesLabelPosition::UpperRight,
        )
    })
}

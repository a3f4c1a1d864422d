//! `faithfulness.png`: deletion and insertion curves of the CAM joint ranking against a random ranking.

use super::DrawResult;
use crate::cam::metrics::Faithfulness;
use crate::Result;
use plotters::prelude::*;
use std::path::Path;

/// Write `faithfulness.png`: the CAM ranking's deletion and insertion curves beside a random ranking's.
pub fn draw(path: &Path, f: &Faithfulness) -> Result<()> {
    super::render_png(path, (1000, 420), |root| panels(root, f))
}

fn panels(
    root: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    f: &Faithfulness,
) -> DrawResult {
    let (l, r) = root.split_horizontally(500);
    for (area, title, ours, rand, a, b) in [
        (
            &l,
            "deletion (lower is better)",
            &f.deletion_curve,
            &f.random_deletion_curve,
            f.deletion_auc,
            f.random_deletion_auc,
        ),
        (
            &r,
            "insertion (higher is better)",
            &f.insertion_curve,
            &f.random_insertion_curve,
            f.insertion_auc,
            f.random_insertion_auc,
        ),
    ] {
        let n = ours.len().max(2) - 1;
        let mut chart = ChartBuilder::on(area)
            .caption(title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(40)
            .y_label_area_size(50)
            .build_cartesian_2d(0f64..1.0, 0f64..1.0)?;
        chart
            .configure_mesh()
            .x_desc("fraction of joints removed / inserted")
            .y_desc("probability of predicted class")
            .label_style(("sans-serif", 13))
            .draw()?;
        let pts = |c: &Vec<f64>| {
            c.iter()
                .enumerate()
                .map(|(k, &p)| (k as f64 / n as f64, p))
                .collect::<Vec<_>>()
        };
        chart
            .draw_series(LineSeries::new(pts(ours), RED.stroke_width(2)))?
            .label(format!("CAM ranking, AUC {a:.3}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(pts(rand), BLUE.stroke_width(2)))?
            .label(format!("random ranking, AUC {b:.3}"))
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK)
            .background_style(WHITE.mix(0.85))
            .label_font(("sans-serif", 13))
            .draw()?;
    }
    Ok(())
}

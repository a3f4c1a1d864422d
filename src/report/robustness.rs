//! `skelcam skeleton robustness`: every run of a list evaluated clean and under each occlusion / jitter
//! condition of the RA-GCN protocol (reference-spec §1.8), written as JSON, a Markdown table and a plot.

use crate::cli::RobustnessArgs;
use crate::data::perturb::Perturbation;
use crate::train::skeleton::{self, SkeletonModel};
use crate::{Error, Result};
use plotters::prelude::*;
use serde_json::json;

/// The conditions of the grid, in table order (`None` = clean).
pub fn conditions() -> Vec<Option<Perturbation>> {
    let mut c = vec![None];
    for p in ["left_arm", "right_arm", "hands", "legs", "trunk"] {
        c.push(Some(Perturbation::Part(p.into())));
    }
    for n in [10, 20, 30, 40, 50] {
        c.push(Some(Perturbation::Frames(n)));
    }
    for p in [0.1, 0.2, 0.3] {
        c.push(Some(Perturbation::Random(p)));
    }
    for p in [0.02, 0.1] {
        c.push(Some(Perturbation::Jitter(p, 0.1)));
    }
    c
}

pub fn robustness(a: &RobustnessArgs) -> Result<()> {
    let conds = conditions();
    let labels: Vec<String> = conds
        .iter()
        .map(|c| {
            c.as_ref()
                .map(|p| p.label())
                .unwrap_or_else(|| "clean".into())
        })
        .collect();
    let mut rows = Vec::new();
    let mut table: Vec<(String, Vec<f64>)> = Vec::new();
    for run in &a.runs {
        let model = SkeletonModel::load(run)?;
        let (ds, test, _) = super::cam::dataset_for(&model, &a.data)?;
        let mut accs = Vec::new();
        for c in &conds {
            let pattern = crate::data::perturb::pattern_for(
                c.as_ref(),
                &model.run.layout,
                model.run.train.frames,
                model.run.persons,
                a.seed,
            )?;
            accs.push(skeleton::evaluate_perturbed(&model, &ds, &test, pattern.as_ref())?.top1);
        }
        let name = run
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| run.display().to_string());
        eprintln!("{name}: clean {:.3}", accs[0]);
        rows.push(json!({"run": run.display().to_string(), "name": name, "samples": test.len(), "top1": labels.iter().cloned().zip(accs.iter().map(|&x| json!(x))).collect::<serde_json::Map<String, serde_json::Value>>() }));
        table.push((name, accs));
    }
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    crate::io::write_json(
        &a.out.join("robustness.json"),
        &json!({"schema_version": 1, "seed": a.seed, "conditions": labels, "runs": rows}),
    )?;
    let mut md = format!(
        "| run | {} |\n|---|{}\n",
        labels.join(" | "),
        "---|".repeat(labels.len())
    );
    for (name, accs) in &table {
        md.push_str(&format!(
            "| {name} | {} |\n",
            accs.iter()
                .map(|x| format!("{:.1}", 100.0 * x))
                .collect::<Vec<_>>()
                .join(" | ")
        ));
    }
    crate::io::write_atomic(&a.out.join("robustness.md"), md.as_bytes())?;
    print!("{md}");
    crate::plot::render_png(&a.out.join("robustness.png"), (1100, 480), |root| {
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
    })?;
    println!(
        "wrote robustness.json, robustness.md and robustness.png to {}",
        a.out.display()
    );
    Ok(())
}

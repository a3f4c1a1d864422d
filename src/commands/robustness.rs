//! `skelcam skeleton robustness`: every run of a list evaluated clean and under each occlusion / jitter
//! condition of the RA-GCN protocol (docs/protocols.md, "Occlusion and jitter"), written as JSON, a Markdown table and a plot.

use super::skeleton_data;
use crate::config::DataSource;
use crate::data::perturb::Perturbation;
use crate::models::SkeletonModel;
use crate::train::skeleton;
use crate::{Error, Result};
use serde_json::json;
use std::path::PathBuf;

/// Which runs `robustness` compares, on what data.
#[derive(Debug, Clone)]
pub struct RobustnessOptions {
    /// Run directories to compare (same data and classes).
    pub runs: Vec<PathBuf>,
    pub data: DataSource,
    /// Seed of the random occlusion and jitter patterns (the same for every run).
    pub seed: u64,
    pub out: PathBuf,
}

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

pub fn robustness(a: &RobustnessOptions) -> Result<()> {
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
        let (ds, test) = skeleton_data::load_test(&model, &a.data)?;
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
    crate::plot::robustness::draw(&a.out.join("robustness.png"), &labels, &table)?;
    println!(
        "wrote robustness.json, robustness.md and robustness.png to {}",
        a.out.display()
    );
    Ok(())
}

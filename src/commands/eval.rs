//! `skelcam skeleton eval`: top-1/top-5, per-class accuracy and the confusion matrix of a run, on its test
//! split or all samples, clean or under one occlusion or jitter condition.

use super::skeleton_data;
use crate::config::DataSource;
use crate::data::perturb::Perturbation;
use crate::models::SkeletonModel;
use crate::run_dir::RunDir;
use crate::train::skeleton;
use crate::{Error, Result};
use serde_json::json;
use std::path::PathBuf;

/// What `skeleton eval` evaluates.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub run: PathBuf,
    pub data: DataSource,
    /// Every loaded sample instead of the test split.
    pub all: bool,
    /// Print one JSON object on stdout.
    pub json: bool,
    /// Also write `eval.json` and `confusion.png` into this folder (never the run directory).
    pub out: Option<PathBuf>,
    /// An occlusion or jitter applied to every sample.
    pub perturbation: Option<Perturbation>,
    /// Seed of a random occlusion or jitter pattern (drawn once).
    pub seed: u64,
}

pub fn eval(a: &EvalOptions) -> Result<()> {
    let model = SkeletonModel::load(&a.run)?;
    if let Some(dir) = &a.out {
        let run = RunDir::open(&a.run, "a skeleton")?;
        if run.owns(&dir.join("confusion.png")) {
            return Err(Error::invalid(
                "out",
                dir.display(),
                "a folder other than the run directory (its confusion.png is the training's)",
            ));
        }
    }
    let data = skeleton_data::load(&model, &a.data)?;
    let idx: Vec<usize> = if a.all {
        (0..data.ds.samples.len()).collect()
    } else {
        data.test()?
    };
    let ds = data.ds;
    let perturbation = a.perturbation.as_ref();
    let pattern = crate::data::perturb::pattern_for(
        perturbation,
        &model.run.layout,
        model.run.train.frames,
        model.run.persons,
        a.seed,
    )?;
    let ev = skeleton::evaluate_perturbed(&model, &ds, &idx, pattern.as_ref())?;
    let classes = &model.run.classes;
    let per_class: serde_json::Map<String, serde_json::Value> = classes
        .iter()
        .zip(&ev.per_class)
        .map(|(c, v)| (c.clone(), json!(v)))
        .collect();
    let report = json!({
        "top1": ev.top1, "top5": ev.top5, "loss": ev.loss, "samples": ev.samples,
        "per_class": per_class, "confusion": ev.confusion, "classes": classes,
        "perturbation": perturbation.map(|p| p.label()),
    });
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::io::write_json(&dir.join("eval.json"), &report)?;
        let what = if a.all { "all samples" } else { "test split" };
        crate::plot::confusion::draw(&dir.join("confusion.png"), &ev.confusion, classes, what)?;
    }
    if a.json {
        println!("{report}");
    } else {
        println!(
            "{} samples: top-1 {:.4}, top-5 {:.4}, loss {:.4}",
            ev.samples, ev.top1, ev.top5, ev.loss
        );
        println!("{:<28} {:>8} {:>8}", "class", "samples", "top-1");
        for (c, (name, acc)) in classes.iter().zip(&ev.per_class).enumerate() {
            let n: usize = ev.confusion[c].iter().sum();
            println!(
                "{name:<28} {n:>8} {:>8}",
                acc.map(|a| format!("{a:.3}")).unwrap_or_else(|| "-".into())
            );
        }
    }
    Ok(())
}

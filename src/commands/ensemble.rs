//! `skelcam skeleton ensemble`: a run directory whose logits are the weighted sum of several finished
//! single-stream runs' logits (typically one run per input modality). It holds its members' weights, is
//! evaluated on the test split once (`metrics.json`, `confusion.png`) and is read by every command that
//! reads a skeleton run.

use super::skeleton_data;
use crate::config::DataSource;
use crate::models::ensemble::{EnsembleConfig, EnsembleMember};
use crate::models::skeleton::{SkeletonModel, SkeletonRunConfig};
use crate::models::weights;
use crate::run_dir::RunDir;
use crate::train::record::Metrics;
use crate::train::skeleton::{evaluate_split, stream_accuracies};
use crate::{Error, Result};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// What `skeleton ensemble` combines.
#[derive(Debug, Clone)]
pub struct EnsembleOptions {
    pub runs: Vec<PathBuf>,
    /// One factor per run (default 1 each).
    pub weights: Option<Vec<f32>>,
    pub out: PathBuf,
    pub force: bool,
}

pub fn ensemble(a: &EnsembleOptions) -> Result<Metrics> {
    let started = std::time::Instant::now();
    let weights = member_weights(a)?;
    let mut configs: Vec<SkeletonRunConfig> = Vec::new();
    let mut dirs = Vec::new();
    for run in &a.runs {
        let dir = RunDir::open(run, "a skeleton")?;
        let cfg: SkeletonRunConfig = dir.read_config()?;
        if cfg.ragcn.is_some() || cfg.ensemble.is_some() {
            return Err(Error::invalid(
                "runs",
                run.display(),
                "single-stream `skeleton train` or `skeleton import` runs (not an RA-GCN run or an ensemble)",
            ));
        }
        if !dir.is_finished() {
            return Err(Error::UnfinishedRun {
                path: run.clone(),
                resume: format!("skelcam skeleton train --resume {}", run.display()),
            });
        }
        if let Some(first) = configs.first() {
            check_same_pipeline(first, &cfg, &a.runs[0], run)?;
        }
        configs.push(cfg);
        dirs.push(dir);
    }
    for run in &a.runs {
        if crate::io::same_path(run, &a.out) {
            return Err(Error::invalid(
                "out",
                a.out.display(),
                "a new folder, not one of the member runs",
            ));
        }
    }
    let members = configs
        .iter()
        .zip(&a.runs)
        .zip(&weights)
        .map(|((c, run), &weight)| EnsembleMember {
            run: run.display().to_string(),
            weight,
            modality: c.train.modality,
            motion: c.train.motion,
            model: c.model.clone(),
        })
        .collect();
    let run = SkeletonRunConfig {
        ensemble: Some(EnsembleConfig { members }),
        imported: None,
        ..configs[0].clone()
    };
    let mut tensors = HashMap::new();
    for (i, d) in dirs.iter().enumerate() {
        let path = d.model();
        for (name, t) in weights::load(&path)?.0 {
            tensors.insert(format!("member{i}.{name}"), t);
        }
    }
    let dir = RunDir::create(&a.out, a.force)?;
    dir.write_config(&run)?;
    weights::save(&dir.model(), &tensors, None)?;
    // Loading checks that every member's parameters arrived with their shapes.
    let model = SkeletonModel::load(dir.path())?;
    let data = skeleton_data::load(&model, &DataSource::default())?;
    let (train_idx, test_idx) = data.split()?;
    let ev = evaluate_split(&model, &data.ds, &test_idx)?;
    let members_top1 = stream_accuracies(&model, &data.ds, &test_idx)?;
    let metrics = Metrics {
        test_top1: ev.top1,
        test_top5: ev.top5,
        test_loss: ev.loss,
        train_top1: f64::NAN,
        epochs: 0,
        classes: run.classes.clone(),
        seconds: started.elapsed().as_secs_f64(),
        params: model.num_params(),
        train_samples: train_idx.len(),
        test_samples: test_idx.len(),
        per_class: ev.per_class.clone(),
        confusion: ev.confusion.clone(),
        skipped_files: vec![],
        history: vec![],
        streams_top1: Some(members_top1.clone()),
    };
    crate::io::write_json(&dir.metrics(), &metrics)?;
    crate::plot::confusion::draw(&dir.confusion(), &ev.confusion, &run.classes, "test split")?;
    let e = run.ensemble.as_ref().expect("just set");
    println!("{:<40} {:>8} {:>8}", "member", "weight", "top-1");
    for (i, (m, acc)) in e.members.iter().zip(&members_top1).enumerate() {
        println!("{:<40} {:>8} {:>8.4}", e.label(i), m.weight, acc);
    }
    println!(
        "ensemble of {}: test top-1 {:.4}, top-5 {:.4} on {} samples -> {}",
        e.members.len(),
        ev.top1,
        ev.top5,
        ev.samples,
        a.out.display()
    );
    Ok(metrics)
}

fn member_weights(a: &EnsembleOptions) -> Result<Vec<f32>> {
    if a.runs.len() < 2 {
        return Err(Error::invalid(
            "runs",
            a.runs.len(),
            "at least two run directories",
        ));
    }
    let w = a.weights.clone().unwrap_or_else(|| vec![1.0; a.runs.len()]);
    if w.len() != a.runs.len() {
        return Err(Error::invalid(
            "weights",
            format!("{} values", w.len()),
            format!("one weight per run ({} runs)", a.runs.len()),
        ));
    }
    if let Some(bad) = w.iter().find(|x| !x.is_finite() || **x < 0.0) {
        return Err(Error::invalid("weights", bad, "finite and at least 0"));
    }
    if w.iter().all(|&x| x == 0.0) {
        return Err(Error::invalid(
            "weights",
            "all 0",
            "at least one weight above 0",
        ));
    }
    Ok(w)
}

/// Members must read the same data the same way: one prepared input serves them all.
fn check_same_pipeline(
    a: &SkeletonRunConfig,
    b: &SkeletonRunConfig,
    path_a: &Path,
    path_b: &Path,
) -> Result<()> {
    let (ta, tb) = (&a.train, &b.train);
    let differences = [
        ("classes", a.classes != b.classes),
        ("layout", a.layout != b.layout),
        ("persons", a.persons != b.persons),
        ("frames", ta.frames != tb.frames),
        ("length_mode", ta.length_mode != tb.length_mode),
        ("preprocess", ta.preprocess != tb.preprocess),
        ("data", ta.data != tb.data || ta.format != tb.format),
        (
            "split",
            ta.split != tb.split
                || ta.train_subjects != tb.train_subjects
                || ta.split_train != tb.split_train
                || ta.split_test != tb.split_test,
        ),
        (
            "temporal stride",
            a.model.temporal_stride() != b.model.temporal_stride(),
        ),
    ];
    match differences.iter().find(|(_, differ)| *differ) {
        None => Ok(()),
        Some((field, _)) => Err(Error::usage(format!(
            "{} and {} differ in their {field}: an ensemble's members must share the data, the split and \
             the input pipeline (train them with the same data options, changing only --modality, --model \
             or --seed)",
            path_a.display(),
            path_b.display()
        ))),
    }
}

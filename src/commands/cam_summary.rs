//! `skelcam skeleton cam-summary`: the mean normalised CAM of each class over its samples, binned to
//! relative time (`summary.png`/`.svg`), the class × joint importance (`class_joints.png`) and each class's
//! top joints (`top_joints.json`).

use super::skeleton_data;
use crate::cam::core::Normalization;
use crate::cam::skeleton::{explain_batched, ClassChoice, Method};
use crate::config::DataSource;
use crate::models::SkeletonModel;
use crate::plot::heatmap::{HeatmapFigure, SummaryGrid};
use crate::plot::save_figure;
use crate::{Error, Result};
use ndarray::{Array2, Axis};
use serde_json::json;
use std::path::PathBuf;

/// What `cam-summary` aggregates.
#[derive(Debug, Clone)]
pub struct CamSummaryOptions {
    pub run: PathBuf,
    pub data: DataSource,
    /// Every loaded sample instead of the test split.
    pub all: bool,
    pub method: Method,
    /// Relative-time bins of the class maps.
    pub bins: usize,
    /// Joints listed per class.
    pub top: usize,
    pub out: PathBuf,
    /// Arrays of the class means written beside the figures.
    pub export: super::export::Export,
    /// Score-CAM's masked inputs and Ablation-CAM's feature maps per forward pass.
    pub batch: usize,
}

/// The most relative-time bins of a class map.
pub const MAX_BINS: usize = 1000;

/// Mean normalised CAM per class (over samples of that class, explained for their true class), binned to
/// `bins` relative-time steps; then a grid of heatmaps, a class × joint importance chart and top joints.
pub fn cam_summary(a: &CamSummaryOptions) -> Result<()> {
    if !(1..=MAX_BINS).contains(&a.bins) {
        return Err(Error::invalid(
            "bins",
            a.bins,
            format!("between 1 and {MAX_BINS}"),
        ));
    }
    let model = SkeletonModel::load(&a.run)?;
    // One sample read at a time: memory does not grow with the data.
    let data = skeleton_data::load_index(&model, &a.data)?;
    let idx: Vec<usize> = if a.all {
        (0..data.ds.samples.len()).collect()
    } else {
        data.test()?
    };
    let classes = &model.run.classes;
    let (k, v, bins) = (classes.len(), model.run.layout.num_joints(), a.bins);
    let mut sums = vec![Array2::<f64>::zeros((bins, v)); k];
    let mut counts = vec![0usize; k];
    let bar = crate::progress::bar(idx.len() as u64, "summary");
    for &i in &idx {
        let s = data.sample(i)?;
        let cam = explain_batched(&model, &s, &ClassChoice::Index(s.label), a.method, a.batch)?;
        let (norm, _) = cam.normalized(Normalization::Minmax, None);
        let present: Vec<usize> = (0..cam.persons_present.len())
            .filter(|&m| cam.persons_present[m])
            .collect();
        let frames = norm.dim().0;
        for b in 0..bins {
            let f = ((b as f64 + 0.5) / bins as f64 * frames as f64) as usize;
            for j in 0..v {
                let val: f32 = present
                    .iter()
                    .map(|&m| norm[[f.min(frames - 1), j, m]])
                    .sum::<f32>()
                    / present.len().max(1) as f32;
                sums[s.label][[b, j]] += val as f64;
            }
        }
        counts[s.label] += 1;
        bar.inc(1);
    }
    bar.finish_and_clear();
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let means: Vec<Array2<f32>> = sums
        .iter()
        .zip(&counts)
        .map(|(s, &n)| s.mapv(|x| (x / n.max(1) as f64) as f32))
        .collect();
    let captions: Vec<String> = classes
        .iter()
        .zip(&counts)
        .map(|(c, n)| format!("{c} (n={n})"))
        .collect();
    let grid = SummaryGrid {
        title: "mean normalised CAM per class (joints × relative time)",
        classes: &captions,
        joints: &model.run.layout.joints,
        means: &means,
        x_desc: "relative time",
    };
    save_figure(
        &grid,
        &a.out.join("summary.png"),
        Some(&a.out.join("summary.svg")),
    )?;
    // Class × joint importance (time-averaged mean map) and each class's top joints.
    let importance: Vec<Vec<f32>> = means
        .iter()
        .map(|m| m.mean_axis(Axis(0)).map(|x| x.to_vec()).unwrap_or_default())
        .collect();
    let cj = Array2::from_shape_fn((k, v), |(c, j)| {
        importance[c].get(j).copied().unwrap_or(0.0)
    });
    let fig = HeatmapFigure {
        title: "mean CAM per class and joint (rows: classes)".into(),
        joints: classes.clone(),
        panels: vec![("joints →".into(), cj.t().to_owned())],
        range: (0.0, 1.0),
        bar_label: "mean normalised CAM".into(),
        x_desc: "joint index (names in top_joints.json)".into(),
    };
    save_figure(&fig, &a.out.join("class_joints.png"), None)?;
    super::export::class_means(&a.out, &a.export, &means, classes, &model.run.layout.joints)?;
    let top: serde_json::Map<String, serde_json::Value> = classes
        .iter()
        .enumerate()
        .filter(|(c, _)| counts[*c] > 0)
        .map(|(c, name)| {
            let order = crate::cam::metrics::ranking(&importance[c]);
            let list: Vec<_> = order
                .iter()
                .take(a.top)
                .map(|&j| json!({"joint": j, "name": model.run.layout.joints[j], "importance": importance[c][j], "part": model.run.layout.part_of(j)}))
                .collect();
            (name.clone(), json!({"samples": counts[c], "top_joints": list}))
        })
        .collect();
    crate::io::write_json(
        &a.out.join("top_joints.json"),
        &json!({"schema_version": super::SCHEMA_VERSION, "classes": top}),
    )?;
    for (name, v) in &top {
        let names: Vec<&str> = v["top_joints"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|j| j["name"].as_str())
            .collect();
        println!("{name:<24} {}", names.join(", "));
    }
    println!(
        "wrote summary.png, summary.svg, class_joints.png and top_joints.json to {}",
        a.out.display()
    );
    Ok(())
}

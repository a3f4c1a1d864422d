//! `skelcam skeleton cam`: per-sample CAM files (heatmap, joint bars, skeleton figure and animation, `cam.json`,
//! arrays on request) for one
//! input or a whole split (streamed, one sub-folder per sample, with `index.json`).

use super::export::{self, Export};
use super::{skeleton_data, SCHEMA_VERSION};
use crate::cam::core::{identity_tolerance, joint_importance, Normalization};
use crate::cam::skeleton::{explain_batched, ClassChoice, Method, SampleCam};
use crate::config::DataSource;
use crate::models::SkeletonModel;
use crate::plot::animation::SkeletonAnimation;
use crate::plot::bars::JointBars;
use crate::plot::heatmap::HeatmapFigure;
use crate::plot::skeleton::{key_frames, SkeletonFrames};
use crate::plot::{html, save_figure};
use crate::{Error, Result};
use ndarray::{Array2, Array3, Axis};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};

/// What `skeleton cam` explains and how.
#[derive(Debug, Clone)]
pub struct CamOptions {
    pub run: PathBuf,
    /// One sequence file (its format from `data.format`, default the run's); without it, the test split.
    pub input: Option<PathBuf>,
    pub data: DataSource,
    /// `auto` (the prediction), a class name, or an index.
    pub class: String,
    pub method: Method,
    pub normalize: Normalization,
    /// Fail if the GAP identity does not hold for a sample.
    pub verify: bool,
    /// At most this many samples, spread evenly over the split.
    pub limit: Option<usize>,
    pub out: PathBuf,
    /// Arrays written beside the figures.
    pub export: Export,
    /// Write `skeleton.gif`.
    pub gif: bool,
    /// Score-CAM's masked inputs and Ablation-CAM's feature maps per forward pass.
    pub batch: usize,
}

/// Which files [`write_sample`] writes and how it scales the maps.
#[derive(Debug, Clone)]
pub struct SampleFiles {
    pub norm: Normalization,
    /// The split's max |CAM| for the `dataset` normalisation.
    pub dataset_max: Option<f32>,
    pub export: Export,
    pub gif: bool,
}

impl SampleFiles {
    /// Figures and `cam.json` with `norm`, the animation, no arrays.
    pub fn new(norm: Normalization) -> Self {
        SampleFiles {
            norm,
            dataset_max: None,
            export: Export::default(),
            gif: true,
        }
    }
}

/// The method's name in titles.
pub fn method_name(m: Method) -> &'static str {
    m.label()
}

/// `index.json` of a folder of explained samples (fields in the order they have always been written).
#[derive(serde::Serialize)]
struct Index<'a> {
    samples: &'a [IndexEntry<'a>],
    schema_version: u32,
}

/// One sample of `index.json`, the classes named by the model's class list.
#[derive(Debug, Clone, serde::Serialize)]
struct IndexEntry<'a> {
    class: &'a str,
    folder: String,
    identity_error: f64,
    predicted_class: &'a str,
    probability: f64,
    sample: String,
    true_class: Option<&'a str>,
}

/// A gallery card for the sample in `folder` (`prefix`: the path from the page to the samples' folders).
pub fn card(
    prefix: &str,
    folder: &str,
    sample: &str,
    predicted: &str,
    truth: Option<&str>,
    probability: f64,
    gif: bool,
) -> html::Card {
    let dir = format!("{prefix}{folder}");
    let mut links = vec![
        ("heatmap".to_string(), format!("{dir}/heatmap.png")),
        ("joints".into(), format!("{dir}/joints.png")),
        ("skeleton".into(), format!("{dir}/skeleton.png")),
    ];
    if gif {
        links.push(("animation".into(), format!("{dir}/skeleton.gif")));
    }
    links.push(("cam.json".into(), format!("{dir}/cam.json")));
    html::Card {
        title: sample.to_string(),
        image: format!("{dir}/heatmap.png"),
        predicted: predicted.to_string(),
        truth: truth.map(String::from),
        probability,
        links,
    }
}

/// Gallery cards of the samples listed in an `index.json` read back.
pub fn cards(index: &[serde_json::Value], prefix: &str, gif: bool) -> Vec<html::Card> {
    let text = |v: &serde_json::Value| v.as_str().unwrap_or("").to_string();
    index
        .iter()
        .map(|e| {
            card(
                prefix,
                &text(&e["folder"]),
                &text(&e["sample"]),
                &text(&e["predicted_class"]),
                e["true_class"].as_str(),
                e["probability"].as_f64().unwrap_or(0.0),
                gif,
            )
        })
        .collect()
}

/// Nested (A, B, C) array as JSON.
fn nested(a: &Array3<f32>) -> serde_json::Value {
    json!(a
        .outer_iter()
        .map(|m| m.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
        .collect::<Vec<_>>())
}

/// Write heatmap.png/svg, joints.png, skeleton.png, skeleton.gif, cam.json and the asked-for arrays for
/// one explained sample; returns whether the map was flat.
pub fn write_sample(
    dir: &Path,
    cam: &SampleCam,
    model: &SkeletonModel,
    files: &SampleFiles,
) -> Result<bool> {
    let (norm, dataset_max) = (files.norm, files.dataset_max);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let classes = &model.run.classes;
    let layout = &model.run.layout;
    let (normalized, flat) = cam.normalized(norm, dataset_max);
    let method = method_name(cam.method);
    let title = format!(
        "{}: {method} for {} (p = {:.1}%)",
        cam.sample,
        classes[cam.class],
        100.0 * cam.probability
    );
    let present: Vec<usize> = (0..cam.persons_present.len())
        .filter(|&m| cam.persons_present[m])
        .collect();
    let maps: Vec<Array2<f32>> = present
        .iter()
        .map(|&m| normalized.index_axis(Axis(2), m).to_owned())
        .collect();
    let range = match norm {
        Normalization::Minmax => (0.0, 1.0),
        _ => {
            let lo = maps.iter().flatten().copied().fold(f32::INFINITY, f32::min);
            let hi = maps
                .iter()
                .flatten()
                .copied()
                .fold(f32::NEG_INFINITY, f32::max);
            if lo.is_finite() && hi > lo {
                (lo, hi)
            } else {
                (0.0, 1.0)
            }
        }
    };
    let heat = HeatmapFigure {
        title: title.clone(),
        joints: layout.joints.clone(),
        panels: present
            .iter()
            .zip(&maps)
            .map(|(m, map)| (format!("person {}", m + 1), map.clone()))
            .collect(),
        range,
        bar_label: match norm {
            Normalization::Minmax => "CAM (min-max per sample)".into(),
            Normalization::Dataset => "CAM / dataset max |CAM|".into(),
            Normalization::None => format!("raw {method}"),
        },
        x_desc: "frame".into(),
    };
    save_figure(
        &heat,
        &dir.join("heatmap.png"),
        Some(&dir.join("heatmap.svg")),
    )?;
    // Joint importance: the normalised map summed over time and present persons.
    let values = joint_importance(&normalized, &cam.persons_present);
    let bars = JointBars {
        title: format!(
            "{}: joint importance for {}",
            cam.sample, classes[cam.class]
        ),
        layout,
        values,
        x_label: format!("{method} summed over frames"),
        top: layout.num_joints(),
    };
    save_figure(&bars, &dir.join("joints.png"), None)?;
    let shown = crate::cam::core::minmax(&normalized, &cam.persons_present).0;
    let sk = SkeletonFrames {
        title: format!(
            "{}: {} ({method}, joint colour and size = importance)",
            cam.sample, classes[cam.class]
        ),
        layout,
        coords: &cam.coords,
        importance: &shown,
        persons_present: &cam.persons_present,
        frames: key_frames(cam.time.frames, 5),
    };
    save_figure(&sk, &dir.join("skeleton.png"), None)?;
    if files.gif {
        SkeletonAnimation {
            layout,
            coords: &cam.coords,
            importance: &shown,
            persons_present: &cam.persons_present,
            label: format!("{} {:.1}%", classes[cam.class], 100.0 * cam.probability),
            delay_ms: crate::plot::animation::FRAME_MS,
        }
        .write(&dir.join("skeleton.gif"))?;
    }
    export::skeleton_sample(dir, &files.export, &cam.raw, &normalized, &layout.joints)?;
    let mut doc = json!({
        "schema_version": SCHEMA_VERSION,
        "sample": cam.sample,
        "method": cam.method.name(),
        "class": classes[cam.class],
        "class_index": cam.class,
        "predicted_class": classes[cam.predicted],
        "true_class": cam.true_class.map(|c| classes[c].clone()),
        "probability": cam.probability,
        "logit": cam.logit,
        "logits": cam.logits,
        "bias": cam.bias,
        "identity_error": cam.identity_error,
        "normalization": format!("{norm:?}").to_lowercase(),
        "flat": flat,
        "raw": nested(&cam.raw),
        "normalized": nested(&normalized),
        "layout": layout.name,
        "joints": layout.joints,
        "stride": cam.time.stride,
        "frames": cam.time.frames,
        "frames_input": cam.time.input_frames,
        "frames_feature": cam.time.feature_frames,
        "resampled": cam.time.resampled,
        "persons_present": cam.persons_present,
    });
    if let Some(e) = &model.run.ensemble {
        // Each member's own map (unweighted, feature resolution); `raw` = Σ weight × member raw.
        doc["members"] = json!(e
            .members
            .iter()
            .zip(&cam.members)
            .map(|(m, map)| json!({
                "run": m.run, "modality": m.modality, "weight": m.weight, "raw": nested(map),
            }))
            .collect::<Vec<_>>());
    }
    crate::io::write_json(&dir.join("cam.json"), &doc)?;
    Ok(flat)
}

pub fn cam(a: &CamOptions) -> Result<()> {
    let model = SkeletonModel::load(&a.run)?;
    let choice = ClassChoice::parse(&a.class, &model.run.classes)?;
    if let Some(input) = &a.input {
        let format = a.data.format.unwrap_or(model.run.train.format);
        let seq = skeleton_data::read_input(input, format, &model)?;
        let mut cam = explain_batched(&model, &seq, &choice, a.method, a.batch)?;
        cam.true_class = None;
        check_identity(&cam, a.verify)?;
        let files = SampleFiles {
            export: a.export.clone(),
            gif: a.gif,
            ..SampleFiles::new(a.normalize)
        };
        let flat = write_sample(&a.out, &cam, &model, &files)?;
        if flat {
            eprintln!(
                "warning: the map is flat (no joint or frame stands out); the plots are uniform"
            );
        }
        println!(
            "{}: {} p={:.3} logit={:.4} (identity error {:.2e}); wrote {}",
            cam.sample,
            model.run.classes[cam.class],
            cam.probability,
            cam.logit,
            cam.identity_error,
            a.out.display()
        );
        return Ok(());
    }
    // The samples are read one at a time, so memory stays flat however many there are.
    let data = skeleton_data::load_index(&model, &a.data)?;
    let test = data.test()?;
    // `--limit N` takes N samples spread evenly over the split, so that every class has its share.
    let n = test.len().min(a.limit.unwrap_or(usize::MAX));
    let idx: Vec<usize> = (0..n).map(|i| test[i * test.len() / n]).collect();
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    // Per-dataset normalisation needs the split's max |CAM| first: one extra pass, nothing kept in memory.
    let dataset_max = if a.normalize == Normalization::Dataset {
        let mut m = 0f32;
        for &i in &idx {
            m = m.max(
                explain_batched(&model, &*data.sample(i)?, &choice, a.method, a.batch)?.max_abs(),
            );
        }
        Some(m)
    } else {
        None
    };
    let files = SampleFiles {
        norm: a.normalize,
        dataset_max,
        export: a.export.clone(),
        gif: a.gif,
    };
    let bar = crate::progress::bar(idx.len() as u64, "cam");
    let classes = &model.run.classes;
    let (mut worst, mut index, mut flats) = (0f64, Vec::new(), 0usize);
    for &i in &idx {
        let cam = explain_batched(&model, &*data.sample(i)?, &choice, a.method, a.batch)?;
        check_identity(&cam, a.verify)?;
        worst = worst.max(cam.identity_error);
        let sub = a.out.join(&cam.sample);
        flats += write_sample(&sub, &cam, &model, &files)? as usize;
        index.push(IndexEntry {
            folder: cam.sample.clone(),
            sample: cam.sample,
            class: &classes[cam.class],
            true_class: cam.true_class.map(|c| classes[c].as_str()),
            predicted_class: &classes[cam.predicted],
            probability: cam.probability as f64,
            identity_error: cam.identity_error,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    // Both files are written entry by entry: their size in memory does not grow with the split.
    crate::io::write_atomic_with(&a.out.join("index.json"), |w| {
        let doc = Index {
            samples: &index,
            schema_version: SCHEMA_VERSION,
        };
        serde_json::to_writer_pretty(&mut *w, &doc)?;
        w.write_all(b"\n")
    })?;
    let title = format!("{} of {}", method_name(a.method), a.run.display());
    crate::io::write_atomic_with(&a.out.join("index.html"), |w| {
        html::write_page(w, &title, &["Explained samples"], |_, w| {
            let cards = index.iter().map(|e| {
                card(
                    "",
                    &e.folder,
                    &e.sample,
                    e.predicted_class,
                    e.true_class,
                    e.probability,
                    a.gif,
                )
            });
            html::write_gallery(w, cards, classes)
        })
    })?;
    if flats > 0 {
        eprintln!("warning: {flats} flat map(s): uniform plots written");
    }
    println!(
        "explained {} samples into {}; identity |mean(CAM)+b-logit| max {:.2e}",
        idx.len(),
        a.out.display(),
        worst
    );
    Ok(())
}

/// With `--verify`, a failed GAP identity is an error; otherwise a warning.
fn check_identity(cam: &SampleCam, strict: bool) -> Result<()> {
    let tol = identity_tolerance(cam.logit);
    if cam.identity_error > tol {
        let msg = format!(
            "{}: CAM identity violated: |mean(CAM) + bias − logit| = {:.3e} > {tol:.1e}",
            cam.sample, cam.identity_error
        );
        if strict {
            return Err(Error::Other(msg));
        }
        eprintln!("warning: {msg}");
    }
    Ok(())
}

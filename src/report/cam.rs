//! `skelcam skeleton cam` and `cam-summary`: per-sample CAM files (heatmap, joint bars, skeleton figure,
//! cam.json) for one input or a whole split (streamed, one sub-folder per sample), and class aggregates.

use crate::cam::core::{identity_tolerance, joint_importance, Normalization};
use crate::cam::skeleton::{explain, ClassChoice, Method, SampleCam};
use crate::cli::{CamArgs, CamSummaryArgs};
use crate::data::{self, preprocess::normalize, Dataset, Format, ReadOutcome, Sequence};
use crate::plot::bars::JointBars;
use crate::plot::heatmap::{draw_panels, Panel};
use crate::plot::skeleton::{key_frames, SkeletonFrames};
use crate::plot::{save_figure, DrawResult, Figure};
use crate::train::skeleton::SkeletonModel;
use crate::{Error, Result};
use ndarray::{Array2, Array3, Axis};
use plotters::coord::Shift;
use plotters::prelude::*;
use serde_json::json;
use std::path::Path;

pub const SCHEMA_VERSION: u32 = 1;

/// Read one sequence file of the given format and normalise it like the training data.
pub fn read_input(path: &Path, format: Format, model: &SkeletonModel) -> Result<Sequence> {
    let layout = &model.run.layout;
    let outcome =
        match format {
            Format::Msr => data::msr::read_file(path, layout)?,
            Format::Ntu => data::ntu::read_file(path, layout, model.run.persons)?,
            Format::Csv => {
                let (d, w) = data::csv::read_sequence(path, layout, model.run.persons)?;
                let (d, _) = data::drop_empty_frames(d);
                if d.shape()[1] == 0 {
                    return Err(Error::data(
                        path,
                        "every coordinate is zero: nothing to explain",
                    ));
                }
                let name = path
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                ReadOutcome::Sequence(
                    Sequence {
                        name,
                        label: 0,
                        subject: 0,
                        camera: None,
                        setup: None,
                        data: d,
                    },
                    w,
                )
            }
            Format::Synthetic => return Err(Error::usage(
                "--input takes a file; for synthetic data use --format synthetic without --input",
            )),
        };
    let mut seq = match outcome {
        ReadOutcome::Sequence(s, _) => s,
        ReadOutcome::NoSkeleton(why) => {
            return Err(Error::data(path, format!("nothing to explain: {why}")))
        }
    };
    normalize(&mut seq, layout);
    Ok(seq)
}

/// Nested (A, B, C) array as JSON.
fn nested(a: &Array3<f32>) -> serde_json::Value {
    json!(a
        .outer_iter()
        .map(|m| m.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
        .collect::<Vec<_>>())
}

/// Write heatmap.png/svg, joints.png, skeleton.png and cam.json for one explained sample.
pub fn write_sample(
    dir: &Path,
    cam: &SampleCam,
    model: &SkeletonModel,
    norm: Normalization,
    dataset_max: Option<f32>,
) -> Result<bool> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let classes = &model.run.classes;
    let layout = &model.run.layout;
    let (normalized, flat) = cam.normalized(norm, dataset_max);
    let method = match cam.method {
        Method::Cam => "CAM",
        Method::Gradcam => "Grad-CAM",
    };
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
    let doc = json!({
        "schema_version": SCHEMA_VERSION,
        "sample": cam.sample,
        "method": format!("{:?}", cam.method).to_lowercase(),
        "class": classes[cam.class],
        "class_index": cam.class,
        "predicted_class": classes[cam.predicted],
        "true_class": cam.true_class.map(|c| classes[c].clone()),
        "probability": cam.probability,
        "logit": cam.logit,
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
    crate::io::write_json(&dir.join("cam.json"), &doc)?;
    Ok(flat)
}

struct HeatmapFigure {
    title: String,
    joints: Vec<String>,
    panels: Vec<(String, Array2<f32>)>,
    range: (f32, f32),
    bar_label: String,
    x_desc: String,
}

impl Figure for HeatmapFigure {
    fn size(&self) -> (u32, u32) {
        (
            160 + 560 * self.panels.len().max(1) as u32,
            140 + 18 * self.joints.len() as u32,
        )
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let panels: Vec<Panel> = self
            .panels
            .iter()
            .map(|(t, m)| Panel {
                title: t.clone(),
                map: m,
                x_desc: &self.x_desc,
            })
            .collect();
        draw_panels(
            root,
            &self.title,
            &self.joints,
            &panels,
            self.range,
            &self.bar_label,
        )
    }
}

/// Data options for CAM commands default to the run's own data.
pub fn dataset_for(
    model: &SkeletonModel,
    args: &crate::cli::DataArgs,
) -> Result<(Dataset, Vec<usize>, crate::config::SkeletonTrainConfig)> {
    let (ds, cfg) = super::run_data(model, args)?;
    let (_, test) = data::split::split(&ds, cfg.format, cfg.split, cfg.train_subjects.as_deref())?;
    Ok((ds, test, cfg))
}

pub fn cam(a: &CamArgs) -> Result<()> {
    let model = SkeletonModel::load(&a.run)?;
    let choice = ClassChoice::parse(&a.class, &model.run.classes)?;
    if let Some(input) = &a.input {
        let format = a.data.format.unwrap_or(model.run.train.format);
        let seq = read_input(input, format, &model)?;
        let mut cam = explain(&model, &seq, &choice, a.method)?;
        cam.true_class = None;
        check_identity(&cam, a.verify)?;
        let flat = write_sample(&a.out, &cam, &model, a.normalize, None)?;
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
    let (ds, test, _) = dataset_for(&model, &a.data)?;
    let idx: Vec<usize> = test
        .into_iter()
        .take(a.limit.unwrap_or(usize::MAX))
        .collect();
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    // Per-dataset normalisation needs the split's max |CAM| first: one extra pass, nothing kept in memory.
    let dataset_max = if a.normalize == Normalization::Dataset {
        let mut m = 0f32;
        for &i in &idx {
            m = m.max(explain(&model, &ds.samples[i], &choice, a.method)?.max_abs());
        }
        Some(m)
    } else {
        None
    };
    let bar = crate::train::progress::bar(idx.len() as u64, "cam");
    let (mut worst, mut index, mut flats) = (0f64, Vec::new(), 0usize);
    for &i in &idx {
        let cam = explain(&model, &ds.samples[i], &choice, a.method)?;
        check_identity(&cam, a.verify)?;
        worst = worst.max(cam.identity_error);
        let sub = a.out.join(&cam.sample);
        flats += write_sample(&sub, &cam, &model, a.normalize, dataset_max)? as usize;
        index.push(json!({
            "sample": cam.sample, "folder": cam.sample, "class": model.run.classes[cam.class],
            "true_class": cam.true_class.map(|c| model.run.classes[c].clone()),
            "predicted_class": model.run.classes[cam.predicted], "probability": cam.probability,
            "identity_error": cam.identity_error,
        }));
        bar.inc(1);
    }
    bar.finish_and_clear();
    crate::io::write_json(
        &a.out.join("index.json"),
        &json!({"schema_version": SCHEMA_VERSION, "samples": index}),
    )?;
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

/// Mean normalised CAM per class (over samples of that class, explained for their true class), binned to
/// `bins` relative-time steps; then a grid of heatmaps, a class × joint importance chart and top joints.
pub fn cam_summary(a: &CamSummaryArgs) -> Result<()> {
    let model = SkeletonModel::load(&a.run)?;
    let (ds, test, _) = dataset_for(&model, &a.data)?;
    let idx: Vec<usize> = if a.all {
        (0..ds.samples.len()).collect()
    } else {
        test
    };
    let classes = &model.run.classes;
    let (k, v, bins) = (classes.len(), model.run.layout.num_joints(), a.bins);
    let mut sums = vec![Array2::<f64>::zeros((bins, v)); k];
    let mut counts = vec![0usize; k];
    let bar = crate::train::progress::bar(idx.len() as u64, "summary");
    for &i in &idx {
        let s = &ds.samples[i];
        let cam = explain(&model, s, &ClassChoice::Index(s.label), a.method)?;
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
    let grid = SummaryGrid {
        classes,
        joints: &model.run.layout.joints,
        means: &means,
        counts: &counts,
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
        &json!({"schema_version": SCHEMA_VERSION, "classes": top}),
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

struct SummaryGrid<'a> {
    classes: &'a [String],
    joints: &'a [String],
    means: &'a [Array2<f32>],
    counts: &'a [usize],
}

impl Figure for SummaryGrid<'_> {
    fn size(&self) -> (u32, u32) {
        let cols = 4.min(self.classes.len()).max(1) as u32;
        let rows = self.classes.len().div_ceil(cols as usize) as u32;
        (
            150 + 330 * cols,
            60 + rows * (60 + 12 * self.joints.len() as u32),
        )
    }
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE)?;
        let root = root.titled(
            "mean normalised CAM per class (joints × relative time)",
            ("sans-serif", 20),
        )?;
        let (w, _) = root.dim_in_pixel();
        let (main, bar) = root.split_horizontally(w.saturating_sub(110));
        let cols = 4.min(self.classes.len()).max(1);
        let rows = self.classes.len().div_ceil(cols);
        for (c, area) in main
            .split_evenly((rows, cols))
            .iter()
            .enumerate()
            .take(self.classes.len())
        {
            let title = format!("{} (n={})", self.classes[c], self.counts[c]);
            let p = [Panel {
                title,
                map: &self.means[c],
                x_desc: "relative time",
            }];
            draw_panel_only(area, self.joints, &p[0])?;
        }
        crate::plot::heatmap::colour_bar(&bar, 0.0, 1.0, "mean CAM")
    }
}

fn draw_panel_only<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    joints: &[String],
    p: &Panel,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (bins, v) = p.map.dim();
    let mut chart = ChartBuilder::on(area)
        .caption(&p.title, ("sans-serif", 13))
        .margin(4)
        .x_label_area_size(18)
        .y_label_area_size(95)
        .build_cartesian_2d(0f64..1.0, 0f64..v as f64)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .x_labels(3)
        .x_label_formatter(&|x| format!("{x:.1}"))
        .y_labels(2 * v + 1)
        .y_label_formatter(&|y| {
            let i = y.floor() as usize;
            if (y - y.floor() - 0.5).abs() < 1e-6 && i < v {
                joints.get(v - 1 - i).cloned().unwrap_or_default()
            } else {
                String::new()
            }
        })
        .label_style(("sans-serif", 9))
        .draw()?;
    chart.draw_series((0..bins).flat_map(|b| {
        (0..v).map(move |j| {
            let y = (v - 1 - j) as f64;
            let x0 = b as f64 / bins as f64;
            Rectangle::new(
                [(x0, y), (x0 + 1.0 / bins as f64, y + 1.0)],
                crate::plot::jet(p.map[[b, j]] as f64).filled(),
            )
        })
    }))?;
    Ok(())
}

/// `skelcam ragcn cam`: for one sequence, each stream's CAM (for its own prediction, on the input it saw)
/// beside the mask it received, as joint × frame panels of the first present person (`ragcn_cam.png`), and
/// the numbers in `ragcn_cam.json`.
pub fn ragcn_cam(a: &crate::cli::RagcnCamArgs) -> Result<()> {
    use crate::cam::core::{minmax, TimeMap};
    use crate::cam::skeleton::model_input;
    use crate::models::Ctx;
    let model = SkeletonModel::load(&a.run)?;
    let r = model
        .run
        .ragcn
        .clone()
        .ok_or_else(|| Error::usage(format!("{} is not an RA-GCN run", a.run.display())))?;
    let seq = match &a.input {
        Some(p) => read_input(p, a.data.format.unwrap_or(model.run.train.format), &model)?,
        None => {
            let (ds, test, _) = dataset_for(&model, &a.data)?;
            ds.samples[test[0]].clone()
        }
    };
    let (x, _, _) = model_input(&model, &seq)?;
    let out = model.ragcn_forward(&r, &x, None, &mut Ctx::eval())?;
    let (_, _, t_in, v, m) = x.dims5()?;
    let resampled = model.run.train.length_mode == crate::data::preprocess::LengthMode::Resample;
    let frames = if resampled {
        seq.frames()
    } else {
        seq.frames().min(t_in)
    };
    let person = (0..m)
        .find(|&p| {
            x.narrow(4, p, 1)
                .and_then(|t| t.abs()?.sum_all()?.to_scalar::<f32>())
                .unwrap_or(0.0)
                > 0.0
        })
        .unwrap_or(0);
    let keep = vec![true; m];
    let mut panels: Vec<(String, Array2<f32>)> = Vec::new();
    let mut doc = Vec::new();
    for (s, net) in model.streams().iter().enumerate() {
        let xs = match &out.masks[s] {
            Some(k) => x.broadcast_mul(k)?,
            None => x.clone(),
        };
        let f = net.features(&xs, &mut Ctx::eval())?;
        let logits: Vec<f32> = out.logits[s].squeeze(0)?.to_vec1()?;
        let class = crate::cam::skeleton::argmax(&logits);
        let (w, _) = net.head_params()?;
        let w_c = ndarray::Array1::from(w.narrow(0, class, 1)?.squeeze(0)?.to_vec1::<f32>()?);
        let cam = crate::cam::core::class_activation(
            crate::cam::gradcam::to_array4(&f.squeeze(0)?)?.view(),
            w_c.view(),
        );
        let tf = cam.dim().0;
        let time = TimeMap {
            frames,
            input_frames: t_in,
            feature_frames: tf,
            stride: t_in / tf,
            resampled,
        };
        let shown = minmax(&time.to_frames(&cam), &keep).0;
        if let Some(k) = &out.masks[s] {
            let hidden: Vec<f32> = k.squeeze(0)?.squeeze(0)?.flatten_all()?.to_vec1()?;
            let arr =
                Array3::from_shape_vec((t_in, v, m), hidden.iter().map(|h| 1.0 - h).collect())
                    .map_err(|e| Error::Other(e.to_string()))?;
            let mt = TimeMap {
                frames,
                input_frames: t_in,
                feature_frames: t_in,
                stride: 1,
                resampled,
            };
            panels.push((
                format!("stream {}: hidden input", s + 1),
                mt.to_frames(&arr).index_axis(Axis(2), person).to_owned(),
            ));
        }
        panels.push((
            format!("stream {}: CAM, {}", s + 1, model.run.classes[class]),
            shown.index_axis(Axis(2), person).to_owned(),
        ));
        doc.push(json!({"stream": s + 1, "predicted_class": model.run.classes[class], "masked_fraction": out.masked_fraction[s]}));
    }
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    let fig = HeatmapFigure {
        title: format!("{}: RA-GCN streams (person {})", seq.name, person + 1),
        joints: model.run.layout.joints.clone(),
        panels,
        range: (0.0, 1.0),
        bar_label: "CAM (min-max) / hidden (1)".into(),
        x_desc: "frame".into(),
    };
    save_figure(&fig, &a.out.join("ragcn_cam.png"), None)?;
    crate::io::write_json(
        &a.out.join("ragcn_cam.json"),
        &json!({"schema_version": SCHEMA_VERSION, "sample": seq.name, "streams": doc}),
    )?;
    println!(
        "wrote ragcn_cam.png and ragcn_cam.json to {}",
        a.out.display()
    );
    Ok(())
}

//! What the commands print and write besides training: evaluation reports, model info, synthetic data
//! export and the demo; CAM outputs in [`cam`] and faithfulness in [`faithfulness`].

pub mod bench;
pub mod cam;
pub mod faithfulness;
pub mod image;
pub mod localize;
pub mod robustness;

use crate::cli::{DemoArgs, EvalArgs, InfoArgs, SynthArgs};
use crate::config::SkeletonTrainConfig;
use crate::data::{self, Layout};
use crate::models::{init, Stgcn, StgcnConfig};
use crate::train::skeleton::{self, SkeletonModel};
use crate::{Error, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde_json::json;
use std::path::Path;

pub fn eval(a: &EvalArgs) -> Result<()> {
    let model = SkeletonModel::load(&a.run)?;
    let (ds, cfg) = run_data(&model, &a.data)?;
    let idx: Vec<usize> = if a.all {
        (0..ds.samples.len()).collect()
    } else {
        crate::data::split::split(&ds, cfg.format, cfg.split, cfg.train_subjects.as_deref())?.1
    };
    let perturbation = match (&a.occlude, &a.jitter) {
        (Some(o), _) => Some(crate::data::perturb::Perturbation::parse_occlusion(o)?),
        (None, Some(j)) => Some(crate::data::perturb::Perturbation::parse_jitter(j)?),
        (None, None) => None,
    };
    let pattern = crate::data::perturb::pattern_for(
        perturbation.as_ref(),
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
        "perturbation": perturbation.as_ref().map(|p| p.label()),
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

/// The data a command works on: the run's own data options, overridden by `args` (naming another format
/// without a folder drops the run's folder), loaded, normalised and checked against the model.
pub fn run_data(
    model: &SkeletonModel,
    args: &crate::cli::DataArgs,
) -> Result<(data::Dataset, crate::config::SkeletonTrainConfig)> {
    let mut cfg = model.run.train.clone();
    args.apply(&mut cfg);
    if args.format.is_some() && args.data.is_none() && cfg.format != model.run.train.format {
        cfg.data = None;
    }
    let ds = skeleton::load_dataset(&skeleton::load_options(&cfg))?;
    check_compatible(model, &ds)?;
    Ok((ds, cfg))
}

/// The data must match the model: same joint count and the same classes.
pub fn check_compatible(model: &SkeletonModel, ds: &data::Dataset) -> Result<()> {
    if ds.layout.num_joints() != model.run.layout.num_joints() {
        return Err(Error::usage(format!(
            "the data's layout {} has {} joints, but the model was trained on layout {} with {}",
            ds.layout.name,
            ds.layout.num_joints(),
            model.run.layout.name,
            model.run.layout.num_joints()
        )));
    }
    if ds.classes != model.run.classes {
        return Err(Error::usage(format!(
            "the data has classes [{}], the model was trained on [{}]",
            ds.classes.join(", "),
            model.run.classes.join(", ")
        )));
    }
    Ok(())
}

pub fn info(a: &InfoArgs) -> Result<()> {
    let layout = Layout::resolve(&a.layout)?;
    let cfg = StgcnConfig::preset(&a.model, a.channels, a.classes).map_err(Error::usage)?;
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Stgcn::new(&cfg, layout.num_joints(), &layout.edges, layout.center, vb)?;
    let params = init::trainable(&varmap);
    let total = init::num_trainable(&varmap);
    if a.json {
        let layers: Vec<_> = params
            .iter()
            .map(|(n, v)| json!({"name": n, "shape": v.dims(), "params": v.elem_count()}))
            .collect();
        let out = json!({
            "model": a.model, "layout": layout.name, "joints": layout.num_joints(), "classes": a.classes,
            "channels": a.channels, "blocks": cfg.blocks, "temporal_stride": cfg.temporal_stride(),
            "params": total, "layers": layers,
        });
        println!("{out}");
    } else {
        println!(
            "{} on {} ({} joints), {} input channels, {} classes",
            a.model,
            layout.name,
            layout.num_joints(),
            a.channels,
            a.classes
        );
        println!("{:<48} {:>18} {:>10}", "parameter", "shape", "count");
        for (n, v) in &params {
            println!(
                "{n:<48} {:>18} {:>10}",
                format!("{:?}", v.dims()),
                v.elem_count()
            );
        }
        println!("trainable parameters: {total}");
    }
    Ok(())
}

pub fn synth(a: &SynthArgs) -> Result<()> {
    let layout = Layout::resolve(&a.layout)?;
    let cfg = data::synth::SynthConfig::preset(&a.preset, a.seed)?;
    let ds = data::synth::generate(&cfg, &layout)?;
    crate::io::prepare_out_dir(&a.out, a.force)?;
    write_csv_dataset(&ds, &a.out)?;
    eprintln!(
        "wrote {} sequences of {} classes to {}",
        ds.samples.len(),
        ds.classes.len(),
        a.out.display()
    );
    Ok(())
}

/// Write a dataset in the generic format, plus `ground_truth.json` when the true joints are known.
pub fn write_csv_dataset(ds: &data::Dataset, dir: &Path) -> Result<()> {
    let mut labels = String::from("file,label,subject\n");
    for s in &ds.samples {
        let file = format!("{}.csv", s.name);
        data::csv::write_sequence(&dir.join(&file), &s.data)?;
        labels.push_str(&format!("{file},{},{}\n", ds.classes[s.label], s.subject));
    }
    crate::io::write_atomic(&dir.join("labels.csv"), labels.as_bytes())?;
    crate::io::write_json(&dir.join("layout.json"), &ds.layout)?;
    if let Some(gt) = &ds.gt_joints {
        let classes: Vec<_> = ds
            .classes
            .iter()
            .zip(gt)
            .map(|(c, j)| json!({"class": c, "joints": j, "joint_names": j.iter().map(|&i| &ds.layout.joints[i]).collect::<Vec<_>>()}))
            .collect();
        crate::io::write_json(
            &dir.join("ground_truth.json"),
            &json!({"layout": ds.layout.name, "classes": classes}),
        )?;
    }
    Ok(())
}

pub fn demo(a: &DemoArgs) -> Result<()> {
    if !a.images_only {
        skeleton_demo(a)?;
    }
    image::demo(a)
}

fn skeleton_demo(a: &DemoArgs) -> Result<()> {
    let mut cfg = SkeletonTrainConfig::default();
    if let Some(e) = a.epochs {
        cfg.epochs = e;
    }
    eprintln!(
        "demo: training {} on the built-in synthetic skeleton actions into {}",
        cfg.model,
        a.run.display()
    );
    let m = skeleton::train(&cfg, &a.run, true)?;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    for f in ["curves.png", "confusion.png", "metrics.json"] {
        let bytes = std::fs::read(a.run.join(f)).map_err(|e| Error::io(a.run.join(f), e))?;
        crate::io::write_atomic(&a.out.join(f), &bytes)?;
    }
    // One explained test sample per class, the class summaries and the faithfulness curves.
    let model = SkeletonModel::load(&a.run)?;
    let (ds, test, _) = cam::dataset_for(&model, &crate::cli::DataArgs::default())?;
    let mut seen = vec![false; model.run.classes.len()];
    for &i in &test {
        let s = &ds.samples[i];
        if std::mem::replace(&mut seen[s.label], true) {
            continue;
        }
        let c = crate::cam::skeleton::explain(
            &model,
            s,
            &crate::cam::skeleton::ClassChoice::Auto,
            crate::cam::skeleton::Method::Cam,
        )?;
        cam::write_sample(
            &a.out.join("cam").join(&s.name),
            &c,
            &model,
            crate::cam::core::Normalization::Minmax,
            None,
        )?;
    }
    let data = crate::cli::DataArgs::default();
    cam::cam_summary(&crate::cli::CamSummaryArgs {
        run: a.run.clone(),
        data: data.clone(),
        all: false,
        method: crate::cam::skeleton::Method::Cam,
        bins: 20,
        top: 5,
        out: a.out.join("summary"),
    })?;
    faithfulness::faithfulness(&crate::cli::FaithfulnessArgs {
        run: a.run.clone(),
        data,
        method: crate::cam::skeleton::Method::Cam,
        seed: 1,
        limit: None,
        json: false,
        out: Some(a.out.join("faithfulness")),
    })?;
    println!(
        "demo: test top-1 {:.3} on synthetic data; curves, confusion matrix, per-sample CAMs (cam/), class summaries \
         (summary/) and faithfulness curves in {}",
        m.test_top1,
        a.out.display()
    );
    Ok(())
}

//! `skelcam synth` and `skelcam image synth`: the built-in synthetic skeleton actions as CSV files (with
//! the joints each class moves in `ground_truth.json`), and the synthetic pictures as PNG files with their
//! object boxes.

use crate::data::synth_images::{generate, SynthImageConfig};
use crate::data::{self, Layout};
use crate::plot::overlay::save_png;
use crate::{Error, Result};
use serde_json::json;
use std::path::{Path, PathBuf};

/// What `synth` writes.
#[derive(Debug, Clone)]
pub struct SynthOptions {
    /// Preset: default, tiny, all.
    pub preset: String,
    pub layout: String,
    pub seed: u64,
    pub out: PathBuf,
    pub force: bool,
}

pub fn synth(a: &SynthOptions) -> Result<()> {
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

/// What `image synth` writes.
#[derive(Debug, Clone)]
pub struct ImageSynthOptions {
    pub pictures: SynthImageConfig,
    pub out: PathBuf,
    pub force: bool,
}

/// Write the synthetic set as PNG files: train/<class>/, test/<class>/, each with boxes.json.
pub fn image_synth(a: &ImageSynthOptions) -> Result<()> {
    let set = generate(&a.pictures)?;
    crate::io::prepare_out_dir(&a.out, a.force)?;
    for (part, items) in [("train", &set.train), ("test", &set.test)] {
        if items.is_empty() {
            continue; // e.g. --train-per-class 0: no empty train/ with an empty boxes.json
        }
        let mut boxes = std::collections::BTreeMap::new();
        for it in items {
            let class = &set.classes[it.label];
            let file = it.name.rsplit('/').next().unwrap_or(&it.name).to_string();
            let rel = format!("{class}s/{file}");
            let path = a.out.join(part).join(&rel);
            std::fs::create_dir_all(path.parent().expect("has a parent"))
                .map_err(|e| Error::io(&path, e))?;
            save_png(&it.image, &path)?;
            boxes.insert(rel, it.boxes.clone());
        }
        crate::io::write_json(&a.out.join(part).join("boxes.json"), &boxes)?;
    }
    eprintln!(
        "wrote {} + {} pictures with boxes to {}",
        set.train.len(),
        set.test.len(),
        a.out.display()
    );
    Ok(())
}

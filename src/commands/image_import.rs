//! `skelcam image import`: a torchvision ResNet-18 state dict (safetensors) turned into a run directory
//! that every image command accepts.

use crate::config::{ImageFormat, ImageTrainConfig};
use crate::models::{weights, ImageModel, ImageRunConfig, ResnetConfig};
use crate::run_dir::RunDir;
use crate::{Error, Result};
use std::path::PathBuf;

/// What `image import` reads and writes.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// A torchvision ResNet-18 state dict saved with safetensors.
    pub weights: PathBuf,
    /// Class names in the order of the fc rows.
    pub classes: Vec<String>,
    /// Input side the model expects.
    pub size: u32,
    pub out: PathBuf,
    pub force: bool,
}

/// torchvision's state dict (safetensors) → run directory; `num_batches_tracked` counters are ignored.
pub fn import(a: &ImportOptions) -> Result<()> {
    if a.classes.len() < 2 {
        return Err(Error::invalid(
            "classes",
            a.classes.join(","),
            "at least two names",
        ));
    }
    let (tensors, _) = weights::load(&a.weights)?;
    let fc = tensors.get("fc.weight").ok_or_else(|| {
        Error::data(
            &a.weights,
            "no 'fc.weight': expected a torchvision ResNet-18 state dict",
        )
    })?;
    let (rows, cols) = fc.dims2()?;
    if rows != a.classes.len() {
        return Err(Error::data(
            &a.weights,
            format!(
                "fc.weight has {rows} rows but --classes lists {} names",
                a.classes.len()
            ),
        ));
    }
    let width = cols / 8;
    let preset = if width == 64 {
        "resnet18"
    } else {
        "resnet18-narrow"
    };
    let mut model_cfg = ResnetConfig::preset(preset, rows).map_err(Error::usage)?;
    model_cfg.width = width;
    if a.size < 32 || !a.size.is_multiple_of(16) {
        return Err(Error::invalid(
            "size",
            a.size,
            "a multiple of 16 and at least 32",
        ));
    }
    // No training data: reports on an imported run need --data.
    let train = ImageTrainConfig {
        model: preset.into(),
        size: a.size,
        format: ImageFormat::Folder,
        ..Default::default()
    };
    let run = ImageRunConfig {
        skelcam_version: env!("CARGO_PKG_VERSION").into(),
        kind: "image".into(),
        train,
        model: model_cfg,
        classes: a.classes.clone(),
    };
    let model = ImageModel::build(&run)?;
    weights::load_into(&model.varmap, &tensors, "", &a.weights)?;
    let dir = RunDir::create(&a.out, a.force)?;
    dir.write_config(&run)?;
    weights::save(&dir.model(), &weights::varmap_tensors(&model.varmap), None)?;
    eprintln!(
        "imported {} ({} parameters, classes {:?}) into {}",
        a.weights.display(),
        model.num_params(),
        a.classes,
        a.out.display()
    );
    Ok(())
}

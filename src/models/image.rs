//! The image model of a run: a ResNet-18 built from the run's `config.json`, initialised from its seed,
//! and loaded from its weights.

use super::weights;
use super::{init, Resnet, ResnetConfig};
use crate::config::ImageTrainConfig;
use crate::run_dir::RunDir;
use crate::{Error, Result};
use candle_core::{DType, Device};
use candle_nn::{VarBuilder, VarMap};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// What `config.json` of an image run holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImageRunConfig {
    pub skelcam_version: String,
    /// Always "image": tells image runs from skeleton runs.
    pub kind: String,
    pub train: ImageTrainConfig,
    pub model: ResnetConfig,
    pub classes: Vec<String>,
}

pub struct ImageModel {
    pub varmap: VarMap,
    pub net: Resnet,
    pub run: ImageRunConfig,
}

impl ImageModel {
    pub fn build(run: &ImageRunConfig) -> Result<Self> {
        run.model.check()?;
        if run.classes.len() != run.model.num_class {
            return Err(Error::invalid(
                "classes",
                run.classes.len(),
                format!("one name per class of the model ({})", run.model.num_class),
            ));
        }
        let varmap = VarMap::new();
        let net = Resnet::new(
            &run.model,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )?;
        init::seeded_init(&varmap, run.train.training_seed())?;
        init::kaiming_conv_init(&varmap, run.train.training_seed())?;
        Ok(ImageModel {
            varmap,
            net,
            run: run.clone(),
        })
    }

    /// Load a finished image run (its `config.json` and `model.safetensors`).
    pub fn load(run_dir: &Path) -> Result<Self> {
        let dir = RunDir::open(run_dir, "an image")?;
        let run: ImageRunConfig = dir.read_config().map_err(|e| Error::NotARun {
            path: run_dir.to_path_buf(),
            kind: "an image",
            why: e.to_string(),
        })?;
        if run.kind != "image" {
            return Err(Error::data(
                dir.config(),
                "not an image run (kind is not \"image\")",
            ));
        }
        if !dir.is_finished() {
            return Err(Error::UnfinishedRun {
                path: run_dir.to_path_buf(),
                resume: format!("skelcam image train --resume {}", run_dir.display()),
            });
        }
        let model = Self::build(&run)?;
        let (tensors, _) = weights::load(&dir.model())?;
        weights::load_into(&model.varmap, &tensors, "", &dir.model())?;
        Ok(model)
    }

    /// The same network with torchvision's strides (features at 1/32): another view of the same weights and
    /// batch-norm statistics, so training either trains both.
    pub fn coarse(&self) -> Result<Resnet> {
        let config = ResnetConfig {
            last_stride: 2,
            layer3_stride: 2,
            ..self.run.model.clone()
        };
        Ok(Resnet::new(
            &config,
            VarBuilder::from_varmap(&self.varmap, DType::F32, &Device::Cpu),
        )?)
    }

    pub fn size(&self) -> u32 {
        self.run.train.size
    }

    pub fn num_params(&self) -> usize {
        init::num_trainable(&self.varmap)
    }
}

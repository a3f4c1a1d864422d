//! Training configuration: defaults, then a JSON config file, then command-line options; the resolved
//! configuration is saved in every run directory as `config.json`.

use crate::data::preprocess::{Augment, LengthMode};
use crate::data::split::Split;
use crate::data::Format;
use crate::train::optim::OptimKind;
use crate::train::schedule::ScheduleKind;
use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Everything that defines a skeleton training run. Every field can be set in a `--config` JSON file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SkeletonTrainConfig {
    /// Dataset folder, or the synthetic preset name with `format: synthetic`.
    pub data: Option<String>,
    pub format: Format,
    /// Layout name or JSON path (default: the format's layout).
    pub layout: Option<String>,
    pub split: Split,
    /// Explicit training subjects for cross-subject splits.
    pub train_subjects: Option<Vec<u32>>,
    /// Model preset: stgcn, stgcn-small, stgcn-tiny.
    pub model: String,
    /// Dropout override (preset default 0.5).
    pub dropout: Option<f32>,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub optimizer: OptimKind,
    pub lr: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub schedule: ScheduleKind,
    pub warmup_epochs: f64,
    /// Epochs at which a step schedule divides the rate by 10.
    pub milestones: Vec<usize>,
    /// Fixed input length T (a multiple of the model's temporal stride).
    pub frames: usize,
    pub length_mode: LengthMode,
    /// Add motion channels (frame-to-frame differences): 6 input channels instead of 3.
    pub motion: bool,
    /// Person slots M (default: the most persons found in the data, at most 2).
    pub persons: Option<usize>,
    /// Training augmentation; `null` switches it off.
    pub augment: Option<Augment>,
    /// Skip unreadable files (listing them) instead of stopping.
    pub skip_bad: bool,
    /// Evaluate on the test split every this many epochs (and always after the last).
    pub eval_every: usize,
}

impl Default for SkeletonTrainConfig {
    fn default() -> Self {
        SkeletonTrainConfig {
            data: None,
            format: Format::Synthetic,
            layout: None,
            split: Split::CrossSubject,
            train_subjects: None,
            model: "stgcn-small".into(),
            dropout: None,
            epochs: 50,
            batch_size: 16,
            seed: 1,
            optimizer: OptimKind::Sgd,
            lr: 0.05,
            weight_decay: 5e-4,
            momentum: 0.9,
            schedule: ScheduleKind::Cosine,
            warmup_epochs: 2.0,
            milestones: vec![],
            frames: 32,
            length_mode: LengthMode::Resample,
            motion: true,
            persons: None,
            augment: Some(Augment::default()),
            skip_bad: false,
            eval_every: 1,
        }
    }
}

impl SkeletonTrainConfig {
    /// Defaults overlaid with a JSON file (unknown keys are an error naming the key).
    pub fn from_file(path: &Path) -> Result<Self> {
        crate::io::read_json(path)
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::usage(m));
        if self.epochs == 0 {
            return bad("epochs must be at least 1".into());
        }
        if self.batch_size < 2 {
            return bad(format!(
                "batch_size must be at least 2 (batch norm needs 2 samples), got {}",
                self.batch_size
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if self.frames < 4 {
            return bad(format!("frames must be at least 4, got {}", self.frames));
        }
        if let Some(p) = self.persons {
            if p == 0 {
                return bad("persons must be at least 1".into());
            }
        }
        if self.eval_every == 0 {
            return bad("eval_every must be at least 1".into());
        }
        Ok(())
    }
}

/// Where the pictures of an image run come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// A folder: `train/<class>/*.jpg` (+ optional `test/`), `<class>/*.jpg`, or flat `class.N.jpg` files.
    Folder,
    /// The built-in generator of pictures with known object boxes.
    Synthetic,
}

/// Everything that defines an image training run. Every field can be set in a `--config` JSON file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ImageTrainConfig {
    /// Image folder (with `format: folder`).
    pub data: Option<String>,
    pub format: ImageFormat,
    /// Model preset: resnet18 or resnet18-narrow.
    pub model: String,
    /// Input side in pixels (a multiple of 16, at least 32); pictures are resized to size × size.
    pub size: u32,
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub optimizer: OptimKind,
    pub lr: f64,
    pub weight_decay: f64,
    pub momentum: f64,
    pub schedule: ScheduleKind,
    pub warmup_epochs: f64,
    pub milestones: Vec<usize>,
    /// Random resized crop, flip and colour jitter while training.
    pub augment: bool,
    /// Probability of CutMix per training picture (with `augment`; 0 switches it off).
    pub cutmix: f64,
    /// Label smoothing ε of the training targets.
    pub label_smoothing: f64,
    /// Fraction held out for testing when the folder has no `test/`.
    pub val_fraction: f64,
    pub skip_bad: bool,
    pub eval_every: usize,
    /// The synthetic set (with `format: synthetic`).
    pub synthetic: crate::data::synth_images::SynthImageConfig,
}

impl Default for ImageTrainConfig {
    fn default() -> Self {
        ImageTrainConfig {
            data: None,
            format: ImageFormat::Synthetic,
            model: "resnet18".into(),
            size: 64,
            epochs: 150,
            batch_size: 32,
            seed: 1,
            optimizer: OptimKind::Adamw,
            lr: 2e-3,
            weight_decay: 0.05,
            momentum: 0.9,
            schedule: ScheduleKind::Cosine,
            warmup_epochs: 2.0,
            milestones: vec![],
            augment: true,
            cutmix: 0.5,
            label_smoothing: 0.1,
            val_fraction: 0.2,
            skip_bad: false,
            eval_every: 5,
            synthetic: Default::default(),
        }
    }
}

impl ImageTrainConfig {
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::usage(m));
        if self.epochs == 0 || self.eval_every == 0 {
            return bad("epochs and eval_every must be at least 1".into());
        }
        if self.batch_size < 2 {
            return bad(format!(
                "batch_size must be at least 2 (batch norm needs 2 samples), got {}",
                self.batch_size
            ));
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if self.size < 32 || self.size % 16 != 0 {
            return bad(format!(
                "size must be a multiple of 16 and at least 32 (e.g. 64, 112, 224), got {}",
                self.size
            ));
        }
        if !(0.0..=1.0).contains(&self.cutmix) || !(0.0..1.0).contains(&self.label_smoothing) {
            return bad(format!(
                "cutmix must be in [0, 1] and label_smoothing in [0, 1), got {} and {}",
                self.cutmix, self.label_smoothing
            ));
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return bad(format!(
                "val_fraction must be between 0 and 1, got {}",
                self.val_fraction
            ));
        }
        if self.format == ImageFormat::Folder && self.data.is_none() {
            return bad("--data DIR is needed unless --format synthetic".into());
        }
        Ok(())
    }
}

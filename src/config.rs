//! Training configuration: defaults, then a JSON config file, then command-line options ([`overlay`]); the
//! resolved configuration is saved in every run directory as `config.json`. Also where a command's data
//! comes from ([`DataSource`], [`ImageSource`]) when it differs from the run's own.

use crate::data::modality::Modality;
use crate::data::preprocess::{Augment, LengthMode, Preprocess};
use crate::data::split::Split;
use crate::data::Format;
use crate::graph::Partition;
use crate::{Error, Result};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

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
    /// For files that come split (pyskl pickles): the names of the training and test parts.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_train: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split_test: Option<String>,
    /// Model preset: stgcn, stgcn-small, stgcn-tiny.
    pub model: String,
    /// Dropout override (preset default 0.5).
    pub dropout: Option<f32>,
    /// Temporal kernel size override (odd; the preset's otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temporal_kernel: Option<usize>,
    /// Graph neighbourhood radius in hops override (the preset's otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_hop: Option<usize>,
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
    /// Label smoothing ε of the training loss: targets 1 − ε + ε/K on the label, ε/K elsewhere.
    #[serde(skip_serializing_if = "is_zero")]
    pub label_smoothing: f64,
    /// Mixup's α: each training batch is blended with a shuffled copy of itself by λ ~ Beta(α, α) (folded
    /// onto [0.5, 1]) and so are the targets; 0 switches it off. New runs record [`MIXUP_ALPHA`]; runs
    /// written without the field trained without it.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub mixup: f64,
    /// Fixed input length T (a multiple of the model's temporal stride).
    pub frames: usize,
    pub length_mode: LengthMode,
    /// Add motion channels (frame-to-frame differences): 6 input channels instead of 3 (joint and bone
    /// modalities).
    pub motion: bool,
    /// Every block learns an offset to its adjacency (starting at zero) that may link any two joints; false
    /// (the default): the layout's edges only, as the official ST-GCN, which keeps the CAM on the joints.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub adaptive_graph: bool,
    /// Weight decay of the adaptive graph's offsets, in place of `weight_decay` (a new adaptive run records
    /// [`GRAPH_OFFSET_DECAY`] here): an offset then stays only where it pays. Adaptive runs without the field
    /// decayed their offsets by `weight_decay`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub graph_offset_decay: Option<f64>,
    /// What the network sees: joints, bones, or the motion of either.
    #[serde(skip_serializing_if = "Modality::is_joint")]
    pub modality: Modality,
    /// Person slots M (default: the most persons found in the data, at most 2).
    pub persons: Option<usize>,
    /// Training augmentation; `null` switches it off.
    pub augment: Option<Augment>,
    /// Skip unreadable files (listing them) instead of stopping.
    pub skip_bad: bool,
    /// Evaluate on the test split every this many epochs (and always after the last).
    pub eval_every: usize,
    /// Decay of an exponential moving average of the weights and batch-norm statistics that evaluation and
    /// the saved model use, e.g. 0.99 (none: the raw weights).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema: Option<f64>,
    /// What is done to each sequence when it is read (`raw` for imported models that expect their own
    /// tool's coordinates).
    #[serde(skip_serializing_if = "Preprocess::is_normalize")]
    pub preprocess: Preprocess,
    /// How the graph's neighbourhoods are partitioned (uniform, distance, spatial).
    #[serde(skip_serializing_if = "is_spatial")]
    pub strategy: Partition,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn is_spatial(p: &Partition) -> bool {
    *p == Partition::Spatial
}

impl Default for SkeletonTrainConfig {
    fn default() -> Self {
        SkeletonTrainConfig {
            data: None,
            format: Format::Synthetic,
            layout: None,
            split: Split::CrossSubject,
            train_subjects: None,
            split_train: None,
            split_test: None,
            model: "stgcn-small".into(),
            dropout: None,
            temporal_kernel: None,
            max_hop: None,
            epochs: 150,
            batch_size: 16,
            seed: 1,
            optimizer: OptimKind::Sgd,
            lr: 0.05,
            weight_decay: 5e-4,
            momentum: 0.9,
            schedule: ScheduleKind::Cosine,
            warmup_epochs: 2.0,
            milestones: vec![],
            label_smoothing: 0.0,
            mixup: MIXUP_ALPHA,
            frames: 32,
            length_mode: LengthMode::Resample,
            motion: true,
            adaptive_graph: false,
            graph_offset_decay: None,
            modality: Modality::Joint,
            persons: None,
            augment: Some(Augment::default()),
            skip_bad: false,
            eval_every: 1,
            ema: None,
            preprocess: Preprocess::Normalize,
            strategy: Partition::Spatial,
        }
    }
}

/// `config` with each field of `recipe` (a JSON object) that `explicit` (what a config file and the options
/// set) leaves unset; nested objects field by field, so a file that sets `synthetic.classes` still gets the
/// recipe's other `synthetic` fields.
pub fn fill_unset<T: Serialize + DeserializeOwned>(
    config: T,
    explicit: &Map<String, Value>,
    recipe: &Map<String, Value>,
) -> Result<T> {
    fn fill(
        target: &mut Map<String, Value>,
        explicit: &Map<String, Value>,
        recipe: &Map<String, Value>,
    ) {
        for (k, v) in recipe {
            match (explicit.get(k), target.get_mut(k), v) {
                (None, _, _) => {
                    target.insert(k.clone(), v.clone());
                }
                (Some(Value::Object(e)), Some(Value::Object(t)), Value::Object(r)) => fill(t, e, r),
                _ => {}
            }
        }
    }
    let mut v = serde_json::to_value(config)?;
    if let Value::Object(o) = &mut v {
        fill(o, explicit, recipe);
    }
    Ok(serde_json::from_value(v)?)
}

/// `base` with the fields named in `overrides` (configuration field name → JSON value) replaced, checked
/// like a config file: an unknown field or a value of the wrong type is an error naming the field.
pub fn overlay<T: Serialize + DeserializeOwned>(
    base: T,
    overrides: &Map<String, Value>,
) -> Result<T> {
    if overrides.is_empty() {
        return Ok(base);
    }
    let base = serde_json::to_value(base)?;
    let with = |fields: &mut dyn Iterator<Item = (&String, &Value)>| {
        let mut v = base.clone();
        if let Value::Object(o) = &mut v {
            o.extend(fields.map(|(k, v)| (k.clone(), v.clone())));
        }
        serde_json::from_value::<T>(v)
    };
    with(&mut overrides.iter()).map_err(|e| {
        // Name the option that does not fit (a NaN or infinite number arrives as null).
        for (k, v) in overrides {
            if let Err(e) = with(&mut std::iter::once((k, v))) {
                return match v {
                    Value::Null => Error::invalid(k, "NaN or infinite", "a finite number"),
                    _ => Error::invalid(k, v, format!("a valid value ({e})")),
                };
            }
        }
        Error::usage(format!("invalid option: {e}"))
    })
}

/// Where a skeleton command's data comes from when it is not (all) the run's own.
#[derive(Debug, Clone, Default)]
pub struct DataSource {
    /// Dataset folder, or a synthetic preset name.
    pub data: Option<String>,
    pub format: Option<Format>,
    pub layout: Option<String>,
    pub split: Option<Split>,
    pub train_subjects: Option<Vec<u32>>,
    /// The named parts to train and test on, for files that come split.
    pub split_train: Option<String>,
    pub split_test: Option<String>,
    pub skip_bad: bool,
}

impl DataSource {
    /// Overlay the given fields on a training configuration.
    pub fn apply(&self, c: &mut SkeletonTrainConfig) {
        if let Some(f) = self.format {
            c.format = f;
        }
        if self.data.is_some() {
            c.data = self.data.clone();
        }
        if self.layout.is_some() {
            c.layout = self.layout.clone();
        }
        if let Some(s) = self.split {
            c.split = s;
        }
        if self.train_subjects.is_some() {
            c.train_subjects = self.train_subjects.clone();
        }
        if self.split_train.is_some() {
            c.split_train = self.split_train.clone();
        }
        if self.split_test.is_some() {
            c.split_test = self.split_test.clone();
        }
        c.skip_bad |= self.skip_bad;
    }

    /// A run's configuration with this source applied; naming another format without a folder drops the
    /// run's folder (it belongs to the run's format).
    pub fn for_run(&self, run: &SkeletonTrainConfig) -> SkeletonTrainConfig {
        let mut cfg = run.clone();
        self.apply(&mut cfg);
        if self.format.is_some() && self.data.is_none() && cfg.format != run.format {
            cfg.data = None;
        }
        cfg
    }
}

/// Where an image command's pictures come from when they are not the run's own.
#[derive(Debug, Clone, Default)]
pub struct ImageSource {
    /// Folder of labelled pictures.
    pub data: Option<String>,
    pub format: Option<ImageFormat>,
    pub skip_bad: bool,
}

impl ImageSource {
    pub fn apply(&self, c: &mut ImageTrainConfig) {
        if self.data.is_some() {
            c.data = self.data.clone();
            c.format = ImageFormat::Folder;
        }
        if let Some(f) = self.format {
            c.format = f;
        }
        c.skip_bad |= self.skip_bad;
    }

    /// Whether any source was named (otherwise a command uses the run's own test pictures).
    pub fn given(&self) -> bool {
        self.data.is_some() || self.format.is_some()
    }
}

/// The temporal kernels a skeleton model may have (odd, so that it is centred); `field` names it in the error.
pub fn check_temporal_kernel(field: &str, k: usize) -> Result<()> {
    if k.is_multiple_of(2) || k > 99 {
        return Err(Error::invalid(field, k, "odd and at most 99"));
    }
    Ok(())
}

/// The graph neighbourhood radii in hops a skeleton model may have; `field` names it in the error.
pub fn check_max_hop(field: &str, h: usize) -> Result<()> {
    if !(1..=16).contains(&h) {
        return Err(Error::invalid(field, h, "between 1 and 16"));
    }
    Ok(())
}

/// Mixup's α for skeleton training unless a run sets its own (benches/README.md, "Mixup").
pub const MIXUP_ALPHA: f64 = 0.2;

/// The weight decay of the adaptive graph's offsets unless a run sets its own (benches/README.md, "The adaptive
/// graph").
pub const GRAPH_OFFSET_DECAY: f64 = 0.1;

impl SkeletonTrainConfig {
    /// The seed training draws from (initial weights and every epoch's stream): `seed` for joint models,
    /// a seed of its own for each other modality ([`Modality::training_seed`]).
    pub fn training_seed(&self) -> u64 {
        self.modality.training_seed(self.seed)
    }

    /// The weight decay the adaptive graph's offsets train with (`None` without an adaptive graph): their
    /// own, or `weight_decay` for runs written before they had one.
    pub fn offset_decay(&self) -> Option<f64> {
        self.adaptive_graph
            .then(|| self.graph_offset_decay.unwrap_or(self.weight_decay))
    }

    /// Parameters decayed at their own rate: (name suffix, weight decay).
    pub fn param_decay(&self) -> Vec<(String, f64)> {
        self.offset_decay()
            .map(|d| ("gcn.graph_offset".to_string(), d))
            .into_iter()
            .collect()
    }

    /// The named parts to train and test on (for files that come split), when given.
    pub fn part_names(&self) -> (Option<&str>, Option<&str>) {
        (self.split_train.as_deref(), self.split_test.as_deref())
    }

    pub fn validate(&self) -> Result<()> {
        check_recipe(
            self.epochs,
            self.eval_every,
            self.batch_size,
            self.lr,
            self.momentum,
            self.weight_decay,
            self.ema,
        )?;
        if self.frames < 4 {
            return Err(Error::invalid("frames", self.frames, "at least 4"));
        }
        crate::limits::FRAMES.check("frames", self.frames as u64)?;
        if let Some(p) = self.persons {
            crate::limits::PERSONS.check("persons", p as u64)?;
        }
        check_warmup(self.warmup_epochs, self.epochs)?;
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::invalid(
                "label_smoothing",
                self.label_smoothing,
                "in [0, 1)",
            ));
        }
        if !(0.0..=1.0).contains(&self.mixup) {
            return Err(Error::invalid(
                "mixup",
                self.mixup,
                "an α in [0, 1] (0: off)",
            ));
        }
        if self.persons == Some(0) {
            return Err(Error::invalid("persons", 0, "at least 1"));
        }
        if let Some(a) = &self.augment {
            a.validate()?;
        }
        if let Some(p) = self.dropout {
            if !(0.0..1.0).contains(&p) {
                return Err(Error::invalid("dropout", p, "a probability in [0, 1)"));
            }
        }
        if let Some(k) = self.temporal_kernel {
            check_temporal_kernel("temporal_kernel", k)?;
        }
        if let Some(h) = self.max_hop {
            check_max_hop("max_hop", h)?;
        }
        if let Some(d) = self.graph_offset_decay {
            if !self.adaptive_graph {
                return Err(Error::invalid(
                    "graph_offset_decay",
                    d,
                    "unset: it decays the adaptive graph's offsets (add --adaptive-graph)",
                ));
            }
            if !(d >= 0.0 && d.is_finite()) {
                return Err(Error::invalid(
                    "graph_offset_decay",
                    d,
                    "a number of at least 0",
                ));
            }
        }
        Ok(())
    }
}

/// A warm-up of at most half the epochs (or the default 2): a longer one keeps the rate near 0 for the
/// whole run.
fn check_warmup(warmup: f64, epochs: usize) -> Result<()> {
    let max = (epochs as f64 / 2.0).max(2.0);
    if !(warmup >= 0.0 && warmup <= max) {
        return Err(Error::invalid(
            "warmup_epochs",
            warmup,
            format!("between 0 and {max} (half of the {epochs} epochs, or 2)"),
        ));
    }
    Ok(())
}

/// The checks every training recipe shares.
fn check_recipe(
    epochs: usize,
    eval_every: usize,
    batch_size: usize,
    lr: f64,
    momentum: f64,
    weight_decay: f64,
    ema: Option<f64>,
) -> Result<()> {
    if let Some(d) = ema {
        if !(d > 0.0 && d < 1.0) {
            return Err(Error::invalid(
                "ema",
                d,
                "a decay in (0, 1), such as 0.99 (leave it out for no average)",
            ));
        }
    }
    if epochs == 0 {
        return Err(Error::invalid("epochs", epochs, "at least 1"));
    }
    if eval_every == 0 {
        return Err(Error::invalid("eval_every", eval_every, "at least 1"));
    }
    if batch_size < 2 {
        return Err(Error::invalid(
            "batch_size",
            batch_size,
            "at least 2 (batch norm needs 2 samples)",
        ));
    }
    if !(lr > 0.0 && lr.is_finite()) {
        return Err(Error::invalid("lr", lr, "a positive number"));
    }
    if !(0.0..1.0).contains(&momentum) {
        return Err(Error::invalid("momentum", momentum, "in [0, 1)"));
    }
    if !(weight_decay >= 0.0 && weight_decay.is_finite()) {
        return Err(Error::invalid(
            "weight_decay",
            weight_decay,
            "a number of at least 0",
        ));
    }
    Ok(())
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
    /// Model preset: resnet18, resnet18-half or resnet18-narrow, each with an optional -os16 or -os8.
    pub model: String,
    /// Input side in pixels (a multiple of 16, at least 32); pictures are resized to size × size.
    pub size: u32,
    pub epochs: usize,
    /// Progressive resizing: this fraction of the epochs (the first ones) trains at `early_size` px with
    /// layer4 at stride 2 (the same weights; `resnet18` at 64 px is a fifth of the work of `resnet18-os16` at
    /// 112 px), the rest at `size` with the run's own model, which then adapts to the finer map. Only when
    /// `early_size` is smaller than `size`; 0 switches it off.
    pub early_fraction: f64,
    /// Input side of the early epochs (a multiple of 16, at least 32).
    pub early_size: u32,
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
    /// Predict and explain each picture together with its mirror image (their layer4 maps averaged, aligned
    /// with the picture): twice the inference time, about a point of accuracy, maps that do not depend on
    /// which way the animal faces.
    pub flip_average: bool,
    /// Fraction held out for testing when the folder has no `test/`.
    pub val_fraction: f64,
    pub skip_bad: bool,
    pub eval_every: usize,
    /// Decay of an exponential moving average of the weights and batch-norm statistics that evaluation and
    /// the saved model use, e.g. 0.99 (none: the raw weights).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ema: Option<f64>,
    /// The synthetic set (with `format: synthetic`).
    pub synthetic: crate::data::synth_images::SynthImageConfig,
}

impl Default for ImageTrainConfig {
    fn default() -> Self {
        ImageTrainConfig {
            data: None,
            format: ImageFormat::Synthetic,
            model: "resnet18-os16".into(),
            size: 112,
            epochs: 150,
            early_fraction: 2.0 / 3.0,
            early_size: 64,
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
            flip_average: true,
            val_fraction: 0.2,
            skip_bad: false,
            eval_every: 5,
            ema: None,
            synthetic: Default::default(),
        }
    }
}

impl ImageTrainConfig {
    /// The seed training draws from: `seed`.
    pub fn training_seed(&self) -> u64 {
        self.seed
    }

    /// Parameters decayed at their own rate: none (every image parameter decays by `weight_decay`).
    pub fn param_decay(&self) -> Vec<(String, f64)> {
        vec![]
    }

    /// Where the recipe for the built-in synthetic pictures differs from the default one, which suits a
    /// folder of photos. A generator can draw new pictures every epoch, so nothing is memorised and crops
    /// and CutMix (which cut the object out of the view) are not needed; pictures shown without their object
    /// teach the network that no object means no class, so each class's map sits on its own object; layer3
    /// and layer4 at 1/8 of the input give 12 × 12 maps on the 96-px pictures, fine enough to box an object.
    pub fn synthetic_recipe() -> Map<String, Value> {
        let recipe = serde_json::json!({
            "model": "resnet18-narrow-os8",
            "size": 96,
            "epochs": 60,
            "early_fraction": 0.0,
            "augment": false,
            "cutmix": 0.0,
            "synthetic": { "train_per_class": 300, "fresh": true, "empty_fraction": 0.2 },
        });
        match recipe {
            Value::Object(m) => m,
            _ => unreachable!("the recipe is a JSON object"),
        }
    }

    /// This configuration with its data source's recipe for every field that `explicit` does not set: the
    /// synthetic pictures' recipe ([`Self::synthetic_recipe`]) when the format is synthetic.
    pub fn with_source_defaults(self, explicit: &Map<String, Value>) -> Result<Self> {
        match self.format {
            ImageFormat::Synthetic => fill_unset(self, explicit, &Self::synthetic_recipe()),
            ImageFormat::Folder => Ok(self),
        }
    }

    /// How many epochs train at `early_size` (progressive resizing): 0 unless it is smaller than `size`.
    pub fn early_epochs(&self) -> usize {
        if self.early_size >= self.size {
            return 0;
        }
        (self.early_fraction * self.epochs as f64).round() as usize
    }

    pub fn validate(&self) -> Result<()> {
        check_recipe(
            self.epochs,
            self.eval_every,
            self.batch_size,
            self.lr,
            self.momentum,
            self.weight_decay,
            self.ema,
        )?;
        for (field, side) in [("size", self.size), ("early_size", self.early_size)] {
            if side < 32 || side % 16 != 0 {
                return Err(Error::invalid(
                    field,
                    side,
                    "a multiple of 16 and at least 32 (e.g. 64, 112, 224)",
                ));
            }
            crate::limits::IMAGE_SIDE.check(field, side as u64)?;
        }
        if !(0.0..1.0).contains(&self.early_fraction) {
            return Err(Error::invalid(
                "early_fraction",
                self.early_fraction,
                "in [0, 1): the share of the epochs trained at early_size",
            ));
        }
        check_warmup(self.warmup_epochs, self.epochs)?;
        if !(0.0..=1.0).contains(&self.cutmix) {
            return Err(Error::invalid(
                "cutmix",
                self.cutmix,
                "a probability in [0, 1]",
            ));
        }
        if !(0.0..1.0).contains(&self.label_smoothing) {
            return Err(Error::invalid(
                "label_smoothing",
                self.label_smoothing,
                "in [0, 1)",
            ));
        }
        if !(self.val_fraction > 0.0 && self.val_fraction < 1.0) {
            return Err(Error::invalid(
                "val_fraction",
                self.val_fraction,
                "between 0 and 1",
            ));
        }
        if self.format == ImageFormat::Folder && self.data.is_none() {
            return Err(Error::invalid(
                "data",
                "nothing",
                "a picture folder unless the format is synthetic",
            ));
        }
        Ok(())
    }
}

/// The optimiser of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimKind {
    /// SGD, momentum 0.9, Nesterov, weight decay (the ST-GCN recipe).
    Sgd,
    /// AdamW (decoupled weight decay).
    Adamw,
}

/// The learning-rate schedule of a training run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum ScheduleKind {
    /// Linear warm-up, then cosine decay to 0.
    Cosine,
    /// Multiply by 0.1 at each milestone epoch.
    Step,
    Constant,
}

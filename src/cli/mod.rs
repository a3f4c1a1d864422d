//! The command line: clap definitions, their conversion into the commands' typed options, dispatch, and
//! the one place that turns configuration field names in errors into flags.

use crate::commands;
use crate::commands::train::Start;
use crate::config::{self, OptimKind};
use crate::{Error, Result};
use clap::{Args, Parser, Subcommand};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};
use std::path::PathBuf;

pub mod image;
pub mod skeleton;
pub use image::ImageCommand;
pub use skeleton::{RagcnCommand, SkeletonCommand};

#[derive(Parser, Debug)]
#[command(
    name = "skelcam",
    version,
    about = "Train image and skeleton-action models and show why they decide what they decide (Class Activation Maps)"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Train a small model on the built-in synthetic data and write its plots to plots/demo/.
    Demo(DemoArgs),
    /// Generate a synthetic skeleton dataset in the generic CSV format (with ground-truth joints).
    Synth(SynthArgs),
    /// Skeleton models: train, evaluate, inspect.
    #[command(subcommand)]
    Skeleton(SkeletonCommand),
    /// Image models (ResNet-18): train, evaluate, CAM overlays, localisation, import from PyTorch.
    #[command(subcommand)]
    Image(ImageCommand),
    /// RA-GCN: multi-stream training that hides what earlier streams' CAMs rely on.
    #[command(subcommand)]
    Ragcn(RagcnCommand),
    /// Throughput of the ST-GCN and ResNet-18 training and inference+CAM cases (samples/s, GFLOP/s, peak RSS).
    Bench(BenchArgs),
    /// One offline HTML page for a run: metrics, curves, confusion, class summaries, a gallery of explained
    /// test samples (right and wrong, filterable by class), RA-GCN masks, robustness.
    Report(ReportArgs),
}

/// `--batch`: how many masked inputs (Score-CAM) or ablated feature maps (Ablation-CAM) go through the
/// network at a time.
#[derive(Args, Debug)]
pub struct BatchArg {
    /// Score-CAM's masked inputs and Ablation-CAM's feature maps per forward pass.
    #[arg(long = "batch", value_name = "N", default_value_t = crate::cam::methods::DEFAULT_BATCH as u32,
          value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub value: u32,
}

impl BatchArg {
    pub fn get(&self) -> usize {
        self.value as usize
    }
}

/// The options every `cam-compare` has.
#[derive(Args, Debug)]
pub struct CompareArgs {
    /// `all`, or a comma-separated list: cam, hirescam, gradcam, xgradcam, gradcam++, layercam, scorecam,
    /// ablationcam, eigencam, random.
    #[arg(long, default_value = "all", value_delimiter = ',')]
    pub methods: Vec<String>,
    /// At most this many test samples, spread evenly over them (default: all).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write compare.json, ranking.md, methods.png and metrics.png here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub batch: BatchArg,
}

impl CompareArgs {
    /// The typed settings.
    pub fn settings(&self) -> Result<crate::commands::cam_compare::CompareSettings> {
        Ok(crate::commands::cam_compare::CompareSettings {
            methods: self.methods()?,
            limit: self.limit,
            json: self.json,
            out: self.out.clone(),
            batch: self.batch.get(),
        })
    }

    /// The methods named (`all`: every one).
    pub fn methods(&self) -> Result<Vec<crate::cam::methods::CamMethod>> {
        use crate::cam::methods::CamMethod;
        use clap::ValueEnum;
        if self.methods.iter().any(|n| n == "all") {
            return Ok(CamMethod::ALL.to_vec());
        }
        self.methods
            .iter()
            .map(|n| {
                CamMethod::from_str(n, true).map_err(|_| {
                    crate::Error::invalid(
                        "methods",
                        n,
                        "all, or names among cam, hirescam, gradcam, xgradcam, gradcam++, layercam, \
                         scorecam, ablationcam, eigencam, random",
                    )
                })
            })
            .collect()
    }
}

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// A run directory (skeleton, RA-GCN, imported or image).
    #[arg(long)]
    pub run: PathBuf,
    /// Output folder: index.html and every file it shows.
    #[arg(long)]
    pub out: PathBuf,
    /// At most this many test samples in the gallery (default: the whole test split).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Explanation method: cam or gradcam (skeleton runs); cam, gradcam or gradcam++ (image runs).
    #[arg(long, default_value = "cam")]
    pub method: String,
    /// A folder written by `skeleton robustness` whose table and plot the page shows.
    #[arg(long)]
    pub robustness: Option<PathBuf>,
    /// Write into a non-empty output folder.
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Cases: stgcn_train, stgcn_infer_cam, stgcn_train_T300_M2, resnet18_train_64, resnet18_train_112, resnet18_train_224,
    /// resnet18_infer_cam_224 (default: all; T300_M2 and train_224 take minutes).
    #[arg(long, value_delimiter = ',')]
    pub cases: Option<Vec<String>>,
    /// Skeleton model preset.
    #[arg(long, default_value = "stgcn")]
    pub model: String,
    /// Image model preset for the resnet18 cases.
    #[arg(long, default_value = "resnet18")]
    pub image_model: String,
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Timed iterations per case (after one warm-up; at most 2 for T=300).
    #[arg(long, default_value_t = 3)]
    pub iters: usize,
    /// One JSON object per case on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct SynthArgs {
    /// Preset: default, tiny, all.
    #[arg(long, default_value = "default")]
    pub preset: String,
    #[arg(long, default_value = "kinect20")]
    pub layout: String,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Where the demo's plots go.
    #[arg(long, default_value = "plots/demo")]
    pub out: PathBuf,
    /// Where the demo's run directory goes (overwritten).
    #[arg(long, default_value = "runs/demo")]
    pub run: PathBuf,
    /// Epochs of the skeleton demo (the built-in actions are learnt well within 50).
    #[arg(long, default_value_t = 50)]
    pub epochs: usize,
    /// Where the image demo's run directory goes (overwritten).
    #[arg(long, default_value = "runs/demo_image")]
    pub image_run: PathBuf,
    /// Epochs of the image demo (ResNet-18-narrow on the synthetic pictures).
    #[arg(long, default_value_t = 50)]
    pub image_epochs: usize,
    /// Skip the skeleton part (train the image demo only).
    #[arg(long)]
    pub images_only: bool,
}

/// The training options every model shares, and where the run goes.
#[derive(Args, Debug)]
pub struct TrainRunArgs {
    /// JSON file with any training option (command-line options override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Training epochs (default: 150; 60 for the synthetic pictures).
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Items per optimiser step (default 16 for skeletons, 32 for pictures).
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed of every random draw (initialisation, shuffling, augmentation, dropout): same seed, same bytes.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Optimiser (default: sgd for skeletons, adamw for pictures).
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimKind>,
    /// Peak learning rate of the cosine schedule (default 0.05 for skeletons, 0.002 for pictures).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Weight decay (default 0.0005 for skeletons, 0.05 for pictures).
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Evaluate and save an exponential moving average of the weights with this decay per step (e.g. 0.99).
    #[arg(long, value_name = "DECAY")]
    pub ema: Option<f64>,
    /// Switch training augmentation off.
    #[arg(long)]
    pub no_augment: bool,
    /// Run directory to create.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Overwrite an existing run directory (its old results are removed first).
    #[arg(long)]
    pub force: bool,
    /// Continue the interrupted run in this directory from its last checkpoint.
    #[arg(long, conflicts_with_all = ["out", "force", "config"])]
    pub resume: Option<PathBuf>,
}

impl TrainRunArgs {
    /// `--resume DIR`, or defaults ← `--config` file ← the data options (`data`) ← the model's own flags
    /// (`own`) ← these flags; `augment_off` is what `--no-augment` sets. Last, `source_defaults` may replace
    /// the defaults that the file and the flags left alone by those of the data source (it gets the fields
    /// they set).
    pub fn start<C: Default + Serialize + DeserializeOwned>(
        &self,
        data: impl FnOnce(&mut C),
        own: Overrides,
        augment_off: Value,
        source_defaults: impl FnOnce(C, &Map<String, Value>) -> Result<C>,
    ) -> Result<Start<C>> {
        if let Some(dir) = &self.resume {
            return Ok(Start::Resume(dir.clone()));
        }
        // The configuration, and the fields the file sets (it parsed as `C`, so it is a JSON object).
        let (mut c, mut explicit): (C, _) = match &self.config {
            Some(p) => match crate::io::read_json_with_fields(p)? {
                (c, Value::Object(m)) => (c, m),
                (c, _) => (c, Map::new()),
            },
            None => (C::default(), Map::new()),
        };
        data(&mut c);
        let o = own
            .set("epochs", &self.epochs)
            .set("batch_size", &self.batch_size)
            .set("seed", &self.seed)
            .set("optimizer", &self.optimizer)
            .set("lr", &self.lr)
            .set("weight_decay", &self.weight_decay)
            .set("ema", &self.ema)
            .set_if("augment", self.no_augment, augment_off);
        let c = config::overlay(c, &o.0)?;
        explicit.extend(o.0);
        Ok(Start::New {
            config: source_defaults(c, &explicit)?,
            out: self.out.clone().expect("clap requires --out"),
            force: self.force,
        })
    }
}

/// Configuration fields set by command-line options (field name → value), overlaid on the configuration.
#[derive(Default)]
pub struct Overrides(pub Map<String, Value>);

impl Overrides {
    /// Set `field` when the option was given.
    pub fn set<T: Serialize>(mut self, field: &str, value: &Option<T>) -> Self {
        if let Some(v) = value {
            let v = serde_json::to_value(v).expect("option values serialise to JSON");
            self.0.insert(field.into(), v);
        }
        self
    }

    /// Set `field` to `value` when a switch is on.
    pub fn set_if(mut self, field: &str, on: bool, value: Value) -> Self {
        if on {
            self.0.insert(field.into(), value);
        }
        self
    }
}

/// Configuration fields that only a `--config` file sets (no flag of their own).
const CONFIG_ONLY: &[&str] = &[
    "momentum",
    "warmup_epochs",
    "milestones",
    "eval_every",
    "cutmix",
    "label_smoothing",
    "val_fraction",
];

/// The flag that sets a configuration field (`batch_size` → `--batch-size`); nested fields
/// (`augment.crop_min`) and those in [`CONFIG_ONLY`] are named as keys of the `--config` file.
fn flag_of(field: &str) -> Option<String> {
    if CONFIG_ONLY.contains(&field) || field.contains('.') {
        Some(format!("{field} (in the --config file)"))
    } else {
        Some(format!("--{}", field.replace('_', "-")))
    }
}

pub fn run(cli: Cli) -> Result<()> {
    let result = match cli.command {
        Command::Demo(a) => commands::demo::demo(&commands::demo::DemoOptions {
            out: a.out,
            run: a.run,
            epochs: a.epochs,
            image_run: a.image_run,
            image_epochs: a.image_epochs,
            images_only: a.images_only,
        }),
        Command::Synth(a) => commands::synth::synth(&commands::synth::SynthOptions {
            preset: a.preset,
            layout: a.layout,
            seed: a.seed,
            out: a.out,
            force: a.force,
        }),
        Command::Skeleton(c) => skeleton::run_skeleton(c),
        Command::Image(c) => image::run(c),
        Command::Ragcn(c) => skeleton::run_ragcn(c),
        Command::Report(a) => commands::report::report(&commands::report::ReportOptions {
            run: a.run,
            out: a.out,
            limit: a.limit,
            method: a.method,
            robustness: a.robustness,
            force: a.force,
        }),
        Command::Bench(a) => commands::bench::bench(&commands::bench::BenchOptions {
            cases: a.cases,
            model: a.model,
            image_model: a.image_model,
            batch: a.batch,
            iters: a.iters,
            json: a.json,
        }),
    };
    result.map_err(|e: Error| e.with_flag_names(flag_of))
}

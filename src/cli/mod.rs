//! Command-line interface: clap definitions and dispatch to the library.

use crate::config::SkeletonTrainConfig;
use crate::data::preprocess::LengthMode;
use crate::data::split::Split;
use crate::data::Format;
use crate::train::optim::OptimKind;
use crate::train::schedule::ScheduleKind;
use crate::Result;
use clap::{Args, Parser, Subcommand};

pub mod image;
pub use image::ImageCommand;
use std::path::PathBuf;

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
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    /// Cases: stgcn_train, stgcn_infer_cam, stgcn_train_T300_M2, resnet18_train_64, resnet18_train_112, resnet18_train_224,
    /// resnet18_infer_cam_224 (default: all; T300_M2 and train_224 take minutes).
    #[arg(long, value_delimiter = ',')]
    pub cases: Option<Vec<String>>,
    /// Model preset (the performance issue's figures are for `stgcn`).
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

#[derive(Subcommand, Debug)]
pub enum RagcnCommand {
    /// Train S streams initialised from a baseline run (per-sample CAM masks); same run directory contract.
    Train(RagcnTrainArgs),
    /// For one sequence: each stream's CAM beside the mask it received (ragcn_cam.png / .json).
    Cam(RagcnCamArgs),
}

#[derive(Args, Debug)]
pub struct RagcnCamArgs {
    /// An RA-GCN run directory.
    #[arg(long)]
    pub run: PathBuf,
    /// One sequence file; without it, the first test sample.
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct RagcnTrainArgs {
    /// A `skeleton train` run: architecture, data pipeline and initial weights of every stream.
    #[arg(long, required_unless_present = "resume")]
    pub baseline: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, default_value_t = 3)]
    pub streams: usize,
    /// per-sample (our design) or official (the authors' code: batch-mean CAM, softmax, one-batch lag).
    #[arg(long, value_enum, default_value = "per-sample")]
    pub mode: crate::models::ragcn::Mode,
    /// Mask units whose normalised CAM is at least TAU.
    #[arg(long, conflicts_with = "top_fraction")]
    pub threshold: Option<f32>,
    /// Mask this fraction of units with the highest CAM (default 0.2 when no --threshold).
    #[arg(long)]
    pub top_fraction: Option<f32>,
    #[arg(long, value_enum, default_value = "joint")]
    pub mask_unit: crate::models::ragcn::MaskUnit,
    /// v1: CE of the summed logits; v2: plus each stream's CE. In official mode also the v1/v2 threshold.
    /// Default v1: on MSR Action3D it kept clean accuracy within 0.3 points of the baseline (v2: 6 below).
    #[arg(long, value_enum, default_value = "v1")]
    pub loss: crate::models::ragcn::LossKind,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    #[arg(long)]
    pub force: bool,
    /// Continue an interrupted RA-GCN run.
    #[arg(long, conflicts_with_all = ["out", "force", "baseline"])]
    pub resume: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum SkeletonCommand {
    /// Train an ST-GCN; writes config.json, model.safetensors, metrics.json, curves.png, confusion.png.
    Train(TrainArgs),
    /// Evaluate a trained run: top-1/top-5, per-class accuracy, confusion matrix.
    Eval(EvalArgs),
    /// Show a model's layer table and parameter count.
    Info(InfoArgs),
    /// Class activation maps of one input or a whole split: heatmap, joint bars, skeleton figure, cam.json.
    Cam(CamArgs),
    /// Class-level CAM aggregates: mean map per class, top joints per class.
    CamSummary(CamSummaryArgs),
    /// Deletion / insertion faithfulness of the CAM joint ranking against a random ranking.
    Faithfulness(FaithfulnessArgs),
    /// Accuracy of several runs under every occlusion and jitter condition: table (JSON, Markdown) and plot.
    Robustness(RobustnessArgs),
}

#[derive(Args, Debug)]
pub struct RobustnessArgs {
    /// Run directories to compare (same data and classes).
    #[arg(long, num_args = 1.., required = true)]
    pub runs: Vec<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Seed of the random occlusion / jitter patterns (the same for every run).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct CamArgs {
    /// A run directory written by `skeleton train`.
    #[arg(long)]
    pub run: PathBuf,
    /// One sequence file (its format from --format, default the run's); without it, the test split.
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub data: DataArgs,
    /// Class to explain: auto (the prediction), a class name, or an index.
    #[arg(long, default_value = "auto")]
    pub class: String,
    #[arg(long, value_enum, default_value = "cam")]
    pub method: crate::cam::skeleton::Method,
    /// Display normalisation of the map (cam.json always keeps the raw map too).
    #[arg(long, value_enum, default_value = "minmax")]
    pub normalize: crate::cam::core::Normalization,
    /// Fail if |mean(CAM) + bias − logit| exceeds the float tolerance for any sample.
    #[arg(long)]
    pub verify: bool,
    /// At most this many samples of the split.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output folder (one sub-folder per sample for a split).
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct CamSummaryArgs {
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Use every loaded sample instead of the test split.
    #[arg(long)]
    pub all: bool,
    #[arg(long, value_enum, default_value = "cam")]
    pub method: crate::cam::skeleton::Method,
    /// Relative-time bins of the class maps.
    #[arg(long, default_value_t = 20)]
    pub bins: usize,
    /// Joints listed per class.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    #[arg(long)]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct FaithfulnessArgs {
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, value_enum, default_value = "cam")]
    pub method: crate::cam::skeleton::Method,
    /// Seed of the random rankings.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// At most this many samples of the split.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write faithfulness.json and faithfulness.png here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Where skeleton data comes from (shared by train and eval).
#[derive(Args, Debug, Clone, Default)]
pub struct DataArgs {
    /// Dataset folder (ntu, msr, csv) or synthetic preset name (default, tiny, all).
    #[arg(long)]
    pub data: Option<String>,
    /// Data format.
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Skeleton layout: ntu25, kinect20, openpose18, msr20, or a JSON file.
    #[arg(long)]
    pub layout: Option<String>,
    /// Train/test split.
    #[arg(long, value_enum)]
    pub split: Option<Split>,
    /// Training subjects for a cross-subject split, e.g. 1,3,5.
    #[arg(long, value_delimiter = ',')]
    pub train_subjects: Option<Vec<u32>>,
    /// Skip unreadable files (they are listed) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad: bool,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    /// JSON file with any of the options below (command-line options override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Model preset: stgcn, stgcn-small, stgcn-tiny.
    #[arg(long)]
    pub model: Option<String>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed for initialisation, shuffling, augmentation and dropout (same seed = same result).
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimKind>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    #[arg(long, value_enum)]
    pub schedule: Option<ScheduleKind>,
    /// Input length T (multiple of the model's temporal stride).
    #[arg(long)]
    pub frames: Option<usize>,
    #[arg(long, value_enum)]
    pub length_mode: Option<LengthMode>,
    /// Person slots M.
    #[arg(long)]
    pub persons: Option<usize>,
    #[arg(long)]
    pub dropout: Option<f32>,
    /// Input channels: xyz only (default adds frame-to-frame motion channels).
    #[arg(long)]
    pub no_motion: bool,
    /// Switch training augmentation off.
    #[arg(long)]
    pub no_augment: bool,
    /// Run directory to create.
    #[arg(long, required_unless_present = "resume")]
    pub out: Option<PathBuf>,
    /// Overwrite an existing run directory.
    #[arg(long)]
    pub force: bool,
    /// Continue the interrupted run in this directory from its last checkpoint.
    #[arg(long, conflicts_with_all = ["out", "force", "config"])]
    pub resume: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A run directory written by `skeleton train`.
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    /// Evaluate every loaded sample instead of the test split.
    #[arg(long)]
    pub all: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write `eval.json` and `confusion.png` into this folder.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Occlusion: part:NAME (a layout body part), frames:N (N of 100 frames, scaled, centred) or random:P.
    #[arg(long)]
    pub occlude: Option<String>,
    /// Joint jitter P,SIGMA: a fixed P-fraction of (frame, joint, person) cells gets N(0, SIGMA²) on every channel.
    #[arg(long, conflicts_with = "occlude")]
    pub jitter: Option<String>,
    /// Seed of random occlusion / jitter patterns (drawn once per run).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Args, Debug)]
pub struct InfoArgs {
    #[arg(long, default_value = "stgcn")]
    pub model: String,
    #[arg(long, default_value = "ntu25")]
    pub layout: String,
    #[arg(long, default_value_t = 60)]
    pub classes: usize,
    #[arg(long, default_value_t = 3)]
    pub channels: usize,
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
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Where the image demo's run directory goes (overwritten).
    #[arg(long, default_value = "runs/demo_image")]
    pub image_run: PathBuf,
    /// Epochs of the image demo (ResNet-18-narrow on the synthetic pictures).
    #[arg(long, default_value_t = 15)]
    pub image_epochs: usize,
    /// Skip the skeleton part (train the image demo only).
    #[arg(long)]
    pub images_only: bool,
}

impl TrainArgs {
    /// Defaults ← config file ← these options.
    pub fn resolve(&self) -> Result<SkeletonTrainConfig> {
        let mut c = match &self.config {
            Some(p) => SkeletonTrainConfig::from_file(p)?,
            None => SkeletonTrainConfig::default(),
        };
        self.data.apply(&mut c);
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f.clone() { c.$f = v; } )* };
        }
        set!(
            model,
            epochs,
            batch_size,
            seed,
            optimizer,
            lr,
            weight_decay,
            schedule,
            frames,
            length_mode
        );
        if self.persons.is_some() {
            c.persons = self.persons;
        }
        if self.dropout.is_some() {
            c.dropout = self.dropout;
        }
        if self.no_motion {
            c.motion = false;
        }
        if self.no_augment {
            c.augment = None;
        }
        Ok(c)
    }
}

impl DataArgs {
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
        c.skip_bad |= self.skip_bad;
    }
}

pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Demo(a) => crate::report::demo(&a),
        Command::Synth(a) => crate::report::synth(&a),
        Command::Skeleton(SkeletonCommand::Train(a)) => {
            match &a.resume {
                Some(dir) => crate::train::skeleton::resume(dir)?,
                None => {
                    let cfg = a.resolve()?;
                    crate::train::skeleton::train(
                        &cfg,
                        a.out.as_ref().expect("clap requires --out"),
                        a.force,
                    )?
                }
            };
            Ok(())
        }
        Command::Skeleton(SkeletonCommand::Eval(a)) => crate::report::eval(&a),
        Command::Skeleton(SkeletonCommand::Info(a)) => crate::report::info(&a),
        Command::Skeleton(SkeletonCommand::Cam(a)) => crate::report::cam::cam(&a),
        Command::Skeleton(SkeletonCommand::CamSummary(a)) => crate::report::cam::cam_summary(&a),
        Command::Skeleton(SkeletonCommand::Faithfulness(a)) => {
            crate::report::faithfulness::faithfulness(&a)
        }
        Command::Skeleton(SkeletonCommand::Robustness(a)) => {
            crate::report::robustness::robustness(&a)
        }
        Command::Ragcn(RagcnCommand::Cam(a)) => crate::report::cam::ragcn_cam(&a),
        Command::Bench(a) => crate::report::bench::bench(&a),
        Command::Image(c) => image::run(c),
        Command::Ragcn(RagcnCommand::Train(a)) => {
            match &a.resume {
                Some(dir) => crate::train::skeleton::resume(dir)?,
                None => crate::train::skeleton::train_ragcn(&a)?,
            };
            Ok(())
        }
    }
}

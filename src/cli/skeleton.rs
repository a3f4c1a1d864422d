//! `skelcam skeleton …` and `skelcam ragcn …`: argument definitions and their conversion into the commands'
//! options.

use super::{Overrides, TrainRunArgs};
use crate::cam::core::Normalization;
use crate::cam::skeleton::Method;
use crate::commands::cam_summary::CamSummaryOptions;
use crate::commands::eval::EvalOptions;
use crate::commands::export::{Export, ExportFormat};
use crate::commands::faithfulness::FaithfulnessOptions;
use crate::commands::info::InfoOptions;
use crate::commands::ragcn::{RagcnCamOptions, RagcnTrainOptions};
use crate::commands::robustness::RobustnessOptions;
use crate::commands::skeleton_cam::CamOptions;
use crate::commands::skeleton_import::SkeletonImportOptions;
use crate::commands::train::Start;
use crate::config::{DataSource, ScheduleKind, SkeletonTrainConfig};
use crate::data::perturb::Perturbation;
use crate::data::preprocess::LengthMode;
use crate::data::preprocess::Preprocess;
use crate::data::split::Split;
use crate::data::Format;
use crate::graph::Partition;
use crate::models::import::Source;
use crate::Result;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

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
    /// Do not write the animated skeletons (skeleton_stream{s}.gif).
    #[arg(long)]
    pub no_gif: bool,
    /// The explanation method of every stream (see `skeleton cam --help`).
    #[arg(long, value_enum, default_value = "cam")]
    pub method: Method,
    #[command(flatten)]
    pub batch: super::BatchArg,
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
    /// Mixup's α for the streams (default 0, off, whatever the baseline used).
    #[arg(long)]
    pub mixup: Option<f64>,
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
    /// Every explanation method on the same test samples: deletion/insertion, ROAD, Average Drop,
    /// Increase in Confidence, time, top-k hit rate (JSON, a ranking table, figures).
    CamCompare(CamCompareArgs),
    /// Deletion / insertion faithfulness of the CAM joint ranking against a random ranking.
    Faithfulness(FaithfulnessArgs),
    /// Accuracy of several runs under every occlusion and jitter condition: table (JSON, Markdown) and plot.
    Robustness(RobustnessArgs),
    /// Turn a PyTorch ST-GCN state dict (official ST-GCN, pyskl, mmaction2; safetensors) into a run directory.
    Import(SkeletonImportArgs),
    /// Combine finished runs (one per modality, say) into one run whose logits and CAMs are their weighted
    /// sum; every command that reads a run reads it.
    Ensemble(EnsembleArgs),
}

#[derive(Args, Debug)]
pub struct EnsembleArgs {
    /// The member runs (`skeleton train` or `skeleton import`), trained on the same data and split.
    #[arg(long, num_args = 2.., required = true)]
    pub runs: Vec<PathBuf>,
    /// One factor per run for its logits and CAM (default 1 each), e.g. 0.6,0.6,0.4,0.4.
    #[arg(long, value_delimiter = ',')]
    pub weights: Option<Vec<f32>>,
    /// Run directory to create.
    #[arg(long)]
    pub out: PathBuf,
    /// Overwrite an existing run directory (its old results are removed first).
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct SkeletonImportArgs {
    /// The state dict saved with safetensors (`safetensors.torch.save_file(state_dict, FILE)`).
    #[arg(long)]
    pub weights: PathBuf,
    /// The skeleton layout the model was trained on: ntu25, ntu25-pyskl, openpose18, coco17, … or a JSON file.
    #[arg(long)]
    pub layout: String,
    /// Which tool wrote the checkpoint (auto: from the key names).
    #[arg(long, value_enum, default_value = "auto")]
    pub from: Source,
    /// Class names: a count, a comma-separated list, or a file with one name per line (default: 0, 1, …).
    #[arg(long)]
    pub classes: Option<String>,
    /// Partition strategy of the graph (used when the file has no adjacency A).
    #[arg(long, value_enum, default_value = "spatial")]
    pub strategy: Partition,
    /// Input length T the model is fed (default: 300 for the official ST-GCN, 100 for pyskl/mmaction2).
    #[arg(long)]
    pub frames: Option<usize>,
    /// How a sequence is brought to T frames (default: pad for the official ST-GCN, whose files are
    /// zero-padded to 300; resample for pyskl/mmaction2, trained on clips sampled uniformly over the action).
    #[arg(long, value_enum)]
    pub length_mode: Option<LengthMode>,
    /// Person slots M.
    #[arg(long, default_value_t = 2)]
    pub persons: usize,
    /// raw: coordinates as stored; pyskl-3d: pyskl's PreNormalize3D; normalize: skelcam's centring and
    /// scaling (default: raw for the official ST-GCN and 2-D layouts, pyskl-3d for pyskl/mmaction2 on 25 joints).
    #[arg(long, value_enum)]
    pub preprocess: Option<Preprocess>,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
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
    pub method: Method,
    /// Display normalisation of the map (cam.json always keeps the raw map too).
    #[arg(long, value_enum, default_value = "minmax")]
    pub normalize: Normalization,
    /// Fail if |mean(CAM) + bias − logit| exceeds the float tolerance for any sample.
    #[arg(long)]
    pub verify: bool,
    /// At most this many samples, spread evenly over the split.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Output folder (one sub-folder per sample for a split).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the maps as arrays: npy (raw.npy, normalized.npy), csv (cam.csv); e.g. `--export npy,csv`.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub export: Vec<ExportFormat>,
    /// Do not write the animated skeleton (skeleton.gif).
    #[arg(long)]
    pub no_gif: bool,
    #[command(flatten)]
    pub batch: super::BatchArg,
}

#[derive(Args, Debug)]
pub struct CamCompareArgs {
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub compare: super::CompareArgs,
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
    pub method: Method,
    /// Relative-time bins of the class maps.
    #[arg(long, default_value_t = 20)]
    pub bins: usize,
    /// Joints listed per class.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the class means as arrays: npy (class_means.npy), csv (class_means.csv).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub export: Vec<ExportFormat>,
    #[command(flatten)]
    pub batch: super::BatchArg,
}

#[derive(Args, Debug)]
pub struct FaithfulnessArgs {
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub data: DataArgs,
    #[arg(long, value_enum, default_value = "cam")]
    pub method: Method,
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
    #[command(flatten)]
    pub batch: super::BatchArg,
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
    /// Files that come split (pyskl pickles): the part to train on (default xsub_train / xview_train).
    #[arg(long)]
    pub split_train: Option<String>,
    /// The part to test on (default xsub_val, or xsub_test when there is no xsub_val).
    #[arg(long)]
    pub split_test: Option<String>,
    /// Skip unreadable files (they are listed) instead of stopping at the first.
    #[arg(long)]
    pub skip_bad: bool,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub data: DataArgs,
    #[command(flatten)]
    pub run: TrainRunArgs,
    /// Model preset: stgcn, stgcn-small, stgcn-tiny.
    #[arg(long)]
    pub model: Option<String>,
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
    /// Frames each temporal convolution spans (odd; the model preset's otherwise).
    #[arg(long)]
    pub temporal_kernel: Option<usize>,
    /// Joints within this many hops of each other share a graph convolution (the model preset's otherwise).
    #[arg(long)]
    pub max_hop: Option<usize>,
    /// Input channels: xyz only (default adds frame-to-frame motion channels).
    #[arg(long)]
    pub no_motion: bool,
    /// Every block also learns an offset to its adjacency that may link any two joints (2s-AGCN's adaptive
    /// graph): more accurate on MSR Action3D's standard split (not its reversed one), but the CAM points at the
    /// joints that move less often.
    #[arg(long)]
    pub adaptive_graph: bool,
    /// Weight decay of the adaptive graph's offsets (default 0.1): lower lets the graph stray further from the
    /// skeleton's, higher keeps it closer.
    #[arg(long, requires = "adaptive_graph")]
    pub graph_offset_decay: Option<f64>,
    /// What the network sees: joint coordinates, bones (joint minus its parent), or the motion of either.
    #[arg(long, value_enum)]
    pub modality: Option<crate::data::modality::Modality>,
    /// Mixup's α (default 0.2; 0: off): every training batch is blended with a shuffled copy of itself, and
    /// so are its targets.
    #[arg(long)]
    pub mixup: Option<f64>,
    /// Partition of each joint's neighbourhood: spatial (ST-GCN's 3 subsets), distance, uniform.
    #[arg(long, value_enum)]
    pub strategy: Option<Partition>,
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
    /// A run directory: print its (trained or imported) architecture and input instead of a preset's.
    #[arg(long)]
    pub run: Option<PathBuf>,
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

impl DataArgs {
    pub fn source(&self) -> DataSource {
        DataSource {
            data: self.data.clone(),
            format: self.format,
            layout: self.layout.clone(),
            split: self.split,
            train_subjects: self.train_subjects.clone(),
            split_train: self.split_train.clone(),
            split_test: self.split_test.clone(),
            skip_bad: self.skip_bad,
        }
    }
}

impl TrainArgs {
    /// Defaults ← config file ← these options.
    pub fn start(&self) -> Result<Start<SkeletonTrainConfig>> {
        let o = Overrides::default()
            .set("model", &self.model)
            .set("schedule", &self.schedule)
            .set("frames", &self.frames)
            .set("length_mode", &self.length_mode)
            .set("persons", &self.persons)
            .set("dropout", &self.dropout)
            .set("temporal_kernel", &self.temporal_kernel)
            .set("max_hop", &self.max_hop)
            .set("strategy", &self.strategy)
            .set("modality", &self.modality)
            .set("mixup", &self.mixup)
            .set_if("motion", self.no_motion, Value::Bool(false))
            .set("graph_offset_decay", &self.graph_offset_decay)
            .set_if("adaptive_graph", self.adaptive_graph, Value::Bool(true));
        let source = self.data.source();
        self.run
            .start(|c| source.apply(c), o, Value::Null, |c, _| Ok(c))
    }
}

impl RagcnTrainArgs {
    pub fn start(&self) -> Start<RagcnTrainOptions> {
        match &self.resume {
            Some(dir) => Start::Resume(dir.clone()),
            None => Start::New {
                config: RagcnTrainOptions {
                    baseline: self.baseline.clone().expect("clap requires --baseline"),
                    data: self.data.source(),
                    streams: self.streams,
                    mode: self.mode,
                    threshold: self.threshold,
                    top_fraction: self.top_fraction,
                    mask_unit: self.mask_unit,
                    loss: self.loss,
                    epochs: self.epochs,
                    lr: self.lr,
                    seed: self.seed,
                    mixup: self.mixup,
                },
                out: self.out.clone().expect("clap requires --out"),
                force: self.force,
            },
        }
    }
}

impl EvalArgs {
    pub fn options(&self) -> Result<EvalOptions> {
        let perturbation = match (&self.occlude, &self.jitter) {
            (Some(o), _) => Some(Perturbation::parse_occlusion(o)?),
            (None, Some(j)) => Some(Perturbation::parse_jitter(j)?),
            (None, None) => None,
        };
        Ok(EvalOptions {
            run: self.run.clone(),
            data: self.data.source(),
            all: self.all,
            json: self.json,
            out: self.out.clone(),
            perturbation,
            seed: self.seed,
        })
    }
}

/// Run a `skelcam skeleton …` command.
pub fn run_skeleton(cmd: SkeletonCommand) -> Result<()> {
    use crate::commands::*;
    match cmd {
        SkeletonCommand::Train(a) => train::skeleton_train(&a.start()?).map(drop),
        SkeletonCommand::Eval(a) => eval::eval(&a.options()?),
        SkeletonCommand::Ensemble(a) => ensemble::ensemble(&ensemble::EnsembleOptions {
            runs: a.runs,
            weights: a.weights,
            out: a.out,
            force: a.force,
        })
        .map(drop),
        SkeletonCommand::Import(a) => skeleton_import::skeleton_import(&SkeletonImportOptions {
            weights: a.weights,
            layout: a.layout,
            from: a.from,
            classes: a.classes,
            strategy: a.strategy,
            frames: a.frames,
            length_mode: a.length_mode,
            persons: a.persons,
            preprocess: a.preprocess,
            out: a.out,
            force: a.force,
        }),
        SkeletonCommand::Info(a) => info::info(&InfoOptions {
            run: a.run,
            model: a.model,
            layout: a.layout,
            classes: a.classes,
            channels: a.channels,
            json: a.json,
        }),
        SkeletonCommand::Cam(a) => skeleton_cam::cam(&CamOptions {
            run: a.run,
            input: a.input,
            data: a.data.source(),
            class: a.class,
            method: a.method,
            normalize: a.normalize,
            verify: a.verify,
            limit: a.limit,
            out: a.out,
            export: Export(a.export),
            gif: !a.no_gif,
            batch: a.batch.get(),
        }),
        SkeletonCommand::CamCompare(a) => crate::commands::cam_compare::cam_compare(
            &crate::commands::cam_compare::CamCompareOptions {
                run: a.run,
                data: a.data.source(),
                compare: a.compare.settings()?,
            },
        ),
        SkeletonCommand::CamSummary(a) => cam_summary::cam_summary(&CamSummaryOptions {
            run: a.run,
            data: a.data.source(),
            all: a.all,
            method: a.method,
            bins: a.bins,
            top: a.top,
            out: a.out,
            export: Export(a.export),
            batch: a.batch.get(),
        }),
        SkeletonCommand::Faithfulness(a) => faithfulness::faithfulness(&FaithfulnessOptions {
            run: a.run,
            data: a.data.source(),
            method: a.method,
            seed: a.seed,
            limit: a.limit,
            json: a.json,
            out: a.out,
            batch: a.batch.get(),
        }),
        SkeletonCommand::Robustness(a) => robustness::robustness(&RobustnessOptions {
            runs: a.runs,
            data: a.data.source(),
            seed: a.seed,
            out: a.out,
        }),
    }
}

/// Run a `skelcam ragcn …` command.
pub fn run_ragcn(cmd: RagcnCommand) -> Result<()> {
    match cmd {
        RagcnCommand::Train(a) => crate::commands::ragcn::ragcn_train(&a.start()).map(drop),
        RagcnCommand::Cam(a) => crate::commands::ragcn::ragcn_cam(&RagcnCamOptions {
            run: a.run,
            input: a.input,
            data: a.data.source(),
            out: a.out,
            gif: !a.no_gif,
            method: a.method,
            batch: a.batch.get(),
        }),
    }
}

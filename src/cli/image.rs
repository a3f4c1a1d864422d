//! `skelcam image …`: argument definitions of the image commands (train, eval, cam, localize, import,
//! synth) and their conversion into the commands' options.

use super::{Overrides, TrainRunArgs};
use crate::cam::image::ImageCamMethod;
use crate::commands::export::{Export, ExportFormat};
use crate::commands::image_cam::ImageCamOptions;
use crate::commands::image_eval::ImageEvalOptions;
use crate::commands::image_import::ImportOptions;
use crate::commands::image_localize::LocalizeOptions;
use crate::commands::synth::ImageSynthOptions;
use crate::commands::train::Start;
use crate::config::{ImageFormat, ImageSource, ImageTrainConfig};
use crate::data::synth_images::{SynthImageConfig, SynthStyle};
use crate::Result;
use clap::{Args, Subcommand};
use serde_json::Value;
use std::path::PathBuf;

#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// Train a ResNet-18 on labelled pictures (class sub-folders or CLASS.N.jpg files) or the synthetic set.
    Train(ImageTrainArgs),
    /// Top-1 and confusion matrix of a run on its test pictures (or another folder).
    Eval(ImageEvalArgs),
    /// CAM / Grad-CAM / Grad-CAM++ overlays with a caption, the bare heatmap and cam.json per picture.
    Cam(ImageCamArgs),
    /// Localisation (CAM paper protocol, pointing game) and deletion/insertion AUC against a random map.
    Localize(LocalizeArgs),
    /// Every explanation method on the same test pictures: deletion/insertion, ROAD, Average Drop, Increase
    /// in Confidence, time, pointing game (JSON, a ranking table, figures).
    CamCompare(ImageCompareArgs),
    /// Turn a torchvision-named ResNet-18 state dict (safetensors) into a run directory.
    Import(ImportArgs),
    /// Write the synthetic picture set to a folder (train/, test/, boxes.json).
    Synth(ImageSynthArgs),
}

#[derive(Args, Debug)]
pub struct ImageCompareArgs {
    #[arg(long)]
    pub run: PathBuf,
    #[command(flatten)]
    pub data: ImageDataArgs,
    #[command(flatten)]
    pub compare: super::CompareArgs,
}

/// Where pictures come from.
#[derive(Args, Debug, Clone)]
pub struct ImageDataArgs {
    /// Folder of labelled pictures: train/<class>/ (+ test/), <class>/, or flat CLASS.N.jpg files.
    #[arg(long)]
    pub data: Option<String>,
    /// `folder` (default with --data) or `synthetic` (the built-in generated set).
    #[arg(long, value_enum)]
    pub format: Option<ImageFormat>,
    /// Skip unreadable or empty pictures (listed on stderr and in metrics.json) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
}

impl ImageDataArgs {
    pub fn source(&self) -> ImageSource {
        ImageSource {
            data: self.data.clone(),
            format: self.format,
            skip_bad: self.skip_bad,
        }
    }
}

#[derive(Args, Debug)]
pub struct ImageTrainArgs {
    #[command(flatten)]
    pub data: ImageDataArgs,
    #[command(flatten)]
    pub run: TrainRunArgs,
    /// resnet18-os16 (default for photos: torchvision's ResNet-18 with layer4 at 1/16 of the input, 7 × 7
    /// maps at 112 px), resnet18 (layer4 at 1/32), resnet18-half (32 base channels) or resnet18-narrow (16),
    /// each with or without -os16 or -os8 (layer3 and layer4 at 1/8). On the synthetic pictures the default
    /// is resnet18-narrow-os8 (12 × 12 maps at 96 px).
    #[arg(long)]
    pub model: Option<String>,
    /// Input side in pixels, a multiple of 16 (default 112; 96 on the synthetic pictures).
    #[arg(long)]
    pub size: Option<u32>,
    /// Progressive resizing: train this share of the epochs (the first) at --early-size with layer4 at
    /// 1/32, a fraction of the work per picture (default 0.667 for photos; 0: off, the synthetic default).
    #[arg(long, value_name = "F")]
    pub early_fraction: Option<f64>,
    /// Input side of the early epochs, a multiple of 16 smaller than --size (default 64).
    #[arg(long, value_name = "PX")]
    pub early_size: Option<u32>,
}

impl ImageTrainArgs {
    /// Defaults ← config file ← these options.
    pub fn start(&self) -> Result<Start<ImageTrainConfig>> {
        let o = Overrides::default()
            .set("model", &self.model)
            .set("size", &self.size)
            .set("early_fraction", &self.early_fraction)
            .set("early_size", &self.early_size);
        let source = self.data.source();
        self.run.start(
            |c| source.apply(c),
            o,
            Value::Bool(false),
            ImageTrainConfig::with_source_defaults,
        )
    }
}

#[derive(Args, Debug)]
pub struct ImageEvalArgs {
    /// A run directory written by `image train` or `image import`.
    #[arg(long)]
    pub run: PathBuf,
    /// Pictures to evaluate (default: the run's own test part).
    #[command(flatten)]
    pub data: ImageDataArgs,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct ImageCamArgs {
    #[arg(long)]
    pub run: PathBuf,
    /// A picture, or a folder (searched recursively) of pictures.
    #[arg(long)]
    pub input: PathBuf,
    /// Output folder (created; files in it are replaced).
    #[arg(long)]
    pub out: PathBuf,
    /// auto (the predicted class), a class name, or its index.
    #[arg(long, default_value = "auto")]
    pub class: String,
    #[arg(long, value_enum, default_value = "cam")]
    pub method: ImageCamMethod,
    /// Weight of the heatmap in the overlay (0 = photo only, 1 = heatmap only).
    #[arg(long, default_value_t = 0.5)]
    pub alpha: f32,
    /// Skip unreadable pictures in a folder instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// Also write the maps as arrays: npy (raw.npy, map.npy), csv (cam.csv); e.g. `--export npy`.
    #[arg(long, value_enum, value_delimiter = ',')]
    pub export: Vec<ExportFormat>,
    #[command(flatten)]
    pub batch: super::BatchArg,
}

#[derive(Args, Debug)]
pub struct LocalizeArgs {
    #[arg(long)]
    pub run: PathBuf,
    /// Pictures with boxes (boxes.json) or `--format synthetic` (default: the run's own test part).
    #[command(flatten)]
    pub data: ImageDataArgs,
    /// Box threshold as a fraction of the map's maximum (the CAM paper: 0.2).
    #[arg(long, default_value_t = 0.2)]
    pub threshold: f32,
    /// Evaluate at most this many test pictures (deletion/insertion runs 4 × 17 forwards per picture).
    #[arg(long, default_value_t = 200)]
    pub limit: usize,
    /// Feed the pictures at this side instead of the training size (a multiple of 32): the network is fully
    /// convolutional up to its global average pool, and a larger input gives a finer CAM (2× side: 2× the
    /// map's rows and columns).
    #[arg(long)]
    pub size: Option<u32>,
    /// Print one JSON object on stdout.
    #[arg(long)]
    pub json: bool,
    /// Also write localize.json, example boxes and the deletion/insertion curves here.
    #[arg(long)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// A torchvision ResNet-18 state dict saved with safetensors (conv1.weight, bn1.running_mean, …, fc.bias).
    #[arg(long)]
    pub weights: PathBuf,
    /// Class names in the order of the fc rows, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    pub classes: Vec<String>,
    /// Input side the model expects.
    #[arg(long, default_value_t = 224)]
    pub size: u32,
    #[arg(long)]
    pub out: PathBuf,
    #[arg(long)]
    pub force: bool,
}

#[derive(Args, Debug)]
pub struct ImageSynthArgs {
    #[arg(long)]
    pub out: PathBuf,
    /// Number of classes (2–4: house, tree, sun, car).
    #[arg(long, default_value_t = 3)]
    pub classes: usize,
    #[arg(long, default_value_t = 160)]
    pub train_per_class: usize,
    #[arg(long, default_value_t = 40)]
    pub test_per_class: usize,
    #[arg(long, default_value_t = 96)]
    pub side: u32,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// `flat` (shapes in random colours over clutter) or `photo` (photo-like landscapes).
    #[arg(long, value_enum, default_value_t = SynthStyle::Flat)]
    pub style: SynthStyle,
    #[arg(long)]
    pub force: bool,
}

/// Run a `skelcam image …` command.
pub fn run(cmd: ImageCommand) -> Result<()> {
    use crate::commands::*;
    match cmd {
        ImageCommand::Train(a) => train::image_train(&a.start()?).map(drop),
        ImageCommand::Eval(a) => image_eval::eval(&ImageEvalOptions {
            run: a.run,
            data: a.data.source(),
            json: a.json,
        }),
        ImageCommand::Cam(a) => image_cam::cam(&ImageCamOptions {
            run: a.run,
            input: a.input,
            out: a.out,
            class: a.class,
            method: a.method,
            alpha: a.alpha,
            skip_bad: a.skip_bad,
            export: Export(a.export),
            batch: a.batch.get(),
        }),
        ImageCommand::CamCompare(a) => crate::commands::image_compare::image_compare(
            &crate::commands::image_compare::ImageCompareOptions {
                run: a.run,
                data: a.data.source(),
                compare: a.compare.settings()?,
            },
        ),
        ImageCommand::Localize(a) => image_localize::localize(&LocalizeOptions {
            run: a.run,
            data: a.data.source(),
            threshold: a.threshold,
            limit: a.limit,
            size: a.size,
            json: a.json,
            out: a.out,
        }),
        ImageCommand::Import(a) => image_import::import(&ImportOptions {
            weights: a.weights,
            classes: a.classes,
            size: a.size,
            out: a.out,
            force: a.force,
        }),
        ImageCommand::Synth(a) => synth::image_synth(&ImageSynthOptions {
            pictures: SynthImageConfig {
                classes: a.classes,
                train_per_class: a.train_per_class,
                test_per_class: a.test_per_class,
                side: a.side,
                seed: a.seed,
                fresh: false,
                style: a.style,
                empty_fraction: 0.0,
            },
            out: a.out,
            force: a.force,
        }),
    }
}

//! `skelcam image …`: command-line definitions of the image commands (train, eval, cam, localize, import,
//! synth) and how their options overlay the run configuration.

use crate::config::{ImageFormat, ImageTrainConfig};
use crate::train::optim::OptimKind;
use crate::Result;
use clap::{Args, Subcommand, ValueEnum};
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
    /// Turn a torchvision-named ResNet-18 state dict (safetensors) into a run directory.
    Import(ImportArgs),
    /// Write the synthetic picture set to a folder (train/, test/, boxes.json).
    Synth(ImageSynthArgs),
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

    pub fn given(&self) -> bool {
        self.data.is_some() || self.format.is_some()
    }
}

#[derive(Args, Debug)]
pub struct ImageTrainArgs {
    #[command(flatten)]
    pub data: ImageDataArgs,
    /// JSON file with any training option (command-line options override it).
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// resnet18 (default) or resnet18-narrow (16 base channels, for quick experiments).
    #[arg(long)]
    pub model: Option<String>,
    /// Input side in pixels, a multiple of 16 (default 64: fast on a CPU).
    #[arg(long)]
    pub size: Option<u32>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Seed for initialisation, shuffling, augmentation and the validation split.
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long, value_enum)]
    pub optimizer: Option<OptimKind>,
    #[arg(long)]
    pub lr: Option<f64>,
    #[arg(long)]
    pub weight_decay: Option<f64>,
    /// Switch training augmentation (random resized crop, flip, colour jitter) off.
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

impl ImageTrainArgs {
    pub fn resolve(&self) -> Result<ImageTrainConfig> {
        let mut c: ImageTrainConfig = match &self.config {
            Some(p) => crate::io::read_json(p)?,
            None => ImageTrainConfig::default(),
        };
        self.data.apply(&mut c);
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = self.$f.clone() { c.$f = v; } )* };
        }
        set!(
            model,
            size,
            epochs,
            batch_size,
            seed,
            optimizer,
            lr,
            weight_decay
        );
        if self.no_augment {
            c.augment = false;
        }
        c.validate()?;
        Ok(c)
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
pub enum ImageCamMethod {
    /// Class weights × last conv features (Zhou et al. 2016).
    Cam,
    /// Gradient-weighted (Selvaraju et al. 2017); ReLU(CAM) up to scale for this head.
    Gradcam,
    /// Grad-CAM++ (Chattopadhay et al. 2018).
    #[value(name = "gradcam++")]
    #[serde(rename = "gradcam++")]
    GradcamPp,
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
    #[arg(long)]
    pub force: bool,
}

pub fn run(cmd: ImageCommand) -> Result<()> {
    match cmd {
        ImageCommand::Train(a) => {
            match &a.resume {
                Some(dir) => crate::train::image::resume(dir)?,
                None => crate::train::image::train(
                    &a.resolve()?,
                    a.out.as_ref().expect("clap requires --out"),
                    a.force,
                )?,
            };
            Ok(())
        }
        ImageCommand::Eval(a) => crate::report::image::eval(&a),
        ImageCommand::Cam(a) => crate::report::image::cam(&a),
        ImageCommand::Localize(a) => crate::report::localize::localize(&a),
        ImageCommand::Import(a) => crate::report::image::import(&a),
        ImageCommand::Synth(a) => crate::report::image::synth(&a),
    }
}

//! `skeleton train` and `image train`: a new run from a resolved configuration, or `--resume` of an
//! interrupted one, through the one training loop; `curves.png` after every epoch, `confusion.png` at the end.

use crate::config::{ImageTrainConfig, SkeletonTrainConfig};
use crate::data::Dataset;
use crate::models::{ImageModel, ImageRunConfig, ResnetConfig, SkeletonRunConfig};
use crate::run_dir::RunDir;
use crate::train::image::{load_images, ImageTask};
use crate::train::skeleton::{load_dataset, load_options, resolve_run, SkeletonTask};
use crate::train::{fit, Metrics, Recipe, Task};
use crate::{Error, Result};
use std::path::PathBuf;

/// How a training command starts.
#[derive(Debug, Clone)]
pub enum Start<C> {
    /// A new run with this configuration into `out` (new or empty, unless `force`).
    New {
        config: C,
        out: PathBuf,
        force: bool,
    },
    /// Continue the interrupted run in this directory from its last checkpoint.
    Resume(PathBuf),
}

pub fn skeleton_train(start: &Start<SkeletonTrainConfig>) -> Result<Metrics> {
    match start {
        Start::New { config, out, force } => {
            config.validate()?;
            let dir = RunDir::create(out, *force)?;
            let ds = load_dataset(&load_options(config))?;
            let run = resolve_run(config, &ds)?;
            dir.write_config(&run)?;
            train_skeleton_run(&run, &ds, &dir)
        }
        Start::Resume(path) => {
            let dir = RunDir::for_resume(path, "a skeleton")?;
            let run: SkeletonRunConfig = dir.read_config()?;
            let mut ds = load_dataset(&load_options(&run.train))?;
            ds.match_classes(&run.classes, &data_at(&run.train.data))?;
            train_skeleton_run(&run, &ds, &dir)
        }
    }
}

pub fn image_train(start: &Start<ImageTrainConfig>) -> Result<Metrics> {
    let (run, dir) = match start {
        Start::New { config, out, force } => {
            config.validate()?;
            let dir = RunDir::create(out, *force)?;
            let set = load_images(config, false)?;
            let mut model =
                ResnetConfig::preset(&config.model, set.classes.len()).map_err(Error::usage)?;
            model.flip_average = config.flip_average;
            let run = ImageRunConfig {
                skelcam_version: env!("CARGO_PKG_VERSION").into(),
                kind: "image".into(),
                train: config.clone(),
                model,
                classes: set.classes.clone(),
            };
            dir.write_config(&run)?;
            return train_image_run(run, &set, &dir);
        }
        Start::Resume(path) => {
            let dir = RunDir::for_resume(path, "an image")?;
            let (mut run, raw): (ImageRunConfig, _) = dir.read_config_with_fields()?;
            // A run begun before progressive resizing existed continues as it began, at one size.
            if raw["train"].get("early_fraction").is_none() {
                run.train.early_fraction = 0.0;
            }
            (run, dir)
        }
    };
    let set = load_images(&run.train, false)?;
    if set.classes != run.classes {
        return Err(Error::ClassMismatch {
            what: data_at(&run.train.data),
            data: set.classes.clone(),
            model: run.classes.clone(),
        });
    }
    train_image_run(run, &set, &dir)
}

/// Train a skeleton (or RA-GCN) run whose configuration is in `dir`.
pub(crate) fn train_skeleton_run(
    run: &SkeletonRunConfig,
    ds: &Dataset,
    dir: &RunDir,
) -> Result<Metrics> {
    let task = SkeletonTask::new(run, ds, dir)?;
    with_figures(
        &task,
        &run.train.recipe(),
        dir,
        "test split",
        run.ragcn.is_some(),
    )
}

fn train_image_run(
    run: ImageRunConfig,
    set: &crate::data::images::ImageSet,
    dir: &RunDir,
) -> Result<Metrics> {
    let recipe = run.train.recipe();
    let task = ImageTask::new(ImageModel::build(&run)?, set)?;
    with_figures(&task, &recipe, dir, &set.split, false)
}

/// How the data of a resumed run is named in an error.
fn data_at(source: &Option<String>) -> String {
    format!("the data at {}", source.as_deref().unwrap_or("(built-in)"))
}

/// Train, drawing the curves (and RA-GCN masks) after every epoch and the confusion matrix at the end.
fn with_figures(
    task: &impl Task,
    recipe: &Recipe,
    dir: &RunDir,
    split: &str,
    masks: bool,
) -> Result<Metrics> {
    let (metrics, test) = fit(task, recipe, dir, &mut |state| {
        crate::plot::curves::draw(&dir.curves(), &state.history)?;
        if masks {
            crate::plot::curves::draw_masks(&dir.masks(), &state.history)?;
        }
        Ok(())
    })?;
    crate::plot::curves::draw(&dir.curves(), &metrics.history)?;
    crate::plot::confusion::draw(&dir.confusion(), &test.confusion, &metrics.classes, split)?;
    let top5 = if metrics.classes.len() > 5 {
        format!(", top-5 {:.3}", metrics.test_top5)
    } else {
        String::new()
    };
    eprintln!(
        "done: test top-1 {:.3}{top5} after {} epochs ({:.0} s); wrote {}",
        metrics.test_top1,
        metrics.epochs,
        metrics.seconds,
        dir.path().display()
    );
    Ok(metrics)
}

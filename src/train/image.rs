//! Image training and inference (ResNet-18 on labelled pictures) with the same run directory contract as
//! skeleton runs: `config.json`, per-epoch atomic `checkpoint.safetensors`, exact `--resume`,
//! `model.safetensors`, `metrics.json`, `curves.png`, `confusion.png`.

use super::checkpoint;
use super::metrics::{evaluate, Evaluation};
use super::optim::Optimizer;
use super::run::{crash_for_testing, finite_loss, log_epoch, restore, save_checkpoint, TrainState};
use super::schedule::Schedule;
use super::skeleton::{EpochRecord, Metrics};
use crate::config::{ImageFormat, ImageTrainConfig};
use crate::data::augment::{batch_tensor, eval_view, random_view, Jitter};
use crate::data::images::{load_folder, ImageItem, ImageSet};
use crate::data::{mix, synth_images};
use crate::models::{init, Ctx, Resnet, ResnetConfig};
use crate::rng::{permutation, rng_for};
use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

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
        let varmap = VarMap::new();
        let net = Resnet::new(
            &run.model,
            VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu),
        )?;
        init::seeded_init(&varmap, run.train.seed)?;
        init::kaiming_conv_init(&varmap, run.train.seed)?;
        Ok(ImageModel {
            varmap,
            net,
            run: run.clone(),
        })
    }

    /// Load a finished image run (its `config.json` and `model.safetensors`).
    pub fn load(run_dir: &Path) -> Result<Self> {
        let cfg_path = run_dir.join("config.json");
        let run: ImageRunConfig = crate::io::read_json(&cfg_path).map_err(|e| {
            Error::usage(format!(
                "{} is not an image run directory: {e}",
                run_dir.display()
            ))
        })?;
        if run.kind != "image" {
            return Err(Error::data(
                &cfg_path,
                "not an image run (kind is not \"image\")",
            ));
        }
        let weights = run_dir.join("model.safetensors");
        if !weights.is_file() {
            return Err(Error::usage(format!(
                "{} has no model.safetensors: the training did not finish (resume it with `skelcam image train --resume {}`)",
                run_dir.display(),
                run_dir.display()
            )));
        }
        let model = Self::build(&run)?;
        let (tensors, _) = checkpoint::load(&weights)?;
        checkpoint::load_into(&model.varmap, &tensors, "", &weights)?;
        Ok(model)
    }

    pub fn size(&self) -> u32 {
        self.run.train.size
    }

    pub fn num_params(&self) -> usize {
        init::num_trainable(&self.varmap)
    }
}

/// Decode (or generate) the pictures of a run, cached at 1.25× the input side. With `test_only`, a folder
/// with its own `test/` leaves the training pictures undecoded (`train` is empty).
pub fn load_images(cfg: &ImageTrainConfig, test_only: bool) -> Result<ImageSet> {
    match cfg.format {
        ImageFormat::Synthetic => synth_images::generate(&cfg.synthetic),
        ImageFormat::Folder => {
            let dir = cfg
                .data
                .as_deref()
                .ok_or_else(|| Error::usage("--data DIR is needed"))?;
            let side = (cfg.size as f64 * 1.25).round() as u32;
            load_folder(
                Path::new(dir),
                side,
                cfg.skip_bad,
                cfg.val_fraction,
                cfg.seed,
                test_only,
            )
        }
    }
}

/// Evaluation batch: whole pictures resized to the input side.
pub fn eval_batch(items: &[&ImageItem], size: u32) -> Result<Tensor> {
    let views: Vec<(image::RgbImage, Jitter)> = items
        .par_iter()
        .map(|it| (eval_view(&it.image, size), Jitter::NONE))
        .collect();
    batch_tensor(&views, size)
}

/// Logits (one row per item) in eval mode, batched.
pub fn predict(model: &ImageModel, items: &[&ImageItem]) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(64) {
        let x = eval_batch(chunk, model.size())?;
        out.extend(model.net.forward(&x, &mut Ctx::eval())?.to_vec2::<f32>()?);
    }
    Ok(out)
}

pub fn evaluate_items(model: &ImageModel, items: &[ImageItem]) -> Result<Evaluation> {
    let refs: Vec<&ImageItem> = items.iter().collect();
    let logits = predict(model, &refs)?;
    let labels: Vec<usize> = items.iter().map(|i| i.label).collect();
    let k = model.run.classes.len();
    let loss = if logits.is_empty() {
        0.0
    } else {
        let l = Tensor::from_vec(logits.concat(), (logits.len(), k), &Device::Cpu)?;
        let y: Vec<u32> = labels.iter().map(|&y| y as u32).collect();
        let y = Tensor::from_vec(y, labels.len(), &Device::Cpu)?;
        candle_nn::loss::cross_entropy(&l, &y)?.to_scalar::<f32>()? as f64
    };
    Ok(evaluate(&logits, &labels, k, loss))
}

/// The training batch after CutMix, and its soft targets (N, K) with label smoothing.
fn mixed_batch(
    views: &mut [(image::RgbImage, Jitter)],
    labels: &[u32],
    cfg: &ImageTrainConfig,
    classes: usize,
    rng: &mut rand::rngs::StdRng,
) -> Result<(Tensor, Tensor)> {
    let n = views.len();
    let labels: Vec<usize> = labels.iter().map(|&l| l as usize).collect();
    let (partners, lambdas) = if cfg.augment && cfg.cutmix > 0.0 {
        let perm = permutation(rng, n);
        let mut imgs: Vec<image::RgbImage> = views.iter().map(|(v, _)| v.clone()).collect();
        let lambdas = mix::cutmix(&mut imgs, &perm, cfg.cutmix, rng);
        for ((v, _), img) in views.iter_mut().zip(imgs) {
            *v = img;
        }
        (perm.iter().map(|&j| labels[j]).collect(), lambdas)
    } else {
        (labels.clone(), vec![1.0; n])
    };
    let t = mix::soft_targets(
        &labels,
        &partners,
        &lambdas,
        classes,
        cfg.label_smoothing as f32,
    );
    Ok((
        batch_tensor(views, cfg.size)?,
        Tensor::from_vec(t, (n, classes), &Device::Cpu)?,
    ))
}

/// Train from scratch into `out` (new or empty, unless `force`).
pub fn train(cfg: &ImageTrainConfig, out: &Path, force: bool) -> Result<Metrics> {
    cfg.validate()?;
    crate::io::prepare_out_dir(out, force)?;
    let set = load_images(cfg, false)?;
    let model = ResnetConfig::preset(&cfg.model, set.classes.len()).map_err(Error::usage)?;
    let run = ImageRunConfig {
        skelcam_version: env!("CARGO_PKG_VERSION").into(),
        kind: "image".into(),
        train: cfg.clone(),
        model,
        classes: set.classes.clone(),
    };
    crate::io::write_json(&out.join("config.json"), &run)?;
    let _ = std::fs::remove_file(out.join("checkpoint.safetensors"));
    run_training(&run, &set, out)
}

/// Continue an interrupted image run from its last checkpoint (identical to an uninterrupted run).
pub fn resume(out: &Path) -> Result<Metrics> {
    let run: ImageRunConfig = crate::io::read_json(&out.join("config.json"))
        .map_err(|e| Error::usage(format!("cannot resume {}: {e}", out.display())))?;
    let set = load_images(&run.train, false)?;
    if set.classes != run.classes {
        return Err(Error::usage(format!(
            "the data at {:?} no longer has the classes this run was trained on ({:?})",
            run.train.data, run.classes
        )));
    }
    run_training(&run, &set, out)
}

fn run_training(run: &ImageRunConfig, set: &ImageSet, out: &Path) -> Result<Metrics> {
    let cfg = &run.train;
    let model = ImageModel::build(run)?;
    let mut opt = Optimizer::new(
        cfg.optimizer,
        init::trainable(&model.varmap),
        cfg.momentum,
        cfg.weight_decay,
    );
    let ckpt_path = out.join("checkpoint.safetensors");
    let mut state = restore(&model.varmap, &mut opt, &ckpt_path, cfg.epochs)?;
    eprintln!(
        "training {} ({} parameters) at {}x{} px on {} train / {} test pictures ({}), classes {:?}",
        cfg.model,
        model.num_params(),
        cfg.size,
        cfg.size,
        set.train.len(),
        set.test.len(),
        set.split,
        run.classes
    );
    let schedule = Schedule {
        kind: cfg.schedule,
        base_lr: cfg.lr,
        warmup_epochs: cfg.warmup_epochs,
        milestones: cfg.milestones.clone(),
        epochs: cfg.epochs,
    };
    let batches = set.train.len().div_ceil(cfg.batch_size);
    for epoch in state.epochs_done..cfg.epochs {
        let started = Instant::now();
        let mut rng = rng_for(cfg.seed, 100 + epoch as u64);
        let order = permutation(&mut rng, set.train.len());
        let bar = super::progress::bar(batches as u64, &format!("epoch {}", epoch + 1));
        let (mut loss_sum, mut correct, mut seen, mut lr) = (0f64, 0usize, 0usize, cfg.lr);
        for (b, chunk) in order.chunks(cfg.batch_size).enumerate() {
            if chunk.len() < 2 {
                continue; // batch norm needs two samples
            }
            lr = schedule.lr(epoch as f64 + b as f64 / batches as f64);
            // Each picture's view comes from its own stream, so the batch does not depend on thread timing.
            let mut views: Vec<(image::RgbImage, Jitter)> = chunk
                .par_iter()
                .map(|&i| {
                    let img = &set.train[i].image;
                    if cfg.augment {
                        let mut r = rng_for(cfg.seed, ((epoch as u64) << 32) | i as u64);
                        random_view(img, cfg.size, &mut r)
                    } else {
                        (eval_view(img, cfg.size), Jitter::NONE)
                    }
                })
                .collect();
            let labels: Vec<u32> = chunk.iter().map(|&i| set.train[i].label as u32).collect();
            let (x, targets) = mixed_batch(&mut views, &labels, cfg, run.classes.len(), &mut rng)?;
            let logits = model.net.forward(&x, &mut Ctx::train(&mut rng))?;
            let loss = (candle_nn::ops::log_softmax(&logits, 1)? * targets)?
                .sum(1)?
                .mean(0)?
                .neg()?;
            let loss_v = finite_loss(&loss, epoch, cfg.lr)?;
            opt.step(&loss.backward()?, lr)?;
            let pred = logits.argmax(1)?.to_vec1::<u32>()?;
            correct += pred.iter().zip(&labels).filter(|(p, l)| p == l).count();
            seen += labels.len();
            loss_sum += loss_v * labels.len() as f64;
            bar.set_message(format!("loss {:.3}", loss_sum / seen as f64));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let test = if epoch + 1 == cfg.epochs || (epoch + 1) % cfg.eval_every == 0 {
            Some(evaluate_items(&model, &set.test)?)
        } else {
            None
        };
        let rec = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_top1: correct as f64 / seen.max(1) as f64,
            test_loss: test.as_ref().map(|t| t.loss),
            test_top1: test.as_ref().map(|t| t.top1),
            test_top5: test.as_ref().map(|t| t.top5),
            seconds: started.elapsed().as_secs_f64(),
            masked_fraction: vec![],
        };
        log_epoch(&rec, cfg.epochs);
        state.seconds += rec.seconds;
        state.history.push(rec);
        state.epochs_done = epoch + 1;
        state.steps = opt.steps;
        save_checkpoint(&model.varmap, &opt, &state, &ckpt_path)?;
        crate::plot::curves::draw(&out.join("curves.png"), &state.history)?;
        crash_for_testing(epoch + 1);
    }
    finish(&model, set, &state, out)
}

fn finish(model: &ImageModel, set: &ImageSet, state: &TrainState, out: &Path) -> Result<Metrics> {
    let test = evaluate_items(model, &set.test)?;
    checkpoint::save(
        &out.join("model.safetensors"),
        &checkpoint::varmap_tensors(&model.varmap),
        None,
    )?;
    let metrics = Metrics {
        test_top1: test.top1,
        test_top5: test.top5,
        test_loss: test.loss,
        train_top1: state.history.last().map(|r| r.train_top1).unwrap_or(0.0),
        epochs: state.epochs_done,
        classes: model.run.classes.clone(),
        seconds: state.seconds,
        params: model.num_params(),
        train_samples: set.train.len(),
        test_samples: set.test.len(),
        per_class: test.per_class.clone(),
        confusion: test.confusion.clone(),
        skipped_files: set
            .skipped
            .iter()
            .map(|(p, w)| format!("{}: {w}", p.display()))
            .collect(),
        history: state.history.clone(),
        streams_top1: None,
    };
    crate::io::write_json(&out.join("metrics.json"), &metrics)?;
    crate::plot::curves::draw(&out.join("curves.png"), &state.history)?;
    crate::plot::confusion::draw(
        &out.join("confusion.png"),
        &test.confusion,
        &model.run.classes,
        &set.split,
    )?;
    eprintln!(
        "done: test top-1 {:.3} after {} epochs ({:.0} s); wrote {}",
        test.top1,
        state.epochs_done,
        state.seconds,
        out.display()
    );
    Ok(metrics)
}

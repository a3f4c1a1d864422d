//! Image training and inference on labelled pictures: decoding (or generating) them, evaluation batches,
//! predictions and metrics, CutMix with label smoothing, and the [`ImageTask`] that the one training loop
//! runs for ResNet-18 runs.

use super::learner::{Step, Task};
use super::metrics::{evaluate, Evaluation};
use crate::config::{ImageFormat, ImageSource, ImageTrainConfig};
use crate::data::augment::{batch_tensor, eval_view, random_view, Jitter};
use crate::data::images::{class_map, load_folder, ImageItem, ImageSet};
use crate::data::{mix, synth_images};
use crate::models::image::ImageModel;
use crate::models::{Ctx, Resnet};
use crate::rng::{permutation, rng_for, streams};
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use candle_nn::VarMap;
use rand::rngs::StdRng;
use rayon::prelude::*;
use std::path::Path;

/// Decode (or generate) the pictures of a run, cached at 1.25× the input side. With `test_only`, a folder
/// with its own `test/` leaves the training pictures undecoded (`train` is empty).
pub fn load_images(cfg: &ImageTrainConfig, test_only: bool) -> Result<ImageSet> {
    match cfg.format {
        ImageFormat::Synthetic => synth_images::generate(&cfg.synthetic),
        ImageFormat::Folder => {
            let dir = cfg
                .data
                .as_deref()
                .ok_or_else(|| Error::invalid("data", "nothing", "a picture folder"))?;
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
    predict_with(&model.net, model.size(), items)
}

fn predict_with(net: &Resnet, size: u32, items: &[&ImageItem]) -> Result<Vec<Vec<f32>>> {
    let mut out = Vec::with_capacity(items.len());
    for chunk in items.chunks(64) {
        let x = eval_batch(chunk, size)?;
        out.extend(net.forward(&x, &mut Ctx::eval())?.to_vec2::<f32>()?);
    }
    Ok(out)
}

pub fn evaluate_items(model: &ImageModel, items: &[ImageItem]) -> Result<Evaluation> {
    evaluate_with(model, &model.net, model.size(), items)
}

fn evaluate_with(
    model: &ImageModel,
    net: &Resnet,
    size: u32,
    items: &[ImageItem],
) -> Result<Evaluation> {
    let refs: Vec<&ImageItem> = items.iter().collect();
    let logits = predict_with(net, size, &refs)?;
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

/// The training batch after CutMix, and its soft targets (N, K) with label smoothing (label `None`: a
/// picture without its object).
fn mixed_batch(
    views: &mut [(image::RgbImage, Jitter)],
    labels: &[Option<usize>],
    cfg: &ImageTrainConfig,
    size: u32,
    classes: usize,
    rng: &mut StdRng,
) -> Result<(Tensor, Tensor)> {
    let n = views.len();
    let (partners, lambdas) = if cfg.augment && cfg.cutmix > 0.0 {
        let perm = permutation(rng, n);
        let mut imgs: Vec<image::RgbImage> = views.iter().map(|(v, _)| v.clone()).collect();
        let lambdas = mix::cutmix(&mut imgs, &perm, cfg.cutmix, rng);
        for ((v, _), img) in views.iter_mut().zip(imgs) {
            *v = img;
        }
        (perm.iter().map(|&j| labels[j]).collect(), lambdas)
    } else {
        (labels.to_vec(), vec![1.0; n])
    };
    let t = mix::soft_targets(
        labels,
        &partners,
        &lambdas,
        classes,
        cfg.label_smoothing as f32,
    );
    Ok((
        batch_tensor(views, size)?,
        Tensor::from_vec(t, (n, classes), &Device::Cpu)?,
    ))
}

/// The pictures a command runs on: those of `source` if given (all of them when it has no test part),
/// else the run's own test part.
pub fn test_pictures(model: &ImageModel, source: &ImageSource) -> Result<Vec<ImageItem>> {
    let mut cfg: ImageTrainConfig = model.run.train.clone();
    if source.given() {
        source.apply(&mut cfg);
    }
    let set: ImageSet = load_images(&cfg, true)?;
    // Folder classes come sorted by name; labels are mapped onto the model's order by name.
    let index =
        class_map(&set.classes, &model.run.classes).ok_or_else(|| Error::ClassMismatch {
            what: "the pictures".into(),
            data: set.classes.clone(),
            model: model.run.classes.clone(),
        })?;
    let mut items = set.test;
    for it in &mut items {
        it.label = index[it.label];
    }
    Ok(items)
}

/// An image run's training: its model and pictures.
pub struct ImageTask<'a> {
    pub model: ImageModel,
    /// The early epochs' network (features at 1/32, the same weights), with progressive resizing.
    early: Option<Resnet>,
    set: &'a ImageSet,
    items: Vec<usize>,
}

impl<'a> ImageTask<'a> {
    pub fn new(model: ImageModel, set: &'a ImageSet) -> Result<Self> {
        let items = (0..set.train.len()).collect();
        let early = if model.run.train.early_epochs() > 0 {
            Some(model.coarse()?)
        } else {
            None
        };
        Ok(ImageTask {
            model,
            early,
            set,
            items,
        })
    }

    /// The network and input side that train epoch `epoch` (counted from 0).
    fn stage(&self, epoch: usize) -> (&Resnet, u32) {
        let cfg = &self.model.run.train;
        match &self.early {
            Some(net) if epoch < cfg.early_epochs() => (net, cfg.early_size),
            _ => (&self.model.net, cfg.size),
        }
    }
}

impl Task for ImageTask<'_> {
    fn varmap(&self) -> &VarMap {
        &self.model.varmap
    }
    fn train_items(&self) -> &[usize] {
        &self.items
    }
    fn step(&self, epoch: usize, batch: &[usize], rng: &mut StdRng) -> Result<Step> {
        let cfg = &self.model.run.train;
        let (net, size) = self.stage(epoch);
        let train = &self.set.train;
        // Each picture's view comes from its own stream, so the batch does not depend on thread timing.
        let (mut views, shown): (Vec<(image::RgbImage, Jitter)>, Vec<Option<usize>>) = batch
            .par_iter()
            .map(|&i| {
                let label = train[i].label;
                let drawn = match cfg.format {
                    ImageFormat::Synthetic => {
                        synth_images::training_picture(&cfg.synthetic, label, epoch, i)
                    }
                    ImageFormat::Folder => None,
                };
                let (image, empty) = match &drawn {
                    Some((img, empty)) => (img, *empty),
                    None => (&train[i].image, false),
                };
                let view = if cfg.augment {
                    let mut r = rng_for(cfg.seed, streams::picture_view(epoch, i));
                    random_view(image, size, &mut r)
                } else {
                    (eval_view(image, size), Jitter::NONE)
                };
                (view, (!empty).then_some(label))
            })
            .unzip();
        let classes = self.model.run.classes.len();
        let (x, targets) = mixed_batch(&mut views, &shown, cfg, size, classes, rng)?;
        let logits = net.forward(&x, &mut Ctx::train(rng))?;
        let loss = (candle_nn::ops::log_softmax(&logits, 1)? * targets)?
            .sum(1)?
            .mean(0)?
            .neg()?;
        Ok(Step {
            loss,
            logits,
            labels: shown,
            masked: vec![],
        })
    }
    fn evaluate(&self) -> Result<Evaluation> {
        evaluate_items(&self.model, &self.set.test)
    }
    fn evaluate_after(&self, epochs_done: usize) -> Result<Evaluation> {
        let (net, size) = self.stage(epochs_done - 1);
        evaluate_with(&self.model, net, size, &self.set.test)
    }
    fn describe(&self, params: usize) -> String {
        let cfg = &self.model.run.train;
        let early = match self.early {
            Some(_) => format!(
                " (epochs 1-{} at {}x{} px with layer4 at stride 2)",
                cfg.early_epochs(),
                cfg.early_size,
                cfg.early_size
            ),
            None => String::new(),
        };
        format!(
            "training {} ({params} parameters) at {}x{} px{early} on {} train / {} test pictures ({}), classes {:?}",
            cfg.model,
            cfg.size,
            cfg.size,
            self.set.train.len(),
            self.set.test.len(),
            self.set.split,
            self.model.run.classes
        )
    }
    fn classes(&self) -> &[String] {
        &self.model.run.classes
    }
    fn test_len(&self) -> usize {
        self.set.test.len()
    }
    fn skipped_files(&self) -> Vec<String> {
        self.set
            .skipped
            .iter()
            .map(|(p, w)| format!("{}: {w}", p.display()))
            .collect()
    }
}

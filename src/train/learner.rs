//! The one training loop, for skeleton, image and RA-GCN runs alike: seeded shuffling, the learning-rate
//! schedule per step, an atomic checkpoint after every epoch (exact resume after `kill -9`), periodic
//! evaluation, and the final weights and `metrics.json`. What differs between models is a [`Task`].

use super::checkpoint;
use super::ema::Ema;
use super::metrics::Evaluation;
use super::optim::Optimizer;
use super::record::{EpochRecord, Metrics, TrainState};
use super::schedule::Schedule;
use crate::config::{ImageTrainConfig, OptimKind, ScheduleKind, SkeletonTrainConfig};
use crate::models::{init, weights};
use crate::rng::{permutation, rng_for, streams};
use crate::run_dir::RunDir;
use crate::{Error, Result};
use candle_core::Tensor;
use candle_nn::VarMap;
use rand::rngs::StdRng;
use std::time::Instant;

/// What one training step produced.
pub struct Step {
    /// The scalar loss to minimise.
    pub loss: Tensor,
    /// The (fused) logits (N, K), for the training accuracy.
    pub logits: Tensor,
    /// Each item's label; `None` for a picture shown without its object, left out of the training accuracy.
    pub labels: Vec<Option<usize>>,
    /// RA-GCN: the fraction of the input hidden from each stream (empty otherwise).
    pub masked: Vec<f64>,
}

/// What a model and its data add to the loop.
pub trait Task {
    /// The variables the optimiser updates and the checkpoint saves.
    fn varmap(&self) -> &VarMap;
    /// The training items, in the order the epoch's permutation indexes.
    fn train_items(&self) -> &[usize];
    /// The loss of one batch of training items; every random draw comes from `rng`.
    fn step(&self, epoch: usize, batch: &[usize], rng: &mut StdRng) -> Result<Step>;
    /// Metrics on the test items, as the finished model sees them.
    fn evaluate(&self) -> Result<Evaluation>;
    /// Metrics on the test items after `epochs_done` epochs (as the model trains at that point).
    fn evaluate_after(&self, _epochs_done: usize) -> Result<Evaluation> {
        self.evaluate()
    }
    /// The line printed when training starts (model, parameter count, data).
    fn describe(&self, params: usize) -> String;
    /// Facts for `metrics.json`: classes, number of test items, files skipped while reading.
    fn classes(&self) -> &[String];
    fn test_len(&self) -> usize;
    fn skipped_files(&self) -> Vec<String>;
    /// RA-GCN: each stream's test top-1 alone.
    fn streams_top1(&self) -> Result<Option<Vec<f64>>> {
        Ok(None)
    }
}

/// The optimisation recipe every training configuration provides.
#[derive(Debug, Clone)]
pub struct Recipe {
    pub epochs: usize,
    pub batch_size: usize,
    pub seed: u64,
    pub optimizer: OptimKind,
    pub lr: f64,
    pub weight_decay: f64,
    /// Parameters decayed at their own rate: (name suffix, weight decay).
    pub param_decay: Vec<(String, f64)>,
    pub momentum: f64,
    pub schedule: ScheduleKind,
    pub warmup_epochs: f64,
    pub milestones: Vec<usize>,
    pub eval_every: usize,
    /// Decay of the weight average that evaluation and the saved model use (none: the raw weights).
    pub ema: Option<f64>,
}

/// `recipe()` for every training configuration: they all carry the recipe's fields under the same names.
macro_rules! recipe_of {
    ($($config:ty),*) => {$(
        impl $config {
            /// The optimisation recipe of this configuration.
            pub fn recipe(&self) -> Recipe {
                Recipe {
                    epochs: self.epochs,
                    batch_size: self.batch_size,
                    seed: self.training_seed(),
                    optimizer: self.optimizer,
                    lr: self.lr,
                    weight_decay: self.weight_decay,
                    param_decay: self.param_decay(),
                    momentum: self.momentum,
                    schedule: self.schedule,
                    warmup_epochs: self.warmup_epochs,
                    milestones: self.milestones.clone(),
                    eval_every: self.eval_every,
                    ema: self.ema,
                }
            }
        }
    )*};
}
recipe_of!(SkeletonTrainConfig, ImageTrainConfig);

/// Train `task` into `dir` (continuing from its checkpoint when there is one); `on_epoch` is called after
/// every epoch's checkpoint (the command draws its figures there). Writes `model.safetensors` and
/// `metrics.json` and returns the metrics and the final test evaluation.
pub fn fit(
    task: &impl Task,
    recipe: &Recipe,
    dir: &RunDir,
    on_epoch: &mut dyn FnMut(&TrainState) -> Result<()>,
) -> Result<(Metrics, Evaluation)> {
    let varmap = task.varmap();
    let mut opt = recipe.param_decay.iter().fold(
        Optimizer::new(
            recipe.optimizer,
            init::trainable(varmap),
            recipe.momentum,
            recipe.weight_decay,
        ),
        |opt, (suffix, decay)| opt.decay_for(suffix, *decay),
    );
    let mut ema = recipe.ema.map(|d| Ema::new(varmap, d)).transpose()?;
    let ckpt = dir.checkpoint();
    let mut state = checkpoint::restore(varmap, &mut opt, ema.as_mut(), &ckpt, recipe.epochs)?;
    let params = init::num_trainable(varmap);
    eprintln!("{}", task.describe(params));
    let schedule = Schedule {
        kind: recipe.schedule,
        base_lr: recipe.lr,
        warmup_epochs: recipe.warmup_epochs,
        milestones: recipe.milestones.clone(),
        epochs: recipe.epochs,
    };
    let items = task.train_items();
    let batches = items.len().div_ceil(recipe.batch_size);
    for epoch in state.epochs_done..recipe.epochs {
        let started = Instant::now();
        let mut rng = rng_for(recipe.seed, streams::EPOCH + epoch as u64);
        let order: Vec<usize> = permutation(&mut rng, items.len())
            .into_iter()
            .map(|i| items[i])
            .collect();
        let bar = crate::progress::bar(batches as u64, &format!("epoch {}", epoch + 1));
        let (mut loss_sum, mut correct, mut seen, mut labelled) = (0f64, 0usize, 0usize, 0usize);
        let (mut masked_sum, mut stepped) = (Vec::<f64>::new(), 0usize);
        let mut lr = recipe.lr;
        for (b, chunk) in order.chunks(recipe.batch_size).enumerate() {
            if chunk.len() < 2 {
                continue; // batch norm needs two samples
            }
            lr = schedule.lr(epoch as f64 + b as f64 / batches as f64);
            let step = task.step(epoch, chunk, &mut rng)?;
            if masked_sum.len() < step.masked.len() {
                masked_sum.resize(step.masked.len(), 0.0);
            }
            for (acc, m) in masked_sum.iter_mut().zip(&step.masked) {
                *acc += m;
            }
            stepped += 1;
            let loss_v = finite_loss(&step.loss, epoch, recipe.lr)?;
            opt.step(&step.loss.backward()?, lr)?;
            if let Some(e) = ema.as_mut() {
                e.update(opt.steps)?;
            }
            let pred = step.logits.argmax(1)?.to_vec1::<u32>()?;
            correct += pred
                .iter()
                .zip(&step.labels)
                .filter(|(p, l)| **l == Some(**p as usize))
                .count();
            labelled += step.labels.iter().flatten().count();
            seen += step.labels.len();
            loss_sum += loss_v * step.labels.len() as f64;
            bar.set_message(format!("loss {:.3}", loss_sum / seen as f64));
            bar.inc(1);
        }
        bar.finish_and_clear();
        let test = if epoch + 1 == recipe.epochs || (epoch + 1) % recipe.eval_every == 0 {
            Some(with_average(&mut ema, || task.evaluate_after(epoch + 1))?)
        } else {
            None
        };
        let rec = EpochRecord {
            epoch: epoch + 1,
            lr,
            train_loss: loss_sum / seen.max(1) as f64,
            train_top1: correct as f64 / labelled.max(1) as f64,
            test_loss: test.as_ref().map(|t| t.loss),
            test_top1: test.as_ref().map(|t| t.top1),
            test_top5: test.as_ref().map(|t| t.top5),
            seconds: started.elapsed().as_secs_f64(),
            masked_fraction: masked_sum
                .iter()
                .map(|m| m / stepped.max(1) as f64)
                .collect(),
        };
        log_epoch(&rec, recipe.epochs);
        state.seconds += rec.seconds;
        state.history.push(rec);
        state.epochs_done = epoch + 1;
        state.steps = opt.steps;
        checkpoint::save(varmap, &opt, ema.as_ref(), &state, &ckpt)?;
        on_epoch(&state)?;
        crash_for_testing(epoch + 1);
    }
    if let Some(e) = ema.as_mut() {
        e.swap()?; // the final evaluation and the saved model use the average
    }
    finish(task, &state, params, dir)
}

/// `f` run with the weight average in place of the raw weights (when there is one).
fn with_average<T>(ema: &mut Option<Ema>, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let Some(e) = ema.as_mut() else {
        return f();
    };
    e.swap()?;
    let out = f();
    e.swap()?;
    out
}

/// The final evaluation, weights and `metrics.json`.
fn finish(
    task: &impl Task,
    state: &TrainState,
    params: usize,
    dir: &RunDir,
) -> Result<(Metrics, Evaluation)> {
    let test = task.evaluate()?;
    weights::save(&dir.model(), &weights::varmap_tensors(task.varmap()), None)?;
    let metrics = Metrics {
        test_top1: test.top1,
        test_top5: test.top5,
        test_loss: test.loss,
        train_top1: state.history.last().map(|r| r.train_top1).unwrap_or(0.0),
        epochs: state.epochs_done,
        classes: task.classes().to_vec(),
        seconds: state.seconds,
        params,
        train_samples: task.train_items().len(),
        test_samples: task.test_len(),
        per_class: test.per_class.clone(),
        confusion: test.confusion.clone(),
        skipped_files: task.skipped_files(),
        history: state.history.clone(),
        streams_top1: task.streams_top1()?,
    };
    crate::io::write_json(&dir.metrics(), &metrics)?;
    Ok((metrics, test))
}

/// The loss as a number, or an error saying training diverged and what to do.
fn finite_loss(loss: &Tensor, epoch: usize, lr: f64) -> Result<f64> {
    let v = loss.to_scalar::<f32>()? as f64;
    if !v.is_finite() {
        return Err(Error::Diverged {
            epoch: epoch + 1,
            loss: v,
            lr,
        });
    }
    Ok(v)
}

/// One line per epoch on stderr.
fn log_epoch(rec: &EpochRecord, epochs: usize) {
    eprintln!(
        "epoch {:>3}/{}  lr {:.4}  loss {:.4}  train {:.3}{}  ({:.1} s)",
        rec.epoch,
        epochs,
        rec.lr,
        rec.train_loss,
        rec.train_top1,
        rec.test_top1
            .map(|a| format!("  test {a:.3}"))
            .unwrap_or_default(),
        rec.seconds
    );
}

/// Testing hook: `SKELCAM_ABORT_AFTER_EPOCH=N` aborts the process (like `kill -9`, no clean-up) right after
/// epoch N's checkpoint, so tests can check that `--resume` reproduces an uninterrupted run exactly.
fn crash_for_testing(epoch: usize) {
    if std::env::var("SKELCAM_ABORT_AFTER_EPOCH")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        == Some(epoch)
    {
        eprintln!("aborting after epoch {epoch} (SKELCAM_ABORT_AFTER_EPOCH)");
        std::process::abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::metrics::evaluate;
    use candle_core::{DType, Device};

    /// Four items a batch, every other one without a label; the logits always say class 0.
    struct HalfUnlabelled {
        varmap: VarMap,
        w: Tensor,
        items: Vec<usize>,
        classes: Vec<String>,
    }

    impl Task for HalfUnlabelled {
        fn varmap(&self) -> &VarMap {
            &self.varmap
        }
        fn train_items(&self) -> &[usize] {
            &self.items
        }
        fn step(&self, _: usize, batch: &[usize], _: &mut StdRng) -> Result<Step> {
            let rows: Vec<f32> = batch.iter().flat_map(|_| [1.0, 0.0]).collect();
            let logits = Tensor::from_vec(rows, (batch.len(), 2), &Device::Cpu)?;
            let logits = logits.broadcast_add(&(&self.w * 0.0)?)?;
            Ok(Step {
                loss: self.w.sqr()?.sum_all()?,
                logits,
                labels: batch.iter().map(|&i| (i % 2 == 0).then_some(0)).collect(),
                masked: vec![],
            })
        }
        fn evaluate(&self) -> Result<Evaluation> {
            Ok(evaluate(&[vec![1.0, 0.0]], &[0], 2, 0.0))
        }
        fn describe(&self, _: usize) -> String {
            "stub".into()
        }
        fn classes(&self) -> &[String] {
            &self.classes
        }
        fn test_len(&self) -> usize {
            1
        }
        fn skipped_files(&self) -> Vec<String> {
            vec![]
        }
    }

    #[test]
    fn items_without_a_label_count_in_the_loss_but_not_in_the_training_accuracy() {
        let varmap = VarMap::new();
        let w = varmap
            .get(
                1,
                "w",
                candle_nn::Init::Const(0.5),
                DType::F32,
                &Device::Cpu,
            )
            .unwrap();
        let task = HalfUnlabelled {
            varmap,
            w,
            items: (0..8).collect(),
            classes: vec!["a".into(), "b".into()],
        };
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::create(&dir.path().join("run"), false).unwrap();
        let recipe = ImageTrainConfig {
            epochs: 1,
            batch_size: 4,
            ..Default::default()
        }
        .recipe();
        let (metrics, _) = fit(&task, &recipe, &run, &mut |_| Ok(())).unwrap();
        // Every labelled item is right; counting the unlabelled ones as wrong would give 0.5.
        assert_eq!(metrics.history[0].train_top1, 1.0);
        assert!(metrics.history[0].train_loss > 0.0);
    }
}

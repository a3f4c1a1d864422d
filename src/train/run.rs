//! What every training loop shares: the progress state saved in each checkpoint, the atomic checkpoint of
//! model + optimiser + state, its exact restore, the per-epoch log line, and the crash hook used by tests.

use super::checkpoint;
use super::optim::Optimizer;
use super::skeleton::EpochRecord;
use crate::{Error, Result};
use candle_core::Tensor;
use candle_nn::VarMap;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

/// Training progress saved with every checkpoint.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct TrainState {
    pub epochs_done: usize,
    pub steps: u64,
    pub seconds: f64,
    pub history: Vec<EpochRecord>,
}

/// Model variables (prefixed `model.`), optimiser state and progress in one file, written atomically.
pub fn save_checkpoint(
    varmap: &VarMap,
    opt: &Optimizer,
    state: &TrainState,
    path: &Path,
) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = checkpoint::varmap_tensors(varmap)
        .into_iter()
        .map(|(k, v)| (format!("model.{k}"), v))
        .collect();
    tensors.extend(opt.state());
    let meta = HashMap::from([("state".to_string(), serde_json::to_string(state)?)]);
    checkpoint::save(path, &tensors, Some(meta))
}

/// Restore model, optimiser and progress from `path` if it exists (a fresh state otherwise).
pub fn restore(
    varmap: &VarMap,
    opt: &mut Optimizer,
    path: &Path,
    epochs: usize,
) -> Result<TrainState> {
    if !path.is_file() {
        return Ok(TrainState::default());
    }
    let (tensors, meta) = checkpoint::load(path)?;
    checkpoint::load_into(varmap, &tensors, "model.", path)?;
    let state: TrainState =
        serde_json::from_str(meta.get("state").map(String::as_str).unwrap_or("{}"))
            .map_err(|e| Error::data(path, format!("bad training state: {e}")))?;
    opt.load_state(&tensors, state.steps);
    eprintln!(
        "resuming {} after epoch {} of {epochs}",
        path.parent().unwrap_or(path).display(),
        state.epochs_done
    );
    Ok(state)
}

/// The loss as a number, or an error saying training diverged and what to do.
pub fn finite_loss(loss: &candle_core::Tensor, epoch: usize, lr: f64) -> Result<f64> {
    let v = loss.to_scalar::<f32>()? as f64;
    if !v.is_finite() {
        return Err(Error::Other(format!(
            "training diverged at epoch {} (loss {v}); lower --lr (now {lr})",
            epoch + 1
        )));
    }
    Ok(v)
}

/// One line per epoch on stderr.
pub fn log_epoch(rec: &EpochRecord, epochs: usize) {
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
pub fn crash_for_testing(epoch: usize) {
    if std::env::var("SKELCAM_ABORT_AFTER_EPOCH")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        == Some(epoch)
    {
        eprintln!("aborting after epoch {epoch} (SKELCAM_ABORT_AFTER_EPOCH)");
        std::process::abort();
    }
}

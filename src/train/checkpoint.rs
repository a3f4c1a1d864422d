//! The training checkpoint: model variables (prefixed `model.`), optimiser state, the weight average
//! (`ema.`, when the run keeps one) and progress in one safetensors file, written atomically after every
//! epoch, and its exact restore for `--resume`.

use super::ema::Ema;
use super::optim::Optimizer;
use super::record::TrainState;
use crate::models::weights;
use crate::{Error, Result};
use candle_core::Tensor;
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

/// Model variables, optimiser state, the weight average (when kept) and progress in one file, written
/// atomically.
pub fn save(
    varmap: &VarMap,
    opt: &Optimizer,
    ema: Option<&Ema>,
    state: &TrainState,
    path: &Path,
) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = weights::varmap_tensors(varmap)
        .into_iter()
        .map(|(k, v)| (format!("model.{k}"), v))
        .collect();
    tensors.extend(opt.state());
    if let Some(e) = ema {
        tensors.extend(e.state());
    }
    let meta = HashMap::from([("state".to_string(), serde_json::to_string(state)?)]);
    weights::save(path, &tensors, Some(meta))
}

/// Restore model, optimiser, weight average and progress from `path` if it exists (a fresh state
/// otherwise).
pub fn restore(
    varmap: &VarMap,
    opt: &mut Optimizer,
    ema: Option<&mut Ema>,
    path: &Path,
    epochs: usize,
) -> Result<TrainState> {
    if !path.is_file() {
        return Ok(TrainState::default());
    }
    let (tensors, meta) = weights::load(path)?;
    weights::load_into(varmap, &tensors, "model.", path)?;
    let state: TrainState =
        serde_json::from_str(meta.get("state").map(String::as_str).unwrap_or("{}"))
            .map_err(|e| Error::data(path, format!("bad training state: {e}")))?;
    opt.load_state(&tensors, state.steps);
    if let Some(e) = ema {
        if !e.load_state(&tensors)? && state.epochs_done > 0 {
            return Err(Error::data(
                path,
                "the run keeps a weight average (`ema`) but this checkpoint holds none; \
                 start the run again with --force",
            ));
        }
    }
    eprintln!(
        "resuming {} after epoch {} of {epochs}",
        path.parent().unwrap_or(path).display(),
        state.epochs_done
    );
    Ok(state)
}

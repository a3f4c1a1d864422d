//! The training checkpoint: model variables (prefixed `model.`), optimiser state and progress in one
//! safetensors file, written atomically after every epoch, and its exact restore for `--resume`.

use super::optim::Optimizer;
use super::record::TrainState;
use crate::models::weights;
use crate::{Error, Result};
use candle_core::Tensor;
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

/// Model variables, optimiser state and progress in one file, written atomically.
pub fn save(varmap: &VarMap, opt: &Optimizer, state: &TrainState, path: &Path) -> Result<()> {
    let mut tensors: HashMap<String, Tensor> = weights::varmap_tensors(varmap)
        .into_iter()
        .map(|(k, v)| (format!("model.{k}"), v))
        .collect();
    tensors.extend(opt.state());
    let meta = HashMap::from([("state".to_string(), serde_json::to_string(state)?)]);
    weights::save(path, &tensors, Some(meta))
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
    let (tensors, meta) = weights::load(path)?;
    weights::load_into(varmap, &tensors, "model.", path)?;
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

//! Weights on disk: named tensors plus JSON metadata in one safetensors file, written atomically, and their
//! transfer into a model's variables (every parameter present, every shape checked).

use crate::{Error, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::VarMap;
use std::collections::HashMap;
use std::path::Path;

/// Write tensors (and optional string metadata) to `path` atomically.
pub fn save(
    path: &Path,
    tensors: &HashMap<String, Tensor>,
    metadata: Option<HashMap<String, String>>,
) -> Result<()> {
    let mut items: Vec<(&String, &Tensor)> = tensors.iter().collect();
    items.sort_by(|a, b| a.0.cmp(b.0));
    let bytes = safetensors::tensor::serialize(items, metadata)
        .map_err(|e| Error::Other(format!("{}: cannot serialise tensors: {e}", path.display())))?;
    crate::io::write_atomic(path, &bytes)
}

/// Read all tensors and the metadata of a safetensors file.
pub fn load(path: &Path) -> Result<(HashMap<String, Tensor>, HashMap<String, String>)> {
    let bytes = crate::io::read(path)?;
    let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
        .map_err(|e| Error::data(path, format!("not a readable safetensors file: {e}")))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| Error::data(path, format!("not a readable safetensors file: {e}")))?;
    Ok((tensors, meta.metadata().clone().unwrap_or_default()))
}

/// Every variable of `varmap` under its name.
pub fn varmap_tensors(varmap: &VarMap) -> HashMap<String, Tensor> {
    let data = varmap.data().lock().expect("varmap lock");
    data.iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().copy().expect("copy tensor")))
        .collect()
}

/// Set every variable of `varmap` from `tensors` (with `prefix` on the names); a missing or misshapen
/// parameter is an error naming it.
pub fn load_into(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    prefix: &str,
    origin: &Path,
) -> Result<()> {
    load_mapped(varmap, tensors, origin, |name| {
        Some(format!("{prefix}{name}"))
    })
}

/// Set the variables of `varmap` for which `key` names a tensor in `tensors` (variables mapped to `None`
/// are left alone); a missing or misshapen tensor is an error naming it.
pub fn load_mapped(
    varmap: &VarMap,
    tensors: &HashMap<String, Tensor>,
    origin: &Path,
    key: impl Fn(&str) -> Option<String>,
) -> Result<()> {
    let data = varmap.data().lock().expect("varmap lock");
    for (name, var) in data.iter() {
        let Some(key) = key(name) else { continue };
        let t = tensors.get(&key).ok_or_else(|| {
            Error::data(
                origin,
                format!("parameter '{key}' is missing: the file does not match this model"),
            )
        })?;
        if t.shape() != var.shape() {
            return Err(Error::data(
                origin,
                format!(
                    "parameter '{key}' has shape {:?}, the model expects {:?}",
                    t.dims(),
                    var.dims()
                ),
            ));
        }
        // Half or double precision (saved by another tool) is read as f32; integers are not weights.
        let t = match t.dtype() {
            DType::F32 => t.clone(),
            DType::F16 | DType::BF16 | DType::F64 => t.to_dtype(DType::F32)?,
            other => {
                return Err(Error::data(
                    origin,
                    format!("parameter '{key}' holds {other:?} values, not floating-point weights"),
                ))
            }
        };
        let finite = t
            .flatten_all()?
            .to_vec1::<f32>()?
            .iter()
            .all(|x| x.is_finite());
        if !finite {
            return Err(Error::data(
                origin,
                format!(
                    "parameter '{key}' holds NaN or infinite values: the training diverged or the file is \
                     damaged; retrain it (with a lower --lr) or restore the file"
                ),
            ));
        }
        var.set(&t)?;
    }
    Ok(())
}

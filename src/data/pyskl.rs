//! pyskl and mmaction2 annotation pickles: `{"split": {name: [frame_dir, …]}, "annotations": [dict, …]}` or
//! a bare list of annotation dicts, each with `frame_dir`, `label`, `keypoint` (M × T × V × C, float16 or
//! float32; C = 3 for 3-D poses, 2 for 2-D ones with `keypoint_score` M × T × V as a third channel). Read
//! through the restricted unpickler (protocols 2 to 5, `numpy.core` and `numpy._core` names); the split
//! lists become the dataset's named parts.

use super::pickle::{self, NdArray, Value};
use super::{Dataset, Layout, Sequence};
use crate::{Error, Result};
use ndarray::{Array4, Axis};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

fn get<'a>(d: &'a [(Value, Value)], key: &str) -> Option<&'a Value> {
    d.iter().find_map(|(k, v)| match k {
        Value::Str(s) if s == key => Some(v),
        _ => None,
    })
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Str(s) => Some(s.clone()),
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        _ => None,
    }
}

/// One annotation as a sequence (C, T, V, M).
fn sequence(
    ann: &[(Value, Value)],
    i: usize,
    path: &Path,
    layout: &Layout,
    max_persons: usize,
) -> Result<Sequence> {
    let bad = |what: String| Error::data(path, format!("annotation {i}: {what}"));
    let name = get(ann, "frame_dir")
        .and_then(text)
        .ok_or_else(|| bad("no frame_dir".into()))?;
    let bad = |what: String| Error::data(path, format!("annotation {i} ({name}): {what}"));
    let label = match get(ann, "label") {
        Some(Value::Int(l)) if *l >= 0 && (*l as usize) < super::stgcn_npy::MAX_CLASSES => {
            *l as usize
        }
        other => return Err(bad(format!("label {other:?} is not a class number"))),
    };
    let kp = match get(ann, "keypoint") {
        Some(Value::Array(a)) => a,
        _ => return Err(bad("no keypoint array".into())),
    };
    if kp.shape.len() != 4 {
        return Err(bad(format!(
            "keypoint has shape {:?}; expected (M, T, V, C)",
            kp.shape
        )));
    }
    let (m, t, v, c) = (kp.shape[0], kp.shape[1], kp.shape[2], kp.shape[3]);
    if v != layout.num_joints() {
        return Err(bad(format!(
            "{v} joints, but layout {} has {}; pass the layout the file was made for",
            layout.name,
            layout.num_joints()
        )));
    }
    let values = kp.to_f32().map_err(bad)?;
    let mut arr = Array4::from_shape_vec((m, t, v, c), values)
        .map_err(|e| bad(e.to_string()))?
        .permuted_axes([3, 1, 2, 0]);
    if c == 2 {
        // 2-D poses: the score is the third channel, as in ST-GCN's Kinetics files.
        let score: &NdArray = match get(ann, "keypoint_score") {
            Some(Value::Array(s)) if s.shape == [m, t, v] => s,
            _ => {
                return Err(bad(
                    "2-D keypoints without a keypoint_score of shape (M, T, V)".into(),
                ))
            }
        };
        let s = Array4::from_shape_vec((m, t, v, 1), score.to_f32().map_err(bad)?)
            .map_err(|e| bad(e.to_string()))?
            .permuted_axes([3, 1, 2, 0]);
        arr = ndarray::concatenate(Axis(0), &[arr.view(), s.view()])
            .map_err(|e| bad(e.to_string()))?;
    }
    if arr.iter().any(|x| !x.is_finite()) {
        return Err(bad("keypoints hold NaN or Inf".into()));
    }
    let keep = m.min(max_persons.max(1));
    let data = arr
        .slice_axis(Axis(3), (0..keep).into())
        .as_standard_layout()
        .to_owned();
    Ok(Sequence::labelled(name, label, data))
}

/// Read an annotation pickle.
pub fn load_file(path: &Path, layout: &Layout, max_persons: usize) -> Result<Dataset> {
    let bytes = crate::io::read(path)?;
    let root = pickle::load(&bytes).map_err(|e| Error::data(path, e))?;
    let (split, anns) = match &root {
        Value::Dict(d) => (
            get(d, "split"),
            get(d, "annotations")
                .ok_or_else(|| Error::data(path, "a dict without 'annotations'"))?,
        ),
        list @ Value::List(_) => (None, list),
        _ => {
            return Err(Error::data(
                path,
                "neither a dict with 'annotations' nor a list of annotations",
            ))
        }
    };
    let Value::List(anns) = anns else {
        return Err(Error::data(path, "'annotations' is not a list"));
    };
    let mut samples = Vec::with_capacity(anns.len());
    let bar = crate::progress::bar(anns.len() as u64, "reading");
    for (i, a) in anns.iter().enumerate() {
        let Value::Dict(d) = a else {
            return Err(Error::data(path, format!("annotation {i} is not a dict")));
        };
        samples.push(sequence(d, i, path, layout, max_persons)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let index: HashMap<&str, usize> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut parts = BTreeMap::new();
    if let Some(Value::Dict(split)) = split {
        for (k, v) in split {
            let (Some(name), Value::List(dirs)) = (text(k), v) else {
                return Err(Error::data(
                    path,
                    "a split entry that is not a name and a list",
                ));
            };
            let idx = dirs
                .iter()
                .map(|d| {
                    let d = text(d).unwrap_or_default();
                    index.get(d.as_str()).copied().ok_or_else(|| {
                        Error::data(
                            path,
                            format!("split '{name}' lists '{d}', which no annotation has"),
                        )
                    })
                })
                .collect::<Result<Vec<_>>>()?;
            parts.insert(name, idx);
        }
    }
    let classes = samples.iter().map(|s| s.label + 1).max().unwrap_or(0);
    Ok(Dataset {
        classes: (0..classes).map(|i| i.to_string()).collect(),
        layout: layout.clone(),
        samples,
        skipped: vec![],
        warnings: vec![],
        gt_joints: None,
        parts,
        files: vec![],
    })
}

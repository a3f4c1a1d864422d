//! Kinetics-skeleton JSON (ST-GCN's release of OpenPose on Kinetics-400): a folder with `kinetics_train/`
//! and `kinetics_val/` (one JSON file per video: frames with `frame_index` and per-person `pose` [x0, y0, …]
//! and `score`) and the label files `kinetics_{train,val}_label.json` ({video: {has_skeleton, label,
//! label_index}}). Read as ST-GCN's feeder does: x and y centred by −0.5, joints with score 0 zeroed, the
//! score as the third channel, and in every frame the persons ranked by their summed score, keeping M.

use super::{Dataset, Layout, Sequence};
use crate::{Error, Result};
use ndarray::Array4;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Persons read per frame before ranking (as the feeder's `num_person_in`).
const PERSONS_IN: usize = 5;
/// The last frame index a file may name (the videos are at most 10 s long; this bounds memory).
pub const MAX_FRAMES: usize = 10_000;

#[derive(Deserialize)]
struct Video {
    data: Vec<Frame>,
}

#[derive(Deserialize)]
struct Frame {
    frame_index: usize,
    skeleton: Vec<Person>,
}

#[derive(Deserialize)]
struct Person {
    pose: Vec<f32>,
    score: Vec<f32>,
}

#[derive(Deserialize)]
struct LabelEntry {
    has_skeleton: bool,
    label_index: usize,
}

fn video(path: &Path, v: usize, persons: usize) -> Result<Option<Array4<f32>>> {
    let text = crate::io::read_to_string(path)?;
    let vid: Video = serde_json::from_str(&text).map_err(|e| {
        Error::at_line(path, e.line(), format!("not a Kinetics-skeleton file: {e}"))
    })?;
    let t = vid
        .data
        .iter()
        .map(|f| f.frame_index + 1)
        .max()
        .unwrap_or(0);
    if t > MAX_FRAMES {
        return Err(Error::data(
            path,
            format!("frame_index {} is beyond {MAX_FRAMES}", t - 1),
        ));
    }
    if t == 0 {
        return Ok(None);
    }
    let mut d = Array4::<f32>::zeros((3, t, v, PERSONS_IN));
    for f in &vid.data {
        for (m, p) in f.skeleton.iter().take(PERSONS_IN).enumerate() {
            if p.pose.len() != 2 * v || p.score.len() != v {
                return Err(Error::data(path, format!(
                    "frame {}: a person with {} pose values and {} scores; the layout needs {} and {v}",
                    f.frame_index,
                    p.pose.len(),
                    p.score.len(),
                    2 * v
                )));
            }
            for j in 0..v {
                let (x, y, s) = (p.pose[2 * j], p.pose[2 * j + 1], p.score[j]);
                if !(x.is_finite() && y.is_finite() && s.is_finite()) {
                    return Err(Error::data(
                        path,
                        format!("frame {}: NaN or Inf", f.frame_index),
                    ));
                }
                // Centred, and zero wherever the detector gave no score.
                let (x, y) = if s == 0.0 {
                    (0.0, 0.0)
                } else {
                    (x - 0.5, y - 0.5)
                };
                d[[0, f.frame_index, j, m]] = x;
                d[[1, f.frame_index, j, m]] = y;
                d[[2, f.frame_index, j, m]] = s;
            }
        }
    }
    // In every frame, persons by their summed score, highest first (ties keep their order).
    let mut out = Array4::<f32>::zeros((3, t, v, persons));
    for f in 0..t {
        let total = |m: usize| (0..v).map(|j| d[[2, f, j, m]]).sum::<f32>();
        let mut order: Vec<usize> = (0..PERSONS_IN).collect();
        order.sort_by(|&a, &b| total(b).total_cmp(&total(a)));
        for (slot, &m) in order.iter().take(persons).enumerate() {
            for c in 0..3 {
                for j in 0..v {
                    out[[c, f, j, slot]] = d[[c, f, j, m]];
                }
            }
        }
    }
    Ok(Some(out))
}

fn part(
    dir: &Path,
    name: &str,
    layout: &Layout,
    persons: usize,
    warnings: &mut Vec<String>,
) -> Result<Vec<Sequence>> {
    let label_path = dir.join(format!("kinetics_{name}_label.json"));
    let text = crate::io::read_to_string(&label_path)?;
    let labels: BTreeMap<String, LabelEntry> = serde_json::from_str(&text).map_err(|e| {
        Error::at_line(
            &label_path,
            e.line(),
            format!("not a Kinetics label file: {e}"),
        )
    })?;
    let folder = dir.join(format!("kinetics_{name}"));
    let mut out = Vec::new();
    let bar = crate::progress::bar(labels.len() as u64, name);
    for (id, l) in &labels {
        bar.inc(1);
        if !l.has_skeleton {
            continue;
        }
        if l.label_index >= super::stgcn_npy::MAX_CLASSES {
            return Err(Error::data(
                &label_path,
                format!("{id}: label_index {} is too large", l.label_index),
            ));
        }
        let path = folder.join(format!("{id}.json"));
        match video(&path, layout.num_joints(), persons)? {
            Some(data) => out.push(Sequence::labelled(id.clone(), l.label_index, data)),
            None => warnings.push(format!("{}: no frames: skipped", path.display())),
        }
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Read a Kinetics-skeleton folder.
pub fn load_dir(dir: &Path, layout: &Layout, max_persons: usize) -> Result<Dataset> {
    let persons = max_persons.clamp(1, PERSONS_IN);
    let mut warnings = Vec::new();
    let train = part(dir, "train", layout, persons, &mut warnings)?;
    let val = part(dir, "val", layout, persons, &mut warnings)?;
    Ok(Dataset::from_parts(
        layout,
        vec![("train", train), ("val", val)],
        warnings,
    ))
}

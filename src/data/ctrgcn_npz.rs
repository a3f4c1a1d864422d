//! CTR-GCN's NTU archives (`NTU60_CS.npz`, …): `x_train` / `x_test` float32 N × T × (M·V·C) (two bodies ×
//! 25 joints × xyz, zeros for a missing body) and one-hot `y_train` / `y_test`. The arrays are streamed
//! sample by sample from the archive; `x_train` is the training part, `x_test` the test part.

use super::stgcn_npy::{check_fits, open_npy, report_empty, stream_samples, trimmed, MAX_CLASSES};
use super::{Dataset, Layout, Sequence};
use crate::{Error, Result};
use ndarray::Array4;
use std::path::Path;

/// Persons per sample in CTR-GCN's archives.
const PERSONS: usize = 2;

type Archive = zip::ZipArchive<std::io::BufReader<std::fs::File>>;
type Entry<'a> = zip::read::ZipFile<'a, std::io::BufReader<std::fs::File>>;
type Array<'a> = npyz::NpyFile<std::io::Chain<std::io::Cursor<Vec<u8>>, Entry<'a>>>;

/// The array `key` of the archive, its header read, and the size of its member in bytes.
fn array<'a>(npz: &'a mut Archive, path: &Path, key: &str) -> Result<(Array<'a>, u64)> {
    let entry = npz.by_name(&format!("{key}.npy")).map_err(|e| {
        Error::data(path, format!("{key}: {e} (archives written by np.savez are read; np.savez_compressed ones are not)"))
    })?;
    let size = entry.size();
    Ok((open_npy(entry, path, key)?, size))
}

/// The class of every row of a one-hot label array.
fn labels(npz: &mut Archive, path: &Path, key: &str) -> Result<Vec<usize>> {
    // Read value by value into a growing vector: the shape alone allocates nothing here.
    let (y, _) = array(npz, path, key)?;
    let shape: Vec<usize> = y.shape().iter().map(|&d| d as usize).collect();
    if shape.len() != 2 || shape[1] == 0 || shape[1] > MAX_CLASSES {
        return Err(Error::data(
            path,
            format!("{key} has shape {shape:?}; expected (N, classes) one-hot"),
        ));
    }
    let vals: Vec<f64> = y
        .into_vec::<f64>()
        .map_err(|e| Error::data(path, format!("{key}: {e} (float64 one-hot rows expected)")))?;
    vals.chunks(shape[1])
        .enumerate()
        .map(|(i, row)| {
            let hot: Vec<usize> = (0..row.len()).filter(|&k| row[k] == 1.0).collect();
            match hot.as_slice() {
                [k] if row.iter().filter(|&&x| x != 0.0).count() == 1 => Ok(*k),
                _ => Err(Error::data(path, format!("{key} row {i} is not one-hot"))),
            }
        })
        .collect()
}

fn part(
    npz: &mut Archive,
    path: &Path,
    name: &str,
    layout: &Layout,
    max_persons: usize,
    warnings: &mut Vec<String>,
) -> Result<Vec<Sequence>> {
    let labels = labels(npz, path, &format!("y_{name}"))?;
    let key = format!("x_{name}");
    let (x, size) = array(npz, path, &key)?;
    let shape: Vec<usize> = x.shape().iter().map(|&d| d as usize).collect();
    let v = layout.num_joints();
    if shape.len() != 3 || shape[2] != PERSONS * v * 3 {
        return Err(Error::data(path, format!(
            "{key} has shape {shape:?}; expected (N, T, {}) for 2 persons × {v} joints of layout {} × xyz",
            PERSONS * v * 3,
            layout.name
        )));
    }
    check_fits(path, &key, &shape, 4, size)?;
    let (n, t) = (shape[0], shape[1]);
    if n != labels.len() {
        return Err(Error::data(
            path,
            format!(
                "{key} has {n} samples but y_{name} has {} rows",
                labels.len()
            ),
        ));
    }
    let keep = PERSONS.min(max_persons.max(1));
    let name_of = |i: usize| format!("{name}{i:06}");
    let samples = stream_samples(x, path, n, t * PERSONS * v * 3, &key, |i, flat| {
        // (T, M, V, C) as stored → (C, T, V, M).
        let full = Array4::from_shape_vec((t, PERSONS, v, 3), flat)
            .expect("the sample's size")
            .permuted_axes([3, 0, 2, 1])
            .as_standard_layout()
            .to_owned();
        Ok(trimmed(full, keep).map(|data| Sequence::labelled(name_of(i), labels[i], data)))
    })?;
    report_empty(&samples, path, &name_of, warnings);
    Ok(samples.into_iter().flatten().collect())
}

/// Read a CTR-GCN archive.
pub fn load_file(path: &Path, layout: &Layout, max_persons: usize) -> Result<Dataset> {
    let file = crate::io::open(path)?;
    let mut npz = zip::ZipArchive::new(std::io::BufReader::new(file))
        .map_err(|e| Error::data(path, format!("not a readable .npz archive: {e}")))?;
    let mut warnings = Vec::new();
    let train = part(&mut npz, path, "train", layout, max_persons, &mut warnings)?;
    let test = part(&mut npz, path, "test", layout, max_persons, &mut warnings)?;
    Ok(Dataset::from_parts(
        layout,
        vec![("train", train), ("test", test)],
        warnings,
    ))
}

//! The preprocessed files of ST-GCN and 2s-AGCN: a folder with `{train,val}_data.npy` (or 2s-AGCN's
//! `{train,val}_data_joint.npy` / `_data_bone.npy`), float32 (N, C, T, V, M), and `{train,val}_label.pkl`,
//! the pickle of (sample names, 0-based labels). `train_*` is the training part, `val_*` the test part.
//! The arrays are streamed sample by sample (NTU's are several GB), each sample's trailing zero padding is
//! dropped, and the label pickles go through the restricted unpickler.

use super::{pickle, Dataset, Layout, Sequence};
use crate::{Error, Result};
use ndarray::{s, Array4};
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

/// The array file of one part, whichever of the known names it has.
fn data_file(dir: &Path, part: &str) -> Result<PathBuf> {
    for name in [
        format!("{part}_data.npy"),
        format!("{part}_data_joint.npy"),
        format!("{part}_data_bone.npy"),
    ] {
        let p = dir.join(&name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::data(
        dir,
        format!(
            "no {part}_data.npy (or {part}_data_joint.npy / {part}_data_bone.npy) in this folder"
        ),
    ))
}

/// The longest `.npy` header read: its length is a field of the file (up to 4 GiB in format 2), which
/// the `npyz` crate would allocate before reading a byte of it. numpy itself refuses headers over 10,000
/// bytes unless told otherwise.
pub(crate) const MAX_NPY_HEADER: u64 = 1 << 20;

/// The deepest bracket nesting accepted in an `.npy` header.
const MAX_NPY_NESTING: usize = 8;

/// An `.npy` array's reader, its header's length (against [`MAX_NPY_HEADER`]) and bracket nesting checked
/// before `npyz` parses it.
pub(crate) fn open_npy<R: Read>(
    mut r: R,
    path: &Path,
    what: &str,
) -> Result<npyz::NpyFile<std::io::Chain<std::io::Cursor<Vec<u8>>, R>>> {
    let bad = |why: String| Error::data(path, format!("{what}: not a readable .npy array: {why}"));
    let mut pre = vec![0u8; 8];
    r.read_exact(&mut pre)
        .map_err(|_| bad("shorter than the .npy preamble".into()))?;
    if &pre[..6] != b"\x93NUMPY" {
        return Err(bad("it does not start with the .npy magic bytes".into()));
    }
    let width = if pre[6] == 1 { 2 } else { 4 };
    let mut len = vec![0u8; width];
    r.read_exact(&mut len)
        .map_err(|_| bad("shorter than the .npy preamble".into()))?;
    let header = len.iter().rev().fold(0u64, |a, &b| (a << 8) | b as u64);
    if header > MAX_NPY_HEADER {
        return Err(bad(format!(
            "its header says it is {header} bytes long, more than the {MAX_NPY_HEADER} read (a damaged file)"
        )));
    }
    pre.extend(len);
    let start = pre.len();
    pre.resize(start + header as usize, 0);
    r.read_exact(&mut pre[start..])
        .map_err(|_| bad("the file ends inside its header".into()))?;
    // The header is a Python dict literal; the parser `npyz` uses backtracks exponentially in nesting depth
    // (18 unclosed braces took over 10 s). numpy's own headers nest 3 or 4 deep.
    let mut depth = 0usize;
    for &b in &pre[start..] {
        match b {
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NPY_NESTING {
            return Err(bad(format!(
                "its header nests brackets more than {MAX_NPY_NESTING} deep (a damaged file)"
            )));
        }
    }
    npyz::NpyFile::new(std::io::Cursor::new(pre).chain(r)).map_err(|e| bad(e.to_string()))
}

/// Refuse a shape whose values (`bytes` each) need more than the `available` bytes of their file or archive
/// member, before anything is allocated for it: a shape is a field of the file. Every product of its
/// dimensions (a sample's size too) is known not to overflow afterwards, even with a dimension of 0.
pub(crate) fn check_fits(
    path: &Path,
    what: &str,
    shape: &[usize],
    bytes: u64,
    available: u64,
) -> Result<()> {
    let all = shape
        .iter()
        .try_fold(bytes, |a, &d| a.checked_mul(d.max(1) as u64))
        .ok_or_else(|| {
            Error::data(
                path,
                format!("{what}: shape {shape:?}: a size that overflows"),
            )
        })?;
    let need = if shape.contains(&0) { 0 } else { all };
    if need > available {
        return Err(Error::data(
            path,
            format!(
                "{what}: shape {shape:?} needs {need} bytes of data, but there are {available} in all \
                 (a truncated or damaged file)"
            ),
        ));
    }
    Ok(())
}

/// (names, labels) from a label pickle.
fn labels(path: &Path) -> Result<(Vec<String>, Vec<usize>)> {
    let bytes = crate::io::read(path)?;
    let v = pickle::load(&bytes).map_err(|e| Error::data(path, e))?;
    let bad = |what: &str| {
        Error::data(
            path,
            format!("expected a pickle of (sample names, labels): {what}"),
        )
    };
    let parts = match v {
        pickle::Value::Tuple(p) | pickle::Value::List(p) if p.len() == 2 => p,
        _ => return Err(bad("not a pair")),
    };
    let names = match &parts[0] {
        pickle::Value::List(l) => l
            .iter()
            .map(|n| match n {
                pickle::Value::Str(s) => Ok(s.clone()),
                pickle::Value::Bytes(b) => Ok(String::from_utf8_lossy(b).into_owned()),
                _ => Err(bad("a sample name that is not a string")),
            })
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(bad("the names are not a list")),
    };
    let labels = match &parts[1] {
        pickle::Value::List(l) => l
            .iter()
            .map(|n| match n {
                pickle::Value::Int(i) if *i >= 0 => Ok(*i as usize),
                _ => Err(bad("a label that is not a natural number")),
            })
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(bad("the labels are not a list")),
    };
    if names.len() != labels.len() {
        return Err(bad(&format!(
            "{} names but {} labels",
            names.len(),
            labels.len()
        )));
    }
    Ok((names, labels))
}

/// The largest label a file may hold (a class count beyond any dataset in use).
pub const MAX_CLASSES: usize = 100_000;

/// One part: its sequences (trailing zero frames dropped; all-zero samples reported).
fn read_part(
    dir: &Path,
    part: &str,
    layout: &Layout,
    max_persons: usize,
    warnings: &mut Vec<String>,
) -> Result<Vec<Sequence>> {
    let path = data_file(dir, part)?;
    let label_path = dir.join(format!("{part}_label.pkl"));
    let (names, labels) = labels(&label_path)?;
    let file = crate::io::open(&path)?;
    let npy = open_npy(BufReader::new(file), &path, part)?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    if shape.len() != 5 {
        return Err(Error::data(
            &path,
            format!("shape {shape:?}: expected (N, C, T, V, M)"),
        ));
    }
    let (n, c, t, v, m) = (shape[0], shape[1], shape[2], shape[3], shape[4]);
    if v != layout.num_joints() {
        return Err(Error::data(
            &path,
            format!(
                "{v} joints per frame, but layout {} has {}; pass the layout the file was made for",
                layout.name,
                layout.num_joints()
            ),
        ));
    }
    if npy.order() != npyz::Order::C {
        return Err(Error::data(
            &path,
            "Fortran-ordered array: save it in C order",
        ));
    }
    if n != names.len() {
        return Err(Error::data(
            &path,
            format!(
                "{n} samples, but {} lists {} labels",
                label_path.display(),
                names.len()
            ),
        ));
    }
    if let Some(l) = labels.iter().find(|&&l| l >= MAX_CLASSES) {
        return Err(Error::data(
            &label_path,
            format!("label {l} is beyond {MAX_CLASSES} classes"),
        ));
    }
    // The whole file must be there before a sample is built from it.
    let on_disk = std::fs::metadata(&path)
        .map_err(|e| Error::io(&path, e))?
        .len();
    check_fits(&path, part, &shape, 4, on_disk)?;
    let keep_m = m.min(max_persons.max(1));
    let names_of = |i: usize| names[i].trim_end_matches(".skeleton").to_string();
    let samples = stream_samples(npy, &path, n, c * t * v * m, part, |i, flat| {
        let full = Array4::from_shape_vec((c, t, v, m), flat).expect("the sample's size");
        Ok(trimmed(full, keep_m).map(|data| Sequence::labelled(names_of(i), labels[i], data)))
    })?;
    report_empty(&samples, &path, &names_of, warnings);
    Ok(samples.into_iter().flatten().collect())
}

/// The sample without its trailing all-zero frames and with at most `persons` person slots; `None` when
/// every value is zero.
pub(crate) fn trimmed(full: Array4<f32>, persons: usize) -> Option<Array4<f32>> {
    let t = full.shape()[1];
    let last = (0..t)
        .rev()
        .find(|&f| full.slice(s![.., f, .., ..]).iter().any(|&x| x != 0.0))?;
    Some(full.slice(s![.., ..=last, .., ..persons]).to_owned())
}

/// A warning for every sample that was all zero (and so left out).
pub(crate) fn report_empty<T>(
    samples: &[Option<T>],
    path: &Path,
    name: &dyn Fn(usize) -> String,
    warnings: &mut Vec<String>,
) {
    for (i, _) in samples.iter().enumerate().filter(|(_, s)| s.is_none()) {
        warnings.push(format!(
            "{}: sample {i} ({}) is all zero: skipped",
            path.display(),
            name(i)
        ));
    }
}

/// Read `n` samples of `per` float32 values each from an array, streaming, and build each with `make`;
/// a value that is not finite is an error naming the sample.
pub(crate) fn stream_samples<R: std::io::Read, T>(
    npy: npyz::NpyFile<R>,
    path: &Path,
    n: usize,
    per: usize,
    what: &str,
    mut make: impl FnMut(usize, Vec<f32>) -> Result<Option<T>>,
) -> Result<Vec<Option<T>>> {
    let mut values = npy.data::<f32>().map_err(|e| {
        Error::data(
            path,
            format!("the array is not float32 ({e}); save it with .astype(np.float32)"),
        )
    })?;
    let bar = crate::progress::bar(n as u64, what);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let mut flat = Vec::with_capacity(per);
        for _ in 0..per {
            let x = values
                .next()
                .ok_or_else(|| Error::data(path, format!("truncated in sample {i}")))?
                .map_err(|e| Error::data(path, format!("sample {i}: {e}")))?;
            if !x.is_finite() {
                return Err(Error::data(path, format!("sample {i} holds NaN or Inf")));
            }
            flat.push(x);
        }
        out.push(make(i, flat)?);
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(out)
}

/// Both parts of a folder; the dataset's own split is its `train_*` and `val_*` files.
pub fn load_dir(dir: &Path, layout: &Layout, max_persons: usize) -> Result<Dataset> {
    let mut warnings = Vec::new();
    let train = read_part(dir, "train", layout, max_persons, &mut warnings)?;
    let test = read_part(dir, "val", layout, max_persons, &mut warnings)?;
    Ok(Dataset::from_parts(
        layout,
        vec![("train", train), ("val", test)],
        warnings,
    ))
}

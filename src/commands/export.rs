//! `--export npy,csv`: the maps behind the figures as arrays for analysis (`raw.npy`, `normalized.npy`,
//! `cam.csv` per skeleton sample; `raw.npy`, `map.npy` per picture; the class means of `cam-summary`).

use crate::io::{write_atomic, write_npy};
use crate::Result;
use ndarray::{Array2, Array3};
use std::fmt::Write;
use std::path::Path;

/// An array format `--export` can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// NumPy `.npy` files (float32, C order), loadable with `numpy.load`.
    Npy,
    /// Long-format CSV: one row per cell with its frame, person and joint.
    Csv,
}

/// The formats asked for.
#[derive(Debug, Clone, Default)]
pub struct Export(pub Vec<ExportFormat>);

impl Export {
    pub fn npy(&self) -> bool {
        self.0.contains(&ExportFormat::Npy)
    }
    pub fn csv(&self) -> bool {
        self.0.contains(&ExportFormat::Csv)
    }
}

fn npy3(path: &Path, a: &Array3<f32>) -> Result<()> {
    let data: Vec<f32> = a.iter().copied().collect();
    write_npy(path, a.shape(), &data)
}

/// One skeleton sample's map: `raw.npy` (T′×V×M) and `normalized.npy` (frames×V×M), exactly `raw` and
/// `normalized` of `cam.json`, and `cam.csv` (`frame,person,joint,joint_name,value` of the raw map; frame is the feature
/// frame t′, covering input frames t′·stride … t′·stride + stride − 1).
pub fn skeleton_sample(
    dir: &Path,
    ex: &Export,
    raw: &Array3<f32>,
    normalized: &Array3<f32>,
    joints: &[String],
) -> Result<()> {
    if ex.npy() {
        npy3(&dir.join("raw.npy"), raw)?;
        npy3(&dir.join("normalized.npy"), normalized)?;
    }
    if ex.csv() {
        let mut s = String::from("frame,person,joint,joint_name,value\n");
        for ((t, v, m), x) in raw.indexed_iter() {
            let _ = writeln!(s, "{t},{m},{v},{},{x}", csv_field(&joints[v]));
        }
        write_atomic(&dir.join("cam.csv"), s.as_bytes())?;
    }
    Ok(())
}

/// One picture's maps at feature resolution (h′×w′), exactly `raw` and `map` of its `cam.json`: `raw.npy`
/// (the class-weighted features) and `map.npy` (the method's map); `cam.csv` holds `row,col,raw,map`.
pub fn picture(dir: &Path, ex: &Export, raw: &Array2<f32>, map: &Array2<f32>) -> Result<()> {
    if ex.npy() {
        let flat: Vec<f32> = raw.iter().copied().collect();
        write_npy(&dir.join("raw.npy"), raw.shape(), &flat)?;
        let flat: Vec<f32> = map.iter().copied().collect();
        write_npy(&dir.join("map.npy"), map.shape(), &flat)?;
    }
    if ex.csv() {
        let mut s = String::from("row,col,raw,map\n");
        for ((r, c), x) in raw.indexed_iter() {
            let _ = writeln!(s, "{r},{c},{x},{}", map[[r, c]]);
        }
        write_atomic(&dir.join("cam.csv"), s.as_bytes())?;
    }
    Ok(())
}

/// `cam-summary`'s class means: `class_means.npy` (classes × bins × V) and `class_means.csv`
/// (`class,class_name,bin,joint,joint_name,value`).
pub fn class_means(
    dir: &Path,
    ex: &Export,
    means: &[Array2<f32>],
    classes: &[String],
    joints: &[String],
) -> Result<()> {
    let (bins, v) = means.first().map(|m| m.dim()).unwrap_or((0, joints.len()));
    if ex.npy() {
        let flat: Vec<f32> = means.iter().flat_map(|m| m.iter().copied()).collect();
        write_npy(&dir.join("class_means.npy"), &[means.len(), bins, v], &flat)?;
    }
    if ex.csv() {
        let mut s = String::from("class,class_name,bin,joint,joint_name,value\n");
        for (k, m) in means.iter().enumerate() {
            for ((b, j), x) in m.indexed_iter() {
                let _ = writeln!(
                    s,
                    "{k},{},{b},{j},{},{x}",
                    csv_field(&classes[k]),
                    csv_field(&joints[j])
                );
            }
        }
        write_atomic(&dir.join("class_means.csv"), s.as_bytes())?;
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma, quote or line break.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

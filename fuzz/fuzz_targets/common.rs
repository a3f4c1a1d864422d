//! Shared by the fuzz targets: the readers take paths, so each input is written to a file in a per-process
//! folder first.
#![allow(dead_code)]

use std::path::PathBuf;

/// A per-process scratch folder.
pub fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("skelcam-fuzz-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Write `data` to `name` in the scratch folder and return its path.
pub fn file(name: &str, data: &[u8]) -> PathBuf {
    let p = scratch().join(name);
    std::fs::write(&p, data).unwrap();
    p
}

pub fn layout(name: &str) -> skelcam::data::Layout {
    skelcam::data::Layout::resolve(name).unwrap()
}

//! The run directory: the one place that knows its file names, creates it without clobbering (unless
//! `--force`), checks it before `--resume`, and tells a finished run from an interrupted one.
//!
//! A run directory holds `config.json` (everything needed to rebuild the model and its data pipeline),
//! `checkpoint.safetensors` (model + optimiser + progress after the last epoch, for exact resume),
//! `model.safetensors` (the final weights), `metrics.json`, and the figures `curves.png`, `confusion.png`
//! (and `masks.png` for RA-GCN).

use crate::{Error, Result};
use std::path::{Path, PathBuf};

/// A run directory on disk.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

/// The files a run directory owns; nothing else in skelcam spells these names.
const CONFIG: &str = "config.json";
const CHECKPOINT: &str = "checkpoint.safetensors";
const MODEL: &str = "model.safetensors";
const METRICS: &str = "metrics.json";
const CURVES: &str = "curves.png";
const CONFUSION: &str = "confusion.png";
const MASKS: &str = "masks.png";

impl RunDir {
    /// A run directory to create for a new run: a new or empty folder, or with `force` an existing one
    /// whose earlier results are removed first, so nothing stale can be read after an interrupted run.
    pub fn create(path: &Path, force: bool) -> Result<Self> {
        crate::io::prepare_out_dir(path, force)?;
        let dir = RunDir {
            path: path.to_path_buf(),
        };
        for name in [CHECKPOINT, MODEL, METRICS] {
            match std::fs::remove_file(dir.path.join(name)) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(Error::io(dir.path.join(name), e))
                }
                _ => {}
            }
        }
        Ok(dir)
    }

    /// An existing run directory (one with a `config.json`) of `kind` ("a skeleton", "an image").
    pub fn open(path: &Path, kind: &'static str) -> Result<Self> {
        let dir = RunDir {
            path: path.to_path_buf(),
        };
        if !path.is_dir() {
            return Err(Error::NotARun {
                path: path.to_path_buf(),
                kind,
                why: "no such folder".into(),
            });
        }
        if !dir.config().is_file() {
            return Err(Error::NotARun {
                path: path.to_path_buf(),
                kind,
                why: format!("no {CONFIG}"),
            });
        }
        Ok(dir)
    }

    /// A run directory to continue with `--resume`: it must hold a configuration and a checkpoint.
    pub fn for_resume(path: &Path, kind: &'static str) -> Result<Self> {
        let dir = Self::open(path, kind)?;
        if !dir.checkpoint().is_file() {
            return Err(Error::usage(format!(
                "{}: nothing to resume (no {CHECKPOINT}); start a new run with --out {} --force",
                path.display(),
                path.display()
            )));
        }
        Ok(dir)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
    pub fn config(&self) -> PathBuf {
        self.path.join(CONFIG)
    }
    pub fn checkpoint(&self) -> PathBuf {
        self.path.join(CHECKPOINT)
    }
    pub fn model(&self) -> PathBuf {
        self.path.join(MODEL)
    }
    pub fn metrics(&self) -> PathBuf {
        self.path.join(METRICS)
    }
    pub fn curves(&self) -> PathBuf {
        self.path.join(CURVES)
    }
    pub fn confusion(&self) -> PathBuf {
        self.path.join(CONFUSION)
    }
    pub fn masks(&self) -> PathBuf {
        self.path.join(MASKS)
    }

    /// The files the demo copies next to its figures.
    pub fn summary_files(&self) -> [PathBuf; 3] {
        [self.curves(), self.confusion(), self.metrics()]
    }

    /// Whether the final weights have been written.
    pub fn is_finished(&self) -> bool {
        self.model().is_file()
    }

    /// The run's configuration as `T`.
    pub fn read_config<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        crate::io::read_json(&self.config())
    }

    /// The run's configuration as `T` and as plain JSON (which fields it sets), read once.
    pub fn read_config_with_fields<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<(T, serde_json::Value)> {
        crate::io::read_json_with_fields(&self.config())
    }

    pub fn write_config<T: serde::Serialize>(&self, config: &T) -> Result<()> {
        crate::io::write_json(&self.config(), config)
    }

    /// True when `path` is one of this run's own files (commands must never write there).
    pub fn owns(&self, path: &Path) -> bool {
        let own = [CONFIG, CHECKPOINT, MODEL, METRICS, CURVES, CONFUSION, MASKS];
        path.parent()
            .is_some_and(|p| crate::io::same_path(p, &self.path))
            && path
                .file_name()
                .is_some_and(|n| own.iter().any(|o| n == *o))
    }
}

//! Error type of skelcam: every user-facing failure names the file, the line or field, and what to do.
//!
//! Option names in [`Error::Invalid`] are the configuration's field names (`batch_size`); the command line
//! rewrites them to its flags (`--batch-size`) with [`Error::with_flag_names`], so the domain never spells a
//! flag.

use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad content in an input file, located as precisely as we can.
    #[error("{path}{}: {msg}", loc(*line, field))]
    Data {
        path: PathBuf,
        line: Option<usize>,
        field: Option<String>,
        msg: String,
    },
    /// An option or configuration value outside its meaning.
    #[error("{option} must be {expected}, got {value}")]
    Invalid {
        /// The configuration field (`batch_size`), or the flag once the command line has named it.
        option: String,
        value: String,
        /// What it must be ("a positive number"), said so that the fix is plain.
        expected: String,
    },
    /// A folder that should be a run directory of `kind` is not one.
    #[error("{}: not {kind} run directory ({why}); pass a folder written by `skelcam … train` or `… import`", path.display())]
    NotARun {
        path: PathBuf,
        kind: &'static str,
        why: String,
    },
    /// A run directory whose training has not finished: no final weights yet.
    #[error("{}: the training did not finish (no model.safetensors); continue it with `{resume}`", path.display())]
    UnfinishedRun { path: PathBuf, resume: String },
    /// An output folder that would be overwritten.
    #[error("{} already exists and is not empty; pass --force to overwrite it or --resume {} to continue it", path.display(), path.display())]
    OutputExists { path: PathBuf },
    /// Data whose classes are not the model's.
    #[error("{what} has classes [{}], the model was trained on [{}]; use data with the model's classes", data.join(", "), model.join(", "))]
    ClassMismatch {
        what: String,
        data: Vec<String>,
        model: Vec<String>,
    },
    /// The training loss became NaN or infinite.
    #[error(
        "training diverged at epoch {epoch} (loss {loss}); lower the learning rate (now {lr})"
    )]
    Diverged { epoch: usize, loss: f64, lr: f64 },
    /// A problem with the command line or configuration not covered above.
    #[error("{0}")]
    Usage(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("model error: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("{0}")]
    Other(String),
}

fn loc(line: Option<usize>, field: &Option<String>) -> String {
    let mut s = String::new();
    if let Some(l) = line {
        s.push_str(&format!(":{l}"));
    }
    if let Some(f) = field {
        s.push_str(&format!(" (field {f})"));
    }
    s
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub fn data(path: impl AsRef<Path>, msg: impl Into<String>) -> Self {
        Error::Data {
            path: path.as_ref().to_path_buf(),
            line: None,
            field: None,
            msg: msg.into(),
        }
    }
    pub fn at_line(path: impl AsRef<Path>, line: usize, msg: impl Into<String>) -> Self {
        Error::Data {
            path: path.as_ref().to_path_buf(),
            line: Some(line),
            field: None,
            msg: msg.into(),
        }
    }
    pub fn at_field(
        path: impl AsRef<Path>,
        line: usize,
        field: impl Into<String>,
        msg: impl Into<String>,
    ) -> Self {
        Error::Data {
            path: path.as_ref().to_path_buf(),
            line: Some(line),
            field: Some(field.into()),
            msg: msg.into(),
        }
    }
    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }
    /// `option` (a configuration field name) has `value`, which is not what it must be.
    pub fn invalid(
        option: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Error::Invalid {
            option: option.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// The same error with configuration field names turned into command-line flags (`batch_size` →
    /// `--batch-size`) by `flag`, which returns `None` for a field that has no flag.
    pub fn with_flag_names(self, flag: impl Fn(&str) -> Option<String>) -> Self {
        match self {
            Error::Invalid {
                option,
                value,
                expected,
            } => Error::Invalid {
                option: flag(&option).unwrap_or(option),
                value,
                expected,
            },
            e => e,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Other(format!("JSON: {e}"))
    }
}

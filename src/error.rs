//! Error type of skelcam: every user-facing failure names the file, the line or field, and what to do.

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
    /// A problem with the command line or configuration.
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
    pub fn io(path: impl AsRef<Path>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }
}

impl From<serde_json::Error> for Error {
    fn from(e: serde_json::Error) -> Self {
        Error::Other(format!("JSON: {e}"))
    }
}

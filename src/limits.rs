//! Limits on every size that a file or an option states, checked before anything is allocated: a size field
//! of 2^40 must give an error, not exhaust memory. Each limit is far above real data and can be raised with
//! its environment variable when a request is real.

use crate::{Error, Result};

/// One limit: what it bounds, its default, and the environment variable that raises it.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub what: &'static str,
    pub default: u64,
    pub env: &'static str,
}

/// Frames of one sequence (NTU's longest is 300; Kinetics clips 300 at 30 fps).
pub const FRAMES: Limit = Limit {
    what: "frames",
    default: 20_000,
    env: "SKELCAM_MAX_FRAMES",
};
/// Person slots of one sequence.
pub const PERSONS: Limit = Limit {
    what: "persons",
    default: 16,
    env: "SKELCAM_MAX_PERSONS",
};
/// Joints of a layout (whole-body layouts have 133).
pub const JOINTS: Limit = Limit {
    what: "joints",
    default: 1_000,
    env: "SKELCAM_MAX_JOINTS",
};
/// Side of a picture the model is trained on or a generated picture, in pixels.
pub const IMAGE_SIDE: Limit = Limit {
    what: "picture side",
    default: 4_096,
    env: "SKELCAM_MAX_IMAGE_SIDE",
};
/// Classes of a model or dataset.
pub const CLASSES: Limit = Limit {
    what: "classes",
    default: 100_000,
    env: "SKELCAM_MAX_CLASSES",
};
/// Parameters of a model a run describes (the paper's ST-GCN has 3.1 M, ResNet-18 11.2 M).
pub const PARAMETERS: Limit = Limit {
    what: "model parameters",
    default: 500_000_000,
    env: "SKELCAM_MAX_PARAMETERS",
};
/// Elements of one model input or one sample (C·T·V·M for skeletons): 256 M floats = 1 GiB.
pub const SAMPLE_ELEMENTS: Limit = Limit {
    what: "values in one sample",
    default: 1 << 28,
    env: "SKELCAM_MAX_SAMPLE_VALUES",
};

impl Limit {
    /// The limit in force: the environment variable if set to a number, else the default.
    pub fn value(&self) -> u64 {
        std::env::var(self.env)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(self.default)
    }

    /// An error naming `field`, the value and the limit when `value` is above it.
    pub fn check(&self, field: &str, value: u64) -> Result<()> {
        let max = self.value();
        if value <= max {
            return Ok(());
        }
        Err(Error::invalid(
            field,
            value,
            format!(
                "at most {max} ({} limit, which protects memory); if this is real, set {}={value}",
                self.what, self.env
            ),
        ))
    }

    /// [`Limit::check`] for a value read from a file: the error names the file, line and field.
    pub fn check_in_file(
        &self,
        path: &std::path::Path,
        line: Option<usize>,
        field: &str,
        value: u64,
    ) -> Result<()> {
        let max = self.value();
        if value <= max {
            return Ok(());
        }
        Err(Error::Data {
            path: path.to_path_buf(),
            line,
            field: Some(field.to_string()),
            msg: format!(
                "{value} is above skelcam's limit of {max} {} (a protection against memory exhaustion); if \
                 this is real, set {}={value}",
                self.what, self.env
            ),
        })
    }
}

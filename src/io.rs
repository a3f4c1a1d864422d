//! File-system helpers: atomic writes (temp file + rename) and run-directory creation that never clobbers.

use crate::{Error, Result};
use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically: a temporary file in the same folder, fsync, then rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |w| w.write_all(bytes))
}

/// Write a file atomically as [`write_atomic`] does, its bytes produced by `fill` into a buffered writer: for
/// files too large to build in memory first.
pub fn write_atomic_with(
    path: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> std::io::Result<()>,
) -> Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp{}", std::process::id()));
    let f = std::fs::File::create(&tmp).map_err(|e| Error::io(&tmp, e))?;
    let mut w = std::io::BufWriter::new(f);
    fill(&mut w).map_err(|e| Error::io(&tmp, e))?;
    let f = w
        .into_inner()
        .map_err(|e| Error::io(&tmp, e.into_error()))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Serialise `value` as pretty JSON and write it atomically.
pub fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut s = serde_json::to_string_pretty(value)?;
    s.push('\n');
    write_atomic(path, s.as_bytes())
}

pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    parse_json(path, &read_to_string(path)?)
}

/// A JSON file as `T` and as plain JSON, read once: the plain form tells which fields the file sets.
pub fn read_json_with_fields<T: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<(T, serde_json::Value)> {
    let text = read_to_string(path)?;
    Ok((parse_json(path, &text)?, parse_json(path, &text)?))
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::at_line(path, e.line(), format!("invalid JSON: {e}")))
}

/// Refuse anything but a regular file (after following links) before it is opened: reading a FIFO would
/// wait forever, a device never ends, a folder or a link loop is a mistake in the command.
pub fn check_regular_file(path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_file() {
        return Ok(());
    }
    let what = if meta.is_dir() {
        "a folder"
    } else {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_fifo() {
            "a FIFO (named pipe)"
        } else if t.is_char_device() || t.is_block_device() {
            "a device"
        } else if t.is_socket() {
            "a socket"
        } else {
            "not a regular file"
        }
    };
    Err(Error::data(
        path,
        format!("is {what}, not a regular file: name a file here"),
    ))
}

/// Open a regular file for reading (see [`check_regular_file`]).
pub fn open(path: &Path) -> Result<std::fs::File> {
    check_regular_file(path)?;
    std::fs::File::open(path).map_err(|e| Error::io(path, e))
}

/// The bytes of a regular file.
pub fn read(path: &Path) -> Result<Vec<u8>> {
    check_regular_file(path)?;
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// The text of a regular file.
pub fn read_to_string(path: &Path) -> Result<String> {
    check_regular_file(path)?;
    std::fs::read_to_string(path).map_err(|e| Error::io(path, e))
}

/// Whether `a` and `b` name the same file or folder (after resolving links; as written when either does
/// not exist).
pub fn same_path(a: &Path, b: &Path) -> bool {
    match (std::fs::canonicalize(a), std::fs::canonicalize(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Whether `path` (which need not exist yet) is `folder` or lies below it, after resolving links.
pub fn is_inside(path: &Path, folder: &Path) -> bool {
    let Ok(folder) = std::fs::canonicalize(folder) else {
        return false;
    };
    // Resolve the nearest existing ancestor of `path`, then add back what does not exist yet.
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        match (existing.parent(), existing.file_name()) {
            (Some(p), Some(n)) => {
                rest.push(n.to_os_string());
                existing = if p.as_os_str().is_empty() {
                    Path::new(".").to_path_buf()
                } else {
                    p.to_path_buf()
                };
            }
            _ => return false,
        }
    }
    let Ok(mut full) = std::fs::canonicalize(&existing) else {
        return false;
    };
    full.extend(rest.iter().rev());
    full.starts_with(&folder)
}

/// Create an output folder. An existing non-empty folder is refused unless `force` is set.
pub fn prepare_out_dir(dir: &Path, force: bool) -> Result<()> {
    if dir.exists() {
        let non_empty = std::fs::read_dir(dir)
            .map_err(|e| Error::io(dir, e))?
            .next()
            .is_some();
        if non_empty && !force {
            return Err(Error::OutputExists {
                path: dir.to_path_buf(),
            });
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))
}

/// Write a C-order float32 array of `shape` as a NumPy `.npy` file, atomically.
pub fn write_npy(path: &Path, shape: &[usize], data: &[f32]) -> Result<()> {
    use npyz::WriterBuilder;
    debug_assert_eq!(shape.iter().product::<usize>(), data.len());
    let shape: Vec<u64> = shape.iter().map(|&d| d as u64).collect();
    let mut bytes = Vec::with_capacity(128 + 4 * data.len());
    let mut w = npyz::WriteOptions::<f32>::new()
        .default_dtype()
        .shape(&shape)
        .writer(&mut bytes)
        .begin_nd()
        .map_err(|e| Error::io(path, e))?;
    w.extend(data.iter().copied())
        .map_err(|e| Error::io(path, e))?;
    w.finish().map_err(|e| Error::io(path, e))?;
    write_atomic(path, &bytes)
}

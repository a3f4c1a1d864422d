//! Labelled image sets: one sub-folder per class or flat `class.N.jpg` files, an optional `test/` folder
//! (otherwise a seeded validation split), optional `boxes.json` with object boxes; decoded in parallel into
//! an in-memory cache resized for training.

use crate::rng::{permutation, rng_for, streams};
use crate::{Error, Result};
use image::RgbImage;
use rayon::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// An object box (x0, y0, x1, y1) in pixels of the original image, x1/y1 exclusive.
pub type BBox = [f32; 4];

/// One labelled image, cached at a reduced size.
#[derive(Debug, Clone)]
pub struct ImageItem {
    /// Path relative to the data folder (or `synthetic/NNNNN`): unique within the set, used in reports.
    pub name: String,
    pub label: usize,
    /// Width and height of the original picture.
    pub original: (u32, u32),
    /// The picture, resized so its shorter side is at most the cache side.
    pub image: RgbImage,
    /// Ground-truth object boxes in original pixels (empty when unknown).
    pub boxes: Vec<BBox>,
}

#[derive(Debug, Clone, Default)]
pub struct ImageSet {
    pub classes: Vec<String>,
    pub train: Vec<ImageItem>,
    pub test: Vec<ImageItem>,
    /// Files skipped with `--skip-bad`, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// How the test part was chosen ("test/ folder" or "seeded validation split").
    pub split: String,
}

const EXTENSIONS: [&str; 3] = ["jpg", "jpeg", "png"];

fn is_image(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    v.sort();
    Ok(v)
}

/// Every .jpg/.jpeg/.png below `dir` (recursively), sorted.
pub fn pictures_under(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in read_dir_sorted(dir)? {
        if p.is_dir() {
            out.extend(pictures_under(&p)?);
        } else if is_image(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

/// (file, class name) pairs of one folder: class sub-folders, or flat `class.N.ext` files.
fn list_labelled(dir: &Path) -> Result<Vec<(PathBuf, String)>> {
    let entries = read_dir_sorted(dir)?;
    let subdirs: Vec<&PathBuf> = entries.iter().filter(|p| p.is_dir()).collect();
    let mut out = Vec::new();
    if !subdirs.is_empty() {
        // A plural "s" shared by every class folder is dropped (cats, dogs → cat, dog), matching flat names.
        let names: Vec<String> = subdirs
            .iter()
            .map(|d| {
                d.file_name()
                    .unwrap_or_default()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        let plural = names.iter().all(|n| n.len() > 1 && n.ends_with('s'));
        for (d, n) in subdirs.iter().zip(&names) {
            let class = if plural { &n[..n.len() - 1] } else { n };
            for f in read_dir_sorted(d)?
                .into_iter()
                .filter(|f| f.is_file() && is_image(f))
            {
                out.push((f, class.to_string()));
            }
        }
    } else {
        for f in entries.into_iter().filter(|f| f.is_file() && is_image(f)) {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let parts: Vec<&str> = name.split('.').collect();
            if parts.len() < 3 || parts[0].is_empty() {
                return Err(Error::data(
                    &f,
                    "flat image files must be named CLASS.N.jpg (e.g. cat.12.jpg); or put each class in its own sub-folder",
                ));
            }
            out.push((f.clone(), parts[0].to_string()));
        }
    }
    if out.is_empty() {
        return Err(Error::data(
            dir,
            "no .jpg/.jpeg/.png images found: expected one sub-folder per class (train/cats, train/dogs, …) or files named CLASS.N.jpg",
        ));
    }
    Ok(out)
}

/// Box coordinates beyond this many pixels are refused (a picture is at most [`MAX_IMAGE_SIDE`] wide).
const MAX_BOX_COORD: f32 = 1e6;

/// The widest or tallest picture decoded (the decoder refuses larger ones before allocating).
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// Decode a JPEG or PNG into RGB8, with an error that names the file. A JPEG must end with its end-of-image
/// marker: a truncated file would otherwise decode into grey rows and be trained on; and it is decoded in
/// strict mode, so damage the decoder notices in the compressed data (an unknown marker, a bad Huffman code,
/// data that ends early) is an error instead of a picture patched with grey blocks.
pub fn decode(path: &Path) -> Result<RgbImage> {
    let bytes = crate::io::read(path)?;
    if bytes.is_empty() {
        return Err(Error::data(path, "empty file (0 bytes)"));
    }
    let mut reader = image::ImageReader::new(std::io::Cursor::new(&bytes))
        .with_guessed_format()
        .map_err(|e| Error::io(path, e))?;
    if reader.format() == Some(image::ImageFormat::Jpeg) && !has_jpeg_end(&bytes) {
        return Err(Error::data(
            path,
            "truncated JPEG (no end-of-image marker): the file is incomplete; copy it again or remove it \
             (--skip-bad skips such files)",
        ));
    }
    if reader.format() == Some(image::ImageFormat::Jpeg) {
        return decode_jpeg(&bytes, path);
    }
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_IMAGE_SIDE);
    limits.max_image_height = Some(MAX_IMAGE_SIDE);
    limits.max_alloc = Some(1 << 30);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| {
        Error::data(
            path,
            format!(
                "cannot decode image: {e} (pictures are read up to {MAX_IMAGE_SIDE} pixels a side)"
            ),
        )
    })?;
    if img.width() == 0 || img.height() == 0 {
        return Err(Error::data(path, "image has no pixels"));
    }
    Ok(img.to_rgb8())
}

/// A JPEG decoded by `image`'s own decoder (zune-jpeg) in strict mode, to the same RGB pixels `image` gives.
fn decode_jpeg(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    use zune_jpeg::zune_core::{
        bytestream::ZCursor, colorspace::ColorSpace, options::DecoderOptions,
    };
    let side = MAX_IMAGE_SIDE as usize;
    let options = DecoderOptions::default()
        .set_strict_mode(true)
        .set_max_width(side)
        .set_max_height(side)
        .jpeg_set_out_colorspace(ColorSpace::RGB);
    let mut decoder = zune_jpeg::JpegDecoder::new_with_options(ZCursor::new(bytes), options);
    let damaged = |e: &dyn std::fmt::Display| {
        Error::data(
            path,
            format!(
                "cannot decode JPEG: {e}: the file is damaged or not a JPEG a camera or editor would write \
                 (pictures are read up to {MAX_IMAGE_SIDE} pixels a side); copy it again or remove it \
                 (--skip-bad skips such files)"
            ),
        )
    };
    let pixels = decoder.decode().map_err(|e| damaged(&e))?;
    let (w, h) = decoder.dimensions().unwrap_or((0, 0));
    if w == 0 || h == 0 {
        return Err(Error::data(path, "image has no pixels"));
    }
    RgbImage::from_raw(w as u32, h as u32, pixels)
        .ok_or_else(|| damaged(&"the decoder returned fewer pixels than the picture's size"))
}

/// Whether a JPEG's last bytes hold its end-of-image marker (FF D9; some writers append a few bytes after it).
fn has_jpeg_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(4096)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

/// Optional `boxes.json` in a folder: {"relative/path.jpg": [[x0, y0, x1, y1], ...], ...}.
fn read_boxes(dir: &Path) -> Result<HashMap<String, Vec<BBox>>> {
    let path = dir.join("boxes.json");
    if !path.is_file() {
        return Ok(HashMap::new());
    }
    let m: BTreeMap<String, Vec<BBox>> = crate::io::read_json(&path)?;
    for (k, boxes) in &m {
        if let Some(b) = boxes
            .iter()
            .find(|b| b.iter().any(|c| !c.is_finite() || c.abs() > MAX_BOX_COORD))
        {
            return Err(Error::Data {
                path,
                line: None,
                field: Some(k.clone()),
                msg: format!(
                    "box {b:?}: coordinates must be finite pixel positions within ±{MAX_BOX_COORD}"
                ),
            });
        }
        if let Some(b) = boxes.iter().find(|b| !(b[0] < b[2] && b[1] < b[3])) {
            return Err(Error::Data {
                path,
                line: None,
                field: Some(k.clone()),
                msg: format!("box {b:?} must have x0 < x1 and y0 < y1"),
            });
        }
    }
    Ok(m.into_iter().collect())
}

struct Loaded {
    items: Vec<ImageItem>,
    skipped: Vec<(PathBuf, String)>,
}

/// Decode and cache the files of one folder in parallel.
fn load_part(
    root: &Path,
    dir: &Path,
    classes: &[String],
    files: &[(PathBuf, String)],
    cache_side: u32,
    skip_bad: bool,
) -> Result<Loaded> {
    let boxes = read_boxes(dir)?;
    let results: Vec<Result<ImageItem>> = files
        .par_iter()
        .map(|(f, class)| {
            let img = decode(f)?;
            let rel = f
                .strip_prefix(dir)
                .unwrap_or(f)
                .to_string_lossy()
                .into_owned();
            let name = f
                .strip_prefix(root)
                .unwrap_or(f)
                .to_string_lossy()
                .into_owned();
            Ok(ImageItem {
                name,
                label: classes.iter().position(|c| c == class).unwrap_or(0),
                original: img.dimensions(),
                image: super::augment::shrink_to(&img, cache_side),
                boxes: boxes.get(&rel).cloned().unwrap_or_default(),
            })
        })
        .collect();
    let mut loaded = Loaded {
        items: Vec::new(),
        skipped: Vec::new(),
    };
    for (r, (f, _)) in results.into_iter().zip(files) {
        match r {
            Ok(item) => loaded.items.push(item),
            Err(e) if skip_bad => {
                eprintln!("warning: skipping {e}");
                loaded.skipped.push((f.clone(), e.to_string()));
            }
            Err(e) => {
                return Err(Error::Other(format!(
                    "{e}\n  (pass --skip-bad to skip unreadable images)"
                )))
            }
        }
    }
    Ok(loaded)
}

/// Load `dir` (with `train/` + `test/`, or one labelled folder split by `val_fraction` with `seed`).
pub fn load_folder(
    dir: &Path,
    cache_side: u32,
    skip_bad: bool,
    val_fraction: f64,
    seed: u64,
    test_only: bool,
) -> Result<ImageSet> {
    if !dir.is_dir() {
        return Err(Error::data(
            dir,
            "not a folder: pass a folder of labelled images (see `skelcam image train --help`)",
        ));
    }
    let (train_dir, test_dir) = if dir.join("train").is_dir() {
        let t = dir.join("test");
        (dir.join("train"), t.is_dir().then_some(t))
    } else if test_only && dir.join("test").is_dir() {
        // A report on a folder with only test/ (e.g. `image synth --train-per-class 0`): all of it is test.
        (dir.join("test"), Some(dir.join("test")))
    } else {
        (dir.to_path_buf(), None)
    };
    let train_files = list_labelled(&train_dir)?;
    let classes: Vec<String> = {
        let mut c: Vec<String> = train_files.iter().map(|(_, c)| c.clone()).collect();
        c.sort();
        c.dedup();
        c
    };
    if classes.len() < 2 {
        return Err(Error::data(
            &train_dir,
            format!(
                "found only the class {:?}: need at least two classes",
                classes
            ),
        ));
    }
    let mut set = ImageSet {
        classes: classes.clone(),
        ..Default::default()
    };
    let load_train = |set: &mut ImageSet| -> Result<Vec<ImageItem>> {
        let train = load_part(
            dir,
            &train_dir,
            &classes,
            &train_files,
            cache_side,
            skip_bad,
        )?;
        set.skipped.extend(train.skipped);
        Ok(train.items)
    };
    match test_dir {
        Some(td) => {
            let test_files = list_labelled(&td)?;
            if let Some((f, c)) = test_files.iter().find(|(_, c)| !classes.contains(c)) {
                return Err(Error::data(
                    f,
                    format!("class {c:?} is not among the training classes {classes:?}"),
                ));
            }
            // A report needs only the test pictures: the training ones are listed (for the classes), not decoded.
            if !test_only {
                set.train = load_train(&mut set)?;
            }
            let test = load_part(dir, &td, &classes, &test_files, cache_side, skip_bad)?;
            set.skipped.extend(test.skipped);
            set.test = test.items;
            set.split = "test/ folder".into();
        }
        None => {
            let items = load_train(&mut set)?;
            let n = items.len();
            if n < 2 {
                return Err(nothing_left(&train_dir, n, set.skipped.len()));
            }
            let n_test = ((n as f64 * val_fraction).round() as usize).clamp(1, n - 1);
            let order = permutation(&mut rng_for(seed, streams::IMAGE_SPLIT), n);
            let is_test: Vec<bool> = {
                let mut v = vec![false; n];
                order[..n_test].iter().for_each(|&i| v[i] = true);
                v
            };
            for (item, t) in items.into_iter().zip(is_test) {
                if t {
                    set.test.push(item)
                } else {
                    set.train.push(item)
                }
            }
            set.split = format!("seeded validation split ({:.0} %)", val_fraction * 100.0);
        }
    }
    if !test_only && set.train.is_empty() {
        return Err(nothing_left(&train_dir, 0, set.skipped.len()));
    }
    if set.test.is_empty() {
        return Err(nothing_left(dir, 0, set.skipped.len()));
    }
    Ok(set)
}

fn nothing_left(dir: &Path, usable: usize, skipped: usize) -> Error {
    Error::data(
        dir,
        format!(
            "{usable} usable picture(s) left after {skipped} unreadable one(s) were skipped: nothing to \
             train or test on; fix or replace the files listed above"
        ),
    )
}

/// For each class name in `from`, its index in `to`; `None` if some name is not in `to`.
pub fn class_map(from: &[String], to: &[String]) -> Option<Vec<usize>> {
    from.iter()
        .map(|c| to.iter().position(|t| t == c))
        .collect()
}

//! The generic skeleton format for users' own data (documented in the README):
//! a folder with `labels.csv` (`file,label,subject[,camera]`) and one CSV per sequence with the header
//! `frame,person,joint,x,y,z[,score]` (0-based frame, person and joint indices). Fields may not contain commas.

use super::{
    collect_files, drop_empty_frames, parse_coord, Dataset, Layout, ReadOutcome, Reading, Sequence,
};
use crate::{Error, Result};
use ndarray::Array4;
use std::collections::BTreeSet;
use std::io::BufRead;
use std::path::{Path, PathBuf};

pub struct LabelRow {
    pub file: String,
    pub label: String,
    pub subject: u32,
    pub camera: Option<u32>,
    pub line: usize,
}

fn lines(path: &Path) -> Result<impl Iterator<Item = (usize, std::io::Result<String>)>> {
    let f = crate::io::open(path)?;
    Ok(std::io::BufReader::new(f)
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l)))
}

fn check_header(
    path: &Path,
    got: &str,
    required: &[&str],
    optional: &[&str],
) -> Result<Vec<String>> {
    let cols: Vec<String> = got.split(',').map(|s| s.trim().to_string()).collect();
    let ok = cols.len() >= required.len()
        && cols.iter().zip(required).all(|(c, r)| c == r)
        && cols[required.len()..]
            .iter()
            .zip(optional)
            .all(|(c, o)| c == o)
        && cols.len() <= required.len() + optional.len();
    if !ok {
        let opt = if optional.is_empty() {
            String::new()
        } else {
            format!("[,{}]", optional.join(","))
        };
        return Err(Error::at_line(
            path,
            1,
            format!(
                "header must be '{}{opt}', found '{}'",
                required.join(","),
                got.trim()
            ),
        ));
    }
    Ok(cols)
}

pub fn read_labels(path: &Path) -> Result<Vec<LabelRow>> {
    let mut it = lines(path)?;
    let header = match it.next() {
        Some((_, l)) => l.map_err(|e| Error::io(path, e))?,
        None => {
            return Err(Error::data(
                path,
                "labels.csv is empty; it needs the header 'file,label,subject[,camera]'",
            ))
        }
    };
    let cols = check_header(path, &header, &["file", "label", "subject"], &["camera"])?;
    let mut rows: Vec<LabelRow> = Vec::new();
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    for (n, l) in it {
        let l = l.map_err(|e| Error::io(path, e))?;
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() != cols.len() {
            return Err(Error::at_line(
                path,
                n,
                format!(
                    "expected {} fields ({}), found {}",
                    cols.len(),
                    cols.join(","),
                    f.len()
                ),
            ));
        }
        let int = |i: usize, name: &str| -> Result<u32> {
            f[i].parse().map_err(|_| {
                Error::at_field(
                    path,
                    n,
                    name,
                    format!("'{}' is not a non-negative integer", f[i]),
                )
            })
        };
        if f[0].is_empty() || f[1].is_empty() {
            let field = if f[0].is_empty() { "file" } else { "label" };
            return Err(Error::at_field(path, n, field, "is empty"));
        }
        if let Some(first) = seen.get(f[0]).map(|&i| &rows[i]) {
            let how = if first.label == f[1] {
                "again"
            } else {
                "with another label"
            };
            return Err(Error::at_field(
                path,
                n,
                "file",
                format!(
                    "{} is listed {how} (first on line {}); list every sequence once",
                    f[0], first.line
                ),
            ));
        }
        seen.insert(f[0].to_string(), rows.len());
        rows.push(LabelRow {
            file: f[0].to_string(),
            label: f[1].to_string(),
            subject: int(2, "subject")?,
            camera: if f.len() > 3 {
                Some(int(3, "camera")?)
            } else {
                None
            },
            line: n,
        });
    }
    if rows.is_empty() {
        return Err(Error::data(path, "labels.csv lists no sequences"));
    }
    Ok(rows)
}

/// Read one sequence CSV into (3, T, V, M) with T = last frame + 1; missing entries stay zero.
pub fn read_sequence(
    path: &Path,
    layout: &Layout,
    max_persons: usize,
) -> Result<(Array4<f32>, Vec<String>)> {
    let mut it = lines(path)?;
    let header = match it.next() {
        Some((_, l)) => l.map_err(|e| Error::io(path, e))?,
        None => {
            return Err(Error::data(
                path,
                "empty file: expected the header 'frame,person,joint,x,y,z[,score]'",
            ))
        }
    };
    let cols = check_header(
        path,
        &header,
        &["frame", "person", "joint", "x", "y", "z"],
        &["score"],
    )?;
    let v = layout.num_joints();
    let mut entries: Vec<(usize, usize, usize, [f32; 3], usize)> = Vec::new();
    let mut dropped_persons = BTreeSet::new();
    for (n, l) in it {
        let l = l.map_err(|e| Error::io(path, e))?;
        if l.trim().is_empty() {
            continue;
        }
        let f: Vec<&str> = l.split(',').map(str::trim).collect();
        if f.len() != cols.len() {
            return Err(Error::at_line(
                path,
                n,
                format!(
                    "expected {} fields, found {} (truncated line?)",
                    cols.len(),
                    f.len()
                ),
            ));
        }
        let idx = |i: usize| -> Result<usize> {
            f[i].parse().map_err(|_| {
                Error::at_field(
                    path,
                    n,
                    cols[i].clone(),
                    format!("'{}' is not a non-negative integer", f[i]),
                )
            })
        };
        let (frame, person, joint) = (idx(0)?, idx(1)?, idx(2)?);
        crate::limits::FRAMES.check_in_file(path, Some(n), "frame", frame as u64 + 1)?;
        if joint >= v {
            return Err(Error::at_field(
                path,
                n,
                "joint",
                format!("joint {joint} is out of range: layout {} has {v} joints (0..{}); pass the matching --layout", layout.name, v - 1),
            ));
        }
        let xyz = [
            parse_coord(f[3], path, n, "x")?,
            parse_coord(f[4], path, n, "y")?,
            parse_coord(f[5], path, n, "z")?,
        ];
        if f.len() > 6 {
            parse_coord(f[6], path, n, "score")?;
        }
        if person >= max_persons {
            dropped_persons.insert(person);
            continue;
        }
        entries.push((frame, person, joint, xyz, n));
    }
    let t = entries.iter().map(|e| e.0 + 1).max().unwrap_or(0);
    if t == 0 {
        return Err(Error::data(
            path,
            "the sequence has no frames (no data rows after the header)",
        ));
    }
    let mut data = Array4::<f32>::zeros((3, t, v, max_persons));
    // The line that set each (frame, joint, person), so that a second row for it names both.
    let mut line_of = vec![0usize; t * v * max_persons];
    for (frame, person, joint, xyz, n) in entries {
        let cell = (frame * v + joint) * max_persons + person;
        if line_of[cell] != 0 {
            return Err(Error::at_line(
                path,
                n,
                format!(
                    "frame {frame}, person {person}, joint {joint} was already given on line {}; keep one row",
                    line_of[cell]
                ),
            ));
        }
        line_of[cell] = n;
        for c in 0..3 {
            data[[c, frame, joint, person]] = xyz[c];
        }
    }
    let mut warnings = Vec::new();
    if !dropped_persons.is_empty() {
        warnings.push(format!(
            "{}: ignored persons {dropped_persons:?} (more than {max_persons})",
            path.display()
        ));
    }
    Ok((data, warnings))
}

/// Read one sequence CSV as a sequence named after the file, with label and subject 0 (they are in
/// `labels.csv`), its empty frames dropped; a file whose every coordinate is zero has no skeleton.
pub fn read_file(path: &Path, layout: &Layout, max_persons: usize) -> Result<ReadOutcome> {
    let (data, mut warnings) = read_sequence(path, layout, max_persons)?;
    let (data, dropped) = drop_empty_frames(data);
    if data.shape()[1] == 0 {
        return Ok(ReadOutcome::NoSkeleton("every coordinate is zero".into()));
    }
    if dropped > 0 {
        warnings.push(format!(
            "{}: dropped {dropped} empty frames",
            path.display()
        ));
    }
    let name = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(ReadOutcome::Sequence(
        Sequence::labelled(name, 0, data),
        warnings,
    ))
}

pub fn load_dir(dir: &Path, layout: &Layout, how: Reading, max_persons: usize) -> Result<Dataset> {
    let skip_bad = how.skip_bad;
    let labels_path = dir.join("labels.csv");
    if !labels_path.is_file() {
        return Err(Error::data(dir, "no labels.csv in this folder: the csv format needs 'file,label,subject[,camera]' (see README)"));
    }
    let rows = read_labels(&labels_path)?;
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    // Every sequence file must be listed: an unlisted CSV is almost always a forgotten label.
    let mut problems: Vec<(PathBuf, String)> = Vec::new();
    for e in std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".csv") && name != "labels.csv" && !listed.contains(name.as_str()) {
            let msg = format!("{name} has no entry in labels.csv; add a line '{name},LABEL,SUBJECT' or move the file out");
            if !skip_bad {
                return Err(Error::data(dir.join(&name), msg));
            }
            problems.push((dir.join(&name), msg));
        }
    }
    problems.sort();
    let classes = class_names(rows.iter().map(|r| r.label.as_str()));
    let files: Vec<PathBuf> = rows.iter().map(|r| dir.join(&r.file)).collect();
    let mut row_iter = rows.iter();
    let c = collect_files(files, how, |f| {
        let row = row_iter.next().expect("one row per file");
        if !f.is_file() {
            return Err(Error::at_line(
                &labels_path,
                row.line,
                format!(
                    "lists '{}', which does not exist in {}",
                    row.file,
                    dir.display()
                ),
            ));
        }
        Ok(match read_file(f, layout, max_persons)? {
            ReadOutcome::Sequence(seq, warnings) => {
                let label = classes.iter().position(|c| *c == row.label);
                let seq = Sequence {
                    label: label.expect("label is a class"),
                    subject: row.subject,
                    camera: row.camera,
                    ..seq
                };
                ReadOutcome::Sequence(seq, warnings)
            }
            none => none,
        })
    })?;
    let mut skipped = problems;
    skipped.extend(c.skipped);
    Ok(Dataset {
        classes,
        layout: layout.clone(),
        samples: c.samples,
        skipped,
        warnings: c.warnings,
        gt_joints: None,
        parts: Default::default(),
        files: c.files,
    })
}

/// Class names in a stable order: numerically if every label is an integer, else alphabetically.
pub fn class_names<'a>(labels: impl Iterator<Item = &'a str>) -> Vec<String> {
    let set: BTreeSet<&str> = labels.collect();
    let mut v: Vec<String> = set.into_iter().map(str::to_string).collect();
    if v.iter().all(|s| s.parse::<i64>().is_ok()) {
        v.sort_by_key(|s| s.parse::<i64>().unwrap());
    }
    v
}

/// Write one sequence in the generic format (used by `skelcam synth`).
pub fn write_sequence(path: &Path, data: &Array4<f32>) -> Result<()> {
    let s = data.shape();
    let mut out = String::from("frame,person,joint,x,y,z\n");
    for t in 0..s[1] {
        for m in 0..s[3] {
            if (0..s[2]).all(|v| (0..s[0]).all(|c| data[[c, t, v, m]] == 0.0)) {
                continue;
            }
            for v in 0..s[2] {
                out.push_str(&format!(
                    "{t},{m},{v},{:.5},{:.5},{:.5}\n",
                    data[[0, t, v, m]],
                    data[[1, t, v, m]],
                    data[[2, t, v, m]]
                ));
            }
        }
    }
    crate::io::write_atomic(path, out.as_bytes())
}

//! MSR Action3D reader: `aAA_sSS_eEE_skeleton3D.txt`, one joint per line (`x y z c`), 20 lines per frame.
//!
//! Frames in which every joint is (0,0,0) mean "no skeleton found" and are dropped with a warning; a file
//! with no skeleton at all is skipped with a warning. Labels and subjects come from the file name.

use super::{
    collect_files, drop_empty_frames, list_files, parse_coord, Dataset, Layout, ReadOutcome,
    Reading, Sequence,
};
use crate::{Error, Result};
use ndarray::Array4;
use std::io::BufRead;
use std::path::Path;

pub const JOINTS: usize = 20;

pub const ACTIONS: [&str; 20] = [
    "high_arm_wave",
    "horizontal_arm_wave",
    "hammer",
    "hand_catch",
    "forward_punch",
    "high_throw",
    "draw_x",
    "draw_tick",
    "draw_circle",
    "hand_clap",
    "two_hand_wave",
    "side_boxing",
    "bend",
    "forward_kick",
    "side_kick",
    "jogging",
    "tennis_swing",
    "tennis_serve",
    "golf_swing",
    "pick_up_and_throw",
];

/// (action 1-based, subject, repetition) from `aAA_sSS_eEE_skeleton3D.txt`.
pub fn parse_name(name: &str) -> Option<(u32, u32, u32)> {
    let stem = name.strip_suffix("_skeleton3D.txt")?;
    let mut parts = stem.split('_');
    let num = |p: Option<&str>, c: char| {
        p.and_then(|s| s.strip_prefix(c))
            .and_then(|s| s.parse::<u32>().ok())
    };
    let a = num(parts.next(), 'a')?;
    let s = num(parts.next(), 's')?;
    let e = num(parts.next(), 'e')?;
    (parts.next().is_none() && (1..=20).contains(&a)).then_some((a, s, e))
}

pub fn read_file(path: &Path, layout: &Layout) -> Result<ReadOutcome> {
    if layout.num_joints() != JOINTS {
        return Err(Error::usage(format!(
            "layout {} has {} joints but MSR Action3D files have {JOINTS} joints per frame; use --layout msr20",
            layout.name,
            layout.num_joints()
        )));
    }
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default();
    let (action, subject, _rep) = parse_name(name).ok_or_else(|| {
        Error::data(path, "file name does not match aAA_sSS_eEE_skeleton3D.txt (AA = action 01..20); rename it or use --format csv")
    })?;
    let file = crate::io::open(path)?;
    let mut coords: Vec<f32> = Vec::new();
    let mut line = String::new();
    let mut reader = std::io::BufReader::new(file);
    let mut line_no = 0usize;
    loop {
        line.clear();
        if reader
            .read_line(&mut line)
            .map_err(|e| Error::io(path, e))?
            == 0
        {
            break;
        }
        line_no += 1;
        let fields: Vec<&str> = line.split_whitespace().collect();
        if fields.is_empty() {
            continue;
        }
        if fields.len() != 4 {
            return Err(Error::at_line(
                path,
                line_no,
                format!("expected 4 fields 'x y z c', found {}", fields.len()),
            ));
        }
        for (tok, field) in fields[..3].iter().zip(["x", "y", "z"]) {
            coords.push(parse_coord(tok, path, line_no, field)?);
        }
        parse_coord(fields[3], path, line_no, "c")?;
    }
    let joints_read = coords.len() / 3;
    if joints_read == 0 {
        return Err(Error::data(path, "the file has no frames (0 joint lines)"));
    }
    if !joints_read.is_multiple_of(JOINTS) {
        return Err(Error::at_line(
            path,
            line_no,
            format!(
                "truncated or wrong joint count: {joints_read} joint lines is not a multiple of {JOINTS} (the last frame has {} joints)",
                joints_read % JOINTS
            ),
        ));
    }
    let t = joints_read / JOINTS;
    let mut data = Array4::<f32>::zeros((3, t, JOINTS, 1));
    for (i, xyz) in coords.chunks_exact(3).enumerate() {
        let (f, v) = (i / JOINTS, i % JOINTS);
        for c in 0..3 {
            data[[c, f, v, 0]] = xyz[c];
        }
    }
    let (data, dropped) = drop_empty_frames(data);
    if data.shape()[1] == 0 {
        return Ok(ReadOutcome::NoSkeleton(format!(
            "all {t} frames are empty (every joint at 0,0,0)"
        )));
    }
    let mut warnings = Vec::new();
    if dropped > 0 {
        warnings.push(format!(
            "{}: dropped {dropped} of {t} frames with no skeleton (all joints 0,0,0)",
            path.display()
        ));
    }
    let seq = Sequence {
        name: name.trim_end_matches(".txt").to_string(),
        label: action as usize - 1,
        subject,
        camera: None,
        setup: None,
        data,
    };
    Ok(ReadOutcome::Sequence(seq, warnings))
}

pub fn load_dir(dir: &Path, layout: &Layout, how: Reading) -> Result<Dataset> {
    let files = list_files(dir, "MSR Action3D files (*_skeleton3D.txt)", |n| {
        n.ends_with("_skeleton3D.txt")
    })?;
    let c = collect_files(files, how, |f| read_file(f, layout))?;
    Ok(Dataset {
        classes: ACTIONS.iter().map(|s| s.to_string()).collect(),
        layout: layout.clone(),
        samples: c.samples,
        skipped: c.skipped,
        warnings: c.warnings,
        gt_joints: None,
        parts: Default::default(),
        files: c.files,
    })
}

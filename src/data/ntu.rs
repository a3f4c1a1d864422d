//! NTU RGB+D `.skeleton` reader (docs/protocols.md, "Data conventions"), multi-body, tracking bodies by their bodyID.
//!
//! The up-to-M persons kept are the bodies present in the most frames (ties: first seen). Frames with no
//! body are dropped with a warning. Labels, subject, camera and setup come from `SsssCcccPpppRrrrAaaa`.

use super::text::Tokens;
use super::{
    collect_files, drop_empty_frames, list_files, Dataset, Layout, ReadOutcome, Reading, Sequence,
};
use crate::{Error, Result};
use ndarray::Array4;
use std::path::Path;

/// (setup, camera, subject, replication, action) from a name such as `S001C002P003R002A013`.
pub fn parse_name(stem: &str) -> Option<(u32, u32, u32, u32, u32)> {
    let b = stem.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let field = |tag: u8, at: usize| -> Option<u32> {
        (b[at] == tag)
            .then(|| stem.get(at + 1..at + 4)?.parse().ok())
            .flatten()
    };
    Some((
        field(b'S', 0)?,
        field(b'C', 4)?,
        field(b'P', 8)?,
        field(b'R', 12)?,
        field(b'A', 16)?,
    ))
}

struct Body {
    id: String,
    first_seen: usize,
    /// (frame index, joints × xyz)
    frames: Vec<(usize, Vec<[f32; 3]>)>,
}

pub fn read_file(path: &Path, layout: &Layout, max_persons: usize) -> Result<ReadOutcome> {
    let stem = path
        .file_stem()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let (setup, camera, subject, _rep, action) = parse_name(&stem).ok_or_else(|| {
        Error::data(
            path,
            "file name does not match SsssCcccPpppRrrrAaaa.skeleton; rename it or use --format csv",
        )
    })?;
    if action == 0 || action > 120 {
        return Err(Error::data(
            path,
            format!(
                "action number A{action:03} is outside NTU RGB+D's actions A001–A120; for other actions \
                 convert the files to the csv format (see README)"
            ),
        ));
    }
    let file = crate::io::open(path)?;
    let mut tok = Tokens::new(std::io::BufReader::new(file), path);
    let frame_count = tok.int("frameCount")?;
    if frame_count <= 0 {
        return Err(Error::at_field(
            path,
            tok.line(),
            "frameCount",
            format!("{frame_count} frames: the file has no frames"),
        ));
    }
    let v = layout.num_joints();
    let mut bodies: Vec<Body> = Vec::new();
    for f in 0..frame_count as usize {
        let body_count = tok.int("bodyCount")?;
        if body_count < 0 {
            return Err(Error::at_field(
                path,
                tok.line(),
                "bodyCount",
                format!("negative body count {body_count}"),
            ));
        }
        for _ in 0..body_count {
            let (id, _) = tok.expect("bodyID")?;
            tok.skip(9, "body fields (clippedEdges .. trackingState)")?;
            let jc = tok.int("jointCount")?;
            if jc as usize != v {
                return Err(Error::at_field(
                    path,
                    tok.line(),
                    "jointCount",
                    format!(
                        "{jc} joints, but layout {} has {v}; pass the matching --layout",
                        layout.name
                    ),
                ));
            }
            let mut joints = Vec::with_capacity(v);
            for _ in 0..v {
                let x = tok.float("x")?;
                let y = tok.float("y")?;
                let z = tok.float("z")?;
                for what in [
                    "depthX",
                    "depthY",
                    "colorX",
                    "colorY",
                    "orientationW",
                    "orientationX",
                    "orientationY",
                    "orientationZ",
                ] {
                    tok.float(what)?;
                }
                tok.int("trackingState")?;
                joints.push([x, y, z]);
            }
            match bodies.iter_mut().find(|b| b.id == id) {
                Some(b) => b.frames.push((f, joints)),
                None => bodies.push(Body {
                    id,
                    first_seen: f,
                    frames: vec![(f, joints)],
                }),
            }
        }
    }
    if let Some((t, l)) = tok.next_token()? {
        return Err(Error::at_line(
            path,
            l,
            format!("unexpected extra data '{t}' after {frame_count} frames"),
        ));
    }
    let t = frame_count as usize;
    if bodies.is_empty() {
        return Ok(ReadOutcome::NoSkeleton(format!(
            "no body in any of the {t} frames"
        )));
    }
    let mut order: Vec<usize> = (0..bodies.len()).collect();
    order.sort_by_key(|&i| {
        (
            std::cmp::Reverse(bodies[i].frames.len()),
            bodies[i].first_seen,
        )
    });
    let mut warnings = Vec::new();
    if bodies.len() > max_persons {
        warnings.push(format!(
            "{}: {} bodies, kept the {max_persons} present in most frames",
            path.display(),
            bodies.len()
        ));
    }
    let mut data = Array4::<f32>::zeros((3, t, v, max_persons));
    for (m, &bi) in order.iter().take(max_persons).enumerate() {
        for (f, joints) in &bodies[bi].frames {
            for (j, xyz) in joints.iter().enumerate() {
                for c in 0..3 {
                    data[[c, *f, j, m]] = xyz[c];
                }
            }
        }
    }
    let (data, dropped) = drop_empty_frames(data);
    if data.shape()[1] == 0 {
        return Ok(ReadOutcome::NoSkeleton(
            "every body has all joints at 0,0,0".into(),
        ));
    }
    if dropped > 0 {
        warnings.push(format!(
            "{}: dropped {dropped} of {t} frames with no body",
            path.display()
        ));
    }
    let seq = Sequence {
        name: stem,
        label: action as usize - 1,
        subject,
        camera: Some(camera),
        setup: Some(setup),
        data,
    };
    Ok(ReadOutcome::Sequence(seq, warnings))
}

pub fn load_dir(dir: &Path, layout: &Layout, how: Reading, max_persons: usize) -> Result<Dataset> {
    let files = list_files(dir, "NTU .skeleton files", |n| n.ends_with(".skeleton"))?;
    let c = collect_files(files, how, |f| read_file(f, layout, max_persons))?;
    let max_label = c.samples.iter().map(|s| s.label).max().unwrap_or(0);
    let n_classes = if max_label < 60 { 60 } else { 120 };
    Ok(Dataset {
        classes: (1..=n_classes).map(|a| format!("A{a:03}")).collect(),
        layout: layout.clone(),
        samples: c.samples,
        skipped: c.skipped,
        warnings: c.warnings,
        gt_joints: None,
        parts: Default::default(),
        files: c.files,
    })
}

//! Synthetic skeleton actions on any layout, with known discriminative joints per class.
//!
//! Each class moves one body part (or one side of it) in its own way (wave = lateral oscillation of an arm,
//! punch = forward thrusts, raise = one slow lift, kick = one leg swinging; in the `all` preset also clap,
//! bow and stamp). Subjects differ in
//! size, proportions, speed, position and facing; every frame gets sensor noise, and every part the class does
//! not move drifts slowly (nuisance motion), so a model must look at the right joints. The class's moving joints
//! are the ground truth.

use super::{Dataset, Layout, Sequence};
use crate::rng::{normal, rng_for, streams, uniform};
use crate::{Error, Result};
use ndarray::Array4;
use rand::RngExt;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SynthConfig {
    pub classes: usize,
    pub subjects: u32,
    pub repetitions: u32,
    pub min_frames: usize,
    pub max_frames: usize,
    /// Std of per-coordinate sensor noise, in units of body height.
    pub noise: f32,
    pub seed: u64,
}

/// How a class moves its joints.
#[derive(Clone, Copy)]
enum Motion {
    Oscillate([f32; 3], f32),
    /// Move towards the body's mid-line (x → 0) and back.
    Converge,
    /// Lean: forward (z) and down (y), once over the sequence.
    Lean,
}

/// (class name, body part[:side], motion, amplitude). The first six move one limb each (the `default`
/// preset); `clap` (both hands), `bow` (trunk) and `stamp` (both legs) are in the `all` preset.
const ACTIONS: &[(&str, &str, Motion, f32)] = &[
    (
        "wave_right",
        "right_arm",
        Motion::Oscillate([1.0, 0.3, 0.0], 2.0),
        0.22,
    ),
    (
        "wave_left",
        "left_arm",
        Motion::Oscillate([1.0, 0.3, 0.0], 2.0),
        0.22,
    ),
    (
        "punch_right",
        "right_arm",
        Motion::Oscillate([0.0, 0.0, 1.0], 3.0),
        0.22,
    ),
    (
        "kick_right",
        "legs:right",
        Motion::Oscillate([0.0, 0.4, 1.0], 1.5),
        0.25,
    ),
    (
        "raise_left",
        "left_arm",
        Motion::Oscillate([0.0, 1.0, 0.0], 0.5),
        0.3,
    ),
    (
        "kick_left",
        "legs:left",
        Motion::Oscillate([0.0, 0.4, 1.0], 1.5),
        0.25,
    ),
    ("clap", "hands", Motion::Converge, 0.25),
    ("bow", "trunk", Motion::Lean, 0.35),
    (
        "stamp",
        "legs",
        Motion::Oscillate([0.0, 1.0, 0.0], 3.0),
        0.12,
    ),
];

impl SynthConfig {
    pub fn max_classes() -> usize {
        ACTIONS.len()
    }

    /// Built-in presets: `default` (6 classes × 10 subjects × 5 repetitions) and `tiny` (for tests).
    pub fn preset(name: &str, seed: u64) -> Result<SynthConfig> {
        let c = match name {
            "default" => SynthConfig { classes: 6, subjects: 10, repetitions: 5, min_frames: 32, max_frames: 64, noise: 0.01, seed },
            "tiny" => SynthConfig { classes: 4, subjects: 4, repetitions: 3, min_frames: 20, max_frames: 32, noise: 0.01, seed },
            "all" => SynthConfig { classes: ACTIONS.len(), subjects: 10, repetitions: 5, min_frames: 32, max_frames: 64, noise: 0.01, seed },
            other => {
                return Err(Error::usage(format!(
                    "unknown synthetic preset '{other}': use default, tiny or all (with --format synthetic, --data names a preset)"
                )))
            }
        };
        Ok(c)
    }
}

/// A standing rest pose guessed from joint names (y up, metres, facing -z); `None` if a name is not recognised.
fn rest_from_names(layout: &Layout) -> Option<Vec<[f32; 3]>> {
    const TABLE: &[(&str, [f32; 3])] = &[
        ("hand_tip", [0.40, 0.80, 0.0]),
        ("thumb", [0.35, 0.84, -0.03]),
        ("shoulder_center", [0.0, 1.45, 0.0]),
        ("spine_shoulder", [0.0, 1.42, 0.0]),
        ("spine_base", [0.0, 1.0, 0.0]),
        ("spine_mid", [0.0, 1.2, 0.0]),
        ("hip_center", [0.0, 1.0, 0.0]),
        ("spine", [0.0, 1.2, 0.0]),
        ("neck", [0.0, 1.5, 0.0]),
        ("head", [0.0, 1.68, 0.0]),
        ("nose", [0.0, 1.62, -0.08]),
        ("eye", [0.03, 1.66, -0.06]),
        ("ear", [0.07, 1.64, 0.0]),
        ("shoulder", [0.19, 1.43, 0.0]),
        ("elbow", [0.28, 1.17, 0.0]),
        ("wrist", [0.33, 0.93, 0.0]),
        ("hand", [0.35, 0.86, 0.0]),
        ("hip", [0.1, 0.97, 0.0]),
        ("knee", [0.11, 0.52, 0.0]),
        ("ankle", [0.11, 0.1, 0.0]),
        ("foot", [0.11, 0.03, -0.1]),
    ];
    layout
        .joints
        .iter()
        .map(|name| {
            let n = name.to_lowercase();
            let (_, p) = TABLE.iter().find(|(k, _)| n.contains(k))?;
            let side = if n.contains("left") {
                1.0
            } else if n.contains("right") {
                -1.0
            } else {
                0.0
            };
            Some([if side == 0.0 { 0.0 } else { p[0] * side }, p[1], p[2]])
        })
        .collect()
}

/// Fallback rest pose for any layout: a tree drawn downwards from the centre joint.
fn rest_from_tree(layout: &Layout) -> Vec<[f32; 3]> {
    let v = layout.num_joints();
    let hops = crate::graph::hop_distances(v, &layout.edges);
    let depth = &hops[layout.center];
    let mut pos = vec![[0f32; 3]; v];
    let max_d = *depth.iter().max().unwrap_or(&1) as f32;
    for d in 0..=(max_d as usize) {
        let at: Vec<usize> = (0..v).filter(|&j| depth[j] == d).collect();
        for (i, &j) in at.iter().enumerate() {
            let x = if at.len() > 1 {
                (i as f32 / (at.len() - 1) as f32 - 0.5) * 0.8
            } else {
                0.0
            };
            pos[j] = [x, 1.4 - 1.4 * d as f32 / max_d.max(1.0), 0.0];
        }
    }
    pos
}

pub fn rest_pose(layout: &Layout) -> Vec<[f32; 3]> {
    rest_from_names(layout).unwrap_or_else(|| rest_from_tree(layout))
}

/// Joints moved by `part` and their motion weights in [0.7, 1] (distal joints move a little more).
fn moving_joints(layout: &Layout, part: &str) -> Result<Vec<(usize, f32)>> {
    let hops = crate::graph::hop_distances(layout.num_joints(), &layout.edges);
    // "legs:right" = the joints of `legs` whose name says `right` (all of them if none does).
    let (name, side) = part
        .split_once(':')
        .map_or((part, None), |(p, s)| (p, Some(s)));
    let all = layout.part(name)?;
    let sided: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&j| side.is_some_and(|s| layout.joints[j].contains(s)))
        .collect();
    let joints: &[usize] = if sided.is_empty() { all } else { &sided };
    let d: Vec<usize> = joints.iter().map(|&j| hops[layout.center][j]).collect();
    let (lo, hi) = (
        *d.iter().min().unwrap() as f32,
        *d.iter().max().unwrap() as f32,
    );
    Ok(joints
        .iter()
        .zip(&d)
        .map(|(&j, &dj)| {
            (
                j,
                if hi > lo {
                    0.7 + 0.3 * (dj as f32 - lo) / (hi - lo)
                } else {
                    1.0
                },
            )
        })
        .collect())
}

/// A part that drifts on its own: its joints with their weights, a direction, an amplitude, a frequency and a
/// phase.
type Nuisance = (Vec<(usize, f32)>, [f32; 3], f32, f32, f32);

pub fn generate(cfg: &SynthConfig, layout: &Layout) -> Result<Dataset> {
    if cfg.classes < 2 || cfg.classes > ACTIONS.len() {
        return Err(Error::usage(format!(
            "synthetic classes must be 2..={}, got {}",
            ACTIONS.len(),
            cfg.classes
        )));
    }
    if cfg.min_frames < 4 || cfg.max_frames < cfg.min_frames {
        return Err(Error::usage(
            "synthetic frame range must satisfy 4 <= min_frames <= max_frames",
        ));
    }
    let v = layout.num_joints();
    let rest = rest_pose(layout);
    let actions = &ACTIONS[..cfg.classes];
    let moving: Vec<Vec<(usize, f32)>> = actions
        .iter()
        .map(|(_, p, _, _)| moving_joints(layout, p))
        .collect::<Result<_>>()?;
    let mut samples = Vec::new();
    for subject in 1..=cfg.subjects {
        // Subject traits: size, per-joint proportions, speed.
        let mut srng = rng_for(cfg.seed, streams::SUBJECT + subject as u64);
        let size = uniform(&mut srng, 0.85, 1.15);
        let offsets: Vec<[f32; 3]> = (0..v)
            .map(|_| {
                [
                    normal(&mut srng) * 0.02,
                    normal(&mut srng) * 0.02,
                    normal(&mut srng) * 0.02,
                ]
            })
            .collect();
        let speed = uniform(&mut srng, 0.8, 1.25);
        for (class, (_, _, motion, amp)) in actions.iter().enumerate() {
            for rep in 0..cfg.repetitions {
                let mut r = rng_for(
                    cfg.seed,
                    streams::sequence(subject as u64, class as u64, rep as u64),
                );
                let t_len = r.random_range(cfg.min_frames..=cfg.max_frames);
                let phase = uniform(&mut r, 0.0, std::f32::consts::TAU);
                let freq = speed * uniform(&mut r, 0.85, 1.15);
                let yaw = uniform(&mut r, -0.35, 0.35);
                let shift = [uniform(&mut r, -0.3, 0.3), 0.0, uniform(&mut r, 2.0, 3.0)];
                let amp = amp * uniform(&mut r, 0.8, 1.2);
                // Nuisance motion: every part that the class does not move drifts slowly in a random
                // direction, so that "this part is still" is never evidence for a class.
                let nuisance: Vec<Nuisance> = layout
                    .parts
                    .keys()
                    .map(|p| moving_joints(layout, p))
                    .collect::<Result<Vec<_>>>()?
                    .into_iter()
                    .map(|js| {
                        js.into_iter()
                            .filter(|(j, _)| moving[class].iter().all(|(m, _)| m != j))
                            .collect::<Vec<_>>()
                    })
                    .filter(|js| !js.is_empty())
                    .map(|js| {
                        let d = [normal(&mut r), normal(&mut r), normal(&mut r)];
                        let n = (d[0] * d[0] + d[1] * d[1] + d[2] * d[2]).sqrt().max(1e-6);
                        let amp = uniform(&mut r, 0.03, 0.08);
                        (
                            js,
                            [d[0] / n, d[1] / n, d[2] / n],
                            amp,
                            uniform(&mut r, 0.3, 0.9),
                            uniform(&mut r, 0.0, std::f32::consts::TAU),
                        )
                    })
                    .collect();
                let mut data = Array4::<f32>::zeros((3, t_len, v, 1));
                for t in 0..t_len {
                    let s = t as f32 / (t_len - 1) as f32;
                    let mut pose: Vec<[f32; 3]> = (0..v)
                        .map(|j| std::array::from_fn(|c| (rest[j][c] + offsets[j][c]) * size))
                        .collect();
                    let sway = 0.02 * (std::f32::consts::TAU * s + phase).sin();
                    for p in pose.iter_mut() {
                        p[0] += sway;
                    }
                    for (js, dir, a, f, ph) in &nuisance {
                        let k = a * (std::f32::consts::TAU * f * s + ph).sin();
                        for &(j, w) in js {
                            for c in 0..3 {
                                pose[j][c] += k * w * dir[c];
                            }
                        }
                    }
                    for &(j, w) in &moving[class] {
                        match motion {
                            Motion::Oscillate(dir, cycles) => {
                                let a = amp
                                    * w
                                    * (std::f32::consts::TAU * cycles * freq * s + phase).sin();
                                for c in 0..3 {
                                    pose[j][c] += a * dir[c];
                                }
                            }
                            Motion::Converge => {
                                let k = 0.5
                                    - 0.5 * (std::f32::consts::TAU * 2.0 * freq * s + phase).cos();
                                pose[j][0] *= 1.0 - k * (amp / 0.35).min(0.9) * w;
                                pose[j][2] -= amp * 0.5 * k * w;
                            }
                            Motion::Lean => {
                                let k = (std::f32::consts::PI * s).sin() * amp;

                                pose[j][2] -= k * w;
                                pose[j][1] -= 0.4 * k * w;
                            }
                        }
                    }
                    let (sy, cy) = yaw.sin_cos();
                    for (j, p) in pose.iter().enumerate() {
                        let x = cy * p[0] + sy * p[2];
                        let z = -sy * p[0] + cy * p[2];
                        let out = [x + shift[0], p[1] + shift[1], z + shift[2]];
                        for c in 0..3 {
                            data[[c, t, j, 0]] = out[c] + cfg.noise * normal(&mut r);
                        }
                    }
                }
                samples.push(Sequence {
                    name: format!("synth_c{class:02}_s{subject:02}_r{rep:02}"),
                    label: class,
                    subject,
                    camera: None,
                    setup: None,
                    data,
                });
            }
        }
    }
    Ok(Dataset {
        classes: actions.iter().map(|a| a.0.to_string()).collect(),
        layout: layout.clone(),
        samples,
        skipped: Vec::new(),
        warnings: Vec::new(),
        gt_joints: Some(
            moving
                .iter()
                .map(|m| m.iter().map(|&(j, _)| j).collect())
                .collect(),
        ),
        parts: Default::default(),
        files: vec![],
    })
}

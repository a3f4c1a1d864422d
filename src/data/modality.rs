//! Input modalities of a skeleton model: the joints' coordinates, the bones (each joint minus its parent
//! in the layout's tree rooted at the centre joint), or the frame-to-frame motion of either.
//!
//! A bone is stored at its child joint, so a bone model's input, features and CAM are indexed by joint
//! like a joint model's: the centre joint's bone is zero.

use super::preprocess::with_motion;
use super::Layout;
use ndarray::{Array4, Axis};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Modality {
    /// Joint coordinates (with their motion appended unless motion channels are switched off).
    #[default]
    Joint,
    /// Bone vectors: joint minus its parent (with their motion appended unless switched off).
    Bone,
    /// The joints' frame-to-frame differences only.
    JointMotion,
    /// The bones' frame-to-frame differences only.
    BoneMotion,
}

impl Modality {
    pub fn is_joint(&self) -> bool {
        *self == Modality::Joint
    }

    pub fn name(self) -> &'static str {
        match self {
            Modality::Joint => "joint",
            Modality::Bone => "bone",
            Modality::JointMotion => "joint-motion",
            Modality::BoneMotion => "bone-motion",
        }
    }

    /// The seed a model of this modality trains with (initial weights, batch order, augmentation, mixup,
    /// dropout) for `--seed seed`: the seed itself for joints, a seed of its own for each other modality.
    /// The members of an ensemble trained with one `--seed` then do not start from the same weights and
    /// see the same batches, which made their errors agree more than they need to. The data (the split,
    /// the synthetic sequences) still comes from `seed`.
    pub fn training_seed(self, seed: u64) -> u64 {
        let k = match self {
            Modality::Joint => return seed,
            Modality::Bone => 1,
            Modality::JointMotion => 2,
            Modality::BoneMotion => 3,
        };
        crate::rng::derived_seed(seed, crate::rng::streams::MODALITY + k)
    }

    /// Whether the input is built from bones (and so needs the layout's parents).
    pub fn uses_bones(self) -> bool {
        matches!(self, Modality::Bone | Modality::BoneMotion)
    }

    /// Whether the input is a motion stream only (then `motion` adds nothing).
    pub fn is_motion(self) -> bool {
        matches!(self, Modality::JointMotion | Modality::BoneMotion)
    }

    /// Input channels for `coords` coordinate channels; `motion` appends the motion of joint and bone inputs.
    pub fn channels(self, coords: usize, motion: bool) -> usize {
        if motion && !self.is_motion() {
            2 * coords
        } else {
            coords
        }
    }

    /// The model input (C′, T, V, M) from fixed-length coordinates (C, T, V, M); `parents` (the layout's,
    /// see [`Layout::parents`]) is read only by the bone modalities.
    pub fn input(self, coords: &Array4<f32>, motion: bool, parents: &[usize]) -> Array4<f32> {
        let c = coords.shape()[0];
        // Only the motion half; frames where a person is absent keep zero motion.
        let motion_only = |m: Array4<f32>| m.slice_axis(Axis(0), (c..2 * c).into()).to_owned();
        match self {
            Modality::Joint if motion => with_motion(coords),
            Modality::Joint => coords.clone(),
            Modality::Bone if motion => with_motion(&bones(coords, parents)),
            Modality::Bone => bones(coords, parents),
            Modality::JointMotion => motion_only(with_motion(coords)),
            Modality::BoneMotion => motion_only(with_motion_of(&bones(coords, parents), coords)),
        }
    }
}

/// Motion channels of `data` where presence is judged on the joints' coordinates (a bone array of a present
/// person can be all zero only if every joint sits on its parent).
fn with_motion_of(data: &Array4<f32>, coords: &Array4<f32>) -> Array4<f32> {
    let mut out = with_motion(data);
    let (c_n, t_n, _, m_n) = data.dim();
    let absent = |t: usize, m: usize| {
        coords
            .index_axis(Axis(1), t)
            .index_axis(Axis(2), m)
            .iter()
            .all(|&x| x == 0.0)
    };
    for m in 0..m_n {
        for t in 0..t_n.saturating_sub(1) {
            if absent(t, m) || absent(t + 1, m) {
                out.slice_mut(ndarray::s![c_n.., t, .., m]).fill(0.0);
            }
        }
    }
    out
}

/// Bone vectors (C, T, V, M): joint minus parent where the person is present in the frame, zero elsewhere
/// and at the root.
pub fn bones(coords: &Array4<f32>, parents: &[usize]) -> Array4<f32> {
    let (c_n, t_n, v_n, m_n) = coords.dim();
    let mut out = Array4::<f32>::zeros((c_n, t_n, v_n, m_n));
    for m in 0..m_n {
        for t in 0..t_n {
            let frame = coords.slice(ndarray::s![.., t, .., m]);
            if frame.iter().all(|&x| x == 0.0) {
                continue;
            }
            for v in 0..v_n {
                let p = parents[v];
                if p == v {
                    continue;
                }
                for c in 0..c_n {
                    out[[c, t, v, m]] = frame[[c, v]] - frame[[c, p]];
                }
            }
        }
    }
    out
}

impl Layout {
    /// Each joint's parent in the breadth-first tree from the centre joint (the lowest-numbered neighbour
    /// one hop closer to the centre); the centre is its own parent.
    pub fn parents(&self) -> Vec<usize> {
        let v = self.num_joints();
        let d = crate::graph::hops_from(v, &self.edges, self.center);
        (0..v)
            .map(|j| {
                if j == self.center {
                    return j;
                }
                self.edges
                    .iter()
                    .filter_map(|&[a, b]| match () {
                        _ if a == j => Some(b),
                        _ if b == j => Some(a),
                        _ => None,
                    })
                    .filter(|&n| d[n] + 1 == d[j])
                    .min()
                    .unwrap_or(j)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> Layout {
        Layout::resolve("kinect20").unwrap()
    }

    /// Joint models keep `--seed` (their runs reproduce the runs made before modalities had seeds of their
    /// own); the four modalities of one seed never share a training seed, and none takes another `--seed`'s.
    #[test]
    fn each_modality_trains_from_a_seed_of_its_own_and_joints_keep_the_given_one() {
        let mut seen = std::collections::HashSet::new();
        for seed in [0u64, 1, 2, 3, 42, u64::MAX] {
            assert_eq!(Modality::Joint.training_seed(seed), seed);
            for &m in <Modality as clap::ValueEnum>::value_variants() {
                assert_eq!(
                    m.training_seed(seed),
                    m.training_seed(seed),
                    "{m:?} is not repeatable"
                );
                assert!(
                    seen.insert(m.training_seed(seed)),
                    "{m:?}, seed {seed}: a seed used twice"
                );
            }
        }
    }

    #[test]
    fn every_parent_is_one_hop_nearer_the_centre_and_bones_rebuild_the_joints() {
        let l = layout();
        let parents = l.parents();
        let hops = crate::graph::hop_distances(l.num_joints(), &l.edges);
        for (j, &p) in parents.iter().enumerate() {
            if j == l.center {
                assert_eq!(p, j);
            } else {
                assert_eq!(hops[l.center][p] + 1, hops[l.center][j], "joint {j}");
            }
        }
        // Random coordinates; person 1 absent in frame 2.
        let mut x = Array4::<f32>::zeros((3, 4, l.num_joints(), 2));
        for (i, v) in x.iter_mut().enumerate() {
            *v = ((i * 37 % 101) as f32 - 50.0) / 10.0;
        }
        x.slice_mut(ndarray::s![.., 2, .., 1]).fill(0.0);
        let b = bones(&x, &parents);
        // Summing bones from the root along the tree gives joint − centre.
        for m in 0..2 {
            for t in 0..4 {
                if t == 2 && m == 1 {
                    assert!(b.slice(ndarray::s![.., t, .., m]).iter().all(|&v| v == 0.0));
                    continue;
                }
                for j in 0..l.num_joints() {
                    let (mut k, mut sum) = (j, [0f32; 3]);
                    while k != l.center {
                        for c in 0..3 {
                            sum[c] += b[[c, t, k, m]];
                        }
                        k = parents[k];
                    }
                    for c in 0..3 {
                        let want = x[[c, t, j, m]] - x[[c, t, l.center, m]];
                        assert!((sum[c] - want).abs() < 1e-4, "{sum:?} vs {want}");
                    }
                }
            }
        }
        let bm = Modality::BoneMotion.input(&x, true, &parents);
        assert_eq!(bm.shape()[0], 3);
        assert_eq!(bm[[0, 0, 5, 0]], b[[0, 1, 5, 0]] - b[[0, 0, 5, 0]]);
        // No motion into or out of the frame where person 1 is absent.
        assert!(bm
            .slice(ndarray::s![.., 1..3, .., 1])
            .iter()
            .all(|&v| v == 0.0));
        let j = Modality::Joint.input(&x, true, &parents);
        assert_eq!(j, with_motion(&x));
        assert_eq!(Modality::Joint.channels(3, true), 6);
        assert_eq!(Modality::JointMotion.channels(3, true), 3);
    }
}

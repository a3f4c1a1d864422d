//! Skeleton layouts: joint names, bones, the centre joint and body-part groups, loaded from JSON (`data/layouts/*.json`).

use crate::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A skeleton layout as stored in `data/layouts/NAME.json`. Edges are 0-based joint index pairs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Layout {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub joints: Vec<String>,
    pub edges: Vec<[usize; 2]>,
    pub center: usize,
    pub parts: BTreeMap<String, Vec<usize>>,
}

/// The layouts shipped inside the binary (the same files as `data/layouts/`).
const BUILTIN: &[(&str, &str)] = &[
    ("ntu25", include_str!("../../data/layouts/ntu25.json")),
    ("kinect20", include_str!("../../data/layouts/kinect20.json")),
    (
        "openpose18",
        include_str!("../../data/layouts/openpose18.json"),
    ),
    ("msr20", include_str!("../../data/layouts/msr20.json")),
    (
        "ntu25-pyskl",
        include_str!("../../data/layouts/ntu25-pyskl.json"),
    ),
    ("coco17", include_str!("../../data/layouts/coco17.json")),
];

/// Body-part groups every layout must define (used by occlusion tests and plots).
pub const REQUIRED_PARTS: &[&str] = &["left_arm", "right_arm", "hands", "legs", "trunk"];

impl Layout {
    pub fn builtin_names() -> Vec<&'static str> {
        BUILTIN.iter().map(|(n, _)| *n).collect()
    }

    /// A built-in name (`ntu25`, `ntu25-pyskl`, `kinect20`, `openpose18`, `coco17`, `msr20`) or a path to a JSON
    /// file.
    pub fn resolve(name_or_path: &str) -> Result<Layout> {
        if let Some((_, text)) = BUILTIN.iter().find(|(n, _)| *n == name_or_path) {
            return Self::from_json(text, Path::new(&format!("<built-in {name_or_path}>")));
        }
        let path = Path::new(name_or_path);
        if !path.exists() {
            return Err(Error::usage(format!(
                "unknown layout '{name_or_path}': not a built-in ({}) and no such file",
                Self::builtin_names().join(", ")
            )));
        }
        let text = crate::io::read_to_string(path)?;
        Self::from_json(&text, path)
    }

    pub fn from_json(text: &str, origin: &Path) -> Result<Layout> {
        let layout: Layout = serde_json::from_str(text)
            .map_err(|e| Error::at_line(origin, e.line(), format!("invalid layout JSON: {e}")))?;
        layout.validate().map_err(|msg| Error::data(origin, msg))?;
        Ok(layout)
    }

    pub fn num_joints(&self) -> usize {
        self.joints.len()
    }

    /// Checks: at least one joint, edges and centre in range, no self-loops, a connected graph,
    /// and the required body-part groups with valid joint indices.
    pub fn validate(&self) -> std::result::Result<(), String> {
        let v = self.joints.len();
        if v == 0 {
            return Err("layout has no joints".into());
        }
        crate::limits::JOINTS
            .check("joints", v as u64)
            .map_err(|e| e.to_string())?;
        for (i, [a, b]) in self.edges.iter().enumerate() {
            if *a >= v || *b >= v {
                return Err(format!(
                    "edges[{i}] = [{a}, {b}] is out of range: the layout has {v} joints (0..{})",
                    v - 1
                ));
            }
            if a == b {
                return Err(format!(
                    "edges[{i}] = [{a}, {b}] is a self-loop; self-loops are added automatically"
                ));
            }
        }
        if self.center >= v {
            return Err(format!(
                "center = {} is out of range: the layout has {v} joints",
                self.center
            ));
        }
        let hops = crate::graph::hops_from(v, &self.edges, self.center);
        if let Some(j) = (0..v).find(|&j| hops[j] == usize::MAX) {
            return Err(format!(
                "the skeleton graph is not connected: joint {j} ({}) cannot be reached from the centre joint {}",
                self.joints[j], self.center
            ));
        }
        for part in REQUIRED_PARTS {
            match self.parts.get(*part) {
                None => return Err(format!("missing body-part group '{part}' in \"parts\"")),
                Some(js) if js.is_empty() => {
                    return Err(format!("body-part group '{part}' is empty"))
                }
                _ => {}
            }
        }
        for (name, js) in &self.parts {
            if let Some(j) = js.iter().find(|&&j| j >= v) {
                return Err(format!(
                    "parts.{name} lists joint {j}, out of range for {v} joints"
                ));
            }
        }
        Ok(())
    }

    /// The joints of a named body part, with a clear error listing the known parts.
    pub fn part(&self, name: &str) -> Result<&[usize]> {
        self.parts.get(name).map(|v| v.as_slice()).ok_or_else(|| {
            Error::usage(format!(
                "layout {} has no body part '{name}'; known parts: {}",
                self.name,
                self.parts.keys().cloned().collect::<Vec<_>>().join(", ")
            ))
        })
    }

    /// The first listed body part containing joint `j` (for colouring), or "other".
    pub fn part_of(&self, j: usize) -> &str {
        for p in REQUIRED_PARTS {
            if self.parts.get(*p).is_some_and(|js| js.contains(&j)) {
                return p;
            }
        }
        self.parts
            .iter()
            .find(|(_, js)| js.contains(&j))
            .map(|(n, _)| n.as_str())
            .unwrap_or("other")
    }
}

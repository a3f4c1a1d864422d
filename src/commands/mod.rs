//! The commands: one file per subcommand (or a small group), each taking typed options, orchestrating the
//! library's operations and writing the files a person looks at. The command line (`cli`) builds the
//! options; nothing here knows about argument parsing.

pub mod bench;
pub mod cam_compare;
pub mod cam_summary;
pub mod demo;
pub mod ensemble;
pub mod eval;
pub mod export;
pub mod faithfulness;
pub mod image_cam;
pub mod image_compare;
pub mod image_eval;
pub mod image_import;
pub mod image_localize;
pub mod info;
pub mod ragcn;
pub mod report;
pub mod robustness;
pub mod skeleton_cam;
pub mod skeleton_data;
pub mod skeleton_import;
pub mod synth;
pub mod train;

/// Version of the JSON documents the commands write (`cam.json`, `index.json`, `top_joints.json`, …).
pub const SCHEMA_VERSION: u32 = 1;

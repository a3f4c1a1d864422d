//! skelcam's integration tests, one binary: the command line end to end, the readers, the models and
//! kernels against candle and finite differences, the CAM identities and the real-data checks.

mod architecture;
mod cam;
mod cam_methods;
mod cli;
mod common;
mod ensemble;
mod graph_layouts;
mod hostile;
mod image;
mod image_cam_math;
mod interop;
mod kernels;
mod model;
mod mutations;
mod ragcn;
mod readers;
mod real_data;
mod report;
mod resnet;
mod robustness;
mod training;

//! skelcam: Class Activation Maps for skeleton-action and image models, trained and explained from the command line.
//!
//! The library holds everything; the `skelcam` binary only parses arguments and dispatches to [`cli::run`].

pub mod cli;
pub mod config;
pub mod data;
pub mod error;
pub mod graph;
pub mod io;
pub mod models;
pub mod plot;
pub mod report;
pub mod rng;
pub mod train;

pub use error::{Error, Result};

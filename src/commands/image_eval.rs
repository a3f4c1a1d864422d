//! `skelcam image eval`: top-1, loss and the confusion matrix of an image run on its test pictures or
//! another folder.

use crate::config::ImageSource;
use crate::models::ImageModel;
use crate::train::image::{evaluate_items, test_pictures};
use crate::Result;
use serde_json::json;
use std::path::PathBuf;

/// What `image eval` evaluates.
#[derive(Debug, Clone)]
pub struct ImageEvalOptions {
    pub run: PathBuf,
    /// Pictures to evaluate (default: the run's own test part).
    pub data: ImageSource,
    /// Print one JSON object on stdout.
    pub json: bool,
}

pub fn eval(a: &ImageEvalOptions) -> Result<()> {
    let model = ImageModel::load(&a.run)?;
    let items = test_pictures(&model, &a.data)?;
    let ev = evaluate_items(&model, &items)?;
    let report = json!({
        "run": a.run, "samples": items.len(), "top1": ev.top1, "loss": ev.loss,
        "classes": model.run.classes, "per_class": ev.per_class, "confusion": ev.confusion,
    });
    if a.json {
        println!("{report}");
    } else {
        println!(
            "{} pictures: top-1 {:.3}, loss {:.3}",
            items.len(),
            ev.top1,
            ev.loss
        );
        for (c, row) in model.run.classes.iter().zip(&ev.confusion) {
            println!("  {c:<16} {row:?}");
        }
    }
    Ok(())
}

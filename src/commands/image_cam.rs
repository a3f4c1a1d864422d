//! `skelcam image cam`: for a picture, or every picture under a folder, the overlay with its caption, the
//! bare heatmap and `cam.json`; for a folder also an `index.html` of the overlays.

use crate::cam::core::{identity_error, identity_tolerance};
use crate::cam::image::{explain_picture, minmax2, photo_input, upsample_bilinear, ImageCamMethod};
use crate::cam::skeleton::ClassChoice;
use crate::data::images::decode;
use crate::models::ImageModel;
use crate::plot::html;
use crate::plot::overlay::{blend, caption, enlarged, heatmap_image, save_png};
use crate::{Error, Result};
use ndarray::Array2;
use serde_json::json;
use std::path::{Path, PathBuf};

/// What `image cam` explains and how.
#[derive(Debug, Clone)]
pub struct ImageCamOptions {
    pub run: PathBuf,
    /// A picture, or a folder searched recursively.
    pub input: PathBuf,
    pub out: PathBuf,
    /// `auto` (the prediction), a class name, or an index.
    pub class: String,
    pub method: ImageCamMethod,
    /// Weight of the heatmap in the overlay (0 = photo only, 1 = heatmap only).
    pub alpha: f32,
    /// Skip unreadable pictures in a folder instead of stopping.
    pub skip_bad: bool,
    /// Arrays written beside the overlay.
    pub export: super::export::Export,
    /// Score-CAM's masked pictures and Ablation-CAM's feature maps per forward pass.
    pub batch: usize,
}

fn nested(a: &Array2<f32>) -> serde_json::Value {
    json!(a.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
}

/// What was explained in one picture.
pub struct Explained {
    /// The overlay's caption, e.g. `dog 97.3%`.
    pub caption: String,
    pub class: usize,
    pub probability: f32,
}

/// Write overlay.png, heatmap.png, cam.json (and the asked-for arrays) for one picture file into `dir`.
pub(crate) fn write_picture(
    model: &ImageModel,
    a: &ImageCamOptions,
    choice: &ClassChoice,
    path: &Path,
    dir: &Path,
) -> Result<String> {
    let photo = decode(path)?;
    Ok(write_photo(model, a, choice, &photo, path, dir)?.caption)
}

/// [`write_picture`] for a decoded picture; `path` names it in messages and in `cam.json`.
pub(crate) fn write_photo(
    model: &ImageModel,
    a: &ImageCamOptions,
    choice: &ClassChoice,
    photo: &image::RgbImage,
    path: &Path,
    dir: &Path,
) -> Result<Explained> {
    let x = photo_input(photo, model.size())?;
    let cam = explain_picture(model, &x, choice, a.method, a.batch)?;
    let id_err = identity_error(
        &cam.raw.clone().insert_axis(ndarray::Axis(2)),
        cam.bias,
        cam.logit,
    );
    if id_err > identity_tolerance(cam.logit) {
        return Err(Error::Other(format!(
            "{}: CAM identity broken (mean CAM + bias differs from the logit by {id_err:.2e})",
            path.display()
        )));
    }
    let (norm, flat) = minmax2(&cam.map);
    if flat {
        eprintln!(
            "warning: {}: the {:?} map is flat; the overlay is uniform",
            path.display(),
            a.method
        );
    }
    // A small picture is drawn enlarged (each pixel a block) so that its overlay and caption can be read.
    let shown = enlarged(photo);
    let (w, h) = shown.dimensions();
    let up = upsample_bilinear(&norm, h as usize, w as usize);
    let name = &model.run.classes[cam.class];
    let text = format!("{name} {:.1}%", 100.0 * cam.probs[cam.class]);
    let mut overlay = blend(&shown, &up, a.alpha);
    caption(&mut overlay, &text);
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    save_png(&overlay, &dir.join("overlay.png"))?;
    save_png(&heatmap_image(&up), &dir.join("heatmap.png"))?;
    let probabilities: serde_json::Map<String, serde_json::Value> = model
        .run
        .classes
        .iter()
        .cloned()
        .zip(cam.probs.iter().map(|p| json!(p)))
        .collect();
    crate::io::write_json(
        &dir.join("cam.json"),
        &json!({
            "schema_version": super::SCHEMA_VERSION, "input": path, "method": a.method, "class": name, "class_index": cam.class,
            "probability": cam.probs[cam.class], "probabilities": probabilities, "logit": cam.logit,
            "bias": cam.bias, "identity_error": id_err, "flat": flat, "input_size": model.size(),
            "raw": nested(&cam.raw), "map": nested(&cam.map),
        }),
    )?;
    super::export::picture(dir, &a.export, &cam.raw, &cam.map)?;
    Ok(Explained {
        caption: text,
        class: cam.class,
        probability: cam.probs[cam.class],
    })
}

pub fn cam(a: &ImageCamOptions) -> Result<()> {
    if !(0.0..=1.0).contains(&a.alpha) {
        return Err(Error::invalid("alpha", a.alpha, "in [0, 1]"));
    }
    let model = ImageModel::load(&a.run)?;
    let choice = ClassChoice::parse(&a.class, &model.run.classes)?;
    // Overlays written among pictures would be read as pictures by the next training or explanation.
    let data_dirs = model.run.train.data.iter().map(PathBuf::from);
    let input_dir = a.input.is_dir().then(|| a.input.clone());
    if let Some(d) = data_dirs
        .chain(input_dir)
        .find(|d| crate::io::is_inside(&a.out, d))
    {
        return Err(Error::invalid(
            "out",
            a.out.display(),
            format!(
                "a place outside the picture folder {} (overlays there would be read as pictures)",
                d.display()
            ),
        ));
    }
    if a.input.is_file() {
        let text = write_picture(&model, a, &choice, &a.input, &a.out)?;
        eprintln!("{}: {text}; wrote {}", a.input.display(), a.out.display());
        return Ok(());
    }
    if !a.input.is_dir() {
        return Err(Error::invalid(
            "input",
            a.input.display(),
            "a picture or a folder of pictures",
        ));
    }
    let files = crate::data::images::pictures_under(&a.input)?;
    if files.is_empty() {
        return Err(Error::data(
            &a.input,
            "no .jpg/.jpeg/.png pictures in this folder",
        ));
    }
    let bar = crate::progress::bar(files.len() as u64, "CAM");
    let mut rows = Vec::new();
    let mut skipped = 0;
    for f in &files {
        let rel = f.strip_prefix(&a.input).unwrap_or(f).with_extension("");
        let sub = rel.to_string_lossy().replace(['/', '\\'], "_");
        let explained =
            decode(f).and_then(|p| write_photo(&model, a, &choice, &p, f, &a.out.join(&sub)));
        match explained {
            Ok(e) => rows.push((sub, e)),
            Err(e) if a.skip_bad => {
                eprintln!("warning: skipping {e}");
                skipped += 1;
            }
            Err(e) => {
                return Err(Error::Other(format!(
                    "{e}\n  (pass --skip-bad to skip unreadable pictures)"
                )))
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    let cards: Vec<html::Card> = rows
        .iter()
        .map(|(sub, e)| html::Card {
            title: sub.clone(),
            image: format!("{sub}/overlay.png"),
            predicted: model.run.classes[e.class].clone(),
            truth: None,
            probability: e.probability as f64,
            links: vec![
                ("heatmap".into(), format!("{sub}/heatmap.png")),
                ("cam.json".into(), format!("{sub}/cam.json")),
            ],
        })
        .collect();
    let title = format!(
        "{} maps of {} ({} pictures)",
        a.method.label(),
        a.run.display(),
        rows.len()
    );
    let body = html::gallery(&cards, &model.run.classes);
    let html = html::page(&title, &[("Explained pictures".into(), body)]);
    crate::io::write_atomic(&a.out.join("index.html"), html.as_bytes())?;
    eprintln!(
        "wrote {} overlays and {} ({} skipped)",
        rows.len(),
        a.out.join("index.html").display(),
        skipped
    );
    Ok(())
}

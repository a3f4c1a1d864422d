//! Image commands besides training: `image eval`, `image cam` (overlay + caption, bare heatmap, cam.json,
//! index.html for a folder), `image import` (torchvision state dict → run directory) and `image synth`.

use crate::cam::core::{identity_error, identity_tolerance};
use crate::cam::image::{explain, minmax2, upsample_bilinear};
use crate::cam::skeleton::{argmax, ClassChoice};
use crate::cli::image::{ImageCamArgs, ImageDataArgs, ImageEvalArgs, ImageSynthArgs, ImportArgs};
use crate::config::{ImageFormat, ImageTrainConfig};
use crate::data::augment::{batch_tensor, eval_view, Jitter};
use crate::data::images::{class_map, decode, ImageItem, ImageSet};
use crate::data::synth_images::{generate, SynthImageConfig};
use crate::models::{Ctx, ResnetConfig};
use crate::plot::overlay::{blend, caption, heatmap_image, save_png};
use crate::train::checkpoint;
use crate::train::image::{evaluate_items, load_images, ImageModel, ImageRunConfig};
use crate::{Error, Result};
use image::RgbImage;
use ndarray::{Array1, Array2};
use serde_json::json;
use std::path::Path;

/// The pictures a report runs on: `--data`/`--format` if given (all of them when it has no test part),
/// else the run's own test part.
pub fn report_images(model: &ImageModel, data: &ImageDataArgs) -> Result<Vec<ImageItem>> {
    let mut cfg: ImageTrainConfig = model.run.train.clone();
    if data.given() {
        data.apply(&mut cfg);
    }
    let set: ImageSet = load_images(&cfg, true)?;
    // Folder classes come sorted by name; labels are mapped onto the model's order by name.
    let index = class_map(&set.classes, &model.run.classes).ok_or_else(|| {
        Error::usage(format!(
            "the pictures have classes {:?}, the model {:?}: every picture class must be one of the model's",
            set.classes, model.run.classes
        ))
    })?;
    let mut items = set.test;
    for it in &mut items {
        it.label = index[it.label];
    }
    Ok(items)
}

pub fn eval(a: &ImageEvalArgs) -> Result<()> {
    let model = ImageModel::load(&a.run)?;
    let items = report_images(&model, &a.data)?;
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

/// One explained picture.
pub struct PictureCam {
    pub class: usize,
    pub probs: Vec<f32>,
    pub logit: f32,
    pub bias: f32,
    /// Raw CAM at feature resolution.
    pub raw: Array2<f32>,
    /// The chosen method's map at feature resolution.
    pub map: Array2<f32>,
}

/// Explain a (resized, normalised) picture batch of one: (1, 3, S, S).
pub fn explain_picture(
    model: &ImageModel,
    x: &candle_core::Tensor,
    choice: &ClassChoice,
    method: crate::cli::image::ImageCamMethod,
) -> Result<PictureCam> {
    Ok(explain_picture_classes(model, x, &[choice.clone()], method)?.remove(0))
}

/// One forward pass, then the map of every class in `choices` (for `auto`, the predicted class).
pub fn explain_picture_classes(
    model: &ImageModel,
    x: &candle_core::Tensor,
    choices: &[ClassChoice],
    method: crate::cli::image::ImageCamMethod,
) -> Result<Vec<PictureCam>> {
    let net = &model.net;
    let feats = net.features(x, &mut Ctx::eval())?;
    let out = net.head(&feats)?;
    let logits: Vec<f32> = out.squeeze(0)?.to_vec1()?;
    let probs: Vec<f32> = candle_nn::ops::softmax_last_dim(&out)?
        .squeeze(0)?
        .to_vec1()?;
    let (w, b) = net.head_params();
    choices
        .iter()
        .map(|choice| {
            let class = match choice {
                ClassChoice::Auto => argmax(&logits),
                ClassChoice::Index(i) => *i,
            };
            let wc: Vec<f32> = w.get(class)?.to_vec1()?;
            let (raw, map) = explain(
                &feats,
                |f| net.head(f),
                Array1::from(wc).view(),
                class,
                method,
            )?;
            Ok(PictureCam {
                class,
                probs: probs.clone(),
                logit: logits[class],
                bias: b.get(class)?.to_scalar()?,
                raw,
                map,
            })
        })
        .collect()
}

/// A photo as a model input (1, 3, S, S).
pub fn photo_input(photo: &RgbImage, size: u32) -> Result<candle_core::Tensor> {
    batch_tensor(&[(eval_view(photo, size), Jitter::NONE)], size)
}

fn nested(a: &Array2<f32>) -> serde_json::Value {
    json!(a.outer_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
}

/// Write overlay.png, heatmap.png and cam.json for one picture into `dir`; returns the caption.
fn write_picture(
    model: &ImageModel,
    a: &ImageCamArgs,
    choice: &ClassChoice,
    path: &Path,
    dir: &Path,
) -> Result<String> {
    let photo = decode(path)?;
    let cam = explain_picture(model, &photo_input(&photo, model.size())?, choice, a.method)?;
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
    let (w, h) = photo.dimensions();
    let up = upsample_bilinear(&norm, h as usize, w as usize);
    let name = &model.run.classes[cam.class];
    let text = format!("{name} {:.1}%", 100.0 * cam.probs[cam.class]);
    let mut overlay = blend(&photo, &up, a.alpha);
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
            "schema_version": 1, "input": path, "method": a.method, "class": name, "class_index": cam.class,
            "probability": cam.probs[cam.class], "probabilities": probabilities, "logit": cam.logit,
            "bias": cam.bias, "identity_error": id_err, "flat": flat, "input_size": model.size(),
            "raw": nested(&cam.raw), "map": nested(&cam.map),
        }),
    )?;
    Ok(text)
}

pub fn cam(a: &ImageCamArgs) -> Result<()> {
    let model = ImageModel::load(&a.run)?;
    let choice = ClassChoice::parse(&a.class, &model.run.classes)?;
    if a.input.is_file() {
        let text = write_picture(&model, a, &choice, &a.input, &a.out)?;
        eprintln!("{}: {text}; wrote {}", a.input.display(), a.out.display());
        return Ok(());
    }
    if !a.input.is_dir() {
        return Err(Error::usage(format!(
            "--input {}: no such picture or folder",
            a.input.display()
        )));
    }
    let files = crate::data::images::pictures_under(&a.input)?;
    if files.is_empty() {
        return Err(Error::data(
            &a.input,
            "no .jpg/.jpeg/.png pictures in this folder",
        ));
    }
    let bar = crate::train::progress::bar(files.len() as u64, "CAM");
    let mut rows = Vec::new();
    let mut skipped = 0;
    for f in &files {
        let rel = f.strip_prefix(&a.input).unwrap_or(f).with_extension("");
        let sub = rel.to_string_lossy().replace(['/', '\\'], "_");
        match write_picture(&model, a, &choice, f, &a.out.join(&sub)) {
            Ok(text) => rows.push((sub, text)),
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
    let cells: String = rows
        .iter()
        .map(|(sub, text)| {
            format!("<figure><a href=\"{sub}/overlay.png\"><img src=\"{sub}/overlay.png\"></a><figcaption>{sub}: {text}</figcaption></figure>\n")
        })
        .collect();
    let html = format!(
        "<!doctype html><meta charset=\"utf-8\"><title>skelcam image cam</title>\n<style>body{{font-family:sans-serif}} figure{{display:inline-block;margin:6px}} img{{max-width:240px;max-height:240px}}</style>\n<h1>{:?} maps of {} ({} pictures)</h1>\n{cells}",
        a.method,
        a.run.display(),
        rows.len()
    );
    crate::io::write_atomic(&a.out.join("index.html"), html.as_bytes())?;
    eprintln!(
        "wrote {} overlays and {} ({} skipped)",
        rows.len(),
        a.out.join("index.html").display(),
        skipped
    );
    Ok(())
}

/// torchvision's state dict (safetensors) → run directory; `num_batches_tracked` counters are ignored.
pub fn import(a: &ImportArgs) -> Result<()> {
    if a.classes.len() < 2 {
        return Err(Error::usage("--classes needs at least two names"));
    }
    let (tensors, _) = checkpoint::load(&a.weights)?;
    let fc = tensors.get("fc.weight").ok_or_else(|| {
        Error::data(
            &a.weights,
            "no 'fc.weight': expected a torchvision ResNet-18 state dict",
        )
    })?;
    let (rows, cols) = fc.dims2()?;
    if rows != a.classes.len() {
        return Err(Error::data(
            &a.weights,
            format!(
                "fc.weight has {rows} rows but --classes lists {} names",
                a.classes.len()
            ),
        ));
    }
    let width = cols / 8;
    let preset = if width == 64 {
        "resnet18"
    } else {
        "resnet18-narrow"
    };
    let mut model_cfg = ResnetConfig::preset(preset, rows).map_err(Error::usage)?;
    model_cfg.width = width;
    if a.size < 32 || a.size % 16 != 0 {
        return Err(Error::usage(format!(
            "--size must be a multiple of 16 and at least 32, got {}",
            a.size
        )));
    }
    // No training data: reports on an imported run need --data.
    let train = ImageTrainConfig {
        model: preset.into(),
        size: a.size,
        format: ImageFormat::Folder,
        ..Default::default()
    };
    let run = ImageRunConfig {
        skelcam_version: env!("CARGO_PKG_VERSION").into(),
        kind: "image".into(),
        train,
        model: model_cfg,
        classes: a.classes.clone(),
    };
    let model = ImageModel::build(&run)?;
    checkpoint::load_into(&model.varmap, &tensors, "", &a.weights)?;
    crate::io::prepare_out_dir(&a.out, a.force)?;
    crate::io::write_json(&a.out.join("config.json"), &run)?;
    checkpoint::save(
        &a.out.join("model.safetensors"),
        &checkpoint::varmap_tensors(&model.varmap),
        None,
    )?;
    eprintln!(
        "imported {} ({} parameters, classes {:?}) into {}",
        a.weights.display(),
        model.num_params(),
        a.classes,
        a.out.display()
    );
    Ok(())
}

/// Write the synthetic set as PNG files: train/<class>/, test/<class>/, each with boxes.json.
pub fn synth(a: &ImageSynthArgs) -> Result<()> {
    let cfg = SynthImageConfig {
        classes: a.classes,
        train_per_class: a.train_per_class,
        test_per_class: a.test_per_class,
        side: a.side,
        seed: a.seed,
    };
    let set = generate(&cfg)?;
    crate::io::prepare_out_dir(&a.out, a.force)?;
    for (part, items) in [("train", &set.train), ("test", &set.test)] {
        if items.is_empty() {
            continue; // e.g. --train-per-class 0: no empty train/ with an empty boxes.json
        }
        let mut boxes = std::collections::BTreeMap::new();
        for it in items {
            let class = &set.classes[it.label];
            let file = it.name.rsplit('/').next().unwrap_or(&it.name).to_string();
            let rel = format!("{class}s/{file}");
            let path = a.out.join(part).join(&rel);
            std::fs::create_dir_all(path.parent().expect("has a parent"))
                .map_err(|e| Error::io(&path, e))?;
            save_png(&it.image, &path)?;
            boxes.insert(rel, it.boxes.clone());
        }
        crate::io::write_json(&a.out.join(part).join("boxes.json"), &boxes)?;
    }
    eprintln!(
        "wrote {} + {} pictures with boxes to {}",
        set.train.len(),
        set.test.len(),
        a.out.display()
    );
    Ok(())
}

/// The image half of `skelcam demo`: a narrow ResNet-18 (layer4 at 1/16) on the synthetic pictures, then one overlay per
/// class and the localisation report in `plots/demo/image/`.
pub fn demo(a: &crate::cli::DemoArgs) -> Result<()> {
    // Input 96 = the synthetic side; layer4 at 1/16 gives 6×6 maps.
    // 300 pictures per class and no CutMix: measured to give sharper maps than the training defaults.
    let mut cfg = ImageTrainConfig {
        model: "resnet18-narrow-os16".into(),
        size: 96,
        epochs: a.image_epochs,
        cutmix: 0.0,
        eval_every: 5,
        ..Default::default()
    };
    cfg.synthetic.train_per_class = 300;
    eprintln!(
        "demo: training {} on the built-in synthetic pictures into {}",
        cfg.model,
        a.image_run.display()
    );
    let m = crate::train::image::train(&cfg, &a.image_run, true)?;
    let out = a.out.join("image");
    std::fs::create_dir_all(&out).map_err(|e| Error::io(&out, e))?;
    let model = ImageModel::load(&a.image_run)?;
    let set = load_images(&cfg, true)?;
    let pics = out.join("pictures");
    std::fs::create_dir_all(&pics).map_err(|e| Error::io(&pics, e))?;
    for (k, class) in set.classes.iter().enumerate() {
        let Some(item) = set.test.iter().find(|it| it.label == k) else {
            continue;
        };
        let path = pics.join(format!("{class}.png"));
        save_png(&item.image, &path)?;
        let args = ImageCamArgs {
            run: a.image_run.clone(),
            input: path,
            out: out.join("cam").join(class),
            class: "auto".into(),
            method: crate::cli::image::ImageCamMethod::Cam,
            alpha: 0.5,
            skip_bad: false,
        };
        write_picture(&model, &args, &ClassChoice::Auto, &args.input, &args.out)?;
    }
    crate::report::localize::localize(&crate::cli::image::LocalizeArgs {
        run: a.image_run.clone(),
        data: ImageDataArgs {
            data: None,
            format: None,
            skip_bad: false,
        },
        limit: 60,
        threshold: 0.2,
        size: None,
        json: false,
        out: Some(out.join("localize")),
    })?;
    println!(
        "demo: image test top-1 {:.3} on synthetic pictures; overlays (cam/<class>/overlay.png) and localisation in {}",
        m.test_top1,
        out.display()
    );
    Ok(())
}

//! `skelcam demo`: the main job on built-in data, with no download. An ST-GCN trained on the synthetic
//! skeleton actions (curves, confusion matrix, one explained sample per class, class summaries,
//! faithfulness), then a ResNet-18 on the synthetic pictures (overlays and localisation), into `plots/demo/`.

use super::cam_summary::{cam_summary, CamSummaryOptions};
use super::faithfulness::{faithfulness, FaithfulnessOptions};
use super::image_cam::{write_picture, ImageCamOptions};
use super::image_localize::{localize, LocalizeOptions};
use super::report::{report, ReportOptions};
use super::skeleton_cam::{write_sample, SampleFiles};
use super::skeleton_data;
use super::train::{image_train, skeleton_train, Start};
use crate::cam::core::Normalization;
use crate::cam::image::ImageCamMethod;
use crate::cam::skeleton::{explain, ClassChoice, Method};
use crate::config::{DataSource, ImageSource, ImageTrainConfig, SkeletonTrainConfig};
use crate::models::{ImageModel, SkeletonModel};
use crate::plot::overlay::save_png;
use crate::run_dir::RunDir;
use crate::train::image::load_images;
use crate::{Error, Result};
use std::path::PathBuf;

/// Where the demo writes and how long it trains.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Where the figures go.
    pub out: PathBuf,
    /// The skeleton run directory (overwritten).
    pub run: PathBuf,
    /// Epochs of the skeleton model.
    pub epochs: usize,
    /// The image run directory (overwritten).
    pub image_run: PathBuf,
    pub image_epochs: usize,
    /// Skip the skeleton part.
    pub images_only: bool,
}

pub fn demo(a: &DemoOptions) -> Result<()> {
    if !a.images_only {
        skeleton_demo(a)?;
    }
    image_demo(a)
}

fn skeleton_demo(a: &DemoOptions) -> Result<()> {
    let cfg = SkeletonTrainConfig {
        epochs: a.epochs,
        ..SkeletonTrainConfig::default()
    };
    eprintln!(
        "demo: training {} on the built-in synthetic skeleton actions into {}",
        cfg.model,
        a.run.display()
    );
    let m = skeleton_train(&Start::New {
        config: cfg,
        out: a.run.clone(),
        force: true,
    })?;
    std::fs::create_dir_all(&a.out).map_err(|e| Error::io(&a.out, e))?;
    for f in RunDir::open(&a.run, "a skeleton")?.summary_files() {
        let bytes = crate::io::read(&f)?;
        let name = f.file_name().expect("a run file has a name");
        crate::io::write_atomic(&a.out.join(name), &bytes)?;
    }
    // One explained test sample per class, the class summaries and the faithfulness curves.
    let model = SkeletonModel::load(&a.run)?;
    let (ds, test) = skeleton_data::load_test(&model, &DataSource::default())?;
    let mut seen = vec![false; model.run.classes.len()];
    for &i in &test {
        let s = &ds.samples[i];
        if std::mem::replace(&mut seen[s.label], true) {
            continue;
        }
        let c = explain(&model, s, &ClassChoice::Auto, Method::Cam)?;
        write_sample(
            &a.out.join("cam").join(&s.name),
            &c,
            &model,
            &SampleFiles::new(Normalization::Minmax),
        )?;
    }
    let data = DataSource::default();
    cam_summary(&CamSummaryOptions {
        run: a.run.clone(),
        data: data.clone(),
        all: false,
        method: Method::Cam,
        bins: 20,
        top: 5,
        out: a.out.join("summary"),
        export: Default::default(),
        batch: crate::cam::methods::DEFAULT_BATCH,
    })?;
    faithfulness(&FaithfulnessOptions {
        run: a.run.clone(),
        data,
        method: Method::Cam,
        seed: 1,
        limit: None,
        json: false,
        out: Some(a.out.join("faithfulness")),
        batch: crate::cam::methods::DEFAULT_BATCH,
    })?;
    report(&ReportOptions {
        run: a.run.clone(),
        out: a.out.join("report"),
        limit: Some(36),
        method: "cam".into(),
        robustness: None,
        force: true,
    })?;
    println!(
        "demo: test top-1 {:.3} on synthetic data; curves, confusion matrix, per-sample CAMs (cam/), class summaries \
         (summary/), faithfulness curves and the HTML report (report/index.html) in {}",
        m.test_top1,
        a.out.display()
    );
    Ok(())
}

/// The image half of `skelcam demo`: a narrow ResNet-18 (layer4 at 1/16) on the synthetic pictures, then one overlay per
/// class and the localisation report in `plots/demo/image/`.
fn image_demo(a: &DemoOptions) -> Result<()> {
    // The synthetic pictures' own recipe (new pictures every epoch, no crops, some shown without their
    // object), shortened to fit a minute: layer4 at 1/16 (6 × 6 maps, a third of the work of the recipe's
    // 1/8), 180 pictures per class and epoch, and more of them empty (0.25 instead of 0.2), which puts the
    // maps on the objects in fewer epochs; with 180 pictures, 0.35 empty lost top-1 and pointing
    // (benches/README.md, "Picture maps").
    let mut cfg = ImageTrainConfig::default().with_source_defaults(&Default::default())?;
    cfg.model = "resnet18-narrow-os16".into();
    cfg.epochs = a.image_epochs;
    cfg.synthetic.train_per_class = 180;
    cfg.synthetic.empty_fraction = 0.25;
    eprintln!(
        "demo: training {} on the built-in synthetic pictures into {}",
        cfg.model,
        a.image_run.display()
    );
    let m = image_train(&Start::New {
        config: cfg.clone(),
        out: a.image_run.clone(),
        force: true,
    })?;
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
        let args = ImageCamOptions {
            run: a.image_run.clone(),
            input: path,
            out: out.join("cam").join(class),
            class: "auto".into(),
            method: ImageCamMethod::Cam,
            alpha: 0.5,
            skip_bad: false,
            export: Default::default(),
            batch: crate::cam::methods::DEFAULT_BATCH,
        };
        write_picture(&model, &args, &ClassChoice::Auto, &args.input, &args.out)?;
    }
    localize(&LocalizeOptions {
        run: a.image_run.clone(),
        data: ImageSource::default(),
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

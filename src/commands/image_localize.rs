//! `skelcam image localize`: the CAM paper's box protocol (20 % threshold, largest connected region,
//! IoU ≥ 0.5), the pointing game, and deletion / insertion AUC (Petsiuk et al. 2018) of the CAM against a
//! random pixel order, on pictures with known boxes. Each score comes with the baseline that needs no model:
//! the picture's centre for the pointing game, the whole picture for boxes, a random order for the curves.

use crate::cam::image::{explain_picture_classes, minmax2, upsample_bilinear, ImageCamMethod};
use crate::cam::localize::{argmax2, cam_box, centre_hit, iou, pointing_hit, pointing_tolerance};
use crate::cam::metrics::{auc, ranking, CurveMean};
use crate::cam::skeleton::ClassChoice;
use crate::config::ImageSource;
use crate::data::augment::{batch_tensor, eval_view, normalise_into, Jitter};
use crate::data::images::{BBox, ImageItem};
use crate::models::Ctx;
use crate::models::ImageModel;
use crate::plot::overlay::{blend, caption, draw_box, enlarged, save_png};
use crate::rng::{permutation, rng_for, streams};
use crate::train::image::test_pictures;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use image::Rgb;
use serde_json::json;
use std::path::PathBuf;

/// What `image localize` measures.
#[derive(Debug, Clone)]
pub struct LocalizeOptions {
    pub run: PathBuf,
    /// Pictures with boxes (default: the run's own test part).
    pub data: ImageSource,
    /// Box threshold as a fraction of the map's maximum (the CAM paper: 0.2).
    pub threshold: f32,
    /// At most this many pictures.
    pub limit: usize,
    /// Feed the pictures at this side instead of the training size.
    pub size: Option<u32>,
    /// Print one JSON object on stdout.
    pub json: bool,
    /// Also write localize.json, example boxes and the deletion/insertion curves here.
    pub out: Option<PathBuf>,
}

/// Pixels removed (or inserted) per step: the curves have STEPS + 1 points.
const STEPS: usize = 16;

/// Probability of `class` on STEPS + 1 pictures that take pixels from `to` in `order`, starting from `from`.
pub(crate) fn curve(
    model: &ImageModel,
    from: &[f32],
    to: &[f32],
    order: &[usize],
    class: usize,
) -> Result<Vec<f64>> {
    let s = model.size() as usize;
    let hw = s * s;
    let mut data = Vec::with_capacity((STEPS + 1) * 3 * hw);
    let mut cur = from.to_vec();
    for k in 0..=STEPS {
        let upto = k * hw / STEPS;
        let prev = if k == 0 { 0 } else { (k - 1) * hw / STEPS };
        for &p in &order[prev..upto] {
            for c in 0..3 {
                cur[c * hw + p] = to[c * hw + p];
            }
        }
        data.extend_from_slice(&cur);
    }
    let x = Tensor::from_vec(data, (STEPS + 1, 3, s, s), &Device::Cpu)?;
    let probs = candle_nn::ops::softmax_last_dim(&model.net.forward(&x, &mut Ctx::eval())?)?;
    Ok(probs
        .narrow(1, class, 1)?
        .flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(f64::from)
        .collect())
}

struct Scores {
    pointing: Vec<(usize, bool)>,
    centre_pointing: Vec<(usize, bool)>,
    iou50: Vec<bool>,
    whole_iou50: Vec<bool>,
    top1_loc: Vec<bool>,
    curves: [CurveMean; 4],
}

/// The picture's boxes scaled from its original size to the cached picture's.
pub(crate) fn scaled_boxes(item: &ImageItem) -> Vec<BBox> {
    let (w, h) = item.image.dimensions();
    let (fx, fy) = (
        w as f32 / item.original.0 as f32,
        h as f32 / item.original.1 as f32,
    );
    item.boxes
        .iter()
        // Boxes reaching beyond the picture are cut at its border.
        .map(|b| {
            let (x0, x1) = (
                (b[0] * fx).clamp(0.0, w as f32),
                (b[2] * fx).clamp(0.0, w as f32),
            );
            let (y0, y1) = (
                (b[1] * fy).clamp(0.0, h as f32),
                (b[3] * fy).clamp(0.0, h as f32),
            );
            [x0, y0, x1, y1]
        })
        .collect()
}

/// The normalised input of `view` (3 × size × size) and of a blurred copy: deletion takes pixels from the
/// first towards the mean colour (0 after normalisation), insertion from the second towards the first.
pub(crate) fn deletion_inputs(view: &image::RgbImage, size: u32) -> (Vec<f32>, Vec<f32>) {
    let n = 3 * (size * size) as usize;
    let (mut orig, mut blurred) = (vec![0f32; n], vec![0f32; n]);
    normalise_into(view, Jitter::NONE, &mut orig);
    normalise_into(
        &image::imageops::blur(view, size as f32 / 16.0),
        Jitter::NONE,
        &mut blurred,
    );
    (orig, blurred)
}

pub fn localize(a: &LocalizeOptions) -> Result<()> {
    if !(a.threshold > 0.0 && a.threshold <= 1.0) {
        return Err(Error::invalid(
            "threshold",
            a.threshold,
            "a fraction of the maximum in (0, 1]",
        ));
    }
    let mut model = ImageModel::load(&a.run)?;
    if let Some(side) = a.size {
        if side < 32 || side % 32 != 0 {
            return Err(Error::invalid(
                "size",
                side,
                "a multiple of 32 (at least 32)",
            ));
        }
        model.run.train.size = side;
    }
    let items = test_pictures(&model, &a.data)?;
    let items: Vec<&ImageItem> = items.iter().take(a.limit).collect();
    let size = model.size();
    let mut sc = Scores {
        pointing: vec![],
        centre_pointing: vec![],
        iou50: vec![],
        whole_iou50: vec![],
        top1_loc: vec![],
        curves: Default::default(),
    };
    let mut examples = Vec::new();
    // The first pictures of each class, as many of each as fit.
    let mut per_class = vec![0usize; model.run.classes.len()];
    let quota = EXAMPLES.div_ceil(per_class.len());
    let mut map_side = [0usize; 2];
    let bar = crate::progress::bar(items.len() as u64, "localize");
    for (n, item) in items.iter().enumerate() {
        let view = eval_view(&item.image, size);
        let x = batch_tensor(&[(view.clone(), Jitter::NONE)], size)?;
        let choices = [ClassChoice::Index(item.label), ClassChoice::Auto];
        let [truth, pred]: [_; 2] =
            explain_picture_classes(&model, &x, &choices, ImageCamMethod::Cam, 1)?
                .try_into()
                .map_err(|_| Error::Other("one map per class".into()))?;
        map_side = [truth.map.dim().0, truth.map.dim().1];
        // Localisation at the cached picture's resolution, boxes scaled to it.
        let (w, h) = item.image.dimensions();
        if !item.boxes.is_empty() {
            let boxes = scaled_boxes(item);
            let (found, up) = cam_box(&truth.map, h as usize, w as usize, a.threshold);
            let hit = pointing_hit(argmax2(&up), &boxes, pointing_tolerance(w, h));
            sc.pointing.push((item.label, hit));
            // Baseline: pointing at the picture's centre, which photographers fill with the subject.
            sc.centre_pointing
                .push((item.label, centre_hit(&boxes, w, h)));
            let good = found.is_some_and(|f| boxes.iter().any(|b| iou(&f, b) >= 0.5));
            sc.iou50.push(good);
            // Baseline: the whole picture as the box (what a map that is flat or everywhere high gives).
            let whole = [0.0, 0.0, w as f32, h as f32];
            sc.whole_iou50
                .push(boxes.iter().any(|b| iou(&whole, b) >= 0.5));
            sc.top1_loc.push(good && pred.class == item.label);
            if examples.len() < EXAMPLES && per_class[item.label] < quota {
                per_class[item.label] += 1;
                let best = found.map_or(0.0, |f| {
                    boxes.iter().map(|b| iou(&f, b)).fold(0.0, f32::max)
                });
                let text = format!("{} IoU {best:.2}", model.run.classes[item.label]);
                examples.push(example(item, &truth.map, &boxes, found, &text));
            }
        }
        // Deletion (to the mean colour, 0 after normalisation) and insertion (from a blurred copy).
        let s = size as usize;
        let (orig, blurred) = deletion_inputs(&view, size);
        let zeros = vec![0f32; 3 * s * s];
        let sal = upsample_bilinear(&pred.map, s, s);
        let order = ranking(sal.as_slice().expect("contiguous map"));
        let random = permutation(&mut rng_for(1, streams::LOCALIZE_RANDOM + n as u64), s * s);
        for (i, ord) in [&order, &random].into_iter().enumerate() {
            sc.curves[2 * i].add(&curve(&model, &orig, &zeros, ord, pred.class)?);
            sc.curves[2 * i + 1].add(&curve(&model, &blurred, &orig, ord, pred.class)?);
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if items.is_empty() {
        return Err(Error::usage("no pictures to evaluate"));
    }
    // Pointing game: accuracy per class, then the mean over classes.
    let classes = model.run.classes.len();
    let pointing = class_mean_rate(&sc.pointing, classes);
    let centre_pointing = class_mean_rate(&sc.centre_pointing, classes);
    let [del, ins, rdel, rins] = sc.curves.each_ref().map(|c| c.mean());
    let report = json!({
        "run": a.run, "samples": items.len(), "with_boxes": sc.iou50.len(), "threshold": a.threshold, "size": size,
        "map_side": map_side, "pointing_game": pointing, "centre_pointing_game": centre_pointing, "box_iou50_rate": hit_rate(&sc.iou50), "top1_loc_rate": hit_rate(&sc.top1_loc),
        "whole_picture_iou50_rate": hit_rate(&sc.whole_iou50),
        "deletion_auc": auc(&del), "random_deletion_auc": auc(&rdel),
        "insertion_auc": auc(&ins), "random_insertion_auc": auc(&rins),
        "deletion_curve": del, "insertion_curve": ins, "random_deletion_curve": rdel, "random_insertion_curve": rins,
    });
    if sc.iou50.is_empty() {
        eprintln!("note: these pictures have no boxes (boxes.json), so only deletion/insertion are reported");
    }
    if let Some(dir) = &a.out {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::io::write_json(&dir.join("localize.json"), &report)?;
        for (i, img) in examples.iter().enumerate() {
            save_png(img, &dir.join(format!("boxes_{i:02}.png")))?;
        }
    }
    if a.json {
        println!("{report}");
    } else {
        let f = |v: &serde_json::Value| {
            v.as_f64()
                .map(|x| format!("{x:.3}"))
                .unwrap_or("n/a".into())
        };
        println!(
            "{} pictures ({} with boxes), maps of {}x{} at {size} px",
            items.len(),
            sc.iou50.len(),
            map_side[0],
            map_side[1]
        );
        println!(
            "pointing game       {}  (the picture's centre: {})",
            f(&report["pointing_game"]),
            f(&report["centre_pointing_game"])
        );
        println!(
            "box IoU ≥ 0.5       {}  (with the right top-1 class: {}; the whole picture as box: {})",
            f(&report["box_iou50_rate"]),
            f(&report["top1_loc_rate"]),
            f(&report["whole_picture_iou50_rate"])
        );
        println!(
            "deletion AUC        {}  (random order {}; lower is better)",
            f(&report["deletion_auc"]),
            f(&report["random_deletion_auc"])
        );
        println!(
            "insertion AUC       {}  (random order {}; higher is better)",
            f(&report["insertion_auc"]),
            f(&report["random_insertion_auc"])
        );
    }
    Ok(())
}

/// Example pictures written with `--out`.
const EXAMPLES: usize = 8;

/// One example: the picture (enlarged when small, see [`enlarged`]), the true class's map over it, the true
/// boxes in green, the map's box in red, and a caption.
fn example(
    item: &ImageItem,
    raw: &ndarray::Array2<f32>,
    boxes: &[BBox],
    found: Option<BBox>,
    text: &str,
) -> image::RgbImage {
    let big = enlarged(&item.image);
    let f = big.width() / item.image.width();
    let up = upsample_bilinear(raw, big.height() as usize, big.width() as usize);
    let mut img = blend(&big, &minmax2(&up).0, 0.5);
    let scale = |b: &BBox| b.map(|v| v * f as f32);
    boxes
        .iter()
        .for_each(|b| draw_box(&mut img, &scale(b), Rgb([0, 255, 0])));
    if let Some(b) = found {
        draw_box(&mut img, &scale(&b), Rgb([255, 0, 0]));
    }
    caption(&mut img, text);
    img
}

/// The fraction of hits (`None` without any trial).
fn hit_rate(hits: &[bool]) -> Option<f64> {
    (!hits.is_empty()).then(|| hits.iter().filter(|&&h| h).count() as f64 / hits.len() as f64)
}

/// The rate of hits per class, then the mean over the classes that have pictures (`None` without any).
fn class_mean_rate(hits: &[(usize, bool)], classes: usize) -> Option<f64> {
    let per_class: Vec<f64> = (0..classes)
        .filter_map(|c| {
            let mine: Vec<bool> = hits
                .iter()
                .filter(|(l, _)| *l == c)
                .map(|(_, h)| *h)
                .collect();
            hit_rate(&mine)
        })
        .collect();
    (!per_class.is_empty()).then(|| per_class.iter().sum::<f64>() / per_class.len() as f64)
}

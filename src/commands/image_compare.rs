//! `skelcam image cam-compare`: every explanation method on the same test pictures: deletion / insertion over
//! pixels (as `image localize`), ROAD with a noisy linear imputer, Average Drop, Increase in Confidence, the
//! time per picture and, for pictures with boxes, the pointing game; JSON, ranking table and two figures.

use super::cam_compare::{metrics, summary, table, write_tables, CompareSettings};
use super::image_localize::{curve, deletion_inputs, scaled_boxes};
use crate::cam::image::{explain_picture_classes, minmax2, upsample_bilinear};
use crate::cam::localize::{argmax2, centre_hit, pointing_hit, pointing_tolerance};
use crate::cam::metrics::{auc, ranking};
use crate::cam::road::{impute_picture, road_ranges, road_scores};
use crate::cam::skeleton::ClassChoice;
use crate::config::ImageSource;
use crate::data::augment::eval_view;
use crate::data::images::ImageItem;
use crate::models::{Ctx, ImageModel};
use crate::plot::overlay::{blend, caption, save_png};
use crate::rng::{rng_for, streams};
use crate::train::image::test_pictures;
use crate::{Error, Result};
use candle_core::{Device, Tensor};
use std::path::PathBuf;
use std::time::Instant;

/// What `image cam-compare` compares.
#[derive(Debug, Clone)]
pub struct ImageCompareOptions {
    pub run: PathBuf,
    pub data: ImageSource,
    pub compare: CompareSettings,
}

const METRICS: [&str; 9] = metrics("pointing_game");

/// ROAD's noise on the normalised picture.
const ROAD_NOISE: f32 = 0.01;

/// The class probability of each (3 × s × s) input, in one batch.
fn probabilities(model: &ImageModel, xs: &[Vec<f32>], s: usize, class: usize) -> Result<Vec<f64>> {
    let flat: Vec<f32> = xs.iter().flatten().copied().collect();
    let x = Tensor::from_vec(flat, (xs.len(), 3, s, s), &Device::Cpu)?;
    let p = candle_nn::ops::softmax_last_dim(&model.net.forward(&x, &mut Ctx::eval())?)?;
    Ok(p.narrow(1, class, 1)?
        .flatten_all()?
        .to_vec1::<f32>()?
        .into_iter()
        .map(f64::from)
        .collect())
}

/// Every metric but time and the pointing game, for a map upsampled to the input (s × s) that explains
/// `class` of probability `base`; deletion goes to the mean colour (0 after normalisation), insertion starts
/// from a blurred copy (as `image localize`).
fn score(
    model: &ImageModel,
    (x, blurred): (&[f32], &[f32]),
    sal: &[f32],
    s: usize,
    (class, base): (usize, f64),
    n: usize,
) -> Result<[f64; 7]> {
    let zeros = vec![0f32; x.len()];
    let order = ranking(sal);
    let del = auc(&curve(model, x, &zeros, &order, class)?);
    let ins = auc(&curve(model, blurred, x, &order, class)?);
    let mut rng = rng_for(1, streams::LOCALIZE_RANDOM + n as u64);
    let hw = s * s;
    let inputs: Vec<Vec<f32>> = road_ranges(hw)
        .into_iter()
        .map(|r| {
            let mut removed = vec![false; hw];
            order[r].iter().for_each(|&p| removed[p] = true);
            impute_picture(x, &removed, s, ROAD_NOISE, &mut rng)
        })
        .collect();
    let (morf, lerf, combined) = road_scores(&probabilities(model, &inputs, s, class)?);
    let (norm, _) = minmax2(&ndarray::Array2::from_shape_vec((s, s), sal.to_vec()).expect("s·s"));
    let norm = norm.as_slice().expect("contiguous");
    let masked: Vec<f32> = x
        .iter()
        .enumerate()
        .map(|(i, v)| v * norm[i % hw])
        .collect();
    let o = probabilities(model, &[masked], s, class)?[0];
    let drop = (base - o).max(0.0) / base.max(1e-12);
    Ok([del, ins, morf, lerf, combined, drop, f64::from(o > base)])
}

pub fn image_compare(o: &ImageCompareOptions) -> Result<()> {
    let a = &o.compare;
    let model = ImageModel::load(&o.run)?;
    let items = test_pictures(&model, &o.data)?;
    let n = items.len().min(a.limit.unwrap_or(usize::MAX));
    if n == 0 {
        return Err(Error::usage("no test picture to compare on"));
    }
    let chosen: Vec<&ImageItem> = (0..n).map(|i| &items[i * items.len() / n]).collect();
    let size = model.size();
    let s = size as usize;
    let k = a.methods.len();
    let mut sums = vec![vec![0f64; METRICS.len()]; k];
    let (mut with_boxes, mut centre_hits, mut tiles) = (0usize, 0usize, Vec::new());
    let bar = crate::progress::bar((n * k) as u64, "compare");
    for (j, item) in chosen.iter().enumerate() {
        let view = eval_view(&item.image, size);
        let (x, blurred) = deletion_inputs(&view, size);
        let boxes = scaled_boxes(item);
        let xt = Tensor::from_vec(x.clone(), (1, 3, s, s), &Device::Cpu)?;
        with_boxes += usize::from(!item.boxes.is_empty());
        if !boxes.is_empty() {
            // The baseline that needs no map: the picture's centre.
            let (w, h) = item.image.dimensions();
            centre_hits += usize::from(centre_hit(&boxes, w, h));
        }
        for (mi, &m) in a.methods.iter().enumerate() {
            let t0 = Instant::now();
            let cam =
                explain_picture_classes(&model, &xt, &[ClassChoice::Auto], m, a.batch)?.remove(0);
            let secs = t0.elapsed().as_secs_f64();
            let sal = upsample_bilinear(&cam.map, s, s);
            let r = score(
                &model,
                (&x, &blurred),
                sal.as_slice().expect("contiguous"),
                s,
                (cam.class, f64::from(cam.probs[cam.class])),
                j,
            )?;
            for (q, v) in r.iter().enumerate() {
                sums[mi][q] += v;
            }
            sums[mi][7] += secs;
            if !boxes.is_empty() {
                let (w, h) = item.image.dimensions();
                let up = upsample_bilinear(&cam.map, h as usize, w as usize);
                sums[mi][8] +=
                    f64::from(pointing_hit(argmax2(&up), &boxes, pointing_tolerance(w, h)));
            }
            if j == 0 {
                let (w, h) = item.image.dimensions();
                let up = minmax2(&upsample_bilinear(&cam.map, h as usize, w as usize)).0;
                let mut tile = blend(&item.image, &up, 0.5);
                caption(&mut tile, m.name());
                tiles.push(tile);
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    // The pointing game is a rate over the pictures that have boxes.
    for row in &mut sums {
        row[8] *= n as f64 / with_boxes.max(1) as f64;
    }
    let mut doc = summary(&a.methods, &METRICS, &sums, n, |k| {
        k != "pointing_game" || with_boxes > 0
    });
    doc["centre_pointing_game"] =
        serde_json::json!((with_boxes > 0).then(|| centre_hits as f64 / with_boxes as f64));
    if let Some(out) = &a.out {
        write_tables(out, &doc, &o.run, &a.methods, &METRICS)?;
        save_png(&mosaic(&tiles), &out.join("methods.png"))?;
    }
    if a.json {
        println!("{doc}");
    } else {
        println!("{}", table(&doc, &a.methods, &METRICS));
        if let Some(c) = doc["centre_pointing_game"].as_f64() {
            println!("pointing at the picture's centre instead: {c:.4}");
        }
    }
    Ok(())
}

/// The tiles side by side, five per row.
fn mosaic(tiles: &[image::RgbImage]) -> image::RgbImage {
    let (w, h) = tiles.first().map(|t| t.dimensions()).unwrap_or((1, 1));
    let cols = tiles.len().clamp(1, 5) as u32;
    let rows = (tiles.len() as u32).div_ceil(cols).max(1);
    let mut out = image::RgbImage::from_pixel(cols * w, rows * h, image::Rgb([255, 255, 255]));
    for (i, t) in tiles.iter().enumerate() {
        let (c, r) = (i as u32 % cols, i as u32 / cols);
        image::imageops::overlay(&mut out, t, (c * w) as i64, (r * h) as i64);
    }
    out
}

//! `skelcam skeleton cam-compare`: every explanation method on the same test samples, scored by the same
//! metrics (deletion / insertion over joints, ROAD over cells, Average Drop and Increase in Confidence, the
//! time per sample, and on synthetic data the top-k hit rate against the generator's moving joints), as one
//! JSON object, a ranking table and two figures.

use super::faithfulness::curve;
use super::skeleton_data;
use crate::cam::core::{joint_importance, minmax};
use crate::cam::gradcam::to_array4;
use crate::cam::methods::CamMethod;
use crate::cam::metrics::{auc, deletion_masks, insertion_masks, ranking, topk_precision};
use crate::cam::probes::upsample_time;
use crate::cam::road::{cell_ranking, impute, masked_by_map, neighbours, road_masks, road_scores};
use crate::cam::skeleton::{explain_batched, model_input, ClassChoice, SampleCam};
use crate::config::DataSource;
use crate::models::{Ctx, SkeletonModel};
use crate::plot::heatmap::SummaryGrid;
use crate::plot::save_figure;
use crate::{Error, Result};
use candle_core::{Device, Tensor, D};
use ndarray::{Array3, Array4, Axis};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::time::Instant;

/// How any `cam-compare` runs, whatever the model kind.
#[derive(Debug, Clone)]
pub struct CompareSettings {
    pub methods: Vec<CamMethod>,
    /// At most this many test samples, spread evenly over them.
    pub limit: Option<usize>,
    pub json: bool,
    /// Also write compare.json, ranking.md, methods.png and metrics.png here.
    pub out: Option<PathBuf>,
    /// Score-CAM's masked inputs and Ablation-CAM's feature maps per forward pass.
    pub batch: usize,
}

/// What `skeleton cam-compare` compares.
#[derive(Debug, Clone)]
pub struct CamCompareOptions {
    pub run: PathBuf,
    pub data: DataSource,
    pub compare: CompareSettings,
}

/// The metrics of every comparison, in the order of the table and the bar chart, then `last` (the
/// kind's own: the top-k hit rate for skeletons, the pointing game for pictures).
pub(crate) const fn metrics(last: &'static str) -> [&'static str; 9] {
    [
        "deletion_auc",
        "insertion_auc",
        "road_morf",
        "road_lerf",
        "road_combined",
        "average_drop",
        "increase_in_confidence",
        "seconds",
        last,
    ]
}

const METRICS: [&str; 9] = metrics("topk_hit_rate");

/// The probability of `class` for each input (C, T, V, M), in one batch.
fn probabilities(model: &SkeletonModel, xs: &[Array4<f32>], class: usize) -> Result<Vec<f64>> {
    let (c, t, v, m) = xs[0].dim();
    let flat: Vec<f32> = xs.iter().flat_map(|x| x.iter().copied()).collect();
    let batch = Tensor::from_vec(flat, (xs.len(), c, t, v, m), &Device::Cpu)?;
    let logits = model.logits(&batch, &mut Ctx::eval())?;
    let p: Vec<f32> = candle_nn::ops::softmax(&logits, D::Minus1)?
        .narrow(1, class, 1)?
        .flatten_all()?
        .to_vec1()?;
    Ok(p.into_iter().map(f64::from).collect())
}

/// The method's map at the input's frames (T, V, M): each feature step covers `stride` input frames.
fn input_map(cam: &SampleCam, t_in: usize) -> Result<Array3<f32>> {
    let (t_feat, v, m) = cam.raw.dim();
    let flat: Vec<f32> = cam.raw.iter().copied().collect();
    Array3::from_shape_vec((t_in, v, m), upsample_time(&flat, t_feat, t_in))
        .map_err(|e| Error::Other(e.to_string()))
}

/// Every metric but time and the top-k hit rate of one method on one sample: `x` is the model input as a
/// tensor and as an array, `base` the class probability on it, `near` the layout's neighbour lists.
fn score(
    model: &SkeletonModel,
    cam: &SampleCam,
    (x, xa): (&Tensor, &Array4<f32>),
    base: f64,
    near: &[Vec<usize>],
) -> Result<[f64; 7]> {
    let t_in = xa.dim().1;
    let order = ranking(&joint_importance(&cam.raw, &cam.persons_present));
    let del = auc(&curve(model, x, &deletion_masks(&order), cam.class)?);
    let ins = auc(&curve(model, x, &insertion_masks(&order), cam.class)?);
    let map = input_map(cam, t_in)?;
    let cells = cell_ranking(&map, &cam.persons_present);
    let imputed: Vec<Array4<f32>> = road_masks(&cells, map.dim())
        .iter()
        .map(|r| impute(xa, r, near))
        .collect();
    let (morf, lerf, combined) = road_scores(&probabilities(model, &imputed, cam.class)?);
    let masked = masked_by_map(xa, &map, &cam.persons_present);
    let o = probabilities(model, &[masked], cam.class)?[0];
    let drop = (base - o).max(0.0) / base.max(1e-12);
    let increase = if o > base { 1.0 } else { 0.0 };
    Ok([del, ins, morf, lerf, combined, drop, increase])
}

pub fn cam_compare(o: &CamCompareOptions) -> Result<()> {
    let a = &o.compare;
    let model = SkeletonModel::load(&o.run)?;
    // One sample read at a time: memory does not grow with the data.
    let data = skeleton_data::load_index(&model, &o.data)?;
    let (ds, test) = (&data.ds, data.test()?);
    let n = test.len().min(a.limit.unwrap_or(usize::MAX));
    if n == 0 {
        return Err(Error::usage("no test sample to compare on"));
    }
    let idx: Vec<usize> = (0..n).map(|i| test[i * test.len() / n]).collect();
    let k = a.methods.len();
    let mut sums = vec![[0f64; 9]; k];
    let bar = crate::progress::bar((n * k) as u64, "compare");
    let mut first: Vec<ndarray::Array2<f32>> = Vec::new();
    let near = neighbours(&model.run.layout.edges, model.run.layout.num_joints());
    for (j, &i) in idx.iter().enumerate() {
        let s = &*data.sample(i)?;
        let (x, _, _) = model_input(&model, s)?;
        let full = to_array4(&x.squeeze(0)?)?;
        // Every method explains the same prediction: its probability once per sample.
        let probs: Vec<f32> =
            candle_nn::ops::softmax(&model.logits(&x, &mut Ctx::eval())?, D::Minus1)?
                .squeeze(0)?
                .to_vec1()?;
        for (mi, &m) in a.methods.iter().enumerate() {
            let t0 = Instant::now();
            let cam = explain_batched(&model, s, &ClassChoice::Auto, m, a.batch)?;
            let secs = t0.elapsed().as_secs_f64();
            let base = f64::from(probs[cam.class]);
            let r = score(&model, &cam, (&x, &full), base, &near)?;
            for (q, v) in r.iter().enumerate() {
                sums[mi][q] += v;
            }
            sums[mi][7] += secs;
            if let Some(gt) = &ds.gt_joints {
                let truth = if cam.class == s.label {
                    cam.clone()
                } else {
                    explain_batched(&model, s, &ClassChoice::Index(s.label), m, a.batch)?
                };
                let order = ranking(&joint_importance(&truth.raw, &truth.persons_present));
                sums[mi][8] += topk_precision(&order, &gt[s.label]);
            }
            if j == 0 {
                let person = cam.persons_present.iter().position(|&p| p).unwrap_or(0);
                let (norm, _) = minmax(&cam.raw_frames, &cam.persons_present);
                first.push(norm.index_axis(Axis(2), person).to_owned());
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let sums: Vec<Vec<f64>> = sums.iter().map(|r| r.to_vec()).collect();
    let doc = summary(&a.methods, &METRICS, &sums, n, |k| {
        k != "topk_hit_rate" || ds.gt_joints.is_some()
    });
    if let Some(out) = &a.out {
        write_tables(out, &doc, &o.run, &a.methods, &METRICS)?;
        let names: Vec<String> = a.methods.iter().map(|m| m.name().to_string()).collect();
        let title = format!(
            "{}: every method (min-max per map, first present person)",
            ds.samples[idx[0]].name
        );
        let grid = SummaryGrid {
            title: &title,
            classes: &names,
            joints: &model.run.layout.joints,
            means: &first,
            x_desc: "frame",
        };
        save_figure(&grid, &out.join("methods.png"), None)?;
    }
    if a.json {
        println!("{doc}");
    } else {
        println!("{}", table(&doc, &a.methods, &METRICS));
    }
    Ok(())
}

/// The Markdown ranking table of `metrics` (best ROAD combined first).
pub(crate) fn table(doc: &Value, methods: &[CamMethod], metrics: &[&str]) -> String {
    let mut order: Vec<CamMethod> = methods.to_vec();
    let key = |m: &CamMethod| {
        doc["methods"][m.name()]["road_combined"]
            .as_f64()
            .unwrap_or(f64::NAN)
    };
    order.sort_by(|x, y| key(y).total_cmp(&key(x)));
    let mut s = format!(
        "| method | {} |\n|---|{}\n",
        metrics.join(" | "),
        "---|".repeat(metrics.len())
    );
    for m in order {
        let cells: Vec<String> = metrics
            .iter()
            .map(|k| match doc["methods"][m.name()][k].as_f64() {
                Some(v) => format!("{v:.4}"),
                None => "n/a".into(),
            })
            .collect();
        s += &format!("| {} | {} |\n", m.name(), cells.join(" | "));
    }
    s
}

/// `compare.json`, `ranking.md` and `metrics.png` of a comparison in `doc` over `metrics`.
pub(crate) fn write_tables(
    out: &std::path::Path,
    doc: &Value,
    run: &std::path::Path,
    methods: &[CamMethod],
    metrics: &[&str],
) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    crate::io::write_json(&out.join("compare.json"), doc)?;
    let md = format!(
        "# Explanation methods on {} samples of {}\n\nHigher is better for insertion, ROAD LeRF and combined, \
         increase in confidence, the top-k hit rate and the pointing game; lower for deletion, ROAD MoRF, average \
         drop and seconds.\n\n{}",
        doc["samples"],
        run.display(),
        table(doc, methods, metrics)
    );
    crate::io::write_atomic(&out.join("ranking.md"), md.as_bytes())?;
    let names: Vec<String> = methods.iter().map(|m| m.name().to_string()).collect();
    let values: Vec<Vec<f64>> = methods
        .iter()
        .map(|m| {
            metrics
                .iter()
                .map(|k| doc["methods"][m.name()][k].as_f64().unwrap_or(f64::NAN))
                .collect()
        })
        .collect();
    crate::plot::compare::draw(&out.join("metrics.png"), &names, metrics, &values)
}

/// The JSON document: the mean of each metric per method (`null` where `applies(metric)` is false).
pub(crate) fn summary(
    methods: &[CamMethod],
    metrics: &[&str],
    sums: &[Vec<f64>],
    n: usize,
    applies: impl Fn(&str) -> bool,
) -> Value {
    let mut out = Map::new();
    for (mi, m) in methods.iter().enumerate() {
        let o: Map<String, Value> = metrics
            .iter()
            .enumerate()
            .map(|(q, name)| {
                let v = if applies(name) {
                    json!(sums[mi][q] / n as f64)
                } else {
                    Value::Null
                };
                ((*name).to_string(), v)
            })
            .collect();
        out.insert(m.name().into(), Value::Object(o));
    }
    json!({"samples": n, "methods": out})
}

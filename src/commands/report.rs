//! `skelcam report`: one offline HTML page per run (`DIR/index.html`, every figure a relative file inside
//! DIR): the configuration, metrics, curves, confusion and per-class accuracy, then for a skeleton or RA-GCN
//! run the class CAM summaries and a gallery of explained test samples (with the RA-GCN masks and an
//! optional robustness table), for an image run a gallery of overlays and the localisation figures.

use super::cam_summary::{cam_summary, CamSummaryOptions};
use super::image_cam::{write_photo, ImageCamOptions};
use super::image_localize::{localize, LocalizeOptions};
use super::skeleton_cam::{cam, cards, method_name, CamOptions};
use crate::cam::core::Normalization;
use crate::cam::image::ImageCamMethod;
use crate::cam::skeleton::{ClassChoice, Method};
use crate::config::{DataSource, ImageSource};
use crate::models::{ImageModel, SkeletonModel};
use crate::plot::html::{self, escape, figure, table, Card};
use crate::run_dir::RunDir;
use crate::train::image::test_pictures;
use crate::{Error, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// What `report` shows.
#[derive(Debug, Clone)]
pub struct ReportOptions {
    pub run: PathBuf,
    pub out: PathBuf,
    /// At most this many test samples in the gallery (default: the whole test split).
    pub limit: Option<usize>,
    /// The explanation method, by the name the run's kind uses (`cam`, `gradcam`, `gradcam++`).
    pub method: String,
    /// A folder written by `skeleton robustness` to include.
    pub robustness: Option<PathBuf>,
    pub force: bool,
}

type Sections = Vec<(String, String)>;

pub fn report(a: &ReportOptions) -> Result<()> {
    let dir = RunDir::open(&a.run, "a skelcam")?;
    let config: Value = crate::io::read_json(&dir.config())?;
    crate::io::prepare_out_dir(&a.out, a.force)?;
    let metrics: Option<Value> = crate::io::read_json(&dir.metrics()).ok();
    let mut sections: Sections = vec![("Run".into(), run_section(&a.run, &config, &metrics))];
    let classes: Vec<String> =
        serde_json::from_value(config["classes"].clone()).unwrap_or_default();
    sections.push((
        "Training".into(),
        training_section(a, &dir, &metrics, &classes)?,
    ));
    let skeleton = config.get("layout").is_some();
    if skeleton {
        skeleton_sections(a, &dir, &mut sections)?;
    } else {
        image_sections(a, &mut sections)?;
    }
    let kind = if !skeleton {
        "image"
    } else if !config["ensemble"].is_null() {
        "ensemble"
    } else if config["ragcn"].is_null() {
        "skeleton"
    } else {
        "RA-GCN"
    };
    let title = format!("skelcam report: {kind} run {}", a.run.display());
    let page = html::page(&title, &sections);
    let index = a.out.join("index.html");
    crate::io::write_atomic(&index, page.as_bytes())?;
    println!("wrote {} ({} sections)", index.display(), sections.len());
    Ok(())
}

/// Key facts of the run and its configuration file.
fn run_section(run: &Path, config: &Value, metrics: &Option<Value>) -> String {
    let train = &config["train"];
    let text = |v: &Value| match v {
        Value::Null => "default".to_string(),
        Value::String(s) => s.clone(),
        v => v.to_string(),
    };
    let mut rows = vec![
        vec!["run".into(), run.display().to_string()],
        vec!["model".into(), text(&train["model"])],
        vec![
            "data".into(),
            format!("{} ({})", text(&train["data"]), text(&train["format"])),
        ],
        vec![
            "classes".into(),
            config["classes"].as_array().map_or(0, Vec::len).to_string(),
        ],
    ];
    if let Some(m) = metrics {
        for (k, label) in [
            ("train_samples", "training samples"),
            ("test_samples", "test samples"),
            ("params", "parameters"),
            ("epochs", "epochs"),
            ("seconds", "training time (s)"),
        ] {
            match m[k].as_f64() {
                Some(x) if k == "seconds" => rows.push(vec![label.into(), format!("{x:.1}")]),
                Some(_) => rows.push(vec![label.into(), text(&m[k])]),
                None => {}
            }
        }
    }
    // An ensemble's members: modality, weight, run, and top-1 on its own.
    let members = config["ensemble"]["members"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for (i, mem) in members.iter().enumerate() {
        let top1 = metrics
            .as_ref()
            .and_then(|m| m["streams_top1"][i].as_f64())
            .map(|x| format!(", test top-1 alone {x:.3}"))
            .unwrap_or_default();
        rows.push(vec![
            format!("member {}", i + 1),
            format!(
                "{} × {} ({}){top1}",
                text(&mem["weight"]),
                text(&mem["modality"]),
                text(&mem["run"])
            ),
        ]);
    }
    let pretty = serde_json::to_string_pretty(config).unwrap_or_default();
    format!(
        "{}<details><summary>config.json</summary><pre>{}</pre></details>\n",
        table(&["", ""], &rows),
        escape(&pretty)
    )
}

/// Metrics, per-class accuracy, curves and confusion matrix (the figures copied next to the page).
fn training_section(
    a: &ReportOptions,
    dir: &RunDir,
    metrics: &Option<Value>,
    classes: &[String],
) -> Result<String> {
    let mut s = String::new();
    let Some(m) = metrics else {
        return Ok(
            "<p>This run has no metrics.json (it was imported or is unfinished).</p>\n".into(),
        );
    };
    let f = |k: &str| m[k].as_f64().map_or("n/a".into(), |x| format!("{x:.4}"));
    s += &table(
        &["test top-1", "test top-5", "test loss", "train top-1"],
        &[vec![
            f("test_top1"),
            f("test_top5"),
            f("test_loss"),
            f("train_top1"),
        ]],
    );
    let confusion: Vec<Vec<u64>> =
        serde_json::from_value(m["confusion"].clone()).unwrap_or_default();
    let rows: Vec<Vec<String>> = classes
        .iter()
        .enumerate()
        .map(|(c, name)| {
            let row = confusion.get(c).cloned().unwrap_or_default();
            let n: u64 = row.iter().sum();
            let hit = row.get(c).copied().unwrap_or(0);
            let acc = if n > 0 {
                format!("{:.3}", hit as f64 / n as f64)
            } else {
                "n/a".into()
            };
            vec![name.clone(), n.to_string(), acc]
        })
        .collect();
    s += "<h3>Per-class accuracy (test)</h3>\n";
    s += &table(&["class", "samples", "top-1"], &rows);
    for (file, caption) in [
        (dir.curves(), "training curves"),
        (dir.confusion(), "confusion matrix (test)"),
        (
            dir.masks(),
            "RA-GCN: the joints each later stream had masked",
        ),
    ] {
        if let Some(name) = copy_in(&file, &a.out.join("run"))? {
            s += &figure(&format!("run/{name}"), caption);
        }
    }
    Ok(s)
}

/// Copy `file` (when it exists) into `dir`; returns its name.
fn copy_in(file: &Path, dir: &Path) -> Result<Option<String>> {
    if !file.is_file() {
        return Ok(None);
    }
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let bytes = crate::io::read(file)?;
    crate::io::write_atomic(&dir.join(&name), &bytes)?;
    Ok(Some(name))
}

fn parse_method<T: clap::ValueEnum>(s: &str) -> Result<T> {
    T::from_str(s, true).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        Error::invalid(
            "method",
            s,
            format!("one of {} for this run", names.join(", ")),
        )
    })
}

/// Class summaries, the gallery of explained test samples and the robustness table.
fn skeleton_sections(a: &ReportOptions, dir: &RunDir, sections: &mut Sections) -> Result<()> {
    let method: Method = parse_method(&a.method)?;
    let model = SkeletonModel::load(dir.path())?;
    let summary = a.out.join("summary");
    cam_summary(&CamSummaryOptions {
        run: a.run.clone(),
        data: DataSource::default(),
        all: false,
        method,
        bins: 20,
        top: 5,
        out: summary.clone(),
        export: Default::default(),
        batch: crate::cam::methods::DEFAULT_BATCH,
    })?;
    let top: Value = crate::io::read_json(&summary.join("top_joints.json"))?;
    let rows: Vec<Vec<String>> = top["classes"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(class, v)| {
                    let joints: Vec<&str> = v["top_joints"]
                        .as_array()
                        .map(|l| l.iter().filter_map(|j| j["name"].as_str()).collect())
                        .unwrap_or_default();
                    vec![class.clone(), v["samples"].to_string(), joints.join(", ")]
                })
                .collect()
        })
        .unwrap_or_default();
    let mut s = figure(
        "summary/summary.png",
        "mean normalised CAM per class over relative time",
    );
    s += &figure("summary/class_joints.png", "mean CAM per class and joint");
    s += "<h3>Top joints per class</h3>\n";
    s += &table(&["class", "samples", "top joints"], &rows);
    sections.push(("What each class looks at".into(), s));
    cam(&CamOptions {
        run: a.run.clone(),
        input: None,
        data: DataSource::default(),
        class: "auto".into(),
        method,
        normalize: Normalization::Minmax,
        verify: false,
        limit: a.limit,
        out: a.out.join("samples"),
        export: Default::default(),
        gif: true,
        batch: crate::cam::methods::DEFAULT_BATCH,
    })?;
    let index: Value = crate::io::read_json(&a.out.join("samples/index.json"))?;
    let list = index["samples"].as_array().cloned().unwrap_or_default();
    let wrong = list
        .iter()
        .filter(|e| e["true_class"] != e["predicted_class"])
        .count();
    let mut s = format!(
        "<p>{} test samples explained with {} for the predicted class, {wrong} of them wrong. The \
         picture is the heatmap (joints × frames); the links open the joint bars, key frames, the \
         animation and the numbers.</p>\n",
        list.len(),
        method_name(method)
    );
    s += &html::gallery(&cards(&list, "samples/", true), &model.run.classes);
    sections.push(("Explained test samples".into(), s));
    if let Some(rob) = &a.robustness {
        sections.push(("Robustness".into(), robustness_section(rob, &a.out)?));
    }
    Ok(())
}

/// The table of `skeleton robustness` (its Markdown file as HTML) and its plot.
fn robustness_section(from: &Path, out: &Path) -> Result<String> {
    let md_path = from.join("robustness.md");
    let md = crate::io::read_to_string(&md_path)?;
    let cells = |l: &str| -> Vec<String> {
        l.trim()
            .trim_matches('|')
            .split('|')
            .map(|c| c.trim().to_string())
            .collect()
    };
    let lines: Vec<&str> = md
        .lines()
        .filter(|l| l.trim_start().starts_with('|'))
        .collect();
    let mut s = String::new();
    if let Some((head, rest)) = lines.split_first() {
        let header = cells(head);
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = rest
            .iter()
            .filter(|l| !l.contains("---"))
            .map(|l| cells(l))
            .collect();
        s += &table(&header, &rows);
    }
    if let Some(name) = copy_in(&from.join("robustness.png"), &out.join("robustness"))? {
        s += &figure(
            &format!("robustness/{name}"),
            "accuracy under occlusion and jitter",
        );
    }
    Ok(s)
}

/// A gallery of overlays of the run's test pictures and, when they have boxes, the localisation figures.
fn image_sections(a: &ReportOptions, sections: &mut Sections) -> Result<()> {
    let method: ImageCamMethod = parse_method(&a.method)?;
    let model = ImageModel::load(&a.run)?;
    let items = test_pictures(&model, &ImageSource::default())?;
    let n = items.len().min(a.limit.unwrap_or(usize::MAX));
    let opts = ImageCamOptions {
        run: a.run.clone(),
        input: PathBuf::new(),
        out: a.out.join("samples"),
        class: "auto".into(),
        method,
        alpha: 0.5,
        skip_bad: false,
        export: Default::default(),
        batch: crate::cam::methods::DEFAULT_BATCH,
    };
    let bar = crate::progress::bar(n as u64, "overlays");
    let mut cards = Vec::with_capacity(n);
    for (i, item) in items.iter().take(n).enumerate() {
        let folder = format!("{i:04}");
        let e = write_photo(
            &model,
            &opts,
            &ClassChoice::Auto,
            &item.image,
            Path::new(&item.name),
            &opts.out.join(&folder),
        )?;
        cards.push(Card {
            title: item.name.clone(),
            image: format!("samples/{folder}/overlay.png"),
            predicted: model.run.classes[e.class].clone(),
            truth: Some(model.run.classes[item.label].clone()),
            probability: e.probability as f64,
            links: vec![
                ("heatmap".into(), format!("samples/{folder}/heatmap.png")),
                ("cam.json".into(), format!("samples/{folder}/cam.json")),
            ],
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    let wrong = cards
        .iter()
        .filter(|c| c.truth.as_ref() != Some(&c.predicted))
        .count();
    let mut s = format!(
        "<p>{n} test pictures explained with {} for the predicted class, {wrong} of them wrong.</p>\n",
        method.label()
    );
    s += &html::gallery(&cards, &model.run.classes);
    sections.push(("Explained test pictures".into(), s));
    if items.iter().any(|i| !i.boxes.is_empty()) {
        let dir = a.out.join("localize");
        localize(&LocalizeOptions {
            run: a.run.clone(),
            data: ImageSource::default(),
            threshold: 0.2,
            limit: n.min(200),
            size: None,
            json: false,
            out: Some(dir.clone()),
        })?;
        let loc: Value = crate::io::read_json(&dir.join("localize.json"))?;
        let f = |k: &str| loc[k].as_f64().map_or("n/a".into(), |x| format!("{x:.3}"));
        let mut s = table(
            &[
                "pointing game",
                "the centre",
                "box IoU ≥ 0.5",
                "whole picture as box",
                "deletion AUC",
                "random deletion",
                "insertion AUC",
                "random insertion",
            ],
            &[vec![
                f("pointing_game"),
                f("centre_pointing_game"),
                f("box_iou50_rate"),
                f("whole_picture_iou50_rate"),
                f("deletion_auc"),
                f("random_deletion_auc"),
                f("insertion_auc"),
                f("random_insertion_auc"),
            ]],
        );
        let mut shots: Vec<String> = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(&dir, e))?
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| n.starts_with("boxes_") && n.ends_with(".png"))
            .collect();
        shots.sort();
        for name in shots {
            s += &figure(
                &format!("localize/{name}"),
                "CAM box (20 % of the maximum) against the true box",
            );
        }
        sections.push(("Localisation".into(), s));
    }
    Ok(())
}

//! Smoke tests on the real MSR Action3D recordings in ../shared/data (skipped with a message when absent).

use skelcam::data::{self, Format, LoadOptions};
use std::path::PathBuf;

fn msr_dir() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/msr_action3d");
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!(
            "SKIPPED: {} not found; the real-data smoke test needs ../shared/data/msr_action3d",
            p.display()
        );
        None
    }
}

#[test]
fn all_567_msr_files_load_with_the_known_quirks_handled() {
    let Some(dir) = msr_dir() else { return };
    let ds = data::load(&LoadOptions {
        format: Format::Msr,
        data: Some(dir.to_string_lossy().into()),
        layout: None,
        skip_bad: false,
        max_persons: 1,
        seed: 1,
        preprocess: Default::default(),
        keep_data: true,
    })
    .unwrap();
    // 567 files: one (a13_s09_e02) is all zeros and is skipped with a warning, never averaged in.
    assert_eq!(ds.samples.len() + ds.skipped.len(), 567);
    assert_eq!(ds.skipped.len(), 1);
    assert!(ds.skipped[0].0.ends_with("a13_s09_e02_skeleton3D.txt"));
    // 1113 empty frames in 20 files; the all-zero file accounts for its own frames, 19 files had some dropped.
    let dropped: Vec<&String> = ds
        .warnings
        .iter()
        .filter(|w| w.contains("dropped"))
        .collect();
    assert_eq!(dropped.len(), 19);
    let total: usize = dropped
        .iter()
        .map(|w| {
            w.split("dropped ")
                .nth(1)
                .unwrap()
                .split(' ')
                .next()
                .unwrap()
                .parse::<usize>()
                .unwrap()
        })
        .sum();
    assert_eq!(total + 38, 1113);
    let longest = ds
        .samples
        .iter()
        .find(|s| s.name == "a13_s09_e03_skeleton3D")
        .unwrap();
    assert!(longest.frames() > 150);
    for s in &ds.samples {
        assert!(s.data.iter().all(|x| x.is_finite()));
        assert!(
            (0..s.frames()).all(|t| s.present(t, 0)),
            "{} kept an empty frame",
            s.name
        );
    }
    // Cross-subject: odd subjects train, even test; every class is on both sides.
    let (train, test) =
        data::split::split(&ds, Format::Msr, data::split::Split::CrossSubject, None).unwrap();
    assert!(train
        .iter()
        .all(|&i| !ds.samples[i].subject.is_multiple_of(2)));
    assert!(test
        .iter()
        .all(|&i| ds.samples[i].subject.is_multiple_of(2)));
    for c in 0..20 {
        assert!(
            train.iter().any(|&i| ds.samples[i].label == c)
                && test.iter().any(|&i| ds.samples[i].label == c)
        );
    }
}

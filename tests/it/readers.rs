//! Skeleton readers: NTU `.skeleton`, MSR Action3D text and the generic CSV format, on small files written
//! here by hand from the format descriptions, including every kind of bad input we promise to report.

use skelcam::data::{self, Format, Layout, LoadOptions, ReadOutcome};
use std::path::{Path, PathBuf};

fn ntu_body(id: u64, tracking: i32, joints: usize, base: f32) -> String {
    let mut s = format!("{id} 0 1 2 1 2 0 0.1 -0.2 {tracking}\n{joints}\n");
    for j in 0..joints {
        let (x, y, z) = (
            base + j as f32,
            base + 100.0 + j as f32,
            base + 200.0 + j as f32,
        );
        s.push_str(&format!(
            "{x} {y} {z} 250.5 200.1 900.2 500.7 0.9 0.1 0.2 0.3 2\n"
        ));
    }
    s
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

pub(crate) fn ntu_file() -> String {
    // Frame 0: two bodies; frame 1: no body; frame 2: only the second body, whose body tracking state is 0.
    let mut s = String::from("3\n2\n");
    s.push_str(&ntu_body(111, 2, 25, 1.0));
    s.push_str(&ntu_body(222, 2, 25, 50.0));
    s.push_str("0\n1\n");
    s.push_str(&ntu_body(222, 0, 25, 60.0));
    s
}

#[test]
fn ntu_reader_handles_two_bodies_empty_frames_and_untracked_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "S001C002P003R002A013.skeleton", &ntu_file());
    let layout = Layout::resolve("ntu25").unwrap();
    let ReadOutcome::Sequence(seq, warnings) = data::ntu::read_file(&p, &layout, 2).unwrap() else {
        panic!("no sequence")
    };
    assert_eq!(
        (seq.label, seq.subject, seq.camera, seq.setup),
        (12, 3, Some(2), Some(1))
    );
    // The zero-body frame is dropped with a warning; two frames remain.
    assert_eq!(seq.data.shape(), &[3, 2, 25, 2]);
    assert!(
        warnings.iter().any(|w| w.contains("dropped 1 of 3 frames")),
        "{warnings:?}"
    );
    // Body 222 is present in more frames, so it takes slot 0; body 111 slot 1 (absent in the last frame).
    assert_eq!(seq.data[[0, 0, 0, 0]], 50.0);
    assert_eq!(seq.data[[2, 1, 24, 0]], 60.0 + 200.0 + 24.0);
    assert_eq!(seq.data[[1, 0, 3, 1]], 1.0 + 100.0 + 3.0);
    assert!((0..3).all(|c| (0..25).all(|v| seq.data[[c, 1, v, 1]] == 0.0)));
}

#[test]
fn ntu_reader_keeps_m_bodies_and_parses_names() {
    assert_eq!(
        data::ntu::parse_name("S017C003P020R002A060"),
        Some((17, 3, 20, 2, 60))
    );
    assert_eq!(data::ntu::parse_name("S017X003P020R002A060"), None);
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("1\n3\n");
    for (id, base) in [(1, 1.0), (2, 2.0), (3, 3.0)] {
        s.push_str(&ntu_body(id, 2, 25, base));
    }
    let p = write(dir.path(), "S001C001P001R001A001.skeleton", &s);
    let layout = Layout::resolve("ntu25").unwrap();
    let ReadOutcome::Sequence(seq, w) = data::ntu::read_file(&p, &layout, 2).unwrap() else {
        panic!()
    };
    assert_eq!(seq.data.shape()[3], 2);
    assert_eq!((seq.data[[0, 0, 0, 0]], seq.data[[0, 0, 0, 1]]), (1.0, 2.0));
    assert!(w[0].contains("3 bodies"));
}

fn err_of(r: skelcam::Result<ReadOutcome>) -> String {
    match r {
        Err(e) => e.to_string(),
        Ok(_) => panic!("expected an error"),
    }
}

#[test]
fn ntu_bad_input_names_file_line_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let layout = Layout::resolve("ntu25").unwrap();
    let good = ntu_file();
    let name = "S001C001P001R001A001.skeleton";
    // Truncated: cut in the middle of a joint line.
    let p = write(dir.path(), name, &good[..good.len() / 2]);
    let e = err_of(data::ntu::read_file(&p, &layout, 2));
    assert!(e.contains(name) && e.contains("truncated"), "{e}");
    // Non-numeric x on line 4 (frameCount, bodyCount, body line, jointCount, then joints).
    let bad: String = good.lines().enumerate().map(|(i, l)| if i == 4 { "abc".to_string() + &l[1..] } else { l.into() } + "\n").collect();
    let e = err_of(data::ntu::read_file(
        &write(dir.path(), name, &bad),
        &layout,
        2,
    ));
    assert!(
        e.contains(":5") && e.contains("field x") && e.contains("not a number"),
        "{e}"
    );
    // NaN coordinate.
    let nan = good.replacen("1 101 201", "NaN 101 201", 1);
    let e = err_of(data::ntu::read_file(
        &write(dir.path(), name, &nan),
        &layout,
        2,
    ));
    assert!(e.contains("NaN/Inf"), "{e}");
    // Wrong joint count for the layout.
    let wrong = format!("1\n1\n{}", ntu_body(5, 2, 20, 1.0));
    let e = err_of(data::ntu::read_file(
        &write(dir.path(), name, &wrong),
        &layout,
        2,
    ));
    assert!(e.contains("jointCount") && e.contains("20 joints"), "{e}");
    // Zero frames.
    let e = err_of(data::ntu::read_file(
        &write(dir.path(), name, "0\n"),
        &layout,
        2,
    ));
    assert!(e.contains("no frames"), "{e}");
    // Bad file name.
    let e = err_of(data::ntu::read_file(
        &write(dir.path(), "foo.skeleton", &good),
        &layout,
        2,
    ));
    assert!(
        e.contains("foo.skeleton") && e.contains("SsssCcccPpppRrrrAaaa"),
        "{e}"
    );
}

pub(crate) fn msr_text(frames: usize, zero_frames: &[usize]) -> String {
    let mut s = String::new();
    for f in 0..frames {
        for j in 0..20 {
            if zero_frames.contains(&f) {
                s.push_str("0.000000 0.000000 0.000000 0.000000\n");
            } else {
                s.push_str(&format!(
                    "{:.6} {:.6} 2.5 1.000000\n",
                    j as f32 * 0.01 + f as f32 * 0.001,
                    0.1 * j as f32
                ));
            }
        }
    }
    s
}

fn load_msr(dir: &Path, skip_bad: bool) -> skelcam::Result<data::Dataset> {
    data::load(&LoadOptions {
        format: Format::Msr,
        data: Some(dir.to_string_lossy().into()),
        layout: None,
        skip_bad,
        max_persons: 2,
        seed: 1,
        preprocess: Default::default(),
        keep_data: true,
    })
}

#[test]
fn msr_reader_drops_empty_frames_and_skips_empty_files() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "a01_s01_e01_skeleton3D.txt",
        &msr_text(5, &[0, 3]),
    );
    write(
        dir.path(),
        "a13_s09_e02_skeleton3D.txt",
        &msr_text(4, &[0, 1, 2, 3]),
    );
    write(dir.path(), "a20_s10_e03_skeleton3D.txt", &msr_text(3, &[]));
    let ds = load_msr(dir.path(), false).unwrap();
    assert_eq!(ds.samples.len(), 2);
    assert_eq!(ds.classes.len(), 20);
    let s = &ds.samples[0];
    assert_eq!((s.label, s.subject, s.frames()), (0, 1, 3));
    assert_eq!(ds.samples[1].label, 19);
    assert_eq!(ds.skipped.len(), 1);
    assert!(ds.skipped[0].1.contains("empty"));
    assert!(ds
        .warnings
        .iter()
        .any(|w| w.contains("dropped 2 of 5 frames")));
}

#[test]
fn msr_bad_input_errors_and_skip_bad() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a01_s01_e01_skeleton3D.txt", &msr_text(2, &[]));
    // Truncated: 30 joint lines.
    let t = msr_text(2, &[])
        .lines()
        .take(30)
        .map(|l| format!("{l}\n"))
        .collect::<String>();
    write(dir.path(), "a02_s01_e01_skeleton3D.txt", &t);
    let e = load_msr(dir.path(), false).unwrap_err().to_string();
    assert!(
        e.contains("a02_s01_e01") && e.contains("not a multiple of 20"),
        "{e}"
    );
    let ds = load_msr(dir.path(), true).unwrap();
    assert_eq!((ds.samples.len(), ds.skipped.len()), (1, 1));
    assert!(ds.skipped[0].0.ends_with("a02_s01_e01_skeleton3D.txt"));

    let d2 = tempfile::tempdir().unwrap();
    write(
        d2.path(),
        "a01_s01_e01_skeleton3D.txt",
        &msr_text(2, &[]).replacen("2.5", "2.x", 1),
    );
    let e = load_msr(d2.path(), false).unwrap_err().to_string();
    assert!(
        e.contains(":1") && e.contains("field z") && e.contains("'2.x'"),
        "{e}"
    );
    write(
        d2.path(),
        "a01_s01_e01_skeleton3D.txt",
        &msr_text(2, &[]).replacen("2.5", "inf", 1),
    );
    assert!(load_msr(d2.path(), false)
        .unwrap_err()
        .to_string()
        .contains("NaN/Inf"));
    write(d2.path(), "a01_s01_e01_skeleton3D.txt", "");
    assert!(load_msr(d2.path(), false)
        .unwrap_err()
        .to_string()
        .contains("no frames"));
    write(d2.path(), "a01_s01_e01_skeleton3D.txt", "1 2 3\n");
    assert!(load_msr(d2.path(), false)
        .unwrap_err()
        .to_string()
        .contains("expected 4 fields"));

    let empty = tempfile::tempdir().unwrap();
    let e = load_msr(empty.path(), false).unwrap_err().to_string();
    assert!(e.contains("no MSR Action3D files"), "{e}");

    // A layout whose joint count does not match the data.
    let d3 = tempfile::tempdir().unwrap();
    write(d3.path(), "a01_s01_e01_skeleton3D.txt", &msr_text(2, &[]));
    let e = data::load(&LoadOptions {
        format: Format::Msr,
        data: Some(d3.path().to_string_lossy().into()),
        layout: Some("ntu25".into()),
        skip_bad: false,
        max_persons: 1,
        seed: 1,
        preprocess: Default::default(),
        keep_data: true,
    })
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("ntu25 has 25 joints") && e.contains("msr20"),
        "{e}"
    );
}

fn load_csv(dir: &Path, skip_bad: bool) -> skelcam::Result<data::Dataset> {
    data::load(&LoadOptions {
        format: Format::Csv,
        data: Some(dir.to_string_lossy().into()),
        layout: Some("kinect20".into()),
        skip_bad,
        max_persons: 2,
        seed: 1,
        preprocess: Default::default(),
        keep_data: true,
    })
}

pub(crate) fn csv_seq(frames: usize, persons: usize) -> String {
    let mut s = String::from("frame,person,joint,x,y,z\n");
    for t in 0..frames {
        for m in 0..persons {
            for j in 0..20 {
                s.push_str(&format!(
                    "{t},{m},{j},{},{},{}\n",
                    j as f32 * 0.1 + 1.0,
                    t as f32 + 1.0,
                    m as f32 + 1.0
                ));
            }
        }
    }
    s
}

#[test]
fn csv_format_reads_labels_persons_and_reports_problems() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "labels.csv",
        "file,label,subject,camera\nx.csv,wave,1,2\ny.csv,clap,2,1\n",
    );
    write(dir.path(), "x.csv", &csv_seq(4, 2));
    write(dir.path(), "y.csv", &csv_seq(3, 1));
    let ds = load_csv(dir.path(), false).unwrap();
    assert_eq!(ds.classes, vec!["clap", "wave"]);
    assert_eq!(ds.samples[0].label, 1);
    assert_eq!(ds.samples[0].camera, Some(2));
    assert_eq!(ds.samples[0].data.shape(), &[3, 4, 20, 2]);
    assert_eq!(ds.samples[0].data[[2, 3, 5, 1]], 2.0);

    // An unlisted sequence file is a missing labels.csv entry.
    write(dir.path(), "z.csv", &csv_seq(2, 1));
    let e = load_csv(dir.path(), false).unwrap_err().to_string();
    assert!(e.contains("z.csv has no entry in labels.csv"), "{e}");
    assert_eq!(load_csv(dir.path(), true).unwrap().skipped.len(), 1);
    std::fs::remove_file(dir.path().join("z.csv")).unwrap();

    // A listed file that does not exist.
    write(
        dir.path(),
        "labels.csv",
        "file,label,subject\nx.csv,wave,1\ny.csv,clap,2\nq.csv,clap,2\n",
    );
    let e = load_csv(dir.path(), false).unwrap_err().to_string();
    assert!(e.contains("labels.csv:4") && e.contains("q.csv"), "{e}");

    // Bad header, joint out of range, non-numeric subject.
    std::fs::remove_file(dir.path().join("y.csv")).unwrap();
    write(
        dir.path(),
        "labels.csv",
        "file,label,subject\nx.csv,wave,1\n",
    );
    write(dir.path(), "x.csv", "frame,person,joint,x,y\n0,0,0,1,2\n");
    assert!(load_csv(dir.path(), false)
        .unwrap_err()
        .to_string()
        .contains("header must be"));
    write(
        dir.path(),
        "x.csv",
        "frame,person,joint,x,y,z\n0,0,25,1,2,3\n",
    );
    let e = load_csv(dir.path(), false).unwrap_err().to_string();
    assert!(
        e.contains("x.csv:2") && e.contains("joint 25 is out of range"),
        "{e}"
    );
    write(
        dir.path(),
        "labels.csv",
        "file,label,subject\nx.csv,wave,one\n",
    );
    let e = load_csv(dir.path(), false).unwrap_err().to_string();
    assert!(
        e.contains("labels.csv:2") && e.contains("field subject"),
        "{e}"
    );

    let empty = tempfile::tempdir().unwrap();
    assert!(load_csv(empty.path(), false)
        .unwrap_err()
        .to_string()
        .contains("no labels.csv"));
}

#[test]
fn synthetic_data_records_ground_truth_and_is_seeded() {
    let opts = LoadOptions {
        format: Format::Synthetic,
        data: Some("tiny".into()),
        layout: None,
        skip_bad: false,
        max_persons: 1,
        seed: 7,
        preprocess: Default::default(),
        keep_data: true,
    };
    let a = data::load(&opts).unwrap();
    let b = data::load(&opts).unwrap();
    assert_eq!(a.samples.len(), 4 * 4 * 3);
    assert_eq!(a.samples[5].data, b.samples[5].data);
    let gt = a.gt_joints.as_ref().unwrap();
    assert_eq!(gt.len(), a.classes.len());
    // wave_right moves the right arm of the layout.
    let right = a.layout.part("right_arm").unwrap();
    assert_eq!(&gt[0], right);
    // Works on every shipped layout, including 2-D-ish openpose.
    for l in ["ntu25", "openpose18", "msr20"] {
        let d = data::load(&LoadOptions {
            layout: Some(l.into()),
            ..opts.clone()
        })
        .unwrap();
        assert_eq!(
            d.samples[0].data.shape()[2],
            Layout::resolve(l).unwrap().num_joints()
        );
    }
    let c = data::load(&LoadOptions { seed: 8, ..opts }).unwrap();
    assert_ne!(a.samples[5].data, c.samples[5].data);
}

/// Per-file formats loaded as an index (what `skeleton cam` does, so that its memory does not grow with the
/// data): every file is still read and checked, each sample keeps its name, label and ids, and reading its
/// file again gives exactly the coordinates a full load holds.
#[test]
fn data_loaded_as_an_index_reads_each_sample_again_to_the_same_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let (msr, ntu, csv) = (
        dir.path().join("msr"),
        dir.path().join("ntu"),
        dir.path().join("csv"),
    );
    for d in [&msr, &ntu, &csv] {
        std::fs::create_dir(d).unwrap();
    }
    write(&msr, "a01_s01_e01_skeleton3D.txt", &msr_text(5, &[0, 3]));
    write(&msr, "a02_s02_e01_skeleton3D.txt", &msr_text(4, &[]));
    write(&ntu, "S001C002P003R002A013.skeleton", &ntu_file());
    write(&ntu, "S001C001P004R001A002.skeleton", &ntu_file());
    write(
        &csv,
        "labels.csv",
        "file,label,subject,camera\nx.csv,wave,1,2\ny.csv,clap,2,1\n",
    );
    write(&csv, "x.csv", &csv_seq(4, 2));
    write(&csv, "y.csv", &csv_seq(3, 1));
    for (format, d, layout) in [
        (Format::Msr, &msr, "msr20"),
        (Format::Ntu, &ntu, "ntu25"),
        (Format::Csv, &csv, "kinect20"),
    ] {
        let opts = |keep_data| LoadOptions {
            format,
            data: Some(d.to_string_lossy().into()),
            layout: Some(layout.into()),
            skip_bad: false,
            max_persons: 2,
            seed: 1,
            preprocess: Default::default(),
            keep_data,
        };
        let full = data::load(&opts(true)).unwrap();
        let index = data::load(&opts(false)).unwrap();
        assert!(full.files.is_empty());
        assert_eq!(
            (index.samples.len(), index.files.len()),
            (2, 2),
            "{format:?}"
        );
        assert_eq!(index.classes, full.classes);
        for (i, (a, b)) in index.samples.iter().zip(&full.samples).enumerate() {
            assert_eq!(a.frames(), 0, "{format:?}: the index holds no frames");
            let key = |s: &data::Sequence| (s.name.clone(), s.label, s.subject, s.camera, s.setup);
            assert_eq!(key(a), key(b), "{format:?}");
            let ReadOutcome::Sequence(again, _) =
                data::read_file(&index.files[i], format, &index.layout, 2).unwrap()
            else {
                panic!("{format:?}: no sequence on the second read")
            };
            assert_eq!(again.data, b.data, "{format:?} sample {i}");
        }
    }
    // A bad file is still an error while the index is made, naming the file.
    write(&csv, "y.csv", "frame,person,joint,x,y,z\n0,0,0,1,nan,3\n");
    let e = data::load(&LoadOptions {
        format: Format::Csv,
        data: Some(csv.to_string_lossy().into()),
        layout: None,
        skip_bad: false,
        max_persons: 2,
        seed: 1,
        preprocess: Default::default(),
        keep_data: false,
    })
    .unwrap_err()
    .to_string();
    assert!(e.contains("y.csv:2"), "{e}");
}

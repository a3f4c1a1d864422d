//! Layouts and graph partitions: built-in layouts validate, partitions match ST-GCN's check values,
//! and broken custom layouts are rejected with a message naming the problem.

use skelcam::data::Layout;
use skelcam::graph::{partitioned_adjacency, Partition};

fn nnz(a: &[Vec<f32>]) -> usize {
    a.iter().flatten().filter(|&&x| x != 0.0).count()
}

#[test]
fn builtin_layouts_load_and_validate() {
    for (name, v) in [
        ("ntu25", 25),
        ("kinect20", 20),
        ("openpose18", 18),
        ("msr20", 20),
    ] {
        let l = Layout::resolve(name).unwrap();
        assert_eq!(l.num_joints(), v, "{name}");
        assert_eq!(l.edges.len(), v - 1, "{name} is a tree");
        for p in ["left_arm", "right_arm", "hands", "legs", "trunk"] {
            assert!(!l.part(p).unwrap().is_empty());
        }
    }
}

#[test]
fn ntu_spatial_partition_matches_stgcn_check_values() {
    let l = Layout::resolve("ntu25").unwrap();
    let a = partitioned_adjacency(25, &l.edges, l.center, Partition::Spatial, 1);
    assert_eq!(a.len(), 3);
    assert_eq!((nnz(&a[0]), nnz(&a[1]), nnz(&a[2])), (25, 24, 24));
    // Column denominators |N_1(i)| of ST-GCN's normalised adjacency (docs/protocols.md, "ST-GCN"): the root weight is 1/|N_1(i)|.
    let expect = [
        4, 3, 3, 2, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 2, 3, 3, 3, 2, 5, 2, 3, 2, 3,
    ];
    for (i, &d) in expect.iter().enumerate() {
        assert!((a[0][i][i] - 1.0 / d as f32).abs() < 1e-6, "joint {i}");
        let col: f32 = (0..3)
            .map(|k| (0..25).map(|j| a[k][j][i]).sum::<f32>())
            .sum();
        assert!((col - 1.0).abs() < 1e-5, "column {i} sums to {col}");
    }
    // Distance partition with max_hop 2: |N_2(i)| of the RA-GCN CS config.
    let d2 = partitioned_adjacency(25, &l.edges, l.center, Partition::Distance, 2);
    let expect2 = [
        7, 8, 6, 3, 7, 5, 5, 5, 7, 5, 5, 5, 6, 5, 4, 3, 6, 5, 4, 3, 9, 3, 4, 3, 4,
    ];
    for (i, &d) in expect2.iter().enumerate() {
        assert!((d2[0][i][i] - 1.0 / d as f32).abs() < 1e-6, "joint {i}");
    }
}

#[test]
fn kinect_and_openpose_partition_counts() {
    for (name, counts, n1) in [
        (
            "kinect20",
            (20, 19, 19),
            vec![4, 3, 5, 2, 3, 3, 3, 2, 3, 3, 3, 2, 3, 3, 3, 2, 3, 3, 3, 2],
        ),
        (
            "openpose18",
            (18, 17, 17),
            vec![4, 4, 4, 3, 2, 4, 3, 2, 3, 3, 2, 3, 3, 2, 3, 3, 2, 2],
        ),
    ] {
        let l = Layout::resolve(name).unwrap();
        let a = partitioned_adjacency(l.num_joints(), &l.edges, l.center, Partition::Spatial, 1);
        assert_eq!((nnz(&a[0]), nnz(&a[1]), nnz(&a[2])), counts, "{name}");
        for (i, &d) in n1.iter().enumerate() {
            assert!(
                (a[0][i][i] - 1.0 / d as f32).abs() < 1e-6,
                "{name} joint {i}"
            );
        }
    }
}

fn custom(edges: &str, center: usize) -> String {
    format!(
        r#"{{"name":"c","joints":["a","b","c"],"edges":{edges},"center":{center},
        "parts":{{"left_arm":[0],"right_arm":[1],"hands":[2],"legs":[0],"trunk":[1]}}}}"#
    )
}

#[test]
fn custom_layout_file_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: String| {
        let p = dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    };
    let ok = write("ok.json", custom("[[0,1],[1,2]]", 1));
    assert_eq!(Layout::resolve(&ok).unwrap().num_joints(), 3);

    let cases = [
        ("range.json", custom("[[0,1],[1,5]]", 1), "out of range"),
        ("disc.json", custom("[[0,1]]", 1), "not connected"),
        ("centre.json", custom("[[0,1],[1,2]]", 7), "center = 7"),
        ("loop.json", custom("[[0,0],[1,2]]", 1), "self-loop"),
        (
            "syntax.json",
            "{\"name\": ".to_string(),
            "invalid layout JSON",
        ),
    ];
    for (file, text, want) in cases {
        let p = write(file, text);
        let err = Layout::resolve(&p).unwrap_err().to_string();
        assert!(err.contains(want) && err.contains(file), "{file}: {err}");
    }
    let missing = Layout::resolve("no_such_layout").unwrap_err().to_string();
    assert!(missing.contains("ntu25"), "{missing}");
}

#[test]
fn pyskl_ntu_and_coco_layouts_are_trees_and_pyskls_hand_edges_change_18_entries() {
    for (name, v) in [("ntu25-pyskl", 25), ("coco17", 17)] {
        let l = Layout::resolve(name).unwrap();
        assert_eq!((l.num_joints(), l.edges.len()), (v, v - 1), "{name}");
    }
    let a = |name: &str| {
        let l = Layout::resolve(name).unwrap();
        partitioned_adjacency(l.num_joints(), &l.edges, l.center, Partition::Spatial, 1)
    };
    let (ours, pyskl) = (a("ntu25"), a("ntu25-pyskl"));
    let differ = (0..3)
        .flat_map(|k| (0..25).flat_map(move |j| (0..25).map(move |i| (k, j, i))))
        .filter(|&(k, j, i)| (ours[k][j][i] - pyskl[k][j][i]).abs() > 1e-6)
        .count();
    assert_eq!(differ, 18);
}

#[test]
fn training_takes_a_partition_strategy_and_records_it() {
    let dir = tempfile::tempdir().unwrap();
    let run = dir.path().join("uniform");
    crate::common::tiny_cmd(&run, &["--epochs", "1", "--strategy", "distance"])
        .assert()
        .success();
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(cfg["train"]["strategy"], "distance");
    assert_eq!(cfg["model"]["partition"], "distance");
    let (t, _) = skelcam::models::weights::load(&run.join("model.safetensors")).unwrap();
    assert_eq!(t["edge_importance.0"].dims(), &[2, 20, 20]);
}

//! Image CAM arithmetic on plain arrays: Grad-CAM++ weights on a case computed by hand, bilinear upsampling,
//! flat maps, the localisation helpers (largest component box, IoU, pointing game), CutMix and soft targets.

use ndarray::{array, Array2};
use skelcam::cam::image::{minmax2, upsample_bilinear};
use skelcam::cam::localize::{argmax2, cam_box, iou, largest_component_box, pointing_hit};
use skelcam::cam::methods::gradcam_pp_weights;

#[test]
fn gradcam_pp_weights_match_a_hand_computed_case() {
    // Channel 0: ΣA = 3, g = 0.5 at both positions: a = 0.25 / (0.5 + 3·0.125) = 2/7, w = 2 · (2/7 · 0.5) = 2/7.
    // Channel 1: ΣA = 3, g = (−1, 2): the negative gradient adds nothing (ReLU); a = 4 / (8 + 24) = 1/8, w = 1/8 · 2.
    // Channel 2: g = 0 everywhere: a is defined as 0, w = 0.
    let a = array![[1.0f32, 2.0], [3.0, 0.0], [5.0, 1.0]];
    let g = array![[0.5f32, 0.5], [-1.0, 2.0], [0.0, 0.0]];
    let w = gradcam_pp_weights(&a, &g);
    let expect = [2.0 / 7.0, 0.25, 0.0];
    for (x, e) in w.iter().zip(expect) {
        assert!((x - e).abs() < 1e-6, "{w:?}");
    }
}

#[test]
fn bilinear_upsampling_keeps_constants_and_interpolates_between_centres() {
    let c = Array2::from_elem((2, 3), 0.7f32);
    assert!(upsample_bilinear(&c, 9, 13)
        .iter()
        .all(|&v| (v - 0.7).abs() < 1e-6));
    let ramp = array![[0.0f32, 1.0]];
    let up = upsample_bilinear(&ramp, 1, 4);
    // Output pixel centres at 0.125, 0.375, 0.625, 0.875 of the width: clamped, 0.25, 0.75, clamped.
    assert_eq!(up.row(0).to_vec(), vec![0.0, 0.25, 0.75, 1.0]);
}

#[test]
fn a_flat_map_scales_to_zeros_not_nan() {
    let (m, flat) = minmax2(&Array2::from_elem((3, 3), 2.5f32));
    assert!(flat && m.iter().all(|&v| v == 0.0));
    let (m, flat) = minmax2(&array![[1.0f32, 3.0]]);
    assert!(!flat && m.row(0).to_vec() == vec![0.0, 1.0]);
}

#[test]
fn largest_component_box_iou_and_pointing() {
    let mut map = Array2::<f32>::zeros((10, 10));
    // A 3×4 blob (values 1) and a single brighter pixel far away (value 4): 20 % of 4 keeps both,
    // the largest component is the blob.
    for y in 2..5 {
        for x in 1..5 {
            map[[y, x]] = 1.0;
        }
    }
    map[[8, 8]] = 4.0;
    let b = largest_component_box(&map, 0.2).unwrap();
    assert_eq!(b, [1.0, 2.0, 5.0, 5.0]);
    assert!((iou(&b, &[1.0, 2.0, 5.0, 5.0]) - 1.0).abs() < 1e-6);
    assert!((iou(&b, &[3.0, 2.0, 7.0, 5.0]) - 6.0 / 18.0).abs() < 1e-6);
    assert_eq!(argmax2(&map), (8, 8));
    assert!(!pointing_hit((8, 8), &[b], 2.0));
    assert!(pointing_hit((8, 8), &[b], 4.0));
    assert_eq!(largest_component_box(&Array2::zeros((3, 3)), 0.2), None);
}

#[test]
fn cutmix_weights_are_the_unpasted_area_and_soft_targets_sum_to_one() {
    use image::{Rgb, RgbImage};
    use skelcam::data::mix::{cutmix, soft_targets};
    let mut views = vec![
        RgbImage::from_pixel(20, 10, Rgb([0, 0, 0])),
        RgbImage::from_pixel(20, 10, Rgb([255, 255, 255])),
    ];
    let lambdas = cutmix(&mut views, &[1, 0], 1.0, &mut skelcam::rng::rng_for(3, 3));
    for (v, (lam, own)) in views.iter().zip(lambdas.iter().zip([0u8, 255])) {
        let kept = v.pixels().filter(|p| p[0] == own).count() as f32 / 200.0;
        assert!((kept - lam).abs() < 1e-6, "λ {lam} vs kept fraction {kept}");
    }
    let t = soft_targets(&[Some(0), Some(1)], &[Some(1), Some(0)], &lambdas, 3, 0.1);
    for row in t.chunks(3) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(
            (row[2] - 0.1 / 3.0).abs() < 1e-7,
            "an unused class gets only the smoothing mass"
        );
    }
    assert!((t[0] - (0.1 / 3.0 + 0.9 * lambdas[0])).abs() < 1e-6);
    // A picture shown without its object (label None) spreads its share evenly over the classes.
    let t = soft_targets(&[None, Some(2)], &[Some(2), None], &[0.5, 0.75], 4, 0.1);
    let close = |a: f32, b: f32| (a - b).abs() < 1e-6;
    assert!(t.chunks(4).all(|r| close(r.iter().sum(), 1.0)), "{t:?}");
    assert!(close(t[0], 0.025 + 0.1125) && close(t[2], 0.025 + 0.1125 + 0.45));
    assert!(close(t[4], 0.025 + 0.05625) && close(t[6], 0.025 + 0.675 + 0.05625));
}

#[test]
fn the_cam_box_thresholds_the_raw_map_not_a_min_max_scaled_one() {
    // A positive 2×2 core (value 5) with a ring at 0.5 on a background of −5. At 20 % of the maximum (1.0)
    // only the core survives; min-max scaling would keep everything ≥ −3, the ring included.
    let mut raw = Array2::from_elem((6, 6), -5.0f32);
    for y in 1..5 {
        for x in 1..5 {
            raw[[y, x]] = 0.5;
        }
    }
    for y in 2..4 {
        for x in 2..4 {
            raw[[y, x]] = 5.0;
        }
    }
    let (b, up) = cam_box(&raw, 6, 6, 0.2);
    assert_eq!(up, raw, "same size: upsampling is the identity");
    assert_eq!(b, Some([2.0, 2.0, 4.0, 4.0]));
    let scaled = largest_component_box(&minmax2(&raw).0, 0.2).unwrap();
    assert_eq!(
        scaled,
        [1.0, 1.0, 5.0, 5.0],
        "what the min-max version would have boxed"
    );
}

#[test]
fn folder_classes_map_onto_the_model_order_by_name() {
    use skelcam::data::images::class_map;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // A folder lists classes sorted (house, sun, tree); the model was trained as (house, tree, sun).
    assert_eq!(
        class_map(&s(&["house", "sun", "tree"]), &s(&["house", "tree", "sun"])),
        Some(vec![0, 2, 1])
    );
    assert_eq!(
        class_map(&s(&["sun"]), &s(&["house", "tree", "sun"])),
        Some(vec![2])
    );
    assert_eq!(
        class_map(&s(&["car", "sun"]), &s(&["house", "tree", "sun"])),
        None
    );
}

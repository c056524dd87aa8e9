//! Image manifolds of Stanczuk, Batzolis et al. (ICML 2024): 32×32 grey images with k free
//! parameters, flattened row-major (pixel (r, c) is coordinate r·s + c). The constructions are
//! those of the paper's official data modules (`FixedSquaresManifold`, `FixedGaussiansManifold`),
//! re-implemented.

use super::{at_least_one, fill_rows, layout_rng, Params, Sample, TrueId};
use crate::error::{Error, Result};
use rand::seq::index::sample as sample_indices;
use rand::Rng;
use serde_json::json;
use std::f64::consts::PI;

/// Square sides, drawn uniformly per square.
const SQUARE_SIDES: [usize; 2] = [3, 5];
/// Range of the blobs' standard deviations (pixels), drawn uniformly per blob and image.
const BLOB_STD: (f64, f64) = (1.0, 5.0);
/// Layout draws before giving up on linearly independent squares.
const LAYOUT_ATTEMPTS: usize = 100;

/// One square: top-left pixel and side.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Square {
    row: usize,
    col: usize,
    side: usize,
}

/// The image side s, checked (D = s²).
fn image_side(p: &Params, min: usize) -> Result<usize> {
    let s = p.image_size.unwrap_or(32);
    if s < min {
        return Err(Error::param(
            "image-size",
            format!("must be at least {min}, got {s}"),
        ));
    }
    if let Some(d) = p.ambient {
        if d != s * s {
            return Err(Error::param(
                "ambient",
                format!("{s}×{s} images have D = {}, got {d}", s * s),
            ));
        }
    }
    Ok(s)
}

/// Draws k squares (sides from {3, 5}, inside the image with a one-pixel margin, overlaps allowed)
/// until their indicator images are linearly independent, so that the data span exactly k
/// dimensions.
fn square_layout(seed: u64, k: usize, s: usize) -> Result<Vec<Square>> {
    let mut rng = layout_rng(seed, 0);
    for _ in 0..LAYOUT_ATTEMPTS {
        let squares: Vec<Square> = (0..k)
            .map(|_| {
                let side = SQUARE_SIDES[rng.random_range(0..SQUARE_SIDES.len())];
                // rows row..row+side−1 within 1..=s−2
                let (row, col) = (rng.random_range(1..s - side), rng.random_range(1..s - side));
                Square { row, col, side }
            })
            .collect();
        let templates = faer::Mat::from_fn(k, s * s, |j, px| {
            let (r, c, q) = (px / s, px % s, squares[j]);
            f64::from(u8::from(
                (q.row..q.row + q.side).contains(&r) && (q.col..q.col + q.side).contains(&c),
            ))
        });
        let sv = crate::linalg::singular_values(templates.as_ref())?;
        if sv[k - 1] > 1e-9 * sv[0] {
            return Ok(squares);
        }
    }
    Err(Error::param(
        "dim",
        format!("could not place {k} linearly independent squares in a {s}×{s} image; use fewer squares"),
    ))
}

/// `squares`: k squares with fixed positions and sides (drawn once per dataset: side 3 or 5 with
/// equal odds, top-left corner uniform so the square stays one pixel off the border); image i is
/// Σ_j c_ij·1[square j] with brightness c_ij ~ U(0, 1) drawn per image. Overlapping squares add
/// up, so pixels lie in [0, k]. The layout is redrawn until the k square indicators are linearly
/// independent, so the images fill a k-dimensional box: true ID k.
///
/// Defaults: k = 10, 32×32 images (D = 1024).
pub(super) fn squares(p: &Params) -> Result<Sample> {
    let s = image_side(p, 7)?;
    let k = at_least_one("dim", p.dim.unwrap_or(10))?;
    let layout = square_layout(p.seed, k, s)?;
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, s * s, p.seed, |_, rng, img| {
        for q in &layout {
            let c: f64 = rng.random();
            for r in q.row..q.row + q.side {
                img[r * s + q.col..r * s + q.col + q.side]
                    .iter_mut()
                    .for_each(|v| *v += c);
            }
        }
    });
    let placed: Vec<[usize; 3]> = layout.iter().map(|q| [q.row, q.col, q.side]).collect();
    Ok(Sample {
        values,
        ambient: s * s,
        true_id: TrueId::Global(k),
        params: json!({ "dim": k, "image_size": s, "sides": SQUARE_SIDES, "brightness": "U(0,1)" }),
        details: json!({ "squares_row_col_side": placed }),
        description: format!(
            "{s}×{s} images of {k} fixed squares (side 3 or 5) with brightness U(0,1), flattened"
        ),
        own_noise: false,
    })
}

/// Renders the blobs with standard deviations `stds` at `centres` and rescales to [0, 1].
fn render_blobs(centres: &[(usize, usize)], stds: &[f64], s: usize, img: &mut [f64]) {
    img.fill(0.0);
    for (&(cr, cc), &std) in centres.iter().zip(stds) {
        let (height, precision) = (1.0 / ((2.0 * PI).sqrt() * std), 0.5 / (std * std));
        for (px, v) in img.iter_mut().enumerate() {
            let (dr, dc) = ((px / s) as f64 - cr as f64, (px % s) as f64 - cc as f64);
            *v += height * (-(dr * dr + dc * dc) * precision).exp();
        }
    }
    let (lo, hi) = img
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    img.iter_mut().for_each(|v| *v = (*v - lo) / (hi - lo));
}

/// `blobs`: k Gaussian blobs with fixed centres (k distinct pixels drawn once per dataset without
/// replacement); in image i blob j has standard deviation σ_ij ~ U(1, 5) pixels and profile
/// (1/(√(2π)σ_ij))·exp(−‖p − c_j‖²/(2σ_ij²)); the blobs are summed and the image rescaled to
/// [0, 1] by its own minimum and maximum. True ID k (the k widths).
///
/// Defaults: k = 10, 32×32 images (D = 1024). Needs k ≤ s².
pub(super) fn blobs(p: &Params) -> Result<Sample> {
    let s = image_side(p, 2)?;
    let k = at_least_one("dim", p.dim.unwrap_or(10))?;
    if k > s * s {
        return Err(Error::param(
            "dim",
            format!("{k} blob centres do not fit in {} pixels", s * s),
        ));
    }
    let centres: Vec<(usize, usize)> = sample_indices(&mut layout_rng(p.seed, 0), s * s, k)
        .into_iter()
        .map(|px| (px / s, px % s))
        .collect();
    if p.check_only {
        return Ok(Sample::checked());
    }
    let values = fill_rows(p.n, s * s, p.seed, |_, rng, img| {
        let stds: Vec<f64> = (0..k)
            .map(|_| rng.random_range(BLOB_STD.0..BLOB_STD.1))
            .collect();
        render_blobs(&centres, &stds, s, img);
    });
    let centre_list: Vec<[usize; 2]> = centres.iter().map(|&(r, c)| [r, c]).collect();
    Ok(Sample {
        values,
        ambient: s * s,
        true_id: TrueId::Global(k),
        params: json!({ "dim": k, "image_size": s, "std_range": [BLOB_STD.0, BLOB_STD.1], "rescale": "min-max to [0,1]" }),
        details: json!({ "centres_row_col": centre_list }),
        description: format!("{s}×{s} images of {k} fixed Gaussian blobs with widths U(1,5), rescaled to [0,1], flattened"),
        own_noise: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linalg::singular_values;

    #[test]
    fn squares_are_a_k_dimensional_box() {
        let p = Params {
            n: 40,
            dim: Some(6),
            image_size: Some(12),
            ..Params::default()
        };
        let out = squares(&p).unwrap();
        let layout = square_layout(0, 6, 12).unwrap();
        for img in out.values.chunks(144) {
            assert!(img.iter().all(|&v| (0.0..=6.0).contains(&v)));
            // the border and every pixel outside all squares stay black
            for (px, &v) in img.iter().enumerate() {
                let (r, c) = (px / 12, px % 12);
                let covered = layout.iter().any(|q| {
                    (q.row..q.row + q.side).contains(&r) && (q.col..q.col + q.side).contains(&c)
                });
                assert!(covered || v == 0.0);
                assert!(!(covered && (r == 0 || c == 0 || r == 11 || c == 11)));
            }
        }
        let m = faer::Mat::from_fn(40, 144, |i, j| out.values[i * 144 + j]);
        let sv = singular_values(m.as_ref()).unwrap();
        assert!(sv[5] > 1e-3 * sv[0] && sv[6] < 1e-10 * sv[0], "{sv:?}");
    }

    #[test]
    fn squares_layout_depends_on_the_seed_and_can_fail() {
        assert_ne!(
            square_layout(0, 5, 32).unwrap(),
            square_layout(1, 5, 32).unwrap()
        );
        // a 7×7 image has room for ten distinct squares (nine 3×3, one 5×5): eleven are dependent
        let err = square_layout(0, 11, 7).unwrap_err().to_string();
        assert!(err.contains("linearly independent"), "{err}");
    }

    #[test]
    fn blobs_span_zero_to_one_and_have_rank_k_jacobian() {
        let p = Params {
            n: 20,
            dim: Some(4),
            image_size: Some(16),
            ..Params::default()
        };
        let out = blobs(&p).unwrap();
        for img in out.values.chunks(256) {
            let lo = img.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = img.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            assert!(lo == 0.0 && (hi - 1.0).abs() < 1e-15);
        }
        // the widths σ ↦ image is an immersion: its 256×4 Jacobian has rank 4
        let centres = [(2, 3), (8, 8), (12, 5), (4, 13)];
        let stds = [1.5, 2.5, 3.5, 4.5];
        let h = 1e-6;
        let (mut up, mut down) = (vec![0.0; 256], vec![0.0; 256]);
        let jac = faer::Mat::from_fn(256, 4, |px, j| {
            let (mut a, mut b) = (stds, stds);
            a[j] += h;
            b[j] -= h;
            render_blobs(&centres, &a, 16, &mut up);
            render_blobs(&centres, &b, 16, &mut down);
            (up[px] - down[px]) / (2.0 * h)
        });
        let sv = singular_values(jac.as_ref()).unwrap();
        assert!(sv[3] > 1e-4 * sv[0], "{sv:?}");
        assert!(blobs(&Params {
            dim: Some(5),
            image_size: Some(2),
            ..Params::default()
        })
        .is_err());
    }
}

//! The standard benchmark manifolds of intrinsic-dimension estimation, with known ID.
//!
//! Hein & Audibert (ICML 2005) proposed a suite of synthetic manifolds (M1–M13), Campadelli et
//! al. (Math. Probl. Eng. 2015) added high-dimensional curved ones (M_β, M_N1, M_N2) and the
//! paraboloids over a Burr density (M_P1–M_P3); scikit-dimension ships the 24 as
//! `BenchmarkManifolds`, and that is what researchers compare estimators on. The constructions
//! below follow the papers' definitions (names as in scikit-dimension), followed by a few that
//! cover what they miss: high ID in ℝ¹⁰⁰, a product manifold and full-dimensional data in ℝ⁶⁰.
//!
//! Every point i draws from its own stream ([`crate::rng::stream`]`(seed, i)`), so a dataset is
//! bit-identical for a given (n, seed) whatever the thread count.
//!
//! ```
//! use scoregeo::data::synthetic::benchmark::Benchmark;
//! let b = Benchmark::from_name("M4_Nonlinear").unwrap();
//! assert_eq!((b.intrinsic_dim(), b.ambient_dim()), (4, 8));
//! let data = b.sample(100, 1);
//! assert_eq!((data.len(), data.dim()), (100, 8));
//! ```

use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::rng::stream;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Beta, Distribution, Exp1, StandardNormal};
use std::f64::consts::PI;

/// One benchmark manifold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Benchmark {
    /// Uniform 10-sphere in ℝ¹¹.
    M1Sphere,
    /// A 3-dimensional box mapped affinely into ℝ⁵.
    M2Affine3to5,
    /// A 4-dimensional box mapped by quadratic and trigonometric features into ℝ⁶.
    M3Nonlinear4to6,
    /// The cyclic polar embedding of [0, 1]⁴ into ℝ⁸.
    M4Nonlinear,
    /// A helix winding round a torus in ℝ³ (a closed curve).
    M5aHelix1d,
    /// A helicoid-like spiral surface in ℝ³.
    M5bHelix2d,
    /// The cyclic polar embedding of [0, 1]⁶ into ℝ¹², repeated three times (ℝ³⁶).
    M6Nonlinear,
    /// The Swiss roll in ℝ³.
    M7Roll,
    /// The cyclic polar embedding of [0, 1]¹² into ℝ²⁴, repeated three times (ℝ⁷²).
    M8Nonlinear,
    /// A uniform 20-dimensional cube filling ℝ²⁰.
    M9Affine,
    /// The surface of the unit 11-cube (ID 10).
    M10aCubic,
    /// The surface of the unit 18-cube (ID 17).
    M10bCubic,
    /// The surface of the unit 25-cube (ID 24).
    M10cCubic,
    /// The surface of the unit 71-cube (ID 70).
    M10dCubic,
    /// A band twisted round a circle in ℝ³.
    M11Moebius,
    /// The standard Gaussian in ℝ²⁰ (full-dimensional).
    M12Norm,
    /// The S-curve in ℝ³.
    M13aScurve,
    /// A long helix of radius 100 in ℝ¹³ (padded with zeros).
    M13bSpiral,
    /// A product of ten curves under a Beta(10, ½) density, in ℝ⁴⁰.
    Mbeta,
    /// A mildly curved 18-manifold in ℝ⁷².
    Mn1Nonlinear,
    /// A mildly curved 24-manifold in ℝ⁹⁶.
    Mn2Nonlinear,
    /// The 3-dimensional paraboloid over a Burr density, in ℝ¹².
    Mp1Paraboloid,
    /// The 6-dimensional paraboloid over a Burr density, in ℝ²¹.
    Mp2Paraboloid,
    /// The 9-dimensional paraboloid over a Burr density, in ℝ³⁰.
    Mp3Paraboloid,
    /// Uniform 50-sphere in ℝ¹⁰⁰ by a fixed rotation (high ID in D ≈ 100).
    S50Sphere,
    /// A Gaussian on a 60-dimensional linear subspace of ℝ¹⁰⁰ (high ID, flat).
    A60Affine,
    /// The flat torus S¹ × S¹ × S¹ in ℝ⁶ (a product of circles of radii 1, ½, ¼).
    T3Torus,
    /// The standard Gaussian in ℝ⁶⁰ (full-dimensional in high D).
    G60Gaussian,
    /// The uniform cube [0, 1]⁶⁰ (full-dimensional in high D).
    C60Cube,
}

impl Benchmark {
    /// The 24 manifolds of the standard suite, in their usual order.
    pub const STANDARD: [Benchmark; 24] = [
        Benchmark::M1Sphere,
        Benchmark::M2Affine3to5,
        Benchmark::M3Nonlinear4to6,
        Benchmark::M4Nonlinear,
        Benchmark::M5aHelix1d,
        Benchmark::M5bHelix2d,
        Benchmark::M6Nonlinear,
        Benchmark::M7Roll,
        Benchmark::M8Nonlinear,
        Benchmark::M9Affine,
        Benchmark::M10aCubic,
        Benchmark::M10bCubic,
        Benchmark::M10cCubic,
        Benchmark::M10dCubic,
        Benchmark::M11Moebius,
        Benchmark::M12Norm,
        Benchmark::M13aScurve,
        Benchmark::M13bSpiral,
        Benchmark::Mbeta,
        Benchmark::Mn1Nonlinear,
        Benchmark::Mn2Nonlinear,
        Benchmark::Mp1Paraboloid,
        Benchmark::Mp2Paraboloid,
        Benchmark::Mp3Paraboloid,
    ];

    /// The additions to the standard suite: high ID in ℝ¹⁰⁰, a flat torus and full-dimensional
    /// data in ℝ⁶⁰.
    pub const EXTRA: [Benchmark; 5] = [
        Benchmark::S50Sphere,
        Benchmark::A60Affine,
        Benchmark::T3Torus,
        Benchmark::G60Gaussian,
        Benchmark::C60Cube,
    ];

    /// The standard suite and the additions, in order.
    pub const ALL: [Benchmark; 29] = {
        let mut all = [Benchmark::T3Torus; 29];
        let mut i = 0;
        while i < all.len() {
            all[i] = if i < 24 {
                Self::STANDARD[i]
            } else {
                Self::EXTRA[i - 24]
            };
            i += 1;
        }
        all
    };

    /// The name used in tables and on the command line (scikit-dimension's where it has one).
    pub fn name(self) -> &'static str {
        use Benchmark::*;
        match self {
            M1Sphere => "M1_Sphere",
            M2Affine3to5 => "M2_Affine_3to5",
            M3Nonlinear4to6 => "M3_Nonlinear_4to6",
            M4Nonlinear => "M4_Nonlinear",
            M5aHelix1d => "M5a_Helix1d",
            M5bHelix2d => "M5b_Helix2d",
            M6Nonlinear => "M6_Nonlinear",
            M7Roll => "M7_Roll",
            M8Nonlinear => "M8_Nonlinear",
            M9Affine => "M9_Affine",
            M10aCubic => "M10a_Cubic",
            M10bCubic => "M10b_Cubic",
            M10cCubic => "M10c_Cubic",
            M10dCubic => "M10d_Cubic",
            M11Moebius => "M11_Moebius",
            M12Norm => "M12_Norm",
            M13aScurve => "M13a_Scurve",
            M13bSpiral => "M13b_Spiral",
            Mbeta => "Mbeta",
            Mn1Nonlinear => "Mn1_Nonlinear",
            Mn2Nonlinear => "Mn2_Nonlinear",
            Mp1Paraboloid => "Mp1_Paraboloid",
            Mp2Paraboloid => "Mp2_Paraboloid",
            Mp3Paraboloid => "Mp3_Paraboloid",
            S50Sphere => "S50_Sphere",
            A60Affine => "A60_Affine",
            T3Torus => "T3_Torus",
            G60Gaussian => "G60_Gaussian",
            C60Cube => "C60_Cube",
        }
    }

    /// The manifold called `name` (case-insensitive).
    pub fn from_name(name: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|b| b.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                let known: Vec<&str> = Self::ALL.iter().map(|b| b.name()).collect();
                Error::param(
                    "benchmark",
                    format!("unknown manifold `{name}` (known: {})", known.join(", ")),
                )
            })
    }

    /// The true intrinsic dimension.
    pub fn intrinsic_dim(self) -> usize {
        use Benchmark::*;
        match self {
            M1Sphere | M10aCubic | Mbeta => 10,
            M2Affine3to5 | Mp1Paraboloid => 3,
            M3Nonlinear4to6 | M4Nonlinear => 4,
            M5aHelix1d | M13bSpiral => 1,
            M5bHelix2d | M7Roll | M11Moebius | M13aScurve => 2,
            M6Nonlinear | Mp2Paraboloid => 6,
            M8Nonlinear => 12,
            M9Affine | M12Norm => 20,
            M10bCubic => 17,
            M10cCubic | Mn2Nonlinear => 24,
            M10dCubic => 70,
            Mn1Nonlinear => 18,
            Mp3Paraboloid => 9,
            S50Sphere => 50,
            A60Affine | G60Gaussian | C60Cube => 60,
            T3Torus => 3,
        }
    }

    /// The ambient dimension D.
    pub fn ambient_dim(self) -> usize {
        use Benchmark::*;
        match self {
            M1Sphere | M10aCubic => 11,
            M2Affine3to5 => 5,
            M3Nonlinear4to6 | T3Torus => 6,
            M4Nonlinear => 8,
            M5aHelix1d | M5bHelix2d | M7Roll | M11Moebius | M13aScurve => 3,
            M6Nonlinear => 36,
            M8Nonlinear | Mn1Nonlinear => 72,
            M9Affine | M12Norm => 20,
            M10bCubic => 18,
            M10cCubic => 25,
            M10dCubic => 71,
            M13bSpiral => 13,
            Mbeta => 40,
            Mn2Nonlinear => 96,
            Mp1Paraboloid => 12,
            Mp2Paraboloid => 21,
            Mp3Paraboloid => 30,
            S50Sphere | A60Affine => 100,
            G60Gaussian | C60Cube => 60,
        }
    }

    /// One line saying what the manifold is.
    pub fn description(self) -> String {
        let (d, big_d) = (self.intrinsic_dim(), self.ambient_dim());
        use Benchmark::*;
        let what = match self {
            M1Sphere => "uniform sphere",
            M2Affine3to5 => "affine image of a box",
            M3Nonlinear4to6 => "quadratic-trigonometric image of a box",
            M4Nonlinear | M6Nonlinear | M8Nonlinear => {
                "cyclic polar embedding (p_{i+1} cos 2πp_i, p_{i+1} sin 2πp_i), repeated"
            }
            M5aHelix1d => "helix round a torus",
            M5bHelix2d => "spiral surface (r cos p, r sin p, p/2)",
            M7Roll => "Swiss roll",
            M9Affine => "uniform cube",
            M10aCubic | M10bCubic | M10cCubic | M10dCubic => "surface of a cube",
            M11Moebius => "twisted band",
            M12Norm => "standard Gaussian",
            M13aScurve => "S-curve",
            M13bSpiral => "helix of radius 100, zero-padded",
            Mbeta => "product of curves under Beta(10, 1/2)",
            Mn1Nonlinear | Mn2Nonlinear => "tan/arctan embedding of a box",
            Mp1Paraboloid | Mp2Paraboloid | Mp3Paraboloid => "paraboloid over a Burr density",
            S50Sphere => "uniform sphere, rotated",
            A60Affine => "Gaussian on a linear subspace",
            T3Torus => "flat torus S¹×S¹×S¹",
            G60Gaussian => "standard Gaussian",
            C60Cube => "uniform cube",
        };
        format!("{what}: ID {d} in ℝ^{big_d}")
    }

    /// n points, seeded (point i from stream i of `seed`).
    pub fn sample(self, n: usize, seed: u64) -> Dataset {
        let d = self.ambient_dim();
        let rotation = self.rotation(seed);
        let mut values = vec![0.0; n * d];
        for (i, row) in values.chunks_mut(d).enumerate() {
            let mut rng = stream(seed, i as u64);
            self.point(&mut rng, row, rotation.as_deref());
        }
        Dataset::from_row_major(values, n, d).expect("benchmark points are finite")
    }

    /// A fixed random orthonormal frame (D × k, row-major) for the rotated additions.
    fn rotation(self, seed: u64) -> Option<Vec<f64>> {
        let k = match self {
            Benchmark::S50Sphere => 51,
            Benchmark::A60Affine => 60,
            _ => return None,
        };
        let d = self.ambient_dim();
        // Gram–Schmidt on Gaussian columns, from a stream no point uses
        let mut rng = stream(seed ^ 0xbe9c_4a11, u64::MAX);
        let mut cols: Vec<Vec<f64>> = Vec::with_capacity(k);
        while cols.len() < k {
            let mut v: Vec<f64> = (0..d).map(|_| rng.sample(StandardNormal)).collect();
            for c in &cols {
                let dot: f64 = v.iter().zip(c).map(|(a, b)| a * b).sum();
                v.iter_mut().zip(c).for_each(|(a, b)| *a -= dot * b);
            }
            let norm = v.iter().map(|a| a * a).sum::<f64>().sqrt();
            if norm > 1e-8 {
                cols.push(v.into_iter().map(|a| a / norm).collect());
            }
        }
        Some(
            (0..d)
                .flat_map(|r| cols.iter().map(move |c| c[r]))
                .collect(),
        )
    }

    /// Writes one point into `row` (length D, zero on entry).
    fn point(self, rng: &mut ChaCha8Rng, row: &mut [f64], rotation: Option<&[f64]>) {
        use Benchmark::*;
        let mut u = || rng.random::<f64>();
        match self {
            M1Sphere => {
                let g: Vec<f64> = (0..11).map(|_| rng.sample(StandardNormal)).collect();
                let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
                row.iter_mut().zip(&g).for_each(|(r, x)| *r = x / norm);
            }
            M2Affine3to5 => {
                const A: [[f64; 3]; 5] = [
                    [1.2, -0.5, 0.0],
                    [0.5, 0.9, 0.0],
                    [-0.5, -0.2, 1.0],
                    [0.4, -0.9, -0.1],
                    [1.1, -0.3, 0.0],
                ];
                const B: [f64; 5] = [3.0, -1.0, 0.0, 0.0, 8.0];
                let p = [4.0 * u(), 4.0 * u(), 4.0 * u()];
                for (j, r) in row.iter_mut().enumerate() {
                    *r = B[j] + (0..3).map(|c| A[j][c] * p[c]).sum::<f64>();
                }
            }
            M3Nonlinear4to6 => {
                let (p0, p1, p2, p3) = (u(), u(), u(), u());
                let tau = 2.0 * PI;
                row.copy_from_slice(&[
                    p1 * p1 * (tau * p0).cos(),
                    p2 * p2 * (tau * p0).sin(),
                    p1 + p2 + (p1 - p3).powi(2),
                    p1 - 2.0 * p2 + (p0 - p3).powi(2),
                    -p1 - 2.0 * p2 + (p2 - p3).powi(2),
                    p0 * p0 - p1 * p1 + p2 * p2 - p3 * p3,
                ]);
            }
            M4Nonlinear | M6Nonlinear | M8Nonlinear => {
                let d = self.intrinsic_dim();
                let p: Vec<f64> = (0..d).map(|_| u()).collect();
                // pair i is p_{i+1} (cos 2πp_i, sin 2πp_i): polar coordinates with a cyclic radius
                let block: Vec<f64> = (0..d)
                    .flat_map(|i| {
                        let (r, a) = (p[(i + 1) % d], 2.0 * PI * p[i]);
                        [r * a.cos(), r * a.sin()]
                    })
                    .collect();
                for chunk in row.chunks_mut(2 * d) {
                    chunk.copy_from_slice(&block);
                }
            }
            M5aHelix1d => {
                let t = 2.0 * PI * u();
                let w = 2.0 + (8.0 * t).cos();
                row.copy_from_slice(&[w * t.cos(), w * t.sin(), (8.0 * t).sin()]);
            }
            M5bHelix2d => {
                let (r, p) = (10.0 * PI * u(), 10.0 * PI * u());
                row.copy_from_slice(&[r * p.cos(), r * p.sin(), 0.5 * p]);
            }
            M7Roll => {
                let t = 1.5 * PI * (1.0 + 2.0 * u());
                let h = 21.0 * u();
                row.copy_from_slice(&[t * t.cos(), h, t * t.sin()]);
            }
            M9Affine => row.iter_mut().for_each(|r| *r = 5.0 * u() - 2.5),
            M10aCubic | M10bCubic | M10cCubic | M10dCubic => {
                // a uniform point of a uniformly chosen face of [0, 1]^{d+1}
                let faces = 2 * row.len();
                let face = rng.random_range(0..faces);
                row.iter_mut().for_each(|r| *r = rng.random::<f64>());
                row[face / 2] = (face % 2) as f64;
            }
            M11Moebius => {
                let (phi, r) = (2.0 * PI * u(), 2.0 * u() - 1.0);
                let w = 1.0 + 0.5 * r * (5.0 * phi).cos();
                row.copy_from_slice(&[w * phi.cos(), w * phi.sin(), 0.5 * r * (5.0 * phi).sin()]);
            }
            M12Norm => row.iter_mut().for_each(|r| *r = rng.sample(StandardNormal)),
            M13aScurve => {
                let t = 3.0 * PI * (u() - 0.5);
                let h = 2.0 * u();
                row.copy_from_slice(&[t.sin(), h, t.signum() * (t.cos() - 1.0)]);
            }
            M13bSpiral => {
                let t = 10.0 * PI * u();
                row[..3].copy_from_slice(&[100.0 * t.cos(), 100.0 * t.sin(), t]);
            }
            Mbeta => {
                let beta = Beta::new(10.0, 0.5).expect("valid Beta parameters");
                let d = 10;
                for i in 0..d {
                    let x: f64 = beta.sample(rng);
                    let a = x * (2.0 * PI * x).cos().sin();
                    let b = x * (2.0 * PI * x).sin().cos();
                    for copy in 0..2 {
                        row[copy * 2 * d + i] = a;
                        row[copy * 2 * d + d + i] = b;
                    }
                }
            }
            Mn1Nonlinear | Mn2Nonlinear => {
                let d = self.intrinsic_dim();
                let x: Vec<f64> = (0..d).map(|_| u()).collect();
                for i in 0..d {
                    let j = d - 1 - i;
                    let a = (x[i] * x[j].cos()).tan();
                    let b = (x[j] * x[i].sin()).atan();
                    for copy in 0..2 {
                        row[copy * 2 * d + i] = a;
                        row[copy * 2 * d + d + i] = b;
                    }
                }
            }
            Mp1Paraboloid | Mp2Paraboloid | Mp3Paraboloid => {
                let d = self.intrinsic_dim();
                let e0: f64 = Exp1.sample(rng);
                // x_i = 1/(1 + E_i/E_0): a multivariate Burr (α = 1) density on the unit box
                let mut x: Vec<f64> = (0..d)
                    .map(|_| {
                        let e: f64 = Exp1.sample(rng);
                        1.0 / (1.0 + e / e0)
                    })
                    .collect();
                x.push(x.iter().map(|v| v * v).sum());
                let m = d + 1;
                for (i, &v) in x.iter().enumerate() {
                    row[i] = v;
                    row[m + i] = v.sin();
                    row[2 * m + i] = v * v;
                }
            }
            S50Sphere => {
                let g: Vec<f64> = (0..51).map(|_| rng.sample(StandardNormal)).collect();
                let norm = g.iter().map(|x| x * x).sum::<f64>().sqrt();
                rotate(rotation.expect("rotated"), &g, 1.0 / norm, row);
            }
            A60Affine => {
                let g: Vec<f64> = (0..60).map(|_| rng.sample(StandardNormal)).collect();
                rotate(rotation.expect("rotated"), &g, 1.0, row);
            }
            G60Gaussian => row.iter_mut().for_each(|r| *r = rng.sample(StandardNormal)),
            C60Cube => row.iter_mut().for_each(|r| *r = u()),
            T3Torus => {
                for (k, radius) in [1.0, 0.5, 0.25].into_iter().enumerate() {
                    let a = 2.0 * PI * u();
                    row[2 * k] = radius * a.cos();
                    row[2 * k + 1] = radius * a.sin();
                }
            }
        }
    }
}

/// row = scale · Q g for a D × k frame Q (row-major).
fn rotate(q: &[f64], g: &[f64], scale: f64, row: &mut [f64]) {
    let k = g.len();
    for (r, out) in row.iter_mut().enumerate() {
        *out = scale * (0..k).map(|c| q[r * k + c] * g[c]).sum::<f64>();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_names_and_reproducibility() {
        for b in Benchmark::ALL {
            assert_eq!(Benchmark::from_name(b.name()).unwrap(), b);
            let data = b.sample(50, 3);
            assert_eq!((data.len(), data.dim()), (50, b.ambient_dim()), "{b:?}");
            assert_eq!(data.as_slice(), b.sample(50, 3).as_slice());
            assert!(b.intrinsic_dim() <= b.ambient_dim());
        }
        assert!(Benchmark::from_name("nope").is_err());
        // the whole suite is the standard one then the additions, each once
        assert_eq!(Benchmark::ALL[..24], Benchmark::STANDARD);
        assert_eq!(Benchmark::ALL[24..], Benchmark::EXTRA);
        let distinct: std::collections::HashSet<_> = Benchmark::ALL.iter().collect();
        assert_eq!(distinct.len(), 29);
    }

    #[test]
    fn constructions_satisfy_their_constraints() {
        let norm = |r: &[f64]| r.iter().map(|x| x * x).sum::<f64>().sqrt();
        for row in Benchmark::M1Sphere.sample(20, 1).rows() {
            assert!((norm(row) - 1.0).abs() < 1e-12);
        }
        for row in Benchmark::S50Sphere.sample(20, 1).rows() {
            assert!((norm(row) - 1.0).abs() < 1e-12);
        }
        // a cube face: one coordinate is exactly 0 or 1
        for row in Benchmark::M10aCubic.sample(50, 1).rows() {
            assert!(row.iter().any(|&x| x == 0.0 || x == 1.0));
        }
        // polar pairs: the radius of pair i is the angle parameter of pair i + 1
        for row in Benchmark::M4Nonlinear.sample(20, 1).rows() {
            for i in 0..4 {
                let r = row[2 * i].hypot(row[2 * i + 1]);
                let j = (i + 1) % 4;
                let angle = row[2 * j + 1].atan2(row[2 * j]).rem_euclid(2.0 * PI) / (2.0 * PI);
                assert!((r - angle).abs() < 1e-9, "{r} vs {angle}");
            }
        }
        // repeated blocks
        for row in Benchmark::M6Nonlinear.sample(5, 1).rows() {
            assert_eq!(&row[..12], &row[12..24]);
        }
        // paraboloid: the last coordinate of the first block is the sum of squares
        for row in Benchmark::Mp2Paraboloid.sample(10, 1).rows() {
            let s: f64 = row[..6].iter().map(|x| x * x).sum();
            assert!((row[6] - s).abs() < 1e-12);
        }
    }
}

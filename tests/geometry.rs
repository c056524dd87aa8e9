//! Integration tests of `scoregeo::geometry`: a property battery run on every metric, the
//! closed-form oracles (banana, river), and the numeric score-pullback solver against them and
//! against circles and a swiss roll whose true geodesics are known.

use faer::{Mat, MatRef};
#[cfg(feature = "testing")]
use proptest::prelude::*;
#[cfg(feature = "testing")]
use proptest::test_runner::{Config, TestCaseError, TestRng, TestRunner};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
#[cfg(feature = "testing")]
use scoregeo::geometry::testing::{self, Breach, DiffeoTolerances, MetricTolerances, Property};
#[cfg(feature = "testing")]
use scoregeo::geometry::Affine;
use scoregeo::geometry::{
    Diffeomorphism, DiscreteMetric, Euclidean, FlowDensity, GeodesicSolver, Immersion,
    Initialisation, Metric, PullbackMetric, ScorePullback, Shear,
};
use scoregeo::linalg::euclidean_distance as dist;
use scoregeo::score::analytic::GaussianMixture;
use scoregeo::sde::Sde;
use scoregeo::Dataset;
use std::f64::consts::PI;

/// Banana and river variances: thin (a₁) across the curve, wide (a₂) along it.
const VARIANCES: [f64; 2] = [0.05, 4.0];

fn row(m: MatRef<'_, f64>, i: usize) -> Vec<f64> {
    (0..m.ncols()).map(|j| m[(i, j)]).collect()
}

/// The battery of `geometry::testing` on `cases` random triples (x, y, z) and tangent vectors v
/// in [−range, range]ᵈ; proptest shrinks a failing sample before the panic names it.
#[cfg(feature = "testing")]
fn metric_battery<M: Metric>(
    name: &str,
    metric: &M,
    range: f64,
    cases: u32,
    tol: MetricTolerances,
) {
    let d = metric.dim();
    let point = prop::collection::vec(-range..range, d);
    let strategy = (
        point.clone(),
        point.clone(),
        point,
        prop::collection::vec(-1.0..1.0f64, d),
    );
    let result = runner(cases).run(&strategy, |(x, y, z, v)| {
        testing::check_metric_case(metric, (&x, &y, &z), &v, &tol)
            .map_err(|f| TestCaseError::fail(f.to_string()))
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// The diffeomorphism battery of `geometry::testing` on random x ∈ [−range, range]ᵈ and v.
#[cfg(feature = "testing")]
fn diffeomorphism_battery<P: Diffeomorphism>(name: &str, phi: &P, range: f64) {
    let d = phi.dim();
    let strategy = (
        prop::collection::vec(-range..range, d),
        prop::collection::vec(-1.0..1.0f64, d),
    );
    let tol = DiffeoTolerances {
        position: 1e-12 * (1.0 + range),
        tangent: 1e-12,
    };
    let result = runner(64).run(&strategy, |(x, v)| {
        testing::check_diffeomorphism_case(phi, &x, &v, &tol)
            .map_err(|f| TestCaseError::fail(f.to_string()))
    });
    if let Err(e) = result {
        panic!("{name}: {e}");
    }
}

/// A deterministic proptest runner of `cases` cases.
#[cfg(feature = "testing")]
fn runner(cases: u32) -> TestRunner {
    let config = Config::with_cases(cases);
    TestRunner::new_with_rng(
        config.clone(),
        TestRng::deterministic_rng(config.rng_algorithm),
    )
}

fn banana() -> PullbackMetric<Shear, Euclidean> {
    PullbackMetric::closed_form(Shear::banana(2).unwrap(), &VARIANCES).unwrap()
}

fn river() -> PullbackMetric<Shear, Euclidean> {
    PullbackMetric::closed_form(Shear::river(2).unwrap(), &VARIANCES).unwrap()
}

#[cfg(feature = "testing")]
fn skew_affine() -> Affine {
    let l = Mat::from_fn(3, 3, |i, j| {
        [[1.5, 0.4, -0.2], [0.1, 0.8, 0.3], [-0.5, 0.2, 1.1]][i][j]
    });
    Affine::new(l, vec![0.3, -1.0, 2.0]).unwrap()
}

#[cfg(feature = "testing")]
const EXACT: MetricTolerances = MetricTolerances::EXACT;

#[cfg(feature = "testing")]
#[test]
fn battery_on_exact_metrics() {
    metric_battery(
        "euclidean",
        &Euclidean::weighted(vec![1.0, 4.0, 0.25]).unwrap(),
        5.0,
        64,
        EXACT,
    );
    metric_battery("banana", &banana(), 4.0, 64, EXACT);
    metric_battery("river", &river(), 4.0, 64, EXACT);
    let affine = PullbackMetric::closed_form(skew_affine(), &[0.5, 1.0, 2.0]).unwrap();
    metric_battery("affine", &affine, 4.0, 64, EXACT);
    // the river of ℝ⁴ acts on the first two coordinates only
    let river4 = PullbackMetric::closed_form(Shear::river(4).unwrap(), &[0.05, 4.0, 1.0, 0.5]);
    metric_battery("river in R^4", &river4.unwrap(), 3.0, 32, EXACT);
}

#[cfg(feature = "testing")]
#[test]
fn battery_on_diffeomorphisms() {
    diffeomorphism_battery("banana", &Shear::banana(3).unwrap(), 5.0);
    diffeomorphism_battery("river", &Shear::river(2).unwrap(), 5.0);
    diffeomorphism_battery("affine", &skew_affine(), 5.0);
    diffeomorphism_battery("identity", &Affine::identity(4).unwrap(), 5.0);
}

/// The discrete calculus on the closed-form immersion A⁻¹φ: its discrete geodesics are exact,
/// exp∘log = id holds to solver precision, and the discrete log is second order in 1/N (see
/// `discrete_log_is_second_order`).
#[cfg(feature = "testing")]
#[test]
fn battery_on_discrete_closed_form_metric() {
    let solver = GeodesicSolver::params()
        .nodes(33)
        .tolerance(1e-9)
        .check()
        .unwrap();
    let m = DiscreteMetric::new(banana(), solver);
    let tol = MetricTolerances {
        relative: 1e-6,
        position: 1e-6,
        log_norm: 0.02,
        ..MetricTolerances::EXACT
    };
    metric_battery("discrete banana", &m, 3.0, 12, tol);
}

/// The discrete logarithm converges to the closed-form one at second order: doubling N quarters
/// the error.
#[test]
fn discrete_log_is_second_order() {
    // the river: on the banana x₁(t) is quadratic in t and the difference is exact
    let (x, y) = ([0.5, 2.0], [-0.3, -2.5]);
    let exact = river().log(&x, &y).unwrap();
    let errors: Vec<f64> = [33, 65, 129]
        .iter()
        .map(|&nodes| {
            let solver = GeodesicSolver::params()
                .nodes(nodes)
                .tolerance(1e-10)
                .check()
                .unwrap();
            dist(
                &DiscreteMetric::new(river(), solver).log(&x, &y).unwrap(),
                &exact,
            )
        })
        .collect();
    println!("discrete log errors at N = 32, 64, 128: {errors:?}");
    for w in errors.windows(2) {
        // first order would halve the error, third order divide it by 8
        assert!(
            (3.5..4.5).contains(&(w[0] / w[1])),
            "not second order: {errors:?}"
        );
    }
}

/// The score-pullback metric of the banana density: discrete geodesics, shooting and
/// projection transport on F(x) = (√λx, c·s(x)).
#[cfg(feature = "testing")]
#[test]
fn battery_on_score_pullback_metric() {
    let density = FlowDensity::new(Shear::banana(2).unwrap(), VARIANCES.to_vec()).unwrap();
    let pullback = ScorePullback::params()
        .score_scale(VARIANCES[0])
        .nodes(33)
        .tolerance(1e-9)
        .check()
        .unwrap();
    let m = pullback.metric(&density).unwrap();
    let tol = MetricTolerances {
        relative: 1e-4,
        position: 1e-4,
        log_norm: 0.02,
        ..MetricTolerances::EXACT
    };
    metric_battery("score pullback", &m, 2.0, 12, tol);
}

/// Euclidean but for a distance that is half again as long leftwards (x₀ > y₀): d(x, x) = 0
/// and every other operation still holds, so only symmetry can catch it.
#[cfg(feature = "testing")]
struct Lopsided(Euclidean);

#[cfg(feature = "testing")]
impl Metric for Lopsided {
    fn dim(&self) -> usize {
        self.0.dim()
    }
    fn inner_product(&self, x: &[f64], v: &[f64], w: &[f64]) -> scoregeo::Result<f64> {
        self.0.inner_product(x, v, w)
    }
    fn distance(&self, x: &[f64], y: &[f64]) -> scoregeo::Result<f64> {
        let d = self.0.distance(x, y)?;
        Ok(if x[0] > y[0] { 1.5 * d } else { d })
    }
    fn geodesic(&self, x: &[f64], y: &[f64], times: &[f64]) -> scoregeo::Result<Mat<f64>> {
        self.0.geodesic(x, y, times)
    }
    fn exp(&self, x: &[f64], v: &[f64]) -> scoregeo::Result<Vec<f64>> {
        self.0.exp(x, v)
    }
    fn log(&self, x: &[f64], y: &[f64]) -> scoregeo::Result<Vec<f64>> {
        self.0.log(x, y)
    }
    fn parallel_transport(&self, x: &[f64], y: &[f64], v: &[f64]) -> scoregeo::Result<Vec<f64>> {
        self.0.parallel_transport(x, y, v)
    }
}

/// The battery is not vacuous: it passes the Euclidean metric on these points, names symmetry
/// at the first pair where the lopsided distance breaks it (by d/2), and catches an inverse
/// that is not one.
#[cfg(feature = "testing")]
#[test]
fn battery_catches_broken_metrics_and_diffeomorphisms() {
    // rows 0 → 1 go rightwards, 1 → 2 leftwards
    let points = Mat::from_fn(3, 2, |i, j| [[0.0, 0.0], [3.0, 4.0], [1.0, -1.0]][i][j]);
    let tangents = Mat::from_fn(3, 2, |i, j| (i + j) as f64 - 1.0);
    let euclidean = Euclidean::standard(2).unwrap();
    let report =
        testing::check_metric(&euclidean, points.as_ref(), tangents.as_ref(), &EXACT).unwrap();
    assert_eq!(report.cases, 3);
    assert_eq!(report.worst.len(), 7, "every metric property is checked");
    assert!(report.worst.iter().all(|&(_, w)| (0.0..=1.0).contains(&w)));

    let lopsided = Lopsided(euclidean);
    let failure =
        testing::check_metric(&lopsided, points.as_ref(), tangents.as_ref(), &EXACT).unwrap_err();
    assert_eq!(failure.property, Property::Symmetry, "{failure}");
    // the first triple: x = (0, 0), y = (3, 4), d(x, y) = 5 and d(y, x) = 7.5
    assert_eq!(failure.points[0], [0.0, 0.0]);
    assert_eq!(failure.points[1], [3.0, 4.0]);
    match failure.breach {
        Breach::Exceeded { error, bound } => {
            assert!(
                (error - 2.5).abs() < 1e-12 && bound < 1e-8,
                "{error} {bound}"
            );
        }
        Breach::Failed(e) => panic!("an operation failed: {e}"),
    }
    assert!(failure.to_string().contains("symmetry"), "{failure}");

    // the banana shear with the river's inverse: φ⁻¹∘φ ≠ id away from x₂ = 0
    struct WrongInverse(Shear, Shear);
    impl Diffeomorphism for WrongInverse {
        fn dim(&self) -> usize {
            self.0.dim()
        }
        fn forward(&self, x: MatRef<'_, f64>) -> scoregeo::Result<Mat<f64>> {
            self.0.forward(x)
        }
        fn inverse(&self, z: MatRef<'_, f64>) -> scoregeo::Result<Mat<f64>> {
            self.1.inverse(z)
        }
        fn jacobians(&self, x: MatRef<'_, f64>) -> scoregeo::Result<Vec<Mat<f64>>> {
            self.0.jacobians(x)
        }
        fn describe(&self) -> String {
            "banana with the river's inverse".into()
        }
    }
    let wrong = WrongInverse(Shear::banana(2).unwrap(), Shear::river(2).unwrap());
    let tol = DiffeoTolerances {
        position: 1e-9,
        tangent: 1e-9,
    };
    let banana = Shear::banana(2).unwrap();
    testing::check_diffeomorphism(&banana, points.as_ref(), tangents.as_ref(), &tol).unwrap();
    let failure = testing::check_diffeomorphism(&wrong, points.as_ref(), tangents.as_ref(), &tol)
        .unwrap_err();
    assert_eq!(failure.property, Property::InverseForward, "{failure}");
    // (0, 0) is fixed by both shears; the first failure is at (3, 4)
    assert_eq!(failure.points[0], [3.0, 4.0]);
    // samples of the wrong shape are an error, not a pass
    let short = Mat::<f64>::zeros(2, 2);
    let failure =
        testing::check_metric(&lopsided, points.as_ref(), short.as_ref(), &EXACT).unwrap_err();
    assert!(matches!(failure.breach, Breach::Failed(_)), "{failure}");
}

/// φ⁻¹ by Newton's method on φ(x) = z, from forward passes and Jacobians only: an oracle for
/// the hand-derived inverse.
fn newton_inverse<P: Diffeomorphism>(phi: &P, z: &[f64]) -> Vec<f64> {
    let d = z.len();
    let mut x = z.to_vec();
    for _ in 0..100 {
        let xm = MatRef::from_row_major_slice(&x, 1, d);
        let f = phi.forward(xm).unwrap();
        let r: Vec<f64> = (0..d).map(|j| f[(0, j)] - z[j]).collect();
        if r.iter().map(|a| a.abs()).fold(0.0, f64::max) < 1e-15 {
            break;
        }
        let j = phi.jacobians(xm).unwrap().remove(0);
        // 2×2 (or block-triangular) solve by Cramer on the first two coordinates; the others
        // are the identity for the shears
        let det = j[(0, 0)] * j[(1, 1)] - j[(0, 1)] * j[(1, 0)];
        let dx0 = (r[0] * j[(1, 1)] - r[1] * j[(0, 1)]) / det;
        let dx1 = (j[(0, 0)] * r[1] - j[(1, 0)] * r[0]) / det;
        x[0] -= dx0;
        x[1] -= dx1;
        for k in 2..d {
            x[k] -= r[k];
        }
    }
    x
}

/// A point of the plane with coordinates drawn uniformly from [−range, range).
fn random_point(rng: &mut ChaCha8Rng, range: f64) -> Vec<f64> {
    (0..2).map(|_| rng.random_range(-range..range)).collect()
}

/// Closed-form oracle: geodesics are φ⁻¹ of straight lines, with φ⁻¹ taken numerically.
#[test]
fn closed_form_geodesics_are_inverse_images_of_lines() {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let times: Vec<f64> = (0..100).map(|k| k as f64 / 99.0).collect();
    for (name, metric) in [("banana", banana()), ("river", river())] {
        let mut worst: f64 = 0.0;
        for _ in 0..20 {
            let (x, y) = (random_point(&mut rng, 4.0), random_point(&mut rng, 4.0));
            let curve = metric.geodesic(&x, &y, &times).unwrap();
            let phi = metric.diffeomorphism();
            let (px, py) = (
                row(
                    phi.forward(MatRef::from_row_major_slice(&x, 1, 2))
                        .unwrap()
                        .as_ref(),
                    0,
                ),
                row(
                    phi.forward(MatRef::from_row_major_slice(&y, 1, 2))
                        .unwrap()
                        .as_ref(),
                    0,
                ),
            );
            for (k, t) in times.iter().enumerate() {
                let line: Vec<f64> = (0..2).map(|j| (1.0 - t) * px[j] + t * py[j]).collect();
                let oracle = newton_inverse(phi, &line);
                worst = worst.max(dist(&row(curve.as_ref(), k), &oracle));
            }
        }
        assert!(worst < 1e-6, "{name}: geodesic off φ⁻¹(line) by {worst:e}");
    }
}

/// The numeric solver on the closed-form immersion A⁻¹φ reproduces the exact geodesics: for
/// this F the discrete Euler–Lagrange equations have the exact nodes γ(i/N) as solution.
#[test]
fn discrete_solver_on_closed_form_immersion_is_exact() {
    let solver = GeodesicSolver::params()
        .nodes(33)
        .tolerance(1e-10)
        .check()
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let times: Vec<f64> = (0..33).map(|k| k as f64 / 32.0).collect();
    for (name, metric) in [("banana", banana()), ("river", river())] {
        let mut worst: f64 = 0.0;
        for _ in 0..10 {
            let (x, y) = (random_point(&mut rng, 3.0), random_point(&mut rng, 3.0));
            let g = solver.solve(&metric, &x, &y).unwrap();
            assert!(g.converged(), "{name}: {}", g.termination());
            let exact = metric.geodesic(&x, &y, &times).unwrap();
            for i in 0..33 {
                worst = worst.max(dist(&row(g.nodes(), i), &row(exact.as_ref(), i)));
            }
            let rel = (g.length() - metric.distance(&x, &y).unwrap()).abs() / g.length();
            assert!(rel < 1e-8, "{name}: length off by {rel:e}");
        }
        assert!(worst < 1e-6, "{name}: discrete nodes off by {worst:e}");
    }
}

/// Mean over the nodes of the distance from each node to the (densely sampled) curve.
fn mean_distance_to_curve(nodes: MatRef<'_, f64>, curve: MatRef<'_, f64>) -> f64 {
    (0..nodes.nrows())
        .map(|i| {
            let p = row(nodes, i);
            (0..curve.nrows() - 1)
                .map(|k| {
                    let (a, b) = (row(curve, k), row(curve, k + 1));
                    let ab: Vec<f64> = b.iter().zip(&a).map(|(u, v)| u - v).collect();
                    let len2: f64 = ab.iter().map(|u| u * u).sum();
                    let t = if len2 > 0.0 {
                        (p.iter()
                            .zip(&a)
                            .zip(&ab)
                            .map(|((pj, aj), u)| (pj - aj) * u)
                            .sum::<f64>()
                            / len2)
                            .clamp(0.0, 1.0)
                    } else {
                        0.0
                    };
                    let q: Vec<f64> = a.iter().zip(&ab).map(|(aj, u)| aj + t * u).collect();
                    dist(&p, &q)
                })
                .fold(f64::INFINITY, f64::min)
        })
        .sum::<f64>()
        / nodes.nrows() as f64
}

/// The score-pullback solver on the banana and river densities against the closed-form
/// geodesics over 50 pairs drawn from each density. J_sᵀJ_s equals the closed-form metric
/// DφᵀA⁻²Dφ only for isometric, flat φ; the shears are neither (‖Dφ‖ ≠ 1, ∇²φ₁ ≠ 0), so the
/// curves agree to within that model error, stated here as tolerances on the mean distance from
/// the numeric nodes to the closed-form curve (the curves' speeds differ, so node-by-node
/// errors are larger and only printed). c = a₁ makes c·J_s ≈ −Dφᵀ(a₁A⁻¹)Dφ of order 1 across
/// the curve; λ = 10⁻² outweighs the position-dependent term c(φ₁/a₁)∇²φ₁ in the tangential
/// metric (with the default λ = 10⁻³ the banana error is 0.024, the river's 0.045).
#[test]
fn score_pullback_reproduces_closed_form_geodesics() {
    let pullback = ScorePullback::params()
        .lambda(1e-2)
        .score_scale(VARIANCES[0])
        .nodes(33)
        .check()
        .unwrap();
    let grid: Vec<f64> = (0..33).map(|k| k as f64 / 32.0).collect();
    let times: Vec<f64> = (0..400).map(|k| k as f64 / 399.0).collect();
    for (name, shear, tolerance) in [
        ("banana", Shear::banana(2).unwrap(), 0.02),
        ("river", Shear::river(2).unwrap(), 0.08),
    ] {
        let density = FlowDensity::new(shear, VARIANCES.to_vec()).unwrap();
        let closed = PullbackMetric::closed_form(shear, &VARIANCES).unwrap();
        let metric = pullback.metric(&density).unwrap();
        let samples = density.sample(100, 5).unwrap();
        let (from, to) = (
            samples.as_mat().subrows(0, 50),
            samples.as_mat().subrows(50, 50),
        );
        let paths = metric.solve_pairs(from, to, None).unwrap();
        let (mut shape, mut relative, mut nodewise, mut converged) = (0.0, 0.0, 0.0, 0);
        for (p, g) in paths.iter().enumerate() {
            let (x, y) = (row(from, p), row(to, p));
            let curve = closed.geodesic(&x, &y, &times).unwrap();
            let e = mean_distance_to_curve(g.nodes(), curve.as_ref());
            shape += e / 50.0;
            relative += e / dist(&x, &y) / 50.0;
            let at_nodes = closed.geodesic(&x, &y, &grid).unwrap();
            nodewise += (0..33)
                .map(|i| dist(&row(g.nodes(), i), &row(at_nodes.as_ref(), i)))
                .sum::<f64>()
                / (33.0 * 50.0);
            converged += usize::from(g.converged());
        }
        println!(
            "{name}: mean node-to-curve error {shape:.4} ({:.2}% of ‖x − y‖), node-by-node \
             {nodewise:.4}, {converged}/50 converged",
            100.0 * relative
        );
        assert!(converged >= 45, "{name}: only {converged}/50 converged");
        assert!(
            shape < tolerance,
            "{name}: mean error {shape} ≥ {tolerance}"
        );
    }
}

/// `n` points equally spaced on the unit circle in a random 2-plane of ℝ^`dim` (seeded), and
/// the plane's orthonormal basis.
fn circle(n: usize, dim: usize, seed: u64) -> (Dataset, [Vec<f64>; 2]) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let g = Mat::from_fn(dim, 2, |_, _| rng.random_range(-1.0..1.0));
    let q = g.qr().compute_thin_Q();
    let basis = [row(q.transpose(), 0), row(q.transpose(), 1)];
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|k| {
            let a = 2.0 * PI * k as f64 / n as f64;
            (0..dim)
                .map(|j| a.cos() * basis[0][j] + a.sin() * basis[1][j])
                .collect()
        })
        .collect();
    (Dataset::from_rows(&rows).unwrap(), basis)
}

/// The point of the circle at angle a.
fn on_circle(basis: &[Vec<f64>; 2], a: f64) -> Vec<f64> {
    (0..basis[0].len())
        .map(|j| a.cos() * basis[0][j] + a.sin() * basis[1][j])
        .collect()
}

/// Distance from p to the unit circle spanned by `basis`.
fn distance_to_circle(basis: &[Vec<f64>; 2], p: &[f64]) -> f64 {
    let c: Vec<f64> = basis
        .iter()
        .map(|b| b.iter().zip(p).map(|(u, v)| u * v).sum())
        .collect();
    let in_plane = (c[0] * c[0] + c[1] * c[1]).sqrt();
    let total2: f64 = p.iter().map(|v| v * v).sum();
    ((in_plane - 1.0).powi(2) + (total2 - in_plane * in_plane).max(0.0)).sqrt()
}

/// The noised empirical distribution of a dense circle sample (h = 0, VE, σ(t₀) = 0.05): with
/// at least 200 points the spacing 2π/n is below σ, so the density is smooth along the circle.
fn circle_model(data: &Dataset) -> GaussianMixture {
    GaussianMixture::new(data.clone(), 0.0, Sde::ve(2.0)).unwrap()
}

/// σ(t₀) = 0.05 for `Sde::ve(2.0)`: 0.01·200^t₀ = 0.05.
fn circle_t0() -> f64 {
    5f64.ln() / 200f64.ln()
}

/// Geodesics between far-apart points of a circle in ℝ¹⁰ stay on the circle (k-NN init).
#[test]
fn circle_geodesics_stay_on_the_circle() {
    let (data, basis) = circle(250, 10, 1);
    let model = circle_model(&data);
    let metric = ScorePullback::params()
        .t0(circle_t0())
        .nodes(33)
        .check()
        .unwrap()
        .metric(&model)
        .unwrap();
    let angles = [
        (0.0, 0.9 * PI),
        (0.3, 0.3 + 0.8 * PI),
        (1.0, 1.0 - 0.7 * PI),
        (2.0, 2.0 + 0.95 * PI),
    ];
    let from = Mat::from_fn(angles.len(), 10, |p, j| on_circle(&basis, angles[p].0)[j]);
    let to = Mat::from_fn(angles.len(), 10, |p, j| on_circle(&basis, angles[p].1)[j]);
    let paths = metric
        .solve_pairs(from.as_ref(), to.as_ref(), Some(&data))
        .unwrap();
    for (p, g) in paths.iter().enumerate() {
        assert!(matches!(
            g.initialisation(),
            Initialisation::KnnGraph { .. }
        ));
        let worst = (0..g.nodes().nrows())
            .map(|i| distance_to_circle(&basis, &row(g.nodes(), i)))
            .fold(0.0, f64::max);
        let arc = (angles[p].1 - angles[p].0).abs();
        println!(
            "circle pair {p}: max distance to circle {worst:.4}, euclidean path length {:.4} (arc {arc:.4}), {} iterations, converged {}",
            g.euclidean_length(),
            g.iterations(),
            g.converged()
        );
        assert!(worst < 0.1, "pair {p} leaves the circle by {worst}");
        assert!(
            (g.euclidean_length() / arc - 1.0).abs() < 0.05,
            "pair {p} does not go round"
        );
    }
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f64 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f64 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va * vb).sqrt()
}

/// The discrete geodesic lengths between the rows of `from` and `to` (k-NN initialisation over
/// `data`); at least 95 % of the solves must converge.
fn pair_lengths<I: scoregeo::geometry::Immersion>(
    metric: &scoregeo::geometry::DiscreteMetric<I>,
    from: &Mat<f64>,
    to: &Mat<f64>,
    data: &Dataset,
) -> Vec<f64> {
    let paths = metric
        .solve_pairs(from.as_ref(), to.as_ref(), Some(data))
        .unwrap();
    let converged = paths.iter().filter(|g| g.converged()).count();
    assert!(
        20 * converged >= 19 * paths.len(),
        "only {converged}/{} converged",
        paths.len()
    );
    paths.iter().map(|g| g.length()).collect()
}

/// Score-pullback distances on a dense circle in ℝ¹⁰ track the arc length (100 pairs).
#[test]
fn circle_distances_track_arc_length() {
    let (data, basis) = circle(200, 10, 2);
    let model = circle_model(&data);
    // the length is stationary at the optimum: a loose tolerance costs it little
    let metric = ScorePullback::params()
        .t0(circle_t0())
        .nodes(13)
        .tolerance(1e-3)
        .check()
        .unwrap()
        .metric(&model)
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let pairs: Vec<(f64, f64)> = (0..100)
        .map(|_| {
            (
                rng.random_range(0.0..2.0 * PI),
                rng.random_range(0.0..2.0 * PI),
            )
        })
        .collect();
    let from = Mat::from_fn(100, 10, |p, j| on_circle(&basis, pairs[p].0)[j]);
    let to = Mat::from_fn(100, 10, |p, j| on_circle(&basis, pairs[p].1)[j]);
    let lengths = pair_lengths(&metric, &from, &to, &data);
    let arcs: Vec<f64> = pairs
        .iter()
        .map(|(a, b)| {
            let d = (a - b).abs();
            d.min(2.0 * PI - d)
        })
        .collect();
    let r = correlation(&lengths, &arcs);
    println!("circle: correlation of score-pullback length with arc length {r:.5}");
    assert!(r >= 0.99, "correlation {r}");
}

/// Score-pullback distances on a swiss roll in ℝ³ track the intrinsic distance (100 pairs):
/// the roll (t cos t, h, t sin t) is isometric to the rectangle of (arc length s(t), h).
#[test]
fn swiss_roll_distances_track_intrinsic_distance() {
    let arc = |t: f64| 0.5 * (t * (1.0 + t * t).sqrt() + t.asinh());
    // invert s(t) by bisection to sample equally in arc length
    let t_of = |s: f64| {
        let (mut lo, mut hi) = (1.5 * PI, 3.0 * PI);
        for _ in 0..80 {
            let mid = 0.5 * (lo + hi);
            if arc(mid) < s {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        0.5 * (lo + hi)
    };
    let (s0, s1, height) = (arc(1.5 * PI), arc(3.0 * PI), 8.0);
    let embed = |s: f64, h: f64| {
        let t = t_of(s);
        vec![t * t.cos(), h, t * t.sin()]
    };
    let (ns, nh) = (40, 12);
    let rows: Vec<Vec<f64>> = (0..ns * nh)
        .map(|k| {
            let s = s0 + (s1 - s0) * (k / nh) as f64 / (ns - 1) as f64;
            let h = height * (k % nh) as f64 / (nh - 1) as f64;
            embed(s, h)
        })
        .collect();
    let data = Dataset::from_rows(&rows).unwrap();
    // σ(t₀) = 0.9 = 0.01·5000^t₀: above the grid spacing (0.86 × 0.73), far below the gap
    // between turns (2π)
    let model = GaussianMixture::new(data.clone(), 0.0, Sde::ve(50.0)).unwrap();
    let t0 = 90f64.ln() / 5000f64.ln();
    let metric = ScorePullback::params()
        .t0(t0)
        .nodes(17)
        .tolerance(1e-3)
        .check()
        .unwrap()
        .metric(&model)
        .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let margin = 1.0;
    let intrinsic: Vec<[f64; 4]> = (0..100)
        .map(|_| {
            [
                rng.random_range(s0 + margin..s1 - margin),
                rng.random_range(margin..height - margin),
                rng.random_range(s0 + margin..s1 - margin),
                rng.random_range(margin..height - margin),
            ]
        })
        .collect();
    let from = Mat::from_fn(100, 3, |p, j| embed(intrinsic[p][0], intrinsic[p][1])[j]);
    let to = Mat::from_fn(100, 3, |p, j| embed(intrinsic[p][2], intrinsic[p][3])[j]);
    let lengths = pair_lengths(&metric, &from, &to, &data);
    let truth: Vec<f64> = intrinsic
        .iter()
        .map(|q| ((q[0] - q[2]).powi(2) + (q[1] - q[3]).powi(2)).sqrt())
        .collect();
    let euclid: Vec<f64> = (0..100)
        .map(|p| dist(&row(from.as_ref(), p), &row(to.as_ref(), p)))
        .collect();
    let r = correlation(&lengths, &truth);
    println!(
        "swiss roll: correlation with intrinsic distance {r:.5} (ambient Euclidean distance: {:.5})",
        correlation(&euclid, &truth)
    );
    assert!(r >= 0.99, "correlation {r}");
}

/// The score immersion's Jacobians agree with finite differences of its forward map on a
/// Gaussian mixture (so the geodesic gradient uses the right VJP).
#[test]
fn score_immersion_jacobian_matches_finite_differences() {
    let (data, _) = circle(50, 3, 9);
    let model = circle_model(&data);
    let metric = ScorePullback::params()
        .t0(0.4)
        .check()
        .unwrap()
        .metric(&model)
        .unwrap();
    let imm = metric.immersion();
    let x = [0.9, 0.2, -0.1];
    let j = imm
        .jacobians(MatRef::from_row_major_slice(&x, 1, 3))
        .unwrap()
        .remove(0);
    let h = 1e-6;
    for b in 0..3 {
        let (mut p, mut m) = (x, x);
        p[b] += h;
        m[b] -= h;
        let fp = imm.apply(MatRef::from_row_major_slice(&p, 1, 3)).unwrap();
        let fm = imm.apply(MatRef::from_row_major_slice(&m, 1, 3)).unwrap();
        for a in 0..6 {
            let fd = (fp[(0, a)] - fm[(0, a)]) / (2.0 * h);
            assert!(
                (fd - j[(a, b)]).abs() < 1e-5 * (1.0 + fd.abs()),
                "{a}{b}: {fd} vs {}",
                j[(a, b)]
            );
        }
    }
}

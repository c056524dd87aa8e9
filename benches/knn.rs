//! Exact k-NN searches, as ratios measured in one run.
//!
//! `cargo bench --bench knn` times, with k = 20, the GEMM path, the tree and the automatic choice
//! on a uniform 5-sphere of 20 000 points in ℝ³⁰ (the data of `scoregeo generate sphere --dim 5
//! --ambient 30 --n 20000 --seed 0`) and on a standard Gaussian of the same size, where the
//! automatic choice must fall back to the GEMM path.
//!
//! `cargo bench --bench knn -- N` (or `SCOREGEO_KNN_N=N`) instead times the GEMM path on n × 100
//! Gaussian points against a same-run faer GEMM of exactly the same distance blocks. Both
//! sides use the same [`Blocking`] (the default, or `SCOREGEO_KNN_BLOCKS=QxR`), rayon over query
//! blocks and faer `Par::Seq` inside, so the ratio k-NN time / GEMM time is the price of screening,
//! selection and exact recomputation on top of the inner products. A ratio is stable on a noisy
//! machine where an absolute time is not; the ratio of process CPU times is printed beside the
//! wall-clock one, as it also survives other jobs competing for the cores.

use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use scoregeo::data::synthetic::{Kind, Params};
use scoregeo::knn::{k_nearest_by, k_nearest_with, Blocking, Search};
use scoregeo::Dataset;
use std::time::Instant;

const DIM: usize = 100;
const K: usize = 20;

/// The distance GEMMs alone: the same blocks, threads and faer settings as `k_nearest_with`.
fn gemm_blocks(data: &Dataset, blocking: Blocking) -> f64 {
    let n = data.len();
    let all = data.as_mat();
    let starts: Vec<usize> = (0..n).step_by(blocking.queries).collect();
    starts
        .par_iter()
        .map(|&start| {
            let rows = blocking.queries.min(n - start);
            let queries: MatRef<'_, f64> = all.subrows(start, rows);
            let ref_block = blocking.references.min(n);
            let mut gram = Mat::<f64>::zeros(ref_block, rows);
            let mut checksum = 0.0;
            for r0 in (0..n).step_by(ref_block) {
                let m = ref_block.min(n - r0);
                let dst = gram.as_mut().subrows_mut(0, m);
                matmul(
                    dst,
                    Accum::Replace,
                    all.subrows(r0, m),
                    queries.transpose(),
                    1.0,
                    Par::Seq,
                );
                // Reading one entry keeps the product from being optimised away.
                checksum += gram[(0, 0)];
            }
            checksum
        })
        .sum()
}

/// N of the GEMM-overhead mode, when given.
fn size() -> Option<usize> {
    let arg = std::env::args().skip(1).find_map(|a| a.parse().ok());
    let env = std::env::var("SCOREGEO_KNN_N")
        .ok()
        .and_then(|v| v.parse().ok());
    arg.or(env)
}

/// GEMM path, tree and automatic choice on one dataset: best of three, alternating.
fn searches(name: &str, data: &Dataset) {
    let kinds = [Search::Gemm, Search::Tree, Search::Auto];
    let mut best = [f64::INFINITY; 3];
    let mut answers = Vec::new();
    for _ in 0..3 {
        answers.clear();
        for (b, &search) in best.iter_mut().zip(&kinds) {
            let (t, nn) = time(|| k_nearest_by(data, K, search).expect("k < n"));
            *b = b.min(t.wall);
            answers.push(nn);
        }
    }
    let same = answers.iter().all(|nn| *nn == answers[0]);
    println!(
        "{name} ({} × {}, k = {K}, {} rayon threads, best of 3): GEMM {:.3} s, tree {:.3} s, \
         auto {:.3} s; GEMM/tree = {:.2}, GEMM/auto = {:.2}; identical neighbours: {same}",
        data.len(),
        data.dim(),
        rayon::current_num_threads(),
        best[0],
        best[1],
        best[2],
        best[0] / best[1],
        best[0] / best[2],
    );
}

/// `SCOREGEO_KNN_BLOCKS=QxR` overrides the default blocking (for tuning it).
fn blocking() -> Blocking {
    let parse = |v: String| {
        let (q, r) = v.split_once('x')?;
        Some(Blocking {
            queries: q.parse().ok()?,
            references: r.parse().ok()?,
        })
    };
    std::env::var("SCOREGEO_KNN_BLOCKS")
        .ok()
        .and_then(parse)
        .unwrap_or_default()
}

/// Wall-clock and process CPU time of `f`.
struct Timing {
    wall: f64,
    cpu: Option<f64>,
}

fn time<T>(f: impl FnOnce() -> T) -> (Timing, T) {
    let (start, cpu_start) = (Instant::now(), cpu_ticks());
    let out = f();
    let cpu = cpu_start.zip(cpu_ticks()).map(|(a, b)| (b - a) as f64);
    let wall = start.elapsed().as_secs_f64();
    (Timing { wall, cpu }, out)
}

/// User + system CPU time of this process in clock ticks (Linux `/proc/self/stat`, fields 14–15).
///
/// The tick length cancels in a ratio, and CPU time is far less disturbed than wall time when other
/// jobs share the cores.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name start at field 3.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    Some(fields.next()?.parse::<u64>().ok()? + fields.next()?.parse::<u64>().ok()?)
}

fn main() {
    let Some(n) = size() else {
        let (sphere, _) = Params::default()
            .n(20_000)
            .dim(5)
            .ambient(30)
            .seed(0)
            .check(Kind::Sphere)
            .and_then(|g| g.generate())
            .expect("a valid sphere");
        searches("5-sphere in R^30", &sphere);
        let mut rng = scoregeo::rng::stream(2024, 0);
        let values = (0..20_000 * 30)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect();
        let gaussian = Dataset::from_row_major(values, 20_000, 30).expect("finite Gaussian data");
        searches("Gaussian in R^30", &gaussian);
        return;
    };
    let mut rng = scoregeo::rng::stream(2024, 0);
    let values = (0..n * DIM)
        .map(|_| StandardNormal.sample(&mut rng))
        .collect();
    let data = Dataset::from_row_major(values, n, DIM).expect("finite Gaussian data");
    let blocking = blocking();
    // Alternate the two so that drift in machine load hits both; keep the best of each.
    let reps = if n <= 30_000 { 3 } else { 1 };
    let (mut gemm, mut knn) = (Vec::new(), Vec::new());
    let mut checksum = 0.0;
    for _ in 0..reps {
        let (t, c) = time(|| gemm_blocks(&data, blocking));
        gemm.push(t);
        checksum += c;
        let (t, nn) = time(|| k_nearest_with(&data, K, blocking).expect("k < n"));
        knn.push(t);
        checksum += nn.distances(0)[0];
    }
    let best = |ts: &[Timing], f: fn(&Timing) -> Option<f64>| {
        ts.iter().filter_map(f).min_by(f64::total_cmp)
    };
    let wall = |t: &Timing| Some(t.wall);
    let cpu = |t: &Timing| t.cpu;
    let (gemm_wall, knn_wall) = (
        best(&gemm, wall).unwrap_or(f64::NAN),
        best(&knn, wall).unwrap_or(f64::NAN),
    );
    let flops = 2.0 * (n as f64) * (n as f64) * DIM as f64;
    println!(
        "knn bench: n = {n}, D = {DIM}, k = {K}, blocks {}×{}, {} rayon threads, best of {reps} \
         (checksum {checksum:.3e})",
        blocking.queries,
        blocking.references,
        rayon::current_num_threads()
    );
    println!(
        "  distance GEMM  {gemm_wall:>9.3} s   {:>7.2} GFLOP/s",
        flops / gemm_wall / 1e9
    );
    println!("  exact k-NN     {knn_wall:>9.3} s");
    println!(
        "  ratio k-NN / GEMM = {:.3} (wall clock)",
        knn_wall / gemm_wall
    );
    if let (Some(g), Some(k)) = (best(&gemm, cpu), best(&knn, cpu)) {
        println!("  ratio k-NN / GEMM = {:.3} (process CPU time)", k / g);
    }
}

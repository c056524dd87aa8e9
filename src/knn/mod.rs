//! Exact k-nearest neighbours: a k-d tree on a low-dimensional sketch, or blocked GEMM distances.
//!
//! [`k_nearest`] finds, for every row xᵢ of a [`Dataset`], the k rows closest in Euclidean
//! distance, excluding xᵢ itself *by index*: an exact duplicate of xᵢ is a neighbour at distance 0.
//!
//! # Two searches, one answer
//! - [`Search::Tree`]: a k-d tree over an 8-dimensional 1-Lipschitz sketch of the rows (leading
//!   principal coordinates and the residual norm), searched per query with rounding-safe pruning;
//!   its cost follows the intrinsic dimension (on a 5-sphere in ℝ³⁰ it evaluates about 0.3 % of the
//!   n direct distances per query). See the `tree` module source for the bounds.
//! - [`Search::Gemm`]: all n² squared distances screened by blocked GEMM (below); its cost is the
//!   same for any data.
//! - [`Search::Auto`] (the default of [`k_nearest`] and [`k_nearest_of`]) builds the tree, runs it
//!   on 32 and then 256 evenly spaced queries, and keeps it when their mean work is at most n·D/10
//!   coordinate operations per query (each abandoned past n·D/5), else uses the GEMM path for all
//!   queries (a kept tree reuses the trial queries' answers).
//!   A coordinate operation of the grouped tree search costs 6 to 10 of the GEMM path's (the
//!   ratio tree time / GEMM time times the trial's n·D/work, measured on uniform 3- and 5-spheres
//!   in ℝ³⁰ with n from 2 500 to 80 000), so below n·D/10 the tree is not slower and mostly
//!   faster (a 5-sphere of 5 000 points: 0.38 of the GEMM path's time); where it falls back, the
//!   tree's build and the 32-query trial cost a few per cent of the GEMM path.
//!
//! Both return the k smallest (direct squared distance, index) pairs, so their results are
//! identical, bit for bit, and do not depend on the choice, the [`Blocking`] or the thread count.
//!
//! # GEMM algorithm
//! The data are centred on their mean (distances do not change, cancellation does), and squared
//! distances are screened in blocks with one GEMM per block pair,
//!
//! d̃²ᵢⱼ = max(0, ‖xᵢ‖² + ‖xⱼ‖² − 2 xᵢ·xⱼ),
//!
//! rayon over blocks of queries and faer `Par::Seq` inside, so threads are never nested.
//!
//! # Exactness
//! The screened value is off by at most eᵢⱼ = c (‖xᵢ‖² + ‖xⱼ‖²) + a with c = 8(D + 4)·ε (ε the
//! machine epsilon, a a subnormal-range floor): about four times the worst-case rounding of a
//! length-D dot product (γ_D, Higham, *Accuracy and Stability of Numerical Algorithms*, §3.1) plus
//! that of the centring, the screening test and the final direct evaluation. Every row keeps each
//! candidate j whose lower bound d̃²ᵢⱼ − eᵢⱼ does not exceed the k-th smallest upper bound d̃² + e
//! seen so far; the survivors' distances are then recomputed directly as Σₜ (xᵢₜ − xⱼₜ)² from the
//! original coordinates (four interleaved partial sums), and the k smallest are kept, ties broken
//! by the smaller index. The result is therefore the exact k-NN of the directly computed
//! distances: it does not depend on GEMM rounding, on the [`Blocking`], or on the thread count.
//!
//! ```
//! use scoregeo::{knn::k_nearest, Dataset};
//! let data = Dataset::from_rows(&[vec![0.0], vec![1.0], vec![3.0], vec![1.0]]).unwrap();
//! let nn = k_nearest(&data, 2).unwrap();
//! assert_eq!(nn.indices(1), &[3, 0]); // the duplicate row 3 first, at distance 0
//! assert_eq!(nn.distances(1), &[0.0, 1.0]);
//! assert_eq!(nn.indices(2), &[1, 3]); // a tie at distance 2, broken by index
//! ```

mod tree;

use crate::data::Dataset;
use crate::error::{Error, Result};
use faer::linalg::matmul::matmul;
use faer::{Accum, Mat, MatRef, Par};
use rayon::prelude::*;

/// Which exact search [`k_nearest_by`] runs (all give the same neighbours).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Search {
    /// The tree where a trial on 256 queries shows it cheap, else the GEMM path (module docs).
    #[default]
    Auto,
    /// The k-d tree over the sketch: fast on data of low intrinsic dimension.
    Tree,
    /// Blocked GEMM screening of all pairs with the default [`Blocking`]: cost independent of
    /// the data.
    Gemm,
}

/// Queries of the automatic choice's trial (an eighth of them first).
const TRIAL: usize = 256;

/// The trial keeps the tree when its mean work per query is at most n·D / `TREE_SHARE`.
const TREE_SHARE: usize = 10;

/// Block sizes of the distance GEMMs (a tuning knob; results never depend on it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Blocking {
    /// Query rows per block: the unit of work handed to one rayon task.
    pub queries: usize,
    /// Reference rows per block: each GEMM computes `references × queries` inner products.
    pub references: usize,
}

impl Default for Blocking {
    fn default() -> Self {
        Self {
            queries: 128,
            references: 512,
        }
    }
}

/// The k nearest neighbours of every row of a dataset, nearest first.
#[derive(Clone, Debug, PartialEq)]
pub struct Neighbours {
    k: usize,
    indices: Vec<usize>,
    distances: Vec<f64>,
}

impl Neighbours {
    /// Number of neighbours per point.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Number of points.
    pub fn len(&self) -> usize {
        self.indices.len() / self.k
    }

    /// True when there are no points.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }

    /// Row indices of the k nearest neighbours of row i, nearest first (ties: smaller index first).
    pub fn indices(&self, i: usize) -> &[usize] {
        &self.indices[i * self.k..(i + 1) * self.k]
    }

    /// Euclidean distances to the k nearest neighbours of row i, ascending.
    pub fn distances(&self, i: usize) -> &[f64] {
        &self.distances[i * self.k..(i + 1) * self.k]
    }
}

/// The exact k nearest neighbours of every row, by the automatic choice ([`Search::Auto`]).
///
/// Fails when k = 0 or k ≥ n (a row has only n − 1 others).
pub fn k_nearest(data: &Dataset, k: usize) -> Result<Neighbours> {
    k_nearest_by(data, k, Search::Auto)
}

/// The exact k nearest neighbours of every row, by the search `search`.
pub fn k_nearest_by(data: &Dataset, k: usize, search: Search) -> Result<Neighbours> {
    find(data, None, k, Blocking::default(), search)
}

/// The exact k nearest neighbours of every row by the GEMM path, with explicit block sizes.
pub fn k_nearest_with(data: &Dataset, k: usize, blocking: Blocking) -> Result<Neighbours> {
    find(data, None, k, blocking, Search::Gemm)
}

/// The exact k nearest neighbours of the rows `queries` among all rows (each query excluded by
/// index, as in [`k_nearest`]): entry q of the result belongs to row `queries[q]`.
///
/// Costs at most |queries|·n distance screens instead of n², for a statistic over a sample of
/// points; the search is the automatic choice.
pub fn k_nearest_of(data: &Dataset, queries: &[usize], k: usize) -> Result<Neighbours> {
    k_nearest_of_by(data, queries, k, Search::Auto)
}

/// [`k_nearest_of`] by the search `search`.
pub fn k_nearest_of_by(
    data: &Dataset,
    queries: &[usize],
    k: usize,
    search: Search,
) -> Result<Neighbours> {
    if let Some(&i) = queries.iter().find(|&&i| i >= data.len()) {
        return Err(Error::param(
            "queries",
            format!("row {i} is out of range: the data have {} rows", data.len()),
        ));
    }
    find(data, Some(queries), k, Blocking::default(), search)
}

/// The k nearest neighbours of the rows `of` (all rows when `None`).
fn find(
    data: &Dataset,
    of: Option<&[usize]>,
    k: usize,
    blocking: Blocking,
    search: Search,
) -> Result<Neighbours> {
    let n = data.len();
    if k == 0 {
        return Err(Error::param("k", "must be at least 1"));
    }
    if k >= n {
        return Err(Error::param(
            "k",
            format!(
                "{k} neighbours need at least {} points, the data have {n}",
                k + 1
            ),
        ));
    }
    if blocking.queries == 0 {
        return Err(Error::param("queries", "block size must be at least 1"));
    }
    if blocking.references == 0 {
        return Err(Error::param("references", "block size must be at least 1"));
    }
    let (mean, sq_norms) = centre(data);
    // Below MAX/8 every squared distance and bound stays finite: d² ≤ 2(‖xᵢ‖² + ‖xⱼ‖²).
    if let Some(i) = sq_norms
        .iter()
        .position(|s| s.is_nan() || *s > f64::MAX / 8.0)
    {
        return Err(Error::InvalidData(format!(
            "row {} is too far from the mean for f64 squared distances; rescale the data",
            i + 1
        )));
    }
    if search != Search::Gemm {
        if let Some(nn) = by_tree(data, &mean, of, k, search == Search::Tree) {
            return Ok(nn);
        }
    }
    let screen = Screen::new(centred(data, &mean), sq_norms, data.dim());
    let queries = of.map_or(n, <[usize]>::len);
    let mut indices = vec![0; queries * k];
    let mut distances = vec![0.0; queries * k];
    let chunk = blocking.queries * k;
    indices
        .par_chunks_mut(chunk)
        .zip(distances.par_chunks_mut(chunk))
        .enumerate()
        .for_each(|(b, (idx, dist))| {
            let block = QueryBlock {
                start: b * blocking.queries,
                rows: idx.len() / k,
                k,
                of,
            };
            block.solve(data, &screen, blocking.references, idx, dist);
        });
    Ok(Neighbours {
        k,
        indices,
        distances,
    })
}

/// The tree's answer, or `None` when `forced` is false and the trial prefers the GEMM path.
fn by_tree(
    data: &Dataset,
    mean: &[f64],
    of: Option<&[usize]>,
    k: usize,
    forced: bool,
) -> Option<Neighbours> {
    let (n, dim) = (data.len(), data.dim());
    let all: Vec<usize>;
    let rows = match of {
        Some(rows) => rows,
        None => {
            all = (0..n).collect();
            &all
        }
    };
    let tree = tree::KdTree::new(data.as_slice(), dim, mean);
    let (mut indices, mut distances) = (vec![0; rows.len() * k], vec![0.0; rows.len() * k]);
    let mut done = vec![false; rows.len()];
    let mut keep = |answers: tree::Answers, done: &mut [bool]| {
        for (t, &s) in answers.slots.iter().enumerate() {
            if answers.work[t].is_some() {
                indices[s * k..(s + 1) * k].copy_from_slice(&answers.idx[t * k..(t + 1) * k]);
                distances[s * k..(s + 1) * k].copy_from_slice(&answers.dist[t * k..(t + 1) * k]);
                done[s] = true;
            }
        }
    };
    if !forced {
        // 32 queries first, so data the tree cannot help cost the trial only an eighth.
        let budget = n * dim / TREE_SHARE;
        let mut tried = vec![false; rows.len()];
        let (mut work, mut counted) = (0, 0);
        for size in [TRIAL / 8, TRIAL] {
            let size = rows.len().min(size);
            let sample: Vec<usize> = (0..size)
                .map(|t| t * rows.len() / size)
                .filter(|&s| !std::mem::replace(&mut tried[s], true))
                .collect();
            counted += sample.len();
            let answers = tree::solve(&tree, rows, sample, k, 2 * budget);
            work += answers
                .work
                .iter()
                .map(|w| w.map_or(2 * budget, |w| w.cost(dim)))
                .sum::<usize>();
            if work > budget * counted {
                return None;
            }
            keep(answers, &mut done);
        }
    }
    let rest: Vec<usize> = (0..rows.len()).filter(|&s| !done[s]).collect();
    tree::solve_grouped(&tree, rows, rest, (&mut indices, &mut distances), k);
    Some(Neighbours {
        k,
        indices,
        distances,
    })
}

/// The mean of the rows and the squared norms of the centred rows.
fn centre(data: &Dataset) -> (Vec<f64>, Vec<f64>) {
    let (n, dim) = (data.len(), data.dim());
    let mut mean = vec![0.0; dim];
    for row in data.rows() {
        mean.iter_mut().zip(row).for_each(|(m, x)| *m += x);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let sq_norms: Vec<f64> = data
        .rows()
        .map(|row| row.iter().zip(&mean).map(|(x, m)| (x - m) * (x - m)).sum())
        .collect();
    (mean, sq_norms)
}

/// The centred rows (row-major), which only the GEMM path needs.
fn centred(data: &Dataset, mean: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(data.len() * data.dim());
    for row in data.rows() {
        out.extend(row.iter().zip(mean).map(|(x, m)| x - m));
    }
    out
}

/// Squared Euclidean distance evaluated directly (no cancellation).
///
/// Four interleaved partial sums in a fixed order: deterministic, and free of the latency chain of
/// one running sum. Both searches take every reported distance from this function.
#[inline]
fn squared_distance(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (a4, b4) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = a4
        .remainder()
        .iter()
        .zip(b4.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (xs, ys) in a4.zip(b4) {
        for t in 0..4 {
            acc[t] += (xs[t] - ys[t]) * (xs[t] - ys[t]);
        }
    }
    ((acc[0] + acc[1]) + (acc[2] + acc[3])) + tail
}

/// Centred coordinates and the quantities the GEMM screen needs.
struct Screen {
    centred: Vec<f64>,
    sq_norms: Vec<f64>,
    /// ½(1 − c)‖xⱼ‖²: the reference-side term of the screening test.
    half_scaled: Vec<f64>,
    /// c in the error bound e = c (‖xᵢ‖² + ‖xⱼ‖²) + a.
    rel: f64,
    /// a: absolute slack for results in the subnormal range, where relative bounds fail.
    abs: f64,
}

impl Screen {
    fn new(centred: Vec<f64>, sq_norms: Vec<f64>, dim: usize) -> Self {
        // Worst case ≈ (2D + 5)ε(‖xᵢ‖² + ‖xⱼ‖²) for GEMM, centring and direct evaluation together.
        let slack = 8.0 * (dim as f64 + 4.0);
        let rel = slack * f64::EPSILON;
        let half_scaled = sq_norms.iter().map(|s| 0.5 * (1.0 - rel) * s).collect();
        Self {
            centred,
            sq_norms,
            half_scaled,
            rel,
            abs: slack * f64::MIN_POSITIVE,
        }
    }

    /// Bounds on the squared distance from the screened inner product g = xᵢ·xⱼ.
    fn bounds(&self, i: usize, j: usize, g: f64) -> (f64, f64) {
        let (si, sj) = (self.sq_norms[i], self.sq_norms[j]);
        let d2 = (si + sj - 2.0 * g).max(0.0);
        let err = self.rel * (si + sj) + self.abs;
        (d2 - err, d2 + err)
    }
}

/// Width of the vectorised screening test.
const LANES: usize = 8;

/// Collects the chunks of `LANES` entries holding some j with hⱼ − gⱼ ≤ threshold.
///
/// A tight loop of its own: the usual no-hit chunk is a vector compare, and recording a chunk is
/// branch-free, so nothing spills the registers of the hot path.
fn screen_chunks(gram_col: &[f64], half: &[f64], threshold: f64, hits: &mut Vec<usize>) {
    hits.clear();
    hits.resize(gram_col.len().div_ceil(LANES), 0);
    let mut found = 0;
    let lanes = gram_col.chunks_exact(LANES).zip(half.chunks_exact(LANES));
    for (c, (gs, hs)) in lanes.enumerate() {
        let hit = gs
            .iter()
            .zip(hs)
            .fold(false, |acc, (&g, &h)| acc | (h - g <= threshold));
        hits[found] = c;
        found += usize::from(hit);
    }
    let tail = gram_col.len() - gram_col.len() % LANES;
    if gram_col[tail..]
        .iter()
        .zip(&half[tail..])
        .any(|(&g, &h)| h - g <= threshold)
    {
        hits[found] = tail / LANES;
        found += 1;
    }
    hits.truncate(found);
}

/// A candidate neighbour with bounds on its squared distance.
#[derive(Clone, Copy)]
struct Candidate {
    lower: f64,
    upper: f64,
    index: usize,
}

/// One query row's surviving candidates and the current bound on its k-th squared distance.
struct Candidates {
    list: Vec<Candidate>,
    bound: f64,
}

impl Candidates {
    /// Sets the bound from the first block holding k others, so that block is filtered too.
    fn seed_bound<'a>(
        &mut self,
        k: usize,
        scratch: &mut Vec<f64>,
        block: impl Iterator<Item = (usize, &'a f64)>,
        upper: impl Fn(usize, f64) -> Option<f64>,
    ) {
        scratch.clear();
        scratch.extend(block.filter_map(|(j, &g)| upper(j, g)));
        if scratch.len() >= k {
            let (_, kth, _) = scratch.select_nth_unstable_by(k - 1, f64::total_cmp);
            self.bound = *kth;
        }
    }

    /// Tightens the bound to the k-th smallest upper bound and drops candidates beyond it.
    fn prune(&mut self, k: usize, scratch: &mut Vec<f64>) {
        scratch.clear();
        scratch.extend(self.list.iter().map(|c| c.upper));
        let (_, kth, _) = scratch.select_nth_unstable_by(k - 1, f64::total_cmp);
        self.bound = *kth;
        let bound = self.bound;
        self.list.retain(|c| c.lower <= bound);
    }
}

/// A contiguous block of queries and its share of the output.
struct QueryBlock<'a> {
    start: usize,
    rows: usize,
    k: usize,
    /// The row of every query (query q is row q when `None`).
    of: Option<&'a [usize]>,
}

impl QueryBlock<'_> {
    /// The data row of query `q` of this block.
    fn row(&self, q: usize) -> usize {
        self.of.map_or(self.start + q, |of| of[self.start + q])
    }

    fn solve(
        &self,
        data: &Dataset,
        screen: &Screen,
        ref_block: usize,
        idx: &mut [usize],
        dist: &mut [f64],
    ) {
        let (n, dim, k) = (data.len(), data.dim(), self.k);
        let all = MatRef::from_row_major_slice(&screen.centred, n, dim);
        let gathered;
        let queries = match self.of {
            None => all.subrows(self.start, self.rows),
            Some(_) => {
                gathered = Mat::from_fn(self.rows, dim, |q, j| all[(self.row(q), j)]);
                gathered.as_ref()
            }
        };
        let ref_block = ref_block.min(n);
        let mut gram = Mat::<f64>::zeros(ref_block, self.rows);
        let mut cands: Vec<Candidates> = (0..self.rows)
            .map(|_| Candidates {
                list: Vec::new(),
                bound: f64::INFINITY,
            })
            .collect();
        // Prune once a list holds this many, so lists stay short but pruning stays rare.
        let cap = 2 * k + 32;
        let mut scratch = Vec::new();
        let mut hit_chunks = Vec::with_capacity(ref_block.div_ceil(LANES));
        for r0 in (0..n).step_by(ref_block) {
            let m = ref_block.min(n - r0);
            matmul(
                gram.as_mut().subrows_mut(0, m),
                Accum::Replace,
                all.subrows(r0, m),
                queries.transpose(),
                1.0,
                Par::Seq,
            );
            let half = &screen.half_scaled[r0..r0 + m];
            for (q, cand) in cands.iter_mut().enumerate() {
                let i = self.row(q);
                if cand.bound == f64::INFINITY {
                    cand.seed_bound(
                        k,
                        &mut scratch,
                        (r0..r0 + m).zip(&gram.col_as_slice(q)[..m]),
                        |j, g| (j != i).then(|| screen.bounds(i, j, g).1),
                    );
                }
                // d̃² − e ≤ bound  ⇔  ½(1 − c)‖xⱼ‖² − xᵢ·xⱼ ≤ ½(bound + a − (1 − c)‖xᵢ‖²),
                // a test of one subtraction per entry (the clamp at 0 only raises d̃² − e).
                let threshold =
                    0.5 * (cand.bound + screen.abs - (1.0 - screen.rel) * screen.sq_norms[i]);
                let col = &gram.col_as_slice(q)[..m];
                screen_chunks(col, half, threshold, &mut hit_chunks);
                for &c in &hit_chunks {
                    let lanes = c * LANES..((c + 1) * LANES).min(m);
                    let entries = col[lanes.clone()].iter().zip(&half[lanes.clone()]);
                    for (jj, (&g, &h)) in lanes.zip(entries) {
                        let j = r0 + jj;
                        if h - g <= threshold && j != i {
                            let (lower, upper) = screen.bounds(i, j, g);
                            cand.list.push(Candidate {
                                lower,
                                upper,
                                index: j,
                            });
                        }
                    }
                }
                if cand.list.len() >= k && (cand.bound == f64::INFINITY || cand.list.len() > cap) {
                    cand.prune(k, &mut scratch);
                }
            }
        }
        let mut exact: Vec<(f64, usize)> = Vec::new();
        for (q, cand) in cands.iter_mut().enumerate() {
            if cand.list.len() > k {
                cand.prune(k, &mut scratch);
            }
            let xi = data.row(self.row(q));
            exact.clear();
            exact.extend(
                cand.list
                    .iter()
                    .map(|c| (squared_distance(xi, data.row(c.index)), c.index)),
            );
            exact.sort_unstable_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            for (t, &(d2, j)) in exact[..k].iter().enumerate() {
                idx[q * k + t] = j;
                dist[q * k + t] = d2.sqrt();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    fn random(n: usize, dim: usize, seed: u64, offset: f64) -> Dataset {
        let mut rng = crate::rng::stream(seed, 0);
        let v = (0..n * dim).map(|_| offset + rng.random::<f64>()).collect();
        Dataset::from_row_major(v, n, dim).unwrap()
    }

    /// The oracle: all n − 1 direct distances, sorted by (distance, index).
    fn brute_force(data: &Dataset, k: usize) -> Neighbours {
        let n = data.len();
        let (mut indices, mut distances) = (Vec::new(), Vec::new());
        for i in 0..n {
            let mut all: Vec<(f64, usize)> = (0..n)
                .filter(|&j| j != i)
                .map(|j| (squared_distance(data.row(i), data.row(j)).sqrt(), j))
                .collect();
            all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            indices.extend(all[..k].iter().map(|p| p.1));
            distances.extend(all[..k].iter().map(|p| p.0));
        }
        Neighbours {
            k,
            indices,
            distances,
        }
    }

    #[test]
    fn matches_brute_force_on_random_data() {
        for (n, dim, k, seed) in [
            (50, 3, 5, 1),
            (300, 7, 10, 2),
            (61, 1, 60, 3),
            (200, 20, 1, 4),
        ] {
            let data = random(n, dim, seed, 0.0);
            let blocking = Blocking {
                queries: 16,
                references: 37,
            };
            assert_eq!(
                k_nearest_with(&data, k, blocking).unwrap(),
                brute_force(&data, k),
                "n={n} D={dim} k={k}"
            );
            assert_eq!(k_nearest(&data, k).unwrap(), brute_force(&data, k));
        }
    }

    #[test]
    fn queries_of_a_subset_match_the_full_search() {
        let data = random(300, 5, 6, 2.0);
        let full = k_nearest(&data, 4).unwrap();
        let rows = [299, 0, 17, 17, 150];
        let some = k_nearest_of(&data, &rows, 4).unwrap();
        assert_eq!(some.len(), rows.len());
        for (q, &i) in rows.iter().enumerate() {
            assert_eq!(some.indices(q), full.indices(i));
            assert_eq!(some.distances(q), full.distances(i));
        }
        assert!(matches!(
            k_nearest_of(&data, &[300], 4),
            Err(Error::InvalidParameter {
                name: "queries",
                ..
            })
        ));
    }

    #[test]
    fn exact_despite_a_large_offset() {
        // Points 10⁶ from the origin, spread 10⁻³: plain ‖x‖² + ‖y‖² − 2x·y would lose every digit.
        let data = random(400, 5, 9, 0.0);
        let far = Dataset::from_row_major(
            data.as_slice().iter().map(|x| 1e6 + 1e-3 * x).collect(),
            400,
            5,
        )
        .unwrap();
        let got = k_nearest_with(
            &far,
            8,
            Blocking {
                queries: 50,
                references: 64,
            },
        )
        .unwrap();
        assert_eq!(got, brute_force(&far, 8));
    }

    #[test]
    fn exact_when_the_screen_cannot_resolve_distances() {
        // Two clusters of spread 10⁻³ at ±10⁶: centring cannot help, the screen's error (~10⁻³ in
        // d²) swamps every within-cluster d² (~10⁻⁶), and only the error bounds keep it exact.
        let base = random(300, 4, 11, 0.0);
        let values = base
            .rows()
            .enumerate()
            .flat_map(|(i, r)| {
                let centre = if i % 2 == 0 { 1e6 } else { -1e6 };
                r.iter().map(move |x| centre + 1e-3 * x)
            })
            .collect();
        let data = Dataset::from_row_major(values, 300, 4).unwrap();
        let blocking = Blocking {
            queries: 40,
            references: 50,
        };
        assert_eq!(
            k_nearest_with(&data, 6, blocking).unwrap(),
            brute_force(&data, 6)
        );
    }

    #[test]
    fn ties_are_broken_by_index() {
        // Integer points on a line: every interior point has two neighbours at distance 1.
        let data = Dataset::from_row_major((0..10).map(f64::from).collect(), 10, 1).unwrap();
        let nn = k_nearest(&data, 3).unwrap();
        assert_eq!(nn.indices(5), &[4, 6, 3]);
        assert_eq!(nn.distances(5), &[1.0, 1.0, 2.0]);
        assert_eq!(nn.indices(0), &[1, 2, 3]);
    }

    #[test]
    fn duplicates_are_neighbours_at_distance_zero() {
        let rows = vec![
            vec![1.0, 2.0],
            vec![5.0, 5.0],
            vec![1.0, 2.0],
            vec![1.0, 2.0],
            vec![1.0, 3.0],
        ];
        let data = Dataset::from_rows(&rows).unwrap();
        let nn = k_nearest(&data, 3).unwrap();
        assert_eq!(nn.indices(0), &[2, 3, 4]);
        assert_eq!(nn.distances(0), &[0.0, 0.0, 1.0]);
        assert_eq!(nn.indices(3), &[0, 2, 4]);
        assert_eq!(nn.len(), 5);
        assert_eq!(nn.k(), 3);
        assert_eq!(nn, brute_force(&data, 3));
    }

    #[test]
    fn rejects_k_zero_and_k_at_least_n() {
        let data = random(5, 2, 0, 0.0);
        assert!(matches!(
            k_nearest(&data, 0),
            Err(Error::InvalidParameter { name: "k", .. })
        ));
        assert!(matches!(
            k_nearest(&data, 5),
            Err(Error::InvalidParameter { name: "k", .. })
        ));
        assert!(k_nearest(&data, 4).is_ok());
    }

    #[test]
    fn rejects_coordinates_whose_squares_overflow() {
        let data = Dataset::from_rows(&[vec![0.0], vec![1.0], vec![1e200]]).unwrap();
        let err = k_nearest(&data, 1).unwrap_err();
        assert!(err.to_string().contains("too far from the mean"), "{err}");
    }

    #[test]
    fn rejects_empty_blocks() {
        let data = random(5, 2, 0, 0.0);
        let bad_q = Blocking {
            queries: 0,
            references: 4,
        };
        let bad_r = Blocking {
            queries: 4,
            references: 0,
        };
        assert!(matches!(
            k_nearest_with(&data, 2, bad_q),
            Err(Error::InvalidParameter {
                name: "queries",
                ..
            })
        ));
        assert!(matches!(
            k_nearest_with(&data, 2, bad_r),
            Err(Error::InvalidParameter {
                name: "references",
                ..
            })
        ));
    }

    #[test]
    fn independent_of_thread_count() {
        let data = random(700, 6, 5, 3.0);
        let run = |threads| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                k_nearest_with(
                    &data,
                    7,
                    Blocking {
                        queries: 32,
                        references: 100,
                    },
                )
                .unwrap()
            })
        };
        let one = run(1);
        let two = run(2);
        assert_eq!(one.indices, two.indices);
        let bits = |nn: &Neighbours| nn.distances.iter().map(|d| d.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&one), bits(&two));
    }
}

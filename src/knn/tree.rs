//! Exact k-NN by a k-d tree over a low-dimensional sketch of the data, whose cost follows the
//! intrinsic dimension.
//!
//! # Sketch
//! Each row x is mapped to z(x) = (Vᵀw, ‖w − VVᵀw‖) ∈ ℝ⁸ with w = x − μ, μ the mean and V the
//! D × m (m ≤ 7) leading principal directions of an evenly spaced sample (subspace iteration,
//! orthonormalised twice). For orthonormal V the map is 1-Lipschitz: the residual norms of q and x
//! differ by at most ‖(I − VVᵀ)(q − x)‖, so
//! ‖z(q) − z(x)‖² ≤ ‖Vᵀ(q − x)‖² + ‖(I − VVᵀ)(q − x)‖² = ‖q − x‖².
//! Sketch distances are thus lower bounds of true distances, tight where the data lie near an
//! affine subspace of dimension m; elsewhere they are weaker, and the automatic choice of the
//! parent module falls back to the GEMM path.
//!
//! # Search
//! A k-d tree on the sketches (bounding boxes, split along the widest side at the quantile that
//! gives each half its share of the ⌈n/LEAF⌉ leaves, so leaves hold nearly [`LEAF`] points) is
//! searched depth first, nearer child first, keeping the k best
//! (squared distance, index) pairs. A box or a point is skipped when its computed sketch distance
//! exceeds the threshold T of [`Bounds::threshold`], which widens the current k-th distance by
//! every rounding error involved (see there), so a skipped point's computed distance is *strictly*
//! above the k-th one and cannot enter the answer, even by a tie. Every point that is not skipped
//! gets the same direct distance Σₜ (qₜ − xₜ)² as the GEMM path's final step
//! ([`squared_distance`]), so both paths return the same k smallest (distance, index) pairs, bit
//! for bit, whatever the tree.
//!
//! The full search ([`solve_grouped`]) walks the tree once per group of at most [`GROUP`] queries
//! of one node, carrying the mask of the queries whose threshold still meets each box: a box
//! inside a box that a query misses is missed too, so each node is tested only for the queries
//! that met its parent (with a box-to-box bound against the largest threshold as a first, cheap
//! test, as rounding-safe as the point bound); the trial of the automatic choice
//! ([`solve`]) searches one query at a time, so each query's work can be counted and capped.
//!
//! Three refinements of the group search change its cost, never its answer. Before the walk,
//! every query takes the k best points of its own node, each distance between two of the group's
//! queries computed once for both ([`seed_from_home`]): the walk starts with finite thresholds
//! and skips that node. A leaf's rows are ordered by median splits into compact chunks of WIDTH
//! ([`chunk_order`]), so a group's queries (in tree order) share lanes with their neighbours and
//! a box meets fewer lane groups. And each chunk keeps its bounding box, so a query computes the
//! sketch distances of only the chunks whose box its threshold meets ([`chunks_meeting`]). On a
//! 5-sphere in ℝ³⁰ (n = 20 000, k = 20; `scoregeo id-estimate --method mle`, counted by
//! callgrind) they cut the group search's own instructions from 1063 M to 835 M and the whole
//! process's from 1305 M to 1153 M; the lane passes per node tested fell from 3.6 to 3.0 (leaves
//! of 39 points then; see [`LEAF`] for fuller ones).

use super::squared_distance;
use crate::score::fused::kernels::{level, Level};
use rayon::prelude::*;

/// Width of a sketch: m ≤ 7 principal coordinates and the residual norm (one AVX-512 register).
const WIDTH: usize = 8;

/// Most points in a leaf. Smaller leaves have tighter boxes, so a query tests fewer sketches,
/// but every query meets more boxes: on a 5-sphere in ℝ³⁰ (n = 20 000, k = 20; leaves of 39
/// points when nodes were halved) a query tests 33.5 leaves (1300 sketches) and a cap of 16 halves
/// the sketches (58.5 leaves of 10), yet the whole MLE process ran 1.19× slower, and a cap of 32
/// 1.06×. Of those 33.5 leaves, 29 come within the query's final k-th distance, so the visiting
/// order has little left to gain either. Leaves filled to about 64 points (splits by leaf count,
/// [`Subtree::build`]) took the process from 1153 M to 1104 M instructions (callgrind).
const LEAF: usize = 64;

/// Most queries searched together: the queries of a node with at most this many points (the
/// leaf itself unless leaves are smaller), so that they are the bits of one u64 mask.
const GROUP: usize = 64;

const _: () = assert!(LEAF <= GROUP && GROUP <= 64);

/// Queries per rayon task; fixed, so the work split never depends on the thread count.
const CHUNK: usize = 64;

/// Queries per rayon task of the trial's one-at-a-time search: its first round has only 32, and
/// tasks of 8 let every thread take a share (answers never depend on the split).
const TRIAL_CHUNK: usize = 8;

/// Rows of the sample the principal directions are estimated from.
const SAMPLE: usize = 1024;

/// Subspace iterations for the principal directions (their quality affects speed, not results).
const ITERATIONS: usize = 6;

/// A node of the tree: the points at positions `start..end` of the tree order.
struct Node {
    start: usize,
    end: usize,
    /// The two halves, or `None` for a leaf.
    children: Option<(usize, usize)>,
    /// The bounding box of the node's sketches.
    lo: [f64; WIDTH],
    hi: [f64; WIDTH],
    /// Where a leaf's chunks start in [`KdTree::chunks`].
    chunk: usize,
    /// A leaf's entry in [`KdTree::boxes`].
    leaf: usize,
}

/// The bounding boxes of a leaf's chunks, transposed (`[t][chunk]`; an absent chunk is the
/// empty box, +∞ to −∞), so that one pass tests a query against every chunk of the leaf.
struct ChunkBoxes {
    lo: [[f64; WIDTH]; WIDTH],
    hi: [[f64; WIDTH]; WIDTH],
}

const _: () = assert!(
    LEAF <= WIDTH * WIDTH,
    "a leaf's chunks fit one vector of lanes"
);

/// Rounding margins that turn a k-th squared distance into a safe sketch threshold.
#[derive(Clone, Copy)]
///
/// η = 4(D + 12)ε is the relative error allowed on a computed sum of squares (D or 8 terms) or a
/// square root; ν bounds ‖VᵀV − I‖, so that ‖z(q) − z(x)‖ ≤ √(1 + ν)·‖q − x‖.
struct Bounds {
    /// a: absolute error allowed on a computed sum of squares (subnormal range).
    abs: f64,
    /// ζ: ‖z̃(x) − z(x)‖ ≤ ζ·‖x − μ‖ for the computed sketch z̃.
    sketch: f64,
    /// An upper bound on ‖x − μ‖ over all rows.
    spread: f64,
    /// (1 + ν)(1 + δ)/(1 − η): the direct sum's rounding, the map's stretch and Young's slack δ
    /// ([`Bounds::offset`]), on squares.
    stretch: f64,
    /// (1 + η)²: the sketch sum's rounding and that of the threshold formula itself.
    widen: f64,
}

/// δ of Young's inequality 2rc ≤ δr² + c²/δ, which removes the square root from the threshold.
const YOUNG: f64 = 1.0 / (1u64 << 20) as f64;

impl Bounds {
    /// The part of the threshold fixed by the query, at distance `rho` from the mean:
    /// (1 + 1/δ)·c² with c = ζ(ρ_q + ρ_max), the sketch's rounding at both ends.
    #[inline(always)]
    fn offset(self, rho: f64) -> f64 {
        let c = self.sketch * (rho + self.spread);
        c * c * (1.0 + 1.0 / YOUNG)
    }

    /// The sketch threshold T for a query with [`Bounds::offset`] `offset` whose k-th computed
    /// squared distance is `kth`: every point x whose computed d²(q, x) ≤ kth has computed
    /// sketch distance s̃(q, x) ≤ T.
    ///
    /// Chain: d ≤ R = √((kth + a)/(1 − η)) from the direct sum's rounding;
    /// ‖z̃(q) − z̃(x)‖ ≤ r + c with r = √(1 + ν)·R from the map and c = ζ(ρ_q + ρ_max) from the
    /// sketch's rounding; (r + c)² ≤ (1 + δ)r² + (1 + 1/δ)c² (Young), where
    /// (1 + δ)r² = (kth + a)·`stretch`; s̃ ≤ (r + c)²(1 + η) + a from the sketch sum's rounding;
    /// one more (1 + η) for this formula and the offset's (a few roundings of positive terms).
    #[inline(always)]
    fn threshold(self, kth: f64, offset: f64) -> f64 {
        ((kth + self.abs) * self.stretch + offset) * self.widen + self.abs
    }
}

/// The k best candidates of one query so far: (squared distance, index), ascending.
struct Best {
    k: usize,
    d2: Vec<f64>,
    index: Vec<usize>,
}

impl Best {
    fn new(k: usize) -> Self {
        Self {
            k,
            d2: Vec::with_capacity(k + 1),
            index: Vec::with_capacity(k + 1),
        }
    }

    /// The k-th smallest squared distance so far (∞ while fewer than k are known).
    #[inline(always)]
    fn worst(&self) -> f64 {
        if self.d2.len() < self.k {
            f64::INFINITY
        } else {
            self.d2[self.k - 1]
        }
    }

    /// Starts from the k smallest of `candidates` (distinct indices), the list being empty.
    ///
    /// The bits of a non-negative f64 order like its value, so the pairs sort as integers.
    #[inline(always)]
    fn fill(&mut self, candidates: &mut [(u64, usize)]) {
        let keep = candidates.len().min(self.k);
        if candidates.len() > keep {
            candidates.select_nth_unstable(keep);
        }
        let kept = &mut candidates[..keep];
        kept.sort_unstable();
        self.d2.extend(kept.iter().map(|c| f64::from_bits(c.0)));
        self.index.extend(kept.iter().map(|c| c.1));
    }

    /// Inserts (d2, j) if it is among the k smallest pairs seen; true when it was.
    #[inline(always)]
    fn offer(&mut self, d2: f64, j: usize) -> bool {
        // (d2, j) before (e, i) in the order of pairs (distances are never NaN)
        let before = |e: f64, i: usize| d2 < e || (d2 == e && j < i);
        let full = self.d2.len() == self.k;
        if full && !before(self.d2[self.k - 1], self.index[self.k - 1]) {
            return false;
        }
        if !full {
            self.d2.push(d2);
            self.index.push(j);
        }
        // shift larger pairs up one place, then write (d2, j) into the gap
        let mut at = self.d2.len() - 1;
        while at > 0 && before(self.d2[at - 1], self.index[at - 1]) {
            self.d2[at] = self.d2[at - 1];
            self.index[at] = self.index[at - 1];
            at -= 1;
        }
        self.d2[at] = d2;
        self.index[at] = j;
        true
    }
}

/// A k-d tree over the sketches of the rows of a row-major n × D array.
pub(super) struct KdTree {
    /// The rows in tree order (the same values, so the same direct distances).
    points: Vec<f64>,
    dim: usize,
    /// Tree position → row.
    order: Vec<usize>,
    /// Row → tree position.
    position: Vec<usize>,
    /// Sketch of every row, by row.
    sketches: Vec<[f64; WIDTH]>,
    /// ‖x − μ‖ of every row, as computed.
    rho: Vec<f64>,
    nodes: Vec<Node>,
    /// Tree position → its group: the node nearest the root on its path with at most [`GROUP`]
    /// points.
    group: Vec<usize>,
    /// Every leaf's sketches in chunks of WIDTH points, each chunk transposed (`[t][lane]`, zero
    /// padding past the leaf's end), so one pass computes WIDTH points across vector lanes.
    chunks: Vec<[[f64; WIDTH]; WIDTH]>,
    /// Every leaf's chunk boxes, in leaf order.
    boxes: Vec<ChunkBoxes>,
    bounds: Bounds,
}

impl KdTree {
    /// Builds the tree of the n rows of `values` (row-major, n × `dim`, n ≥ 1), whose mean is
    /// `mean`.
    pub(super) fn new(values: &[f64], dim: usize, mean: &[f64]) -> Self {
        let n = values.len() / dim;
        let directions = principal_directions(values, dim, mean, n);
        let m = directions.len();
        // the directions by coordinate, one lane each (zero lanes past m)
        let mut lanes = vec![[0.0; WIDTH]; dim];
        for (a, u) in directions.iter().enumerate() {
            lanes.iter_mut().zip(u).for_each(|(l, &y)| l[a] = y);
        }
        let (sketches, rho): (Vec<[f64; WIDTH]>, Vec<f64>) = (0..n)
            .into_par_iter()
            .with_min_len(256)
            .map(|i| sketch(&values[i * dim..(i + 1) * dim], mean, &lanes, m))
            .unzip();
        let eps = f64::EPSILON;
        let mut skew: f64 = 0.0;
        for (a, u) in directions.iter().enumerate() {
            for (b, v) in directions.iter().enumerate() {
                let g: f64 = u.iter().zip(v).map(|(x, y)| x * y).sum();
                skew = skew.max((g - f64::from(u8::from(a == b))).abs());
            }
        }
        let slack = 4.0 * (dim as f64 + 12.0);
        let (rel, skew) = (
            slack * eps,
            // spectral norm ≤ m·max entry, plus the rounding of the entries themselves
            m as f64 * (skew + 2.0 * (dim as f64 + 2.0) * eps),
        );
        let bounds = Bounds {
            abs: slack * f64::MIN_POSITIVE,
            // rounding of w, of the m length-D dot products and of the residual (generously)
            sketch: 16.0 * (m as f64 + 2.0) * (dim as f64 + 4.0) * eps,
            spread: rho.iter().fold(0.0, |a: f64, &r| a.max(r)) * (1.0 + 4.0 * eps),
            stretch: (1.0 + skew) * (1.0 + YOUNG) / (1.0 - rel),
            widen: (1.0 + rel) * (1.0 + rel),
        };
        let mut tree = Self {
            points: Vec::new(),
            dim,
            order: (0..n).collect(),
            position: vec![0; n],
            sketches,
            rho,
            nodes: Vec::new(),
            group: vec![0; n],
            chunks: Vec::new(),
            boxes: Vec::new(),
            bounds,
        };
        let mut order = std::mem::take(&mut tree.order);
        let Subtree {
            nodes,
            chunks,
            boxes,
        } = Subtree::build(&tree.sketches, &mut order, 0);
        let mut open = vec![0];
        while let Some(id) = open.pop() {
            match nodes[id].children {
                Some((l, r)) if nodes[id].end - nodes[id].start > GROUP => open.extend([l, r]),
                _ => tree.group[nodes[id].start..nodes[id].end].fill(id),
            }
        }
        (tree.nodes, tree.chunks, tree.boxes) = (nodes, chunks, boxes);
        for (p, &i) in order.iter().enumerate() {
            tree.position[i] = p;
        }
        let mut points = vec![0.0; n * dim];
        points
            .par_chunks_mut(dim * CHUNK)
            .zip(order.par_chunks(CHUNK))
            .for_each(|(block, rows)| {
                for (out, &i) in block.chunks_exact_mut(dim).zip(rows) {
                    out.copy_from_slice(&values[i * dim..(i + 1) * dim]);
                }
            });
        tree.points = points;
        tree.order = order;
        tree
    }

    /// The tree position of row i (queries run in this order, for locality).
    pub(super) fn position(&self, i: usize) -> usize {
        self.position[i]
    }

    /// The row at tree position p.
    #[inline(always)]
    fn point(&self, p: usize) -> &[f64] {
        &self.points[p * self.dim..(p + 1) * self.dim]
    }
}

/// Rows above which the two halves of a node are built in parallel.
const PARALLEL_BUILD: usize = 4096;

/// A subtree: its nodes in preorder (the root first, children by their ids here) and its
/// leaves' chunks in leaf order, numbered as one sequential build would number them.
struct Subtree {
    nodes: Vec<Node>,
    chunks: Vec<[[f64; WIDTH]; WIDTH]>,
    boxes: Vec<ChunkBoxes>,
}

impl Subtree {
    /// Builds the subtree of the rows `rows` (at tree positions `start..`), reordering them
    /// into tree order; the halves of large nodes in parallel (the result does not depend on it).
    fn build(sketches: &[[f64; WIDTH]], rows: &mut [usize], start: usize) -> Self {
        let (lo, hi) = bounding_box(sketches, rows);
        let root = Node {
            start,
            end: start + rows.len(),
            children: None,
            lo,
            hi,
            chunk: 0,
            leaf: 0,
        };
        if rows.len() <= LEAF {
            chunk_order(sketches, rows);
            let mut chunks = Vec::with_capacity(rows.len().div_ceil(WIDTH));
            let mut boxes = ChunkBoxes {
                lo: [[f64::INFINITY; WIDTH]; WIDTH],
                hi: [[f64::NEG_INFINITY; WIDTH]; WIDTH],
            };
            for (c, group) in rows.chunks(WIDTH).enumerate() {
                let mut chunk = [[0.0; WIDTH]; WIDTH];
                for (l, &i) in group.iter().enumerate() {
                    for (t, row) in chunk.iter_mut().enumerate() {
                        row[l] = sketches[i][t];
                    }
                }
                chunks.push(chunk);
                let (lo, hi) = bounding_box(sketches, group);
                for t in 0..WIDTH {
                    (boxes.lo[t][c], boxes.hi[t][c]) = (lo[t], hi[t]);
                }
            }
            return Self {
                nodes: vec![root],
                chunks,
                boxes: vec![boxes],
            };
        }
        // half of the leaves this node needs go left, so leaves come out nearly full (n/⌈n/LEAF⌉
        // points each, not the LEAF/2 to LEAF of plain halving)
        let leaves = rows.len().div_ceil(LEAF) as u64;
        let mid = (rows.len() as u64 * (leaves / 2) / leaves) as usize;
        split_widest(sketches, rows, (&lo, &hi), mid);
        let parallel = rows.len() >= PARALLEL_BUILD;
        let (left, right) = rows.split_at_mut(mid);
        let (l, r) = if parallel {
            rayon::join(
                || Self::build(sketches, left, start),
                || Self::build(sketches, right, start + mid),
            )
        } else {
            (
                Self::build(sketches, left, start),
                Self::build(sketches, right, start + mid),
            )
        };
        // renumber: the left subtree follows the root, the right one follows the left
        let (r_id, r_chunk, r_leaf) = (1 + l.nodes.len(), l.chunks.len(), l.boxes.len());
        let shift = |nd: Node, by: usize, chunk_by: usize, leaf_by: usize| Node {
            children: nd.children.map(|(a, b)| (a + by, b + by)),
            chunk: nd.chunk + chunk_by,
            leaf: nd.leaf + leaf_by,
            ..nd
        };
        let mut nodes = Vec::with_capacity(r_id + r.nodes.len());
        nodes.push(Node {
            children: Some((1, r_id)),
            ..root
        });
        nodes.extend(l.nodes.into_iter().map(|nd| shift(nd, 1, 0, 0)));
        nodes.extend(
            r.nodes
                .into_iter()
                .map(|nd| shift(nd, r_id, r_chunk, r_leaf)),
        );
        let mut chunks = l.chunks;
        chunks.extend(r.chunks);
        let mut boxes = l.boxes;
        boxes.extend(r.boxes);
        Self {
            nodes,
            chunks,
            boxes,
        }
    }
}

/// Orders a leaf's rows by median splits along the widest side, each at a multiple of WIDTH, so
/// that every chunk of WIDTH consecutive points (and of the queries of a group, which follow tree
/// order) is a compact patch: a box then tends to meet the queries of few chunks.
fn chunk_order(sketches: &[[f64; WIDTH]], rows: &mut [usize]) {
    if rows.len() <= WIDTH {
        return;
    }
    let (lo, hi) = bounding_box(sketches, rows);
    let mid = rows.len().div_ceil(WIDTH) / 2 * WIDTH;
    split_widest(sketches, rows, (&lo, &hi), mid);
    let (left, right) = rows.split_at_mut(mid);
    chunk_order(sketches, left);
    chunk_order(sketches, right);
}

/// The bounding box (lo, hi) of the sketches of `rows`.
fn bounding_box(sketches: &[[f64; WIDTH]], rows: &[usize]) -> ([f64; WIDTH], [f64; WIDTH]) {
    let (mut lo, mut hi) = ([f64::INFINITY; WIDTH], [f64::NEG_INFINITY; WIDTH]);
    for &i in rows {
        for t in 0..WIDTH {
            lo[t] = lo[t].min(sketches[i][t]);
            hi[t] = hi[t].max(sketches[i][t]);
        }
    }
    (lo, hi)
}

/// Reorders `rows` so that the first `mid` hold the smallest sketches along the widest side of
/// their box (`lo`, `hi`), ties by row: the split of a node and of a leaf into chunks.
fn split_widest(
    sketches: &[[f64; WIDTH]],
    rows: &mut [usize],
    (lo, hi): (&[f64; WIDTH], &[f64; WIDTH]),
    mid: usize,
) {
    let axis = (0..WIDTH)
        .max_by(|&a, &b| (hi[a] - lo[a]).total_cmp(&(hi[b] - lo[b])).then(b.cmp(&a)))
        .unwrap_or(0);
    rows.select_nth_unstable_by(mid, |&a, &b| {
        sketches[a][axis]
            .total_cmp(&sketches[b][axis])
            .then(a.cmp(&b))
    });
}

/// The leading principal directions (at most 7, orthonormal) of an evenly spaced sample.
fn principal_directions(values: &[f64], dim: usize, mean: &[f64], n: usize) -> Vec<Vec<f64>> {
    let m = dim.min(WIDTH - 1);
    let s = n.min(SAMPLE);
    let sample: Vec<Vec<f64>> = (0..s)
        .map(|t| {
            let i = t * n / s;
            values[i * dim..(i + 1) * dim]
                .iter()
                .zip(mean)
                .map(|(x, c)| x - c)
                .collect()
        })
        .collect();
    // A fixed ±1 pattern (splitmix64 bits) as the starting subspace: deterministic, generic.
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut bit = || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        if (z ^ (z >> 31)) & 1 == 0 {
            1.0
        } else {
            -1.0
        }
    };
    let mut basis: Vec<Vec<f64>> = (0..m).map(|_| (0..dim).map(|_| bit()).collect()).collect();
    let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
    for _ in 0..ITERATIONS {
        // Q ← WᵀW Q: the sample covariance applied to each direction.
        for q in basis.iter_mut() {
            let mut next = vec![0.0; dim];
            for w in &sample {
                let c = dot(w, q);
                next.iter_mut().zip(w).for_each(|(a, x)| *a += c * x);
            }
            *q = next;
        }
        basis = orthonormal(basis);
    }
    basis
}

/// Modified Gram–Schmidt, twice; drops directions that are numerically dependent on earlier ones.
fn orthonormal(vectors: Vec<Vec<f64>>) -> Vec<Vec<f64>> {
    let mut kept: Vec<Vec<f64>> = Vec::new();
    for mut v in vectors {
        let before = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if !(before.is_finite() && before > 0.0) {
            continue;
        }
        v.iter_mut().for_each(|x| *x /= before);
        for _ in 0..2 {
            for u in &kept {
                let c: f64 = u.iter().zip(&v).map(|(x, y)| x * y).sum();
                v.iter_mut().zip(u).for_each(|(x, y)| *x -= c * y);
            }
        }
        let after = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        // a direction mostly made of earlier ones is rounding noise after the projection
        if after > 0.5 {
            v.iter_mut().for_each(|x| *x /= after);
            kept.push(v);
        }
    }
    kept
}

/// The computed sketch z̃(x) and ‖x − μ‖ of one row, w = x − μ, with the m directions given by
/// coordinate (`lanes[t][a]` = uₐ[t]).
///
/// Each zₐ = Σₜ wₜ uₐ[t] is summed in the order of t, all m in the lanes of one pass (one latency
/// chain for all, not one after another); each residual coordinate wₜ − Σₐ zₐ uₐ[t] subtracts in
/// the order of a.
fn sketch(row: &[f64], mean: &[f64], lanes: &[[f64; WIDTH]], m: usize) -> ([f64; WIDTH], f64) {
    let mut z = [0.0; WIDTH];
    for ((&x, &c), u) in row.iter().zip(mean).zip(lanes) {
        let w = x - c;
        z.iter_mut().zip(u).for_each(|(za, &ua)| *za += w * ua);
    }
    let (mut residual, mut norm) = (0.0, 0.0);
    for ((&x, &c), u) in row.iter().zip(mean).zip(lanes) {
        let w = x - c;
        let r = z[..m].iter().zip(u).fold(w, |r, (&za, &ua)| r - za * ua);
        residual += r * r;
        norm += w * w;
    }
    z[WIDTH - 1] = f64::sqrt(residual);
    (z, f64::sqrt(norm))
}

/// Squared distance from a sketch to a box (0 inside).
#[inline(always)]
fn box_distance(z: &[f64; WIDTH], lo: &[f64; WIDTH], hi: &[f64; WIDTH]) -> f64 {
    let g: [f64; WIDTH] = std::array::from_fn(|t| {
        let d = (lo[t] - z[t]).max(z[t] - hi[t]).max(0.0);
        d * d
    });
    ((g[0] + g[1]) + (g[2] + g[3])) + ((g[4] + g[5]) + (g[6] + g[7]))
}

/// Squared distance between two boxes (0 when they meet).
#[inline(always)]
fn box_gap(a: (&[f64; WIDTH], &[f64; WIDTH]), b: (&[f64; WIDTH], &[f64; WIDTH])) -> f64 {
    let g: [f64; WIDTH] = std::array::from_fn(|t| {
        let d = (b.0[t] - a.1[t]).max(a.0[t] - b.1[t]).max(0.0);
        d * d
    });
    ((g[0] + g[1]) + (g[2] + g[3])) + ((g[4] + g[5]) + (g[6] + g[7]))
}

/// Sketch distances from `zq` to the points of leaf `nd`, into `lanes` (its size rounded up).
#[inline(always)]
fn leaf_sketches<'l>(
    tree: &KdTree,
    nd: &Node,
    zq: &[f64; WIDTH],
    lanes: &'l mut [f64],
) -> &'l [f64] {
    let width = (nd.end - nd.start).next_multiple_of(WIDTH);
    let chunks = &tree.chunks[nd.chunk..nd.chunk + width / WIDTH];
    let lanes = &mut lanes[..width];
    for (chunk, out) in chunks.iter().zip(lanes.chunks_exact_mut(WIDTH)) {
        out.copy_from_slice(&chunk_sketches(zq, chunk));
    }
    &lanes[..nd.end - nd.start]
}

/// Squared sketch distances from `zq` to the WIDTH points of one chunk.
#[inline(always)]
fn chunk_sketches(zq: &[f64; WIDTH], chunk: &[[f64; WIDTH]; WIDTH]) -> [f64; WIDTH] {
    let mut acc = [0.0; WIDTH];
    for (t, row) in chunk.iter().enumerate() {
        for l in 0..WIDTH {
            acc[l] += (zq[t] - row[l]) * (zq[t] - row[l]);
        }
    }
    acc
}

/// Pushes the children (node, lower bound, payload) that the bound `limit` does not prune, the
/// nearer last so that it is searched first.
#[inline(always)]
fn push_children<T>(
    stack: &mut Vec<(usize, f64, T)>,
    left: (usize, f64, T),
    right: (usize, f64, T),
    limit: f64,
) {
    let (near, far) = if left.1 <= right.1 {
        (left, right)
    } else {
        (right, left)
    };
    if far.1 <= limit {
        stack.push(far);
    }
    if near.1 <= limit {
        stack.push(near);
    }
}

/// Work of one query, in coordinate operations (the unit of the automatic choice).
#[derive(Clone, Copy, Default)]
pub(super) struct Work {
    /// Boxes and sketches compared (WIDTH operations each).
    pub(super) sketches: usize,
    /// Direct distances evaluated (D operations each).
    pub(super) exact: usize,
}

impl Work {
    /// Coordinate operations for D = `dim`.
    pub(super) fn cost(self, dim: usize) -> usize {
        self.sketches * WIDTH + self.exact * dim
    }
}

/// The k nearest neighbours of row `i` (excluded by index) into `idx`/`dist` (k entries), or
/// `None` when its work exceeds `cap` coordinate operations.
#[inline(always)]
fn query(
    tree: &KdTree,
    i: usize,
    best: &mut Best,
    stack: &mut Vec<(usize, f64, ())>,
    cap: usize,
    idx: &mut [usize],
    dist: &mut [f64],
) -> Option<Work> {
    let bounds = tree.bounds;
    let (zq, xq) = (&tree.sketches[i], tree.point(tree.position[i]));
    let offset = bounds.offset(tree.rho[i]);
    best.d2.clear();
    best.index.clear();
    let mut work = Work::default();
    let mut threshold = f64::INFINITY;
    stack.clear();
    stack.push((0, 0.0, ()));
    let mut lanes = [0.0; LEAF.next_multiple_of(WIDTH)];
    while let Some((node, lower, ())) = stack.pop() {
        if lower > threshold {
            continue;
        }
        let nd = &tree.nodes[node];
        match nd.children {
            Some((l, r)) => {
                work.sketches += 2;
                let (nl, nr) = (&tree.nodes[l], &tree.nodes[r]);
                let bl = box_distance(zq, &nl.lo, &nl.hi);
                let br = box_distance(zq, &nr.lo, &nr.hi);
                push_children(stack, (l, bl, ()), (r, br, ()), threshold);
            }
            None => {
                work.sketches += nd.end - nd.start;
                let sketches = leaf_sketches(tree, nd, zq, &mut lanes);
                for (p, &s) in (nd.start..nd.end).zip(sketches) {
                    if s > threshold {
                        continue;
                    }
                    let j = tree.order[p];
                    if j == i {
                        continue;
                    }
                    work.exact += 1;
                    let d2 = squared_distance(xq, tree.point(p));
                    if best.offer(d2, j) && best.d2.len() == best.k {
                        threshold = bounds.threshold(best.worst(), offset);
                    }
                }
            }
        }
        if work.cost(tree.dim) > cap {
            return None;
        }
    }
    idx.copy_from_slice(&best.index);
    dist.iter_mut()
        .zip(&best.d2)
        .for_each(|(d, s)| *d = s.sqrt());
    Some(work)
}

crate::score::fused::kernels::multiversion! {
    /// Answers the query slots `slots` (rows `rows[s]`) into `idx`/`dist` (k entries per slot of
    /// `slots`, in order) and their work into `work` (`None`: over `cap`), compiled for the
    /// widest vectors the CPU has (the results do not depend on it: no fused operations).
    fn solve_chunk(
        tree: &KdTree,
        rows: &[usize],
        slots: &[usize],
        cap: usize,
        idx: &mut [usize],
        dist: &mut [f64],
        work: &mut [Option<Work>],
    ) {
        let k = idx.len() / slots.len().max(1);
        let mut best = Best::new(k);
        let mut stack = Vec::new();
        for (t, &s) in slots.iter().enumerate() {
            let span = t * k..(t + 1) * k;
            work[t] = query(
                tree,
                rows[s],
                &mut best,
                &mut stack,
                cap,
                &mut idx[span.clone()],
                &mut dist[span],
            );
        }
    }
}

/// The group's query sketches transposed (WIDTH rows of `lanes` entries, lane = query), so that
/// one pass tests a box against every query with queries across vector lanes.
struct GroupSketches {
    /// Per chunk of WIDTH queries, `[t][lane]`.
    z: Vec<[[f64; WIDTH]; WIDTH]>,
}

impl GroupSketches {
    fn new(tree: &KdTree, rows: &[usize], group: &[usize]) -> Self {
        let mut z = vec![[[0.0; WIDTH]; WIDTH]; group.len().div_ceil(WIDTH)];
        for (g, &s) in group.iter().enumerate() {
            for (t, &zt) in tree.sketches[rows[s]].iter().enumerate() {
                z[g / WIDTH][t][g % WIDTH] = zt;
            }
        }
        Self { z }
    }

    /// Lanes of the group, a multiple of WIDTH.
    fn lanes(&self) -> usize {
        self.z.len() * WIDTH
    }

    /// Bit g set when query g is in `mask` and its sketch lies within `threshold[g]` of the box
    /// `nd`; eight queries cost one pass unless none of them is in `mask`.
    #[inline(always)]
    fn meeting(&self, nd: &Node, threshold: &[f64], mask: u64, cpu: Cpu) -> u64 {
        let mut meet = 0u64;
        for (c, (z, limits)) in self.z.iter().zip(threshold.chunks_exact(WIDTH)).enumerate() {
            let valid = (mask >> (c * WIDTH)) as u8;
            if valid == 0 {
                continue;
            }
            let limits: &[f64; WIDTH] = limits.try_into().expect("chunks of WIDTH");
            let mut acc = [0.0; WIDTH];
            for ((zt, &lo), &hi) in z.iter().zip(&nd.lo).zip(&nd.hi) {
                for (a, &zl) in acc.iter_mut().zip(zt) {
                    let d = (lo - zl).max(zl - hi).max(0.0);
                    *a += d * d;
                }
            }
            meet |= u64::from(within(&acc, limits, valid, cpu)) << (c * WIDTH);
        }
        meet
    }
}

/// The CPU's instruction-set level as detected by [`level`]: only [`Cpu::detect`] makes one, so
/// holding one shows that the CPU has the features it names (read once per group, not per test).
#[derive(Clone, Copy)]
// only x86-64 has levels beyond the baseline to read
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
struct Cpu(Level);

impl Cpu {
    fn detect() -> Self {
        Self(level())
    }
}

/// Bit c set when the box of chunk c (of the `count` in `boxes`) lies within `threshold` of the
/// sketch `zq`, in the arithmetic of [`GroupSketches::meeting`]: per coordinate the computed gap
/// is at most the computed |zq − x| of every point x of the chunk, and sums in the same order
/// round monotonically, so a chunk left out holds only points the sketch test would skip.
#[inline(always)]
fn chunks_meeting(
    boxes: &ChunkBoxes,
    zq: &[f64; WIDTH],
    threshold: f64,
    count: usize,
    cpu: Cpu,
) -> u8 {
    let mut acc = [0.0; WIDTH];
    for ((lo, hi), &z) in boxes.lo.iter().zip(&boxes.hi).zip(zq) {
        for ((a, &l), &h) in acc.iter_mut().zip(lo).zip(hi) {
            let d = (l - z).max(z - h).max(0.0);
            *a += d * d;
        }
    }
    let valid = (u16::MAX >> (16 - count)) as u8;
    within(&acc, &[threshold; WIDTH], valid, cpu)
}

/// Bit l set when `values[l] ≤ limits[l]`, among the lanes of `valid`.
#[inline(always)]
fn within(values: &[f64; WIDTH], limits: &[f64; WIDTH], valid: u8, cpu: Cpu) -> u8 {
    // the sign bit of (limit − value) + 0 is clear exactly when value ≤ limit (a rounded
    // difference keeps the order of its operands; + 0 turns −0 into +0), and eight sign bits
    // pack into a byte by two movemask instructions
    let differences: [f64; WIDTH] = std::array::from_fn(|l| (limits[l] - values[l]) + 0.0);
    !sign_bits(&differences, cpu) & valid
}

/// The sign bits of eight numbers as one byte (bit l from lane l), by movemask
/// where the CPU has one.
#[inline(always)]
fn sign_bits(x: &[f64; WIDTH], cpu: Cpu) -> u8 {
    #[cfg(target_arch = "x86_64")]
    if cpu.0 != Level::Base {
        use std::arch::x86_64::{_mm256_loadu_pd, _mm256_movemask_pd};
        // SAFETY: `level` detected AVX2 (at V3 and V4); `x` holds two groups of four f64
        unsafe {
            let lo = _mm256_movemask_pd(_mm256_loadu_pd(x.as_ptr()));
            let hi = _mm256_movemask_pd(_mm256_loadu_pd(x.as_ptr().add(4)));
            return (lo | hi << 4) as u8;
        }
    }
    let mut signs = 0u8;
    for (l, v) in x.iter().enumerate() {
        signs |= ((v.to_bits() >> 63) as u8) << l;
    }
    signs
}

crate::score::fused::kernels::multiversion! {
    /// Answers the query slots `group` (at most [`GROUP`]), whose rows all lie in one group node,
    /// by one shared traversal that carries the mask of the queries whose threshold still meets
    /// each box: a box inside one a query misses is missed too, so a node is tested only for the
    /// queries that met its parent, and left when none meets it (or when its box lies beyond the
    /// largest threshold from the group's box). Box tests run across queries and sketch tests
    /// across a leaf's points as vector lanes, each yielding a bit mask; thresholds only shrink,
    /// so a masked point is tested once more against the current one before its direct distance.
    fn solve_group(
        tree: &KdTree,
        rows: &[usize],
        group: &[usize],
        idx: &mut [&mut [usize]],
        dist: &mut [&mut [f64]],
    ) {
        let k = idx.first().map_or(0, |i| i.len());
        let home_id = tree.group[tree.position[rows[group[0]]]];
        let home = &tree.nodes[home_id];
        let queries = GroupSketches::new(tree, rows, group);
        let cpu = Cpu::detect();
        let mut best: Vec<Best> = group.iter().map(|_| Best::new(k)).collect();
        let offset: Vec<f64> = group
            .iter()
            .map(|&s| tree.bounds.offset(tree.rho[rows[s]]))
            .collect();
        seed_from_home(tree, rows, group, home, &mut best);
        let mut threshold = vec![-1.0; queries.lanes()];
        for (g, b) in best.iter().enumerate() {
            threshold[g] = if b.d2.len() == k {
                tree.bounds.threshold(b.worst(), offset[g])
            } else {
                f64::INFINITY
            };
        }
        let mut widest = threshold.iter().fold(0.0, |a: f64, &t| a.max(t));
        let everyone = u64::MAX >> (64 - group.len());
        let mut stack = vec![(0, 0.0, everyone)];
        while let Some((node, lower, mask)) = stack.pop() {
            // the home node's points were all offered by the seeding
            if lower > widest || node == home_id {
                continue;
            }
            let nd = &tree.nodes[node];
            let meet = queries.meeting(nd, &threshold, mask, cpu);
            if meet == 0 {
                continue;
            }
            match nd.children {
                Some((l, r)) => {
                    let (nl, nr) = (&tree.nodes[l], &tree.nodes[r]);
                    let bl = box_gap((&home.lo, &home.hi), (&nl.lo, &nl.hi));
                    let br = box_gap((&home.lo, &home.hi), (&nr.lo, &nr.hi));
                    push_children(&mut stack, (l, bl, meet), (r, br, meet), widest);
                }
                None => {
                    let mut changed = false;
                    let mut meet = meet;
                    let len = nd.end - nd.start;
                    let chunks = &tree.chunks[nd.chunk..nd.chunk + len.div_ceil(WIDTH)];
                    while meet != 0 {
                        let g = meet.trailing_zeros() as usize;
                        meet &= meet - 1;
                        let i = rows[group[g]];
                        let (zq, xq) = (&tree.sketches[i], tree.point(tree.position[i]));
                        // only the chunks whose box the query's threshold meets
                        let mut open =
                            chunks_meeting(&tree.boxes[nd.leaf], zq, threshold[g], chunks.len(), cpu);
                        while open != 0 {
                            let c = open.trailing_zeros() as usize;
                            open &= open - 1;
                            let chunk = &chunks[c];
                            let valid = if (c + 1) * WIDTH <= len {
                                u8::MAX
                            } else {
                                (1u8 << (len - c * WIDTH)) - 1
                            };
                            let acc = chunk_sketches(zq, chunk);
                            let mut near = within(&acc, &[threshold[g]; WIDTH], valid, cpu);
                            while near != 0 {
                                let l = near.trailing_zeros() as usize;
                                near &= near - 1;
                                if acc[l] > threshold[g] {
                                    continue;
                                }
                                let p = nd.start + c * WIDTH + l;
                                let j = tree.order[p];
                                if j == i {
                                    continue;
                                }
                                let d2 = squared_distance(xq, tree.point(p));
                                if best[g].offer(d2, j) && best[g].d2.len() == k {
                                    threshold[g] =
                                        tree.bounds.threshold(best[g].worst(), offset[g]);
                                    changed = true;
                                }
                            }
                        }
                    }
                    if changed {
                        widest = threshold.iter().fold(0.0, |a: f64, &t| a.max(t));
                    }
                }
            }
        }
        for ((b, i), d) in best.iter().zip(idx.iter_mut()).zip(dist.iter_mut()) {
            i.copy_from_slice(&b.index);
            d.iter_mut().zip(&b.d2).for_each(|(d, s)| *d = s.sqrt());
        }
    }
}

/// Gives every query of `group` the k best of all the points of its group node `home` (so the
/// shared traversal may skip that node), computing each distance between two of the queries once
/// for both: d²(q, x) and d²(x, q) are the same computed number, a difference and its negation
/// squaring alike. Slots are in tree order, so slots asking for the same row are adjacent; each
/// query takes each other row once, from the first slot holding it.
#[inline(always)]
fn seed_from_home(tree: &KdTree, rows: &[usize], group: &[usize], home: &Node, best: &mut [Best]) {
    let n = group.len();
    let position: Vec<usize> = group.iter().map(|&s| tree.position[rows[s]]).collect();
    let first: Vec<bool> = (0..n)
        .map(|g| g == 0 || position[g] != position[g - 1])
        .collect();
    let mut asked = vec![false; home.end - home.start];
    position.iter().for_each(|&p| asked[p - home.start] = true);
    let mut pair = vec![0.0; n * n];
    for g in 0..n {
        let xg = tree.point(position[g]);
        for h in g + 1..n {
            if position[g] != position[h] && (first[g] || first[h]) {
                let d2 = squared_distance(xg, tree.point(position[h]));
                (pair[g * n + h], pair[h * n + g]) = (d2, d2);
            }
        }
    }
    let mut candidates = Vec::with_capacity(home.end - home.start);
    for g in 0..n {
        candidates.clear();
        let xg = tree.point(position[g]);
        for h in 0..n {
            if first[h] && position[h] != position[g] {
                candidates.push((pair[g * n + h].to_bits(), rows[group[h]]));
            }
        }
        for p in home.start..home.end {
            if !asked[p - home.start] {
                let d2 = squared_distance(xg, tree.point(p));
                candidates.push((d2.to_bits(), tree.order[p]));
            }
        }
        best[g].fill(&mut candidates);
    }
}

/// A group's query slots and, per slot, its rows of the output indices and distances.
type Group<'a> = (&'a [usize], Vec<&'a mut [usize]>, Vec<&'a mut [f64]>);

/// The tree's answers for the query slots `slots` (rows `rows[s]`), the queries of each group
/// searched together ([`solve_group`]), the groups in parallel: slot s's k neighbours go
/// straight to `idx[s·k..]` and `dist[s·k..]` (the other slots' entries are left as they are).
pub(super) fn solve_grouped(
    tree: &KdTree,
    rows: &[usize],
    mut slots: Vec<usize>,
    (idx, dist): (&mut [usize], &mut [f64]),
    k: usize,
) {
    slots.sort_by_key(|&s| (tree.position(rows[s]), s));
    // each slot's own rows of the outputs, handed to the group that answers it
    let mut idx_of: Vec<Option<&mut [usize]>> = idx.chunks_mut(k).map(Some).collect();
    let mut dist_of: Vec<Option<&mut [f64]>> = dist.chunks_mut(k).map(Some).collect();
    let mut groups: Vec<Group> = Vec::new();
    let mut rest = &slots[..];
    while let Some(&first) = rest.first() {
        let home = tree.group[tree.position(rows[first])];
        // at most GROUP slots a group, even when a row is asked for more than once
        let len = rest
            .iter()
            .take(GROUP)
            .position(|&s| tree.group[tree.position(rows[s])] != home)
            .unwrap_or(rest.len().min(GROUP));
        let (g, r) = rest.split_at(len);
        // slots are distinct, so every output row is taken once
        let gi = g
            .iter()
            .map(|&s| idx_of[s].take().expect("a slot once"))
            .collect();
        let gd = g
            .iter()
            .map(|&s| dist_of[s].take().expect("a slot once"))
            .collect();
        groups.push((g, gi, gd));
        rest = r;
    }
    groups
        .into_par_iter()
        .for_each(|(g, mut i, mut d)| solve_group(tree, rows, g, &mut i, &mut d));
}

/// Answers of the tree for some query slots: indices, distances and work, k per slot.
pub(super) struct Answers {
    pub(super) slots: Vec<usize>,
    pub(super) idx: Vec<usize>,
    pub(super) dist: Vec<f64>,
    pub(super) work: Vec<Option<Work>>,
}

/// The tree's answers for the query slots `slots` (rows `rows[s]`), each abandoned past `cap`
/// coordinate operations, in parallel chunks of tree order.
pub(super) fn solve(
    tree: &KdTree,
    rows: &[usize],
    mut slots: Vec<usize>,
    k: usize,
    cap: usize,
) -> Answers {
    slots.sort_by_key(|&s| (tree.position(rows[s]), s));
    let (mut idx, mut dist) = (vec![0; slots.len() * k], vec![0.0; slots.len() * k]);
    let mut work = vec![None; slots.len()];
    slots
        .par_chunks(TRIAL_CHUNK)
        .zip(idx.par_chunks_mut(TRIAL_CHUNK * k))
        .zip(dist.par_chunks_mut(TRIAL_CHUNK * k))
        .zip(work.par_chunks_mut(TRIAL_CHUNK))
        .for_each(|(((s, i), d), w)| solve_chunk(tree, rows, s, cap, i, d, w));
    Answers {
        slots,
        idx,
        dist,
        work,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chunk's box test never leaves out a point whose own sketch test passes, at every
    /// threshold between the point's sketch distances (the rounding argument of
    /// [`chunks_meeting`]), and the chunk order keeps every leaf's rows.
    #[test]
    fn chunk_boxes_keep_every_point_the_sketch_test_keeps() {
        let (n, dim) = (3000, 11);
        // a curved 3-manifold with coordinates of very different sizes
        let values: Vec<f64> = (0..n * dim)
            .map(|e| {
                let (i, t) = ((e / dim) as f64, e % dim);
                let (a, b, c) = (
                    (i * 0.618).fract(),
                    (i * 0.414).fract(),
                    (i * 0.732).fract(),
                );
                match t % 4 {
                    0 => (7.0 * a + t as f64).sin() * 1e3,
                    1 => (3.0 * b).cos() * 1e-3 + c,
                    2 => a * b - c,
                    _ => (a + b + c) * 1e6,
                }
            })
            .collect();
        let mut mean = vec![0.0; dim];
        values.chunks(dim).for_each(|row| {
            mean.iter_mut()
                .zip(row)
                .for_each(|(m, x)| *m += x / n as f64)
        });
        let tree = KdTree::new(&values, dim, &mean);
        let mut sorted = tree.order.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(p, &i)| p == i));
        let cpu = Cpu::detect();
        let mut checked = 0;
        for nd in tree.nodes.iter().filter(|nd| nd.children.is_none()) {
            let len = nd.end - nd.start;
            let chunks = &tree.chunks[nd.chunk..nd.chunk + len.div_ceil(WIDTH)];
            for q in (0..n).step_by(97) {
                let zq = &tree.sketches[q];
                let mut lanes = [0.0; LEAF.next_multiple_of(WIDTH)];
                let sketches = leaf_sketches(&tree, nd, zq, &mut lanes);
                for &threshold in sketches {
                    let open =
                        chunks_meeting(&tree.boxes[nd.leaf], zq, threshold, chunks.len(), cpu);
                    for (p, &s) in sketches.iter().enumerate() {
                        if s <= threshold {
                            assert!(open >> (p / WIDTH) & 1 == 1, "point {p} of a leaf");
                            checked += 1;
                        }
                    }
                }
            }
        }
        assert!(checked > 10_000, "{checked}");
    }

    /// Every instruction-set level this CPU has gives the same masks as the plain comparison,
    /// at equality, at ±0, at infinite and at negative (padding) limits.
    #[test]
    fn masks_agree_at_every_level() {
        let values = [0.0, 1.0, 2.0, 3.0, 4.0, 0.5, 7.0, 1e300];
        let limits = [
            [0.0, 1.0, 1.5, 3.0, f64::INFINITY, -1.0, -0.0, 1e300],
            [-0.0, 0.999, 2.0, 2.0, 4.0, 0.5, 7.0, f64::INFINITY],
        ];
        let mut levels = vec![Level::Base];
        match level() {
            Level::V4 => levels.extend([Level::V3, Level::V4]),
            Level::V3 => levels.push(Level::V3),
            Level::Base => {}
        }
        for limit in &limits {
            let expected = (0..WIDTH).fold(0u8, |m, l| m | u8::from(values[l] <= limit[l]) << l);
            for &at in &levels {
                assert_eq!(within(&values, limit, u8::MAX, Cpu(at)), expected, "{at:?}");
                assert_eq!(within(&values, limit, 0b0000_0111, Cpu(at)), expected & 7);
            }
        }
    }
}

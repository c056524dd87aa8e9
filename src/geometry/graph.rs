//! Shortest paths in the k-nearest-neighbour graph of a point cloud: the initial guesses of the
//! discrete geodesic solver (a path through the data follows the manifold, where a straight
//! line may cut through empty space).

use crate::data::Dataset;
use crate::error::Result;
use crate::knn::k_nearest;
use faer::{Mat, MatRef};
use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// The symmetrised k-NN graph of a dataset: i ~ j when either is among the other's k nearest
/// neighbours, with Euclidean edge lengths.
#[derive(Clone, Debug)]
pub struct KnnGraph {
    adjacency: Vec<Vec<(usize, f64)>>,
}

impl KnnGraph {
    /// The graph of `data` with `k` neighbours per point (1 ≤ k < n).
    pub fn new(data: &Dataset, k: usize) -> Result<Self> {
        let nn = k_nearest(data, k)?;
        let mut adjacency = vec![Vec::with_capacity(2 * k); data.len()];
        for i in 0..data.len() {
            for (&j, &d) in nn.indices(i).iter().zip(nn.distances(i)) {
                adjacency[i].push((j, d));
                adjacency[j].push((i, d));
            }
        }
        for edges in &mut adjacency {
            edges.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
            edges.dedup_by_key(|e| e.0);
        }
        Ok(Self { adjacency })
    }

    /// Number of vertices.
    pub fn len(&self) -> usize {
        self.adjacency.len()
    }

    /// True when the graph has no vertices.
    pub fn is_empty(&self) -> bool {
        self.adjacency.is_empty()
    }

    /// The neighbours of vertex i with edge lengths, by index.
    pub fn neighbours(&self, i: usize) -> &[(usize, f64)] {
        &self.adjacency[i]
    }

    /// The vertices of a shortest path from `from` to `to` (both included), by Dijkstra's
    /// algorithm; `None` when `to` is unreachable or an index is out of range.
    pub fn shortest_path(&self, from: usize, to: usize) -> Option<Vec<usize>> {
        let n = self.len();
        if from >= n || to >= n {
            return None;
        }
        let mut dist = vec![f64::INFINITY; n];
        let mut prev = vec![usize::MAX; n];
        let mut heap = BinaryHeap::new();
        dist[from] = 0.0;
        heap.push(Visit {
            dist: 0.0,
            vertex: from,
        });
        while let Some(Visit { dist: d, vertex: u }) = heap.pop() {
            if u == to {
                break;
            }
            if d > dist[u] {
                continue;
            }
            for &(v, w) in &self.adjacency[u] {
                let nd = d + w;
                if nd < dist[v] {
                    dist[v] = nd;
                    prev[v] = u;
                    heap.push(Visit {
                        dist: nd,
                        vertex: v,
                    });
                }
            }
        }
        if !dist[to].is_finite() {
            return None;
        }
        let mut path = vec![to];
        while *path.last()? != from {
            path.push(prev[*path.last()?]);
        }
        path.reverse();
        Some(path)
    }
}

/// A heap entry ordered so that the nearest vertex pops first (ties: smaller index).
#[derive(Clone, Copy, Debug)]
struct Visit {
    dist: f64,
    vertex: usize,
}

impl PartialEq for Visit {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Visit {}

impl PartialOrd for Visit {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Visit {
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .dist
            .total_cmp(&self.dist)
            .then(other.vertex.cmp(&self.vertex))
    }
}

/// `count` ≥ 2 points equally spaced by arc length along the polyline through the rows of
/// `polyline` (the first and last rows are kept exactly).
pub fn resample_by_arc_length(polyline: MatRef<'_, f64>, count: usize) -> Mat<f64> {
    let (m, d) = (polyline.nrows(), polyline.ncols());
    let mut cumulative = vec![0.0; m];
    for k in 1..m {
        let seg: f64 = (0..d)
            .map(|j| (polyline[(k, j)] - polyline[(k - 1, j)]).powi(2))
            .sum::<f64>()
            .sqrt();
        cumulative[k] = cumulative[k - 1] + seg;
    }
    let total = cumulative[m - 1];
    let mut out = Mat::zeros(count, d);
    let mut seg = 0;
    for i in 0..count {
        if i == count - 1 || total == 0.0 {
            let src = if i == count - 1 { m - 1 } else { 0 };
            for j in 0..d {
                out[(i, j)] = polyline[(src, j)];
            }
            continue;
        }
        let target = total * i as f64 / (count - 1) as f64;
        while seg + 2 < m && cumulative[seg + 1] < target {
            seg += 1;
        }
        let len = cumulative[seg + 1] - cumulative[seg];
        let frac = if len > 0.0 {
            ((target - cumulative[seg]) / len).clamp(0.0, 1.0)
        } else {
            0.0
        };
        for j in 0..d {
            out[(i, j)] = (1.0 - frac) * polyline[(seg, j)] + frac * polyline[(seg + 1, j)];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dijkstra_follows_the_chain_not_the_gap() {
        // points on a "U": the shortest graph path from one tip to the other goes round the bend
        let rows: Vec<Vec<f64>> = (0..=20)
            .map(|k| {
                let a = std::f64::consts::PI * k as f64 / 20.0;
                vec![a.cos(), -a.sin()]
            })
            .collect();
        let data = Dataset::from_rows(&rows).unwrap();
        let g = KnnGraph::new(&data, 2).unwrap();
        // k = 2 links each point to its two nearest on either side: the tips are not linked
        let path = g.shortest_path(0, 20).unwrap();
        assert_eq!((path[0], path[path.len() - 1]), (0, 20));
        assert!(
            path.windows(2).all(|w| w[1] > w[0] && w[1] - w[0] <= 2),
            "{path:?}"
        );
        assert_eq!(g.shortest_path(3, 3).unwrap(), vec![3]);
        assert!(g.shortest_path(0, 21).is_none());
    }

    #[test]
    fn disconnected_components_have_no_path() {
        let data = Dataset::from_rows(&[vec![0.0], vec![0.1], vec![10.0], vec![10.1]]).unwrap();
        let g = KnnGraph::new(&data, 1).unwrap();
        assert!(g.shortest_path(0, 3).is_none());
        assert_eq!(g.shortest_path(2, 3).unwrap(), vec![2, 3]);
    }

    #[test]
    fn resampling_spaces_points_evenly() {
        // an L of legs 1 and 3: 5 points at arc lengths 0, 1, 2, 3, 4
        let l = Mat::from_fn(3, 2, |i, j| [[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]][i][j]);
        let r = resample_by_arc_length(l.as_ref(), 5);
        let want = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [1.0, 3.0]];
        for i in 0..5 {
            for j in 0..2 {
                assert!((r[(i, j)] - want[i][j]).abs() < 1e-15, "{i} {j}");
            }
        }
        // repeated vertices (duplicate data points) are harmless
        let dup = Mat::from_fn(4, 1, |i, _| [0.0, 0.0, 2.0, 2.0][i]);
        let r = resample_by_arc_length(dup.as_ref(), 3);
        assert_eq!((r[(0, 0)], r[(1, 0)], r[(2, 0)]), (0.0, 1.0, 2.0));
    }
}

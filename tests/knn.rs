//! The tree, GEMM and automatic k-NN searches give identical neighbours, equal to a plain
//! brute-force oracle, on data of low and full intrinsic dimension, ties, duplicates and edge sizes.

use rand::Rng;
use rand_distr::{Distribution, StandardNormal};
use scoregeo::knn::{k_nearest, k_nearest_by, k_nearest_of, k_nearest_of_by, Neighbours, Search};
use scoregeo::Dataset;

/// The oracle: for every row, all other rows sorted by (Σₜ (xᵢₜ − xⱼₜ)², j), the sum taken as the
/// module documents it (four partial sums over t mod 4, then the remainder).
fn brute_force(data: &Dataset, k: usize) -> (Vec<Vec<usize>>, Vec<Vec<f64>>) {
    let d2 = |a: &[f64], b: &[f64]| {
        let mut acc = [0.0; 4];
        let full = a.len() - a.len() % 4;
        for t in 0..full {
            acc[t % 4] += (a[t] - b[t]) * (a[t] - b[t]);
        }
        let mut tail = 0.0;
        for t in full..a.len() {
            tail += (a[t] - b[t]) * (a[t] - b[t]);
        }
        ((acc[0] + acc[1]) + (acc[2] + acc[3])) + tail
    };
    let n = data.len();
    let (mut indices, mut distances) = (Vec::new(), Vec::new());
    for i in 0..n {
        let mut all: Vec<(f64, usize)> = (0..n)
            .filter(|&j| j != i)
            .map(|j| (d2(data.row(i), data.row(j)), j))
            .collect();
        all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        indices.push(all[..k].iter().map(|p| p.1).collect());
        distances.push(all[..k].iter().map(|p| p.0.sqrt()).collect());
    }
    (indices, distances)
}

fn bits(nn: &Neighbours, i: usize) -> Vec<u64> {
    nn.distances(i).iter().map(|d| d.to_bits()).collect()
}

/// Every search equals the oracle, bit for bit.
fn check(data: &Dataset, k: usize, what: &str) {
    let (indices, distances) = brute_force(data, k);
    for search in [Search::Tree, Search::Gemm, Search::Auto] {
        let nn = k_nearest_by(data, k, search).unwrap();
        assert_eq!(nn.len(), data.len());
        for i in 0..data.len() {
            assert_eq!(nn.indices(i), &indices[i][..], "{what} {search:?} row {i}");
            let want: Vec<u64> = distances[i].iter().map(|d| d.to_bits()).collect();
            assert_eq!(bits(&nn, i), want, "{what} {search:?} row {i}");
        }
    }
    assert_eq!(
        k_nearest(data, k).unwrap(),
        k_nearest_by(data, k, Search::Gemm).unwrap()
    );
}

fn gaussian(n: usize, dim: usize, seed: u64) -> Vec<Vec<f64>> {
    let mut rng = scoregeo::rng::stream(seed, 0);
    (0..n)
        .map(|_| (0..dim).map(|_| StandardNormal.sample(&mut rng)).collect())
        .collect()
}

/// A uniform d-sphere embedded linearly (a random (d+1) × D map) in ℝᴰ.
fn sphere(n: usize, d: usize, dim: usize, seed: u64) -> Dataset {
    let map = gaussian(d + 1, dim, seed + 1000);
    let rows: Vec<Vec<f64>> = gaussian(n, d + 1, seed)
        .into_iter()
        .map(|u| {
            let r = u.iter().map(|x| x * x).sum::<f64>().sqrt();
            (0..dim)
                .map(|t| u.iter().zip(&map).map(|(x, m)| x / r * m[t]).sum())
                .collect()
        })
        .collect();
    Dataset::from_rows(&rows).unwrap()
}

#[test]
fn low_dimensional_manifold_in_high_dimension() {
    check(&sphere(1500, 5, 30, 1), 20, "5-sphere in R^30");
    check(&sphere(800, 2, 64, 2), 7, "2-sphere in R^64");
}

#[test]
fn full_dimensional_gaussian() {
    let data = Dataset::from_rows(&gaussian(700, 30, 3)).unwrap();
    check(&data, 20, "Gaussian R^30");
    let data = Dataset::from_rows(&gaussian(500, 9, 4)).unwrap();
    check(&data, 5, "Gaussian R^9");
}

#[test]
fn curved_manifold_beyond_the_sketch() {
    // The spaghetti line x ↦ (sin x, sin 2x, …, sin 40x) spans all 40 directions.
    let mut rng = scoregeo::rng::stream(5, 0);
    let rows: Vec<Vec<f64>> = (0..900)
        .map(|_| {
            let x: f64 = rng.random();
            (1..=40).map(|j| (j as f64 * x).sin()).collect()
        })
        .collect();
    check(&Dataset::from_rows(&rows).unwrap(), 10, "spaghetti line");
}

#[test]
fn ties_and_duplicates() {
    // An integer grid, every point three times: many exact ties and zero distances.
    let mut rows = Vec::new();
    for a in 0..9 {
        for b in 0..7 {
            for _ in 0..3 {
                rows.push(vec![f64::from(a), f64::from(b), 0.0, 1.0, 2.0]);
            }
        }
    }
    check(
        &Dataset::from_rows(&rows).unwrap(),
        12,
        "grid with duplicates",
    );
    let same = vec![vec![1.5, -2.0, 3.0]; 40];
    check(&Dataset::from_rows(&same).unwrap(), 39, "all rows equal");
}

#[test]
fn a_line_and_tiny_sizes() {
    let line: Vec<Vec<f64>> = (0..300).map(|i| vec![f64::from(i) * 0.37]).collect();
    check(&Dataset::from_rows(&line).unwrap(), 4, "line in R^1");
    let diagonal: Vec<Vec<f64>> = (0..200).map(|i| vec![f64::from(i); 12]).collect();
    check(&Dataset::from_rows(&diagonal).unwrap(), 3, "line in R^12");
    check(
        &Dataset::from_rows(&[vec![0.0], vec![2.0]]).unwrap(),
        1,
        "n = 2",
    );
    let three = Dataset::from_rows(&gaussian(3, 4, 6)).unwrap();
    check(&three, 2, "n = 3");
}

#[test]
fn far_from_the_origin() {
    // Spread 10⁻³ at 10⁶ (two clusters): the sketch's rounding must not prune a true neighbour.
    let base = gaussian(600, 6, 7);
    let rows: Vec<Vec<f64>> = base
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let c = if i % 2 == 0 { 1e6 } else { -1e6 };
            r.iter().map(|x| c + 1e-3 * x).collect()
        })
        .collect();
    check(&Dataset::from_rows(&rows).unwrap(), 8, "offset clusters");
}

#[test]
fn k_at_least_n_is_rejected_by_every_search() {
    let data = Dataset::from_rows(&gaussian(5, 3, 8)).unwrap();
    for search in [Search::Tree, Search::Gemm, Search::Auto] {
        assert!(k_nearest_by(&data, 5, search).is_err(), "{search:?}");
        assert!(k_nearest_by(&data, 0, search).is_err(), "{search:?}");
        assert!(k_nearest_by(&data, 4, search).is_ok(), "{search:?}");
    }
}

#[test]
fn queries_of_a_subset_by_every_search() {
    let data = sphere(1200, 3, 20, 9);
    let full = k_nearest_by(&data, 6, Search::Gemm).unwrap();
    let rows = [1199, 0, 17, 17, 600, 3];
    for search in [Search::Tree, Search::Gemm, Search::Auto] {
        let some = k_nearest_of_by(&data, &rows, 6, search).unwrap();
        for (q, &i) in rows.iter().enumerate() {
            assert_eq!(some.indices(q), full.indices(i), "{search:?}");
            assert_eq!(bits(&some, q), bits(&full, i), "{search:?}");
        }
    }
    assert_eq!(
        k_nearest_of(&data, &rows, 6).unwrap(),
        k_nearest_of_by(&data, &rows, 6, Search::Tree).unwrap()
    );
    assert!(k_nearest_of_by(&data, &[1200], 6, Search::Tree).is_err());
}

/// More queries of one tree node than a group's mask has bits (here one row asked 150 times, with
/// its neighbours): the tree splits them into several groups and answers each like the GEMM path.
#[test]
fn a_row_asked_for_many_times() {
    let data = sphere(1500, 3, 10, 4);
    let full = k_nearest_by(&data, 5, Search::Gemm).unwrap();
    let mut rows = vec![7; 150];
    rows.extend(full.indices(7).iter().copied().cycle().take(100));
    for search in [Search::Tree, Search::Auto] {
        let some = k_nearest_of_by(&data, &rows, 5, search).unwrap();
        for (q, &i) in rows.iter().enumerate() {
            assert_eq!(some.indices(q), full.indices(i), "{search:?} query {q}");
            assert_eq!(bits(&some, q), bits(&full, i), "{search:?} query {q}");
        }
    }
}

#[test]
fn tree_independent_of_thread_count() {
    let data = sphere(3000, 4, 16, 10);
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| k_nearest_by(&data, 9, Search::Tree).unwrap())
    };
    let (one, three) = (run(1), run(3));
    for i in 0..data.len() {
        assert_eq!(one.indices(i), three.indices(i));
        assert_eq!(bits(&one, i), bits(&three, i));
    }
}

/// Data large enough for the tree's halves to be built in parallel: the same neighbours as the
/// GEMM path, bit for bit, with one thread and with three.
#[test]
fn parallel_build_matches_gemm() {
    let data = sphere(9000, 3, 12, 21);
    let gemm = k_nearest_by(&data, 7, Search::Gemm).unwrap();
    for threads in [1, 3] {
        let tree = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| k_nearest_by(&data, 7, Search::Tree).unwrap());
        for i in 0..data.len() {
            assert_eq!(
                tree.indices(i),
                gemm.indices(i),
                "row {i}, {threads} threads"
            );
            assert_eq!(bits(&tree, i), bits(&gemm, i), "row {i}, {threads} threads");
        }
    }
}

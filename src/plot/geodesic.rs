//! Geodesic paths over the data cloud. In D = 2 the coordinates are drawn as they are; in
//! D > 2 data and paths are projected onto the first two principal components of the data.

use super::style::{self, dr, fmt_num, BLUE, GREEN, GREY, ORANGE, PURPLE, SKY, VERMILLION};
use super::{Figure, DEFAULT_SIZE};
use crate::data::Dataset;
use crate::error::{Error, Result};
use faer::Side;
use plotters::coord::Shift;
use plotters::prelude::*;

/// At most this many data points are drawn (an evenly spaced subset).
const MAX_DATA_POINTS: usize = 5000;
/// Path colours in order (the data cloud is grey).
const PATH_COLOURS: [RGBColor; 6] = [VERMILLION, BLUE, GREEN, ORANGE, PURPLE, SKY];

/// One path: its nodes, from start to end, in ambient coordinates.
#[derive(Clone, Debug, PartialEq)]
pub struct GeodesicPath {
    /// Legend text (e.g. `score geodesic (length 3.14)`).
    pub label: String,
    /// The nodes c₀ = x, …, c_N = y, each with D coordinates.
    pub nodes: Vec<Vec<f64>>,
}

impl GeodesicPath {
    /// A labelled path.
    pub fn new(label: impl Into<String>, nodes: Vec<Vec<f64>>) -> Self {
        Self {
            label: label.into(),
            nodes,
        }
    }
}

/// Data cloud (grey; at most 5000 points, evenly spaced, are drawn) and one or more paths with
/// their start (●) and end (▲) marked, with equal scales on both axes.
#[derive(Clone, Debug, PartialEq)]
pub struct GeodesicPlot {
    /// The dataset, when there is one; its principal components define the projection for D > 2.
    pub data: Option<Dataset>,
    /// The paths (at least one).
    pub paths: Vec<GeodesicPath>,
    /// The title; `None` gives "Geodesic paths".
    pub title: Option<String>,
    /// Canvas size in pixels.
    pub size: (u32, u32),
}

impl GeodesicPlot {
    /// A figure of `paths` over `data`, with the default title and size.
    pub fn new(data: Option<Dataset>, paths: Vec<GeodesicPath>) -> Self {
        Self {
            data,
            paths,
            title: None,
            size: DEFAULT_SIZE,
        }
    }

    /// The data, if it has any points.
    fn cloud(&self) -> Option<&Dataset> {
        self.data.as_ref().filter(|d| !d.is_empty())
    }

    /// Checks the input and returns the ambient dimension D.
    fn check(&self) -> Result<usize> {
        if self.paths.is_empty() {
            return Err(Error::InvalidData(
                "no geodesic paths to plot (empty paths)".into(),
            ));
        }
        if let Some(p) = self.paths.iter().find(|p| p.nodes.is_empty()) {
            return Err(Error::InvalidData(format!(
                "path `{}` has no nodes",
                p.label
            )));
        }
        let d = match self.cloud() {
            Some(data) => data.dim(),
            None => self
                .paths
                .iter()
                .flat_map(|p| p.nodes.first())
                .map(Vec::len)
                .next()
                .unwrap_or(0),
        };
        if d < 2 {
            return Err(Error::InvalidData(format!(
                "a geodesic figure needs at least 2 coordinates per point, found {d}"
            )));
        }
        for p in &self.paths {
            for (i, node) in p.nodes.iter().enumerate() {
                if node.len() != d {
                    return Err(Error::DimensionMismatch {
                        context: format!("node {} of path `{}`", i + 1, p.label),
                        expected: d,
                        found: node.len(),
                    });
                }
                style::check_finite(node, |j| {
                    format!(
                        "coordinate {} of node {} of path `{}`",
                        j + 1,
                        i + 1,
                        p.label
                    )
                })?;
            }
        }
        Ok(d)
    }
}

/// An affine map ℝ^D → ℝ² with the names of its two axes.
#[derive(Debug)]
struct Projection {
    mean: Vec<f64>,
    axes: [Vec<f64>; 2],
    names: [String; 2],
    /// Fractions of the variance along the axes (PCA only).
    explained: Option<[f64; 2]>,
}

impl Projection {
    fn identity() -> Self {
        Self {
            mean: vec![0.0; 2],
            axes: [vec![1.0, 0.0], vec![0.0, 1.0]],
            names: ["x₁".into(), "x₂".into()],
            explained: None,
        }
    }

    /// The first two principal axes of `rows` (eigenvectors of the covariance matrix, signed so
    /// that their largest component is positive).
    fn principal(rows: &[&[f64]], d: usize) -> Result<Self> {
        let (mean, cov) = crate::linalg::mean_and_covariance(rows, d);
        let eig = cov
            .self_adjoint_eigen(Side::Lower)
            .map_err(|e| Error::Numerical(format!("principal components of the data: {e:?}")))?;
        let (values, vectors) = (eig.S().column_vector(), eig.U());
        // eigenvalues ascend: the principal axes are the last two
        let axis = |k: usize| {
            let v: Vec<f64> = (0..d).map(|j| vectors[(j, k)]).collect();
            let big = v
                .iter()
                .copied()
                .fold(0.0, |m: f64, x| if x.abs() > m.abs() { x } else { m });
            v.into_iter()
                .map(|x| if big < 0.0 { -x } else { x })
                .collect()
        };
        let total: f64 = (0..d).map(|k| values[k].max(0.0)).sum();
        let explained = (total > 0.0).then(|| {
            [
                values[d - 1].max(0.0) / total,
                values[d - 2].max(0.0) / total,
            ]
        });
        let names = match explained {
            Some([a, b]) => [
                format!("PC1 ({:.1}% of variance)", 100.0 * a),
                format!("PC2 ({:.1}% of variance)", 100.0 * b),
            ],
            None => ["PC1".into(), "PC2".into()],
        };
        Ok(Self {
            mean,
            axes: [axis(d - 1), axis(d - 2)],
            names,
            explained,
        })
    }

    fn apply(&self, x: &[f64]) -> (f64, f64) {
        let dot = |a: &[f64]| {
            x.iter()
                .zip(&self.mean)
                .zip(a)
                .map(|((x, m), a)| (x - m) * a)
                .sum::<f64>()
        };
        (dot(&self.axes[0]), dot(&self.axes[1]))
    }
}

impl Figure for GeodesicPlot {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        let d = self.check()?;
        let cloud = self.cloud();
        let projection = if d == 2 {
            Projection::identity()
        } else {
            let rows: Vec<&[f64]> = match cloud {
                Some(data) if data.len() >= 2 => data.rows().collect(),
                _ => self
                    .paths
                    .iter()
                    .flat_map(|p| p.nodes.iter().map(Vec::as_slice))
                    .collect(),
            };
            Projection::principal(&rows, d)?
        };
        let data: Vec<(f64, f64)> = match cloud {
            Some(c) => style::thinned(c.len(), MAX_DATA_POINTS)
                .map(|i| projection.apply(c.row(i)))
                .collect(),
            None => Vec::new(),
        };
        let paths: Vec<Vec<(f64, f64)>> = self
            .paths
            .iter()
            .map(|p| p.nodes.iter().map(|x| projection.apply(x)).collect())
            .collect();

        let title = self.title.as_deref().unwrap_or("Geodesic paths");
        let mut subtitle = format!("ambient D = {d}");
        if let Some(c) = cloud {
            subtitle += &format!(" · {} data points", c.len());
        }
        if let Some([a, b]) = projection.explained {
            let basis = if cloud.is_some_and(|c| c.len() >= 2) {
                "data"
            } else {
                "path nodes"
            };
            subtitle += &format!(
                " · projected onto the first two principal components of the {basis} ({}% of variance)",
                fmt_num((1000.0 * (a + b)).round() / 10.0)
            );
        }
        let body = style::header(area, title, &subtitle)?;

        // equal scales: widen the shorter range to the plot's aspect ratio
        let all = || data.iter().chain(paths.iter().flatten());
        let (mut x0, mut x1, mut y0, mut y1) = all().fold(
            (
                f64::INFINITY,
                f64::NEG_INFINITY,
                f64::INFINITY,
                f64::NEG_INFINITY,
            ),
            |(a, b, c, e), &(x, y)| (a.min(x), b.max(x), c.min(y), e.max(y)),
        );
        let (w, h) = {
            let probe = style::frame(&body)
                .build_cartesian_2d(0.0..1.0, 0.0..1.0)
                .map_err(dr)?;
            let (w, h) = probe.plotting_area().dim_in_pixel();
            (f64::from(w.max(1)), f64::from(h.max(1)))
        };
        let per_px = ((x1 - x0) * 1.1 / w).max((y1 - y0) * 1.1 / h);
        // a single point: one unit across the shorter side
        let per_px = if per_px > 0.0 { per_px } else { 1.0 / w.min(h) };
        let (cx, cy) = (0.5 * (x0 + x1), 0.5 * (y0 + y1));
        (x0, x1, y0, y1) = (
            cx - 0.5 * per_px * w,
            cx + 0.5 * per_px * w,
            cy - 0.5 * per_px * h,
            cy + 0.5 * per_px * h,
        );
        let ticks_x = style::linear_ticks(x0, x1, (w / 90.0).max(2.0) as usize);
        let ticks_y = style::linear_ticks(y0, y1, (h / 70.0).max(2.0) as usize);
        let mut chart = style::frame(&body)
            .build_cartesian_2d(
                style::ticked(x0..x1, ticks_x, vec![]),
                style::ticked(y0..y1, ticks_y, vec![]),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        style::style_mesh(&mut mesh, &projection.names[0], &projection.names[1]);
        mesh.x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()
            .map_err(dr)?;

        if let Some(c) = cloud {
            let dot = GREY.mix(0.45).filled();
            chart
                .draw_series(data.iter().map(|&p| Circle::new(p, 2, dot)))
                .map_err(dr)?
                .label(format!("data ({} points)", c.len()))
                .legend(style::marker_key(GREY.filled(), 3));
        }
        for (k, (path, nodes)) in self.paths.iter().zip(&paths).enumerate() {
            let colour = PATH_COLOURS[k % PATH_COLOURS.len()];
            let line = colour.stroke_width(3);
            chart
                .draw_series(LineSeries::new(nodes.iter().copied(), line))
                .map_err(dr)?
                .label(path.label.as_str())
                .legend(style::line_key(line));
            if nodes.len() <= 100 {
                chart
                    .draw_series(nodes.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                    .map_err(dr)?;
            }
            let edge = RGBColor(0, 0, 0).stroke_width(2);
            let start = chart
                .draw_series([
                    Circle::new(nodes[0], 8, colour.filled()),
                    Circle::new(nodes[0], 8, edge),
                ])
                .map_err(dr)?;
            if k + 1 == self.paths.len() {
                start
                    .label("start")
                    .legend(style::marker_key(RGBColor(40, 40, 40).filled(), 6));
            }
            let last = nodes[nodes.len() - 1];
            // triangle markers are always filled: a larger black one makes the outline
            let end = chart
                .draw_series([
                    TriangleMarker::new(last, 13, RGBColor(0, 0, 0).filled()),
                    TriangleMarker::new(last, 9, colour.filled()),
                ])
                .map_err(dr)?;
            if k + 1 == self.paths.len() {
                end.label("end").legend(|(x, y)| {
                    TriangleMarker::new((x + 11, y), 8, RGBColor(40, 40, 40).filled())
                });
            }
        }
        let rel = |&(x, y): &(f64, f64)| ((x - x0) / (x1 - x0), (y - y0) / (y1 - y0));
        let occupied = data.iter().map(rel).chain(paths.iter().flat_map(|p| {
            style::densify(&p.iter().map(rel).collect::<Vec<_>>(), 8).collect::<Vec<_>>()
        }));
        style::legend(&mut chart, style::emptiest_corner(occupied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_axes_follow_the_spread() {
        // points spread along (1, 1, 0)/√2 (variance 2), a little along z, none along (1, −1, 0)
        let rows: Vec<Vec<f64>> = (-5..=5)
            .map(|k: i32| {
                let t = f64::from(k) / 5.0 * 2.0;
                vec![1.0 + t, 2.0 + t, 0.1 * f64::from(k.rem_euclid(2)) - 0.05]
            })
            .collect();
        let refs: Vec<&[f64]> = rows.iter().map(Vec::as_slice).collect();
        let p = Projection::principal(&refs, 3).unwrap();
        let s = 0.5f64.sqrt();
        for (a, b) in p.axes[0].iter().zip([s, s, 0.0]) {
            assert!((a - b).abs() < 1e-9, "{:?}", p.axes[0]);
        }
        assert!(p.axes[1][2].abs() > 0.99, "{:?}", p.axes[1]);
        let [a, b] = p.explained.unwrap();
        assert!(a > 0.99 && b > 0.0 && a + b <= 1.0 + 1e-12);
        // the mean maps to the origin; a step along PC1 maps to (step, 0)
        let (u, v) = p.apply(&p.mean.clone());
        assert!(u.abs() < 1e-12 && v.abs() < 1e-12);
        let (u, v) = p.apply(&[p.mean[0] + s, p.mean[1] + s, p.mean[2]]);
        assert!((u - 1.0).abs() < 1e-9 && v.abs() < 1e-9);
    }

    #[test]
    fn rejects_bad_input_by_name() {
        let path = |nodes| GeodesicPath::new("g", nodes);
        let err = GeodesicPlot::new(None, vec![])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty paths"), "{err}");
        let err = GeodesicPlot::new(None, vec![path(vec![vec![1.0]])])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("at least 2 coordinates"), "{err}");
        let err = GeodesicPlot::new(None, vec![path(vec![])])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("path `g` has no nodes"), "{err}");
        let nodes = vec![vec![0.0, 0.0, 0.0], vec![1.0, f64::NAN, 0.0]];
        let err = GeodesicPlot::new(None, vec![path(nodes)])
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("coordinate 2 of node 2 of path `g` is NaN"),
            "{err}"
        );
        let data = Dataset::from_rows(&[vec![0.0, 0.0], vec![1.0, 1.0]]).unwrap();
        let err = GeodesicPlot::new(Some(data), vec![path(vec![vec![0.0, 0.0, 0.0]])])
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("node 1 of path `g`") && err.contains("expects 2, found 3"),
            "{err}"
        );
    }
}

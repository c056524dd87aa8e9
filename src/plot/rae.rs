//! Figures of the Riemannian autoencoder (Diepeveen, Batzolis, Shumaylov & Schönlieb 2024, §4):
//! the sorted base variances of a flow with the d_ε cut, and the reconstruction error against
//! the number of kept latent coordinates.

use super::style::{self, dr, fmt_num, fmt_pow10, LogAxis, GREY, PALETTE};
use super::{Figure, DEFAULT_SIZE};
use crate::error::{Error, Result};
use crate::geometry::rae_dim;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// One labelled sequence of positive values against an integer index.
#[derive(Clone, Debug, PartialEq)]
pub struct RaeSeries {
    /// Legend text (e.g. `hemisphere (5, 20)`).
    pub label: String,
    /// The values, one per index.
    pub values: Vec<f64>,
}

impl RaeSeries {
    /// A labelled series.
    pub fn new(label: impl Into<String>, values: Vec<f64>) -> Self {
        Self {
            label: label.into(),
            values,
        }
    }
}

/// The variance profile of one or more flows, in two panels: left, the base variances sorted
/// descending, a₍₁₎ ≥ … ≥ a₍D₎, on a log axis against the rank i; right, the tail share
/// T(k) = Σ_{i>k} a₍ᵢ₎ / Σ a against k on a log axis, with the tolerance ε as a horizontal line.
/// d_ε = min{k : T(k) ≤ ε} is where a tail curve first reaches the line; it is marked in both
/// panels (a dashed cut after rank d_ε, a ring on the tail curve).
#[derive(Clone, Debug, PartialEq)]
pub struct VarianceProfilePlot {
    /// The variances of each flow (positive and finite, any order: they are sorted here).
    pub profiles: Vec<RaeSeries>,
    /// The tolerance ε in (0, 1).
    pub epsilon: f64,
    /// The title; `None` gives "Variance profile of the latent coordinates".
    pub title: Option<String>,
    /// Canvas size in pixels.
    pub size: (u32, u32),
}

impl VarianceProfilePlot {
    /// A profile figure at tolerance ε with the default title and a 1200×560 canvas.
    pub fn new(profiles: Vec<RaeSeries>, epsilon: f64) -> Self {
        Self {
            profiles,
            epsilon,
            title: None,
            size: (1200, 560),
        }
    }

    fn check(&self) -> Result<()> {
        if self.profiles.is_empty() {
            return Err(Error::InvalidData(
                "no variance profiles to plot (empty profiles)".into(),
            ));
        }
        if !(self.epsilon > 0.0 && self.epsilon < 1.0) {
            return Err(Error::param(
                "epsilon",
                format!(
                    "need 0 < ε < 1 to draw it on a log axis, got {}",
                    self.epsilon
                ),
            ));
        }
        for p in &self.profiles {
            if p.values.is_empty() {
                return Err(Error::InvalidData(format!(
                    "profile `{}` has no variances",
                    p.label
                )));
            }
            if let Some(i) = p.values.iter().position(|v| !(v.is_finite() && *v > 0.0)) {
                return Err(Error::InvalidData(format!(
                    "variance {} of profile `{}` is {}; variances must be positive and finite",
                    i + 1,
                    p.label,
                    p.values[i]
                )));
            }
        }
        Ok(())
    }
}

/// A profile sorted descending, its tail shares T(0..D−1) and d_ε.
struct Sorted {
    variances: Vec<f64>,
    tails: Vec<f64>,
    cut: usize,
}

fn sort_profile(values: &[f64], epsilon: f64) -> Result<Sorted> {
    let mut variances = values.to_vec();
    variances.sort_by(|a, b| b.total_cmp(a));
    let total: f64 = variances.iter().sum();
    // T(k) = Σ_{i>k} a₍ᵢ₎ (1-based ranks) is the suffix sum from 0-based index k, summed from
    // the smallest variance up for accuracy
    let mut tails = vec![0.0; variances.len()];
    let mut acc = 0.0;
    for k in (0..variances.len()).rev() {
        acc += variances[k];
        tails[k] = acc / total;
    }
    let cut = rae_dim(values, epsilon)?;
    Ok(Sorted {
        variances,
        tails,
        cut,
    })
}

impl Figure for VarianceProfilePlot {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        self.check()?;
        let eps = self.epsilon;
        let sorted = self
            .profiles
            .iter()
            .map(|p| sort_profile(&p.values, eps))
            .collect::<Result<Vec<_>>>()?;
        let title = self
            .title
            .as_deref()
            .unwrap_or("Variance profile of the latent coordinates");
        let d_max = sorted.iter().map(|s| s.variances.len()).max().unwrap_or(1);
        let subtitle = format!(
            "ε = {} · D = {d_max} · d_ε = min{{k : tail share ≤ ε}}, dashed after rank d_ε",
            fmt_num(eps)
        );
        let body = style::header(area, title, &subtitle)?;
        let (w, _) = body.dim_in_pixel();
        let (left, right) = body.split_horizontally(w / 2);
        let (x_lo, x_hi) = (0.5, d_max as f64 + 0.5);

        // left: sorted variances
        let v_min = sorted
            .iter()
            .flat_map(|s| s.variances.iter().copied())
            .fold(f64::INFINITY, f64::min);
        let v_max = sorted
            .iter()
            .flat_map(|s| s.variances.iter().copied())
            .fold(0.0, f64::max);
        let y = LogAxis::covering(v_min / 1.5, v_max * 1.5, 10);
        let mut chart = style::frame(&left)
            .build_cartesian_2d(
                style::ticked(
                    x_lo..x_hi,
                    style::integer_ticks(1.0, d_max as f64, 10),
                    vec![],
                ),
                style::ticked((y.lo..y.hi).log_scale(), y.bold.clone(), y.light.clone()),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        style::style_mesh(&mut mesh, "rank i", "variance a₍ᵢ₎ (log scale)");
        mesh.x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_pow10(*v))
            .draw()
            .map_err(dr)?;
        for (k, (p, s)) in self.profiles.iter().zip(&sorted).enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let line = colour.stroke_width(2);
            let points: Vec<(f64, f64)> = s
                .variances
                .iter()
                .enumerate()
                .map(|(i, &v)| ((i + 1) as f64, v))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), line))
                .map_err(dr)?
                .label(format!("{} (d_ε = {})", p.label, s.cut))
                .legend(style::line_key(line));
            chart
                .draw_series(points.iter().map(|&pt| Circle::new(pt, 4, colour.filled())))
                .map_err(dr)?;
            if s.cut < s.variances.len() {
                let x = s.cut as f64 + 0.5;
                chart
                    .draw_series(DashedLineSeries::new(
                        [(x, y.lo), (x, y.hi)],
                        8,
                        5,
                        colour.stroke_width(2),
                    ))
                    .map_err(dr)?;
            }
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperRight)?;

        // right: tail shares with the tolerance
        let t_min = sorted
            .iter()
            .flat_map(|s| s.tails.iter().copied())
            .fold(eps, f64::min);
        let t = LogAxis::covering(t_min / 1.5, 1.5, 10);
        let mut chart = style::frame(&right)
            .build_cartesian_2d(
                style::ticked(
                    -0.5..(d_max as f64 - 0.5),
                    style::integer_ticks(0.0, d_max as f64 - 1.0, 10),
                    vec![],
                ),
                style::ticked((t.lo..t.hi).log_scale(), t.bold.clone(), t.light.clone()),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        style::style_mesh(
            &mut mesh,
            "kept coordinates k",
            "tail share Σ_{i>k} a₍ᵢ₎ / Σ a (log scale)",
        );
        mesh.x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_pow10(*v))
            .draw()
            .map_err(dr)?;
        let dashed = GREY.stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                [(-0.5, eps), (d_max as f64 - 0.5, eps)],
                8,
                5,
                dashed,
            ))
            .map_err(dr)?
            .label(format!("ε = {}", fmt_num(eps)))
            .legend(style::dashed_key(dashed));
        let mut labelled = Vec::new();
        for (k, (p, s)) in self.profiles.iter().zip(&sorted).enumerate() {
            let colour = PALETTE[k % PALETTE.len()];
            let line = colour.stroke_width(2);
            let points: Vec<(f64, f64)> = s
                .tails
                .iter()
                .enumerate()
                .map(|(k, &v)| (k as f64, v))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), line))
                .map_err(dr)?
                .label(p.label.clone())
                .legend(style::line_key(line));
            chart
                .draw_series(points.iter().map(|&pt| Circle::new(pt, 3, colour.filled())))
                .map_err(dr)?;
            if let Some(&at) = points.get(s.cut) {
                let ring = EmptyElement::at(at) + Circle::new((0, 0), 8, colour.stroke_width(2));
                chart.draw_series(std::iter::once(ring)).map_err(dr)?;
                // profiles cut at the same k share one label instead of overprinting it
                if !labelled.contains(&s.cut) {
                    labelled.push(s.cut);
                    let text = EmptyElement::at(at)
                        + Text::new(
                            format!("d_ε = {}", s.cut),
                            (10, 6),
                            style::note(colour, HPos::Left, VPos::Top),
                        );
                    chart.draw_series(std::iter::once(text)).map_err(dr)?;
                }
            }
        }
        style::legend(&mut chart, SeriesLabelPosition::UpperRight)
    }
}

/// A labelled vertical line at an index k (e.g. d_ε, or the true intrinsic dimension).
#[derive(Clone, Debug, PartialEq)]
pub struct KMark {
    /// The index.
    pub k: usize,
    /// Legend text.
    pub label: String,
}

/// Reconstruction error against the number k of kept latent coordinates, one curve per series
/// (`values[j]` at k = `first_k` + j), on a log axis, with optional vertical marks. Zero errors
/// (exact reconstruction) are drawn at a floor, max(smallest positive value, 10⁻¹² · largest),
/// so the log axis never breaks.
#[derive(Clone, Debug, PartialEq)]
pub struct ReconstructionPlot {
    /// The error curves (finite, non-negative values; at least one positive overall).
    pub curves: Vec<RaeSeries>,
    /// The k of the first value of every curve.
    pub first_k: usize,
    /// Vertical marks.
    pub marks: Vec<KMark>,
    /// The y-axis description (what the error is, e.g. `RMSE of decode(encode(x))`).
    pub error_name: String,
    /// The title; `None` gives "Reconstruction error against latent dimension".
    pub title: Option<String>,
    /// Canvas size in pixels.
    pub size: (u32, u32),
}

impl ReconstructionPlot {
    /// Curves starting at k = `first_k`, without marks, with the default title and size.
    pub fn new(curves: Vec<RaeSeries>, first_k: usize, error_name: impl Into<String>) -> Self {
        Self {
            curves,
            first_k,
            marks: Vec::new(),
            error_name: error_name.into(),
            title: None,
            size: DEFAULT_SIZE,
        }
    }

    fn check(&self) -> Result<()> {
        if self.curves.is_empty() {
            return Err(Error::InvalidData(
                "no reconstruction-error curves to plot (empty curves)".into(),
            ));
        }
        for c in &self.curves {
            if c.values.is_empty() {
                return Err(Error::InvalidData(format!(
                    "curve `{}` has no values",
                    c.label
                )));
            }
            if let Some(i) = c.values.iter().position(|v| !(v.is_finite() && *v >= 0.0)) {
                return Err(Error::InvalidData(format!(
                    "error at k = {} of curve `{}` is {}; errors must be finite and non-negative",
                    self.first_k + i,
                    c.label,
                    c.values[i]
                )));
            }
        }
        if self
            .curves
            .iter()
            .flat_map(|c| &c.values)
            .all(|v| *v == 0.0)
        {
            return Err(Error::InvalidData(
                "every error is zero: there is no curve to show on a log axis".into(),
            ));
        }
        Ok(())
    }
}

impl Figure for ReconstructionPlot {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        self.check()?;
        let values = || self.curves.iter().flat_map(|c| c.values.iter().copied());
        let max = values().fold(0.0, f64::max);
        let floor = values()
            .filter(|v| *v > 0.0)
            .fold(f64::INFINITY, f64::min)
            .max(max * 1e-12);
        let title = self
            .title
            .as_deref()
            .unwrap_or("Reconstruction error against latent dimension");
        let mut facts = vec![format!(
            "{} curve{}",
            self.curves.len(),
            if self.curves.len() == 1 { "" } else { "s" }
        )];
        facts.extend(
            self.marks
                .iter()
                .map(|m| format!("{} at k = {}", m.label, m.k)),
        );
        let body = style::header(area, title, &facts.join(" · "))?;

        let last_k = self
            .curves
            .iter()
            .map(|c| self.first_k + c.values.len() - 1)
            .chain(self.marks.iter().map(|m| m.k))
            .max()
            .unwrap_or(self.first_k);
        let first_k = self
            .marks
            .iter()
            .map(|m| m.k)
            .fold(self.first_k, usize::min);
        let (x_lo, x_hi) = (first_k as f64 - 0.5, last_k as f64 + 0.5);
        let y = LogAxis::covering(floor / 1.5, max * 1.5, 10);
        let mut chart = style::frame(&body)
            .build_cartesian_2d(
                style::ticked(
                    x_lo..x_hi,
                    style::integer_ticks(first_k as f64, last_k as f64, 12),
                    vec![],
                ),
                style::ticked((y.lo..y.hi).log_scale(), y.bold.clone(), y.light.clone()),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        style::style_mesh(
            &mut mesh,
            "kept latent coordinates k",
            &format!("{} (log scale)", self.error_name),
        );
        mesh.x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_pow10(*v))
            .draw()
            .map_err(dr)?;
        for (i, m) in self.marks.iter().enumerate() {
            let style = GREY.mix(0.9).stroke_width(2);
            let x = m.k as f64;
            let series =
                DashedLineSeries::new([(x, y.lo), (x, y.hi)], 3 + 5 * (i as u32 % 2), 4, style);
            chart
                .draw_series(series)
                .map_err(dr)?
                .label(format!("{} (k = {})", m.label, m.k))
                .legend(style::dashed_key(style));
        }
        let mut rel = Vec::new();
        let (ly_lo, ly_hi) = (y.lo.ln(), y.hi.ln());
        for (i, c) in self.curves.iter().enumerate() {
            let colour = PALETTE[i % PALETTE.len()];
            let line = colour.stroke_width(2);
            let points: Vec<(f64, f64)> = c
                .values
                .iter()
                .enumerate()
                .map(|(j, &v)| ((self.first_k + j) as f64, v.max(floor)))
                .collect();
            rel.push(
                points
                    .iter()
                    .map(|&(x, v)| {
                        (
                            (x - x_lo) / (x_hi - x_lo),
                            (v.ln() - ly_lo) / (ly_hi - ly_lo),
                        )
                    })
                    .collect::<Vec<_>>(),
            );
            chart
                .draw_series(LineSeries::new(points.clone(), line))
                .map_err(dr)?
                .label(c.label.clone())
                .legend(style::line_key(line));
            chart
                .draw_series(points.iter().map(|&pt| Circle::new(pt, 4, colour.filled())))
                .map_err(dr)?;
        }
        let legend_at = style::emptiest_corner(rel.iter().flat_map(|l| style::densify(l, 8)));
        style::legend(&mut chart, legend_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tails_follow_the_rae_definition() {
        // a = (4, 1, 0.5, 0.25, 0.25), total 6: T(k) = 1, 2/6, 1/6, 0.5/6, 0.25/6
        let s = sort_profile(&[0.25, 1.0, 4.0, 0.5, 0.25], 0.05).unwrap();
        assert_eq!(s.variances, vec![4.0, 1.0, 0.5, 0.25, 0.25]);
        let want = [1.0, 2.0 / 6.0, 1.0 / 6.0, 0.5 / 6.0, 0.25 / 6.0];
        for (t, w) in s.tails.iter().zip(want) {
            assert!((t - w).abs() < 1e-15, "{:?}", s.tails);
        }
        // d_ε = least k with T(k) ≤ ε: T(4) = 0.0417 ≤ 0.05 < T(3)
        assert_eq!(s.cut, 4);
        assert_eq!(s.cut, rae_dim(&[0.25, 1.0, 4.0, 0.5, 0.25], 0.05).unwrap());
    }

    #[test]
    fn figures_render_and_name_their_content() {
        let fig = VarianceProfilePlot::new(
            vec![
                RaeSeries::new("flow A", vec![1.0, 0.5, 1e-4]),
                RaeSeries::new("flow B", vec![2.0, 1e-3, 1e-3]),
            ],
            0.05,
        );
        let svg = fig.to_svg().unwrap();
        assert!(svg.contains("flow A (d_ε = 2)") && svg.contains("flow B (d_ε = 1)"));
        let mut rec = ReconstructionPlot::new(
            vec![RaeSeries::new("held-out RMSE", vec![0.7, 0.3, 0.01, 0.0])],
            0,
            "RMSE",
        );
        rec.marks.push(KMark {
            k: 2,
            label: "d_ε".into(),
        });
        let svg = rec.to_svg().unwrap();
        assert!(svg.contains("d_ε at k = 2") && svg.contains("held-out RMSE"));
    }

    #[test]
    fn rejects_bad_input_by_name() {
        let bad = |values: Vec<f64>, eps: f64| {
            VarianceProfilePlot::new(vec![RaeSeries::new("p", values)], eps)
                .check()
                .unwrap_err()
                .to_string()
        };
        assert!(bad(vec![1.0, 0.0], 0.05).contains("variance 2 of profile `p` is 0"));
        assert!(bad(vec![1.0], 0.0).contains("0 < ε < 1"));
        assert!(bad(vec![], 0.1).contains("no variances"));
        let empty = VarianceProfilePlot::new(vec![], 0.1).check().unwrap_err();
        assert!(empty.to_string().contains("empty profiles"));
        let rec = |values: Vec<f64>| {
            ReconstructionPlot::new(vec![RaeSeries::new("c", values)], 1, "RMSE")
                .check()
                .unwrap_err()
                .to_string()
        };
        assert!(rec(vec![0.5, f64::NAN]).contains("k = 2 of curve `c` is NaN"));
        assert!(rec(vec![0.0, 0.0]).contains("every error is zero"));
        assert!(rec(vec![]).contains("no values"));
    }
}

//! Singular-value spectra of stacked scores (normal-bundle estimator, Stanczuk, Batzolis et al.,
//! ICML 2024): sᵢ on a log axis against i = 1..D, the cut after n̂ marked.

use super::style::{self, dr, fmt_num, fmt_pow10, LogAxis, BLUE, DARK_BLUE, GREY, VERMILLION};
use super::{Figure, DEFAULT_SIZE};
use crate::error::{Error, Result};
use crate::id::IdEstimate;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// At most this many per-point spectra are drawn (an evenly spaced subset).
const MAX_FAINT_SPECTRA: usize = 200;

/// Singular-value spectra of many points: each faint, the median bold inside its inter-quartile
/// band, the cut between n̂ and n̂ + 1 marked, D, the estimated ID and the read-off rule named.
///
/// At most 200 per-point spectra are drawn (an evenly spaced subset); the median and the band
/// use all of them. Zero (or tiny) singular values are drawn at a floor, max(smallest positive value,
/// 10⁻¹² · largest value), shown as a dotted line, so the log axis never breaks.
#[derive(Clone, Debug, PartialEq)]
pub struct SpectrumPlot {
    /// One descending spectrum s₁ ≥ … ≥ s_D per point; all of length `ambient_dim`.
    pub spectra: Vec<Vec<f64>>,
    /// The chosen normal dimension n̂ (the cut lies between indices n̂ and n̂ + 1), if any.
    pub normal_dim: Option<usize>,
    /// The ambient dimension D.
    pub ambient_dim: usize,
    /// The estimated intrinsic dimension (annotated as given, e.g. a mean of local IDs).
    pub estimated_id: f64,
    /// The read-off rule, as the user knows it (e.g. `max-gap`, `threshold:0.1`).
    pub rule: String,
    /// The title; `None` gives "Singular-value spectra of the score".
    pub title: Option<String>,
    /// Canvas size in pixels.
    pub size: (u32, u32),
}

impl SpectrumPlot {
    /// A spectrum figure with the default title and size.
    pub fn new(
        spectra: Vec<Vec<f64>>,
        normal_dim: Option<usize>,
        ambient_dim: usize,
        estimated_id: f64,
        rule: impl Into<String>,
    ) -> Self {
        Self {
            spectra,
            normal_dim,
            ambient_dim,
            estimated_id,
            rule: rule.into(),
            title: None,
            size: DEFAULT_SIZE,
        }
    }

    /// The spectra kept by a spectral estimator (`nb`, `jacobian`), cut at the most common
    /// per-point n̂ (ties: the smaller), annotated with the global ID and the recorded rule.
    ///
    /// Fails when the estimate carries no spectra (classic methods, or spectra not kept).
    pub fn from_estimate(estimate: &IdEstimate) -> Result<Self> {
        let d = estimate.ambient_dim();
        let points = estimate.points();
        // an adaptive normal bundle read points at different K: its values scale as √(K − 1)
        // (like the reference r), so each spectrum is drawn as at the largest K
        let scale_of = |p: &crate::id::LocalEstimate| p.readoff.as_ref().and_then(|r| r.samples);
        let k_max = points.iter().filter_map(scale_of).max();
        let spectra: Vec<Vec<f64>> = points
            .iter()
            .filter_map(|p| {
                let s = p.spectrum.as_ref()?;
                let factor = match (scale_of(p), k_max) {
                    (Some(k), Some(top)) if k > 1 && k < top => {
                        ((top - 1) as f64 / (k - 1) as f64).sqrt()
                    }
                    _ => 1.0,
                };
                Some(s.iter().map(|v| v * factor).collect())
            })
            .collect();
        if spectra.is_empty() {
            return Err(Error::InvalidData(format!(
                "the `{}` estimate carries no singular-value spectra to plot",
                estimate.method()
            )));
        }
        // n̂ from each point's read-off, else D − local ID
        let cuts = points.iter().filter(|p| p.spectrum.is_some()).map(|p| {
            p.readoff.as_ref().map_or_else(
                || (d as f64 - p.local_id).round().clamp(0.0, d as f64) as usize,
                |r| r.normal_dim,
            )
        });
        let mut counts = vec![0usize; d + 1];
        for n in cuts {
            counts[n.min(d)] += 1;
        }
        let mode = (0..=d).max_by_key(|&n| (counts[n], std::cmp::Reverse(n)));
        let rule = estimate
            .settings()
            .rule()
            .map_or_else(|| "not recorded".into(), |r| r.to_string());
        Ok(Self::new(spectra, mode, d, estimate.global_id(), rule))
    }

    fn check(&self) -> Result<()> {
        let d = self.ambient_dim;
        if d == 0 {
            return Err(Error::param(
                "ambient_dim",
                "the ambient dimension must be at least 1",
            ));
        }
        if self.spectra.is_empty() {
            return Err(Error::InvalidData(
                "no singular-value spectra to plot (empty spectra)".into(),
            ));
        }
        for (p, s) in self.spectra.iter().enumerate() {
            if s.len() != d {
                return Err(Error::DimensionMismatch {
                    context: format!("singular-value spectrum of point {}", p + 1),
                    expected: d,
                    found: s.len(),
                });
            }
            if let Some(i) = s.iter().position(|v| !v.is_finite() || *v < 0.0) {
                return Err(Error::InvalidData(format!(
                    "singular value {} of point {} is {}; singular values must be finite and non-negative",
                    i + 1,
                    p + 1,
                    s[i]
                )));
            }
        }
        if let Some(n) = self.normal_dim.filter(|&n| n > d) {
            return Err(Error::param(
                "normal_dim",
                format!("n̂ = {n} exceeds the ambient dimension {d}"),
            ));
        }
        if !self.estimated_id.is_finite() {
            return Err(Error::param(
                "estimated_id",
                format!("the estimated ID is {}", self.estimated_id),
            ));
        }
        if self.spectra.iter().flatten().all(|v| *v == 0.0) {
            return Err(Error::InvalidData(
                "every singular value is zero: there is no spectrum to show on a log axis".into(),
            ));
        }
        Ok(())
    }
}

/// Per-index summaries of the spectra after flooring.
struct Summary {
    floor: f64,
    floored: usize,
    max: f64,
    q25: Vec<f64>,
    median: Vec<f64>,
    q75: Vec<f64>,
}

fn summarise(spectra: &[Vec<f64>], d: usize) -> Summary {
    let values = spectra.iter().flatten().copied();
    let max = values.clone().fold(0.0, f64::max);
    let min_pos = values
        .clone()
        .filter(|v| *v > 0.0)
        .fold(f64::INFINITY, f64::min);
    let floor = min_pos.max(max * 1e-12);
    let floored = values.filter(|v| *v < floor).count();
    let (mut q25, mut median, mut q75) = (
        Vec::with_capacity(d),
        Vec::with_capacity(d),
        Vec::with_capacity(d),
    );
    let mut column = Vec::with_capacity(spectra.len());
    for i in 0..d {
        column.clear();
        column.extend(spectra.iter().map(|s| s[i].max(floor)));
        column.sort_by(f64::total_cmp);
        q25.push(style::quantile(&column, 0.25));
        median.push(style::quantile(&column, 0.5));
        q75.push(style::quantile(&column, 0.75));
    }
    Summary {
        floor,
        floored,
        max,
        q25,
        median,
        q75,
    }
}

impl Figure for SpectrumPlot {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        self.check()?;
        let d = self.ambient_dim;
        let n = self.spectra.len();
        let sum = summarise(&self.spectra, d);
        let title = self
            .title
            .as_deref()
            .unwrap_or("Singular-value spectra of the score");
        let subtitle = format!(
            "{n} point{} · ambient D = {d} · estimated ID = {} · rule: {}",
            if n == 1 { "" } else { "s" },
            fmt_num(self.estimated_id),
            self.rule
        );
        let body = style::header(area, title, &subtitle)?;

        let y = LogAxis::covering(sum.floor / 1.5, sum.max * 1.5, 12);
        let (x_lo, x_hi) = (0.5, d as f64 + 0.5);
        let mut chart = style::frame(&body)
            .build_cartesian_2d(
                style::ticked(x_lo..x_hi, style::integer_ticks(1.0, d as f64, 12), vec![]),
                style::ticked((y.lo..y.hi).log_scale(), y.bold.clone(), y.light.clone()),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        style::style_mesh(
            &mut mesh,
            "index i of the singular value sᵢ",
            "singular value sᵢ (log scale)",
        );
        mesh.x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_pow10(*v))
            .draw()
            .map_err(dr)?;

        let at = |i: usize, v: f64| ((i + 1) as f64, v.max(sum.floor));
        if n > 1 {
            let faint = BLUE
                .mix(style::faint_alpha(n.min(MAX_FAINT_SPECTRA)))
                .stroke_width(1);
            for (k, p) in style::thinned(n, MAX_FAINT_SPECTRA).enumerate() {
                let series = LineSeries::new(
                    self.spectra[p].iter().enumerate().map(|(i, &v)| at(i, v)),
                    faint,
                );
                let anno = chart.draw_series(series).map_err(dr)?;
                if k == 0 {
                    anno.label("per-point spectra")
                        .legend(style::line_key(BLUE.mix(0.5).stroke_width(1)));
                }
            }
            let band: Vec<(f64, f64)> = (0..d)
                .map(|i| at(i, sum.q25[i]))
                .chain((0..d).rev().map(|i| at(i, sum.q75[i])))
                .collect();
            let fill = BLUE.mix(0.25).filled();
            chart
                .draw_series(std::iter::once(Polygon::new(band, fill)))
                .map_err(dr)?
                .label("inter-quartile range")
                .legend(style::patch_key(fill));
        }
        let bold = DARK_BLUE.stroke_width(3);
        chart
            .draw_series(LineSeries::new((0..d).map(|i| at(i, sum.median[i])), bold))
            .map_err(dr)?
            .label(if n == 1 {
                "spectrum".to_string()
            } else {
                format!("median of {n} spectra")
            })
            .legend(style::line_key(bold));
        if d <= 60 {
            chart
                .draw_series(
                    (0..d).map(|i| Circle::new(at(i, sum.median[i]), 4, DARK_BLUE.filled())),
                )
                .map_err(dr)?;
        }
        if sum.floored > 0 {
            let dotted = GREY.stroke_width(1);
            chart
                .draw_series(DashedLineSeries::new(
                    [(x_lo, sum.floor), (x_hi, sum.floor)],
                    2,
                    4,
                    dotted,
                ))
                .map_err(dr)?
                .label(format!(
                    "floor {} ({} smaller values drawn on it)",
                    fmt_pow10(sum.floor),
                    sum.floored
                ))
                .legend(style::dashed_key(dotted));
        }
        if let Some(cut) = self.normal_dim {
            let x = cut as f64 + 0.5;
            let dashed = VERMILLION.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new([(x, y.lo), (x, y.hi)], 8, 5, dashed))
                .map_err(dr)?
                .label(format!(
                    "cut after i = {cut}: {cut} normal, {} tangent directions",
                    d - cut
                ))
                .legend(style::dashed_key(dashed));
            // labels sit where the spectrum leaves room: below the normal values left of the
            // cut, above the tangent values right of it, at the middle of the gap; a label that
            // does not fit on its side moves across the line, pointing back with an arrow
            let upper = if cut > 0 {
                sum.median[cut - 1]
            } else {
                sum.median[0]
            };
            let lower = if cut < d { sum.median[cut] } else { sum.floor };
            let anchor = (x, (upper * lower).sqrt());
            let width = f64::from(chart.plotting_area().dim_in_pixel().0);
            let line_px = (x - x_lo) / (x_hi - x_lo) * width;
            let text_width = |s: &str, h: HPos, v: VPos| -> Result<f64> {
                let (w, _) = chart
                    .plotting_area()
                    .estimate_text_size(s, &style::note(VERMILLION, h, v))
                    .map_err(dr)?;
                Ok(f64::from(w) + 10.0)
            };
            let mut labels = Vec::new();
            if cut > 0 {
                let text = format!("{cut} normal");
                if text_width(&text, HPos::Right, VPos::Top)? <= line_px {
                    labels.push((text, (-10, 6), HPos::Right, VPos::Top));
                } else {
                    labels.push((format!("← {text}"), (10, 6), HPos::Left, VPos::Top));
                }
            }
            if cut < d {
                let text = format!("{} tangent", d - cut);
                if text_width(&text, HPos::Left, VPos::Bottom)? <= width - line_px {
                    labels.push((text, (10, -6), HPos::Left, VPos::Bottom));
                } else {
                    labels.push((format!("{text} →"), (-10, -6), HPos::Right, VPos::Bottom));
                }
            }
            for (text, offset, h, v) in labels {
                let label = EmptyElement::at(anchor)
                    + Text::new(text, offset, style::note(VERMILLION, h, v));
                chart.draw_series(std::iter::once(label)).map_err(dr)?;
            }
        }
        // the legend goes to the emptiest corner of the (log-scaled) spectra
        let (ly_lo, ly_hi) = (y.lo.ln(), y.hi.ln());
        let rel = |i: usize, v: f64| {
            let (px, py) = at(i, v);
            (
                (px - x_lo) / (x_hi - x_lo),
                (py.ln() - ly_lo) / (ly_hi - ly_lo),
            )
        };
        let lines = [&sum.q25, &sum.median, &sum.q75]
            .into_iter()
            .chain(style::thinned(n, 50).map(|p| &self.spectra[p]))
            .map(|s| {
                s.iter()
                    .enumerate()
                    .map(|(i, &v)| rel(i, v))
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>();
        let legend_at = style::emptiest_corner(lines.iter().flat_map(|l| style::densify(l, 8)));
        style::legend(&mut chart, legend_at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plot(spectra: Vec<Vec<f64>>) -> SpectrumPlot {
        SpectrumPlot::new(spectra, Some(1), 3, 2.0, "max-gap")
    }

    #[test]
    fn summary_floors_zeros_and_takes_quartiles() {
        let s = vec![
            vec![4.0, 1.0, 0.0],
            vec![8.0, 2.0, 1e-3],
            vec![6.0, 3.0, 2e-3],
        ];
        let sum = summarise(&s, 3);
        assert_eq!(sum.floor, 1e-3);
        assert_eq!(sum.floored, 1);
        assert_eq!(sum.median, vec![6.0, 2.0, 1e-3]);
        assert_eq!(sum.q25, vec![5.0, 1.5, 1e-3]);
        assert_eq!(sum.q75, vec![7.0, 2.5, 1.5e-3]);
        // a tiny positive value does not drag the floor below 10⁻¹² of the largest
        let sum = summarise(&[vec![1.0, 1e-300]], 2);
        assert_eq!(sum.floor, 1e-12);
    }

    #[test]
    fn from_estimate_takes_the_most_common_cut() {
        use crate::id::ReadOff;
        use crate::id::{read_off, LocalEstimate, Method, MethodSettings, Rule, Settings};
        let point = |i: usize, n: usize, recorded: bool| LocalEstimate {
            spectrum: Some(vec![9.0, 8.0, 0.1]),
            readoff: recorded.then(|| ReadOff {
                normal_dim: n,
                intrinsic_dim: 3 - n,
                ..read_off(&[9.0, 8.0, 0.1], Rule::MaxGap, None, 0.1).unwrap()
            }),
            ..LocalEstimate::new(i, (3 - n) as f64)
        };
        let points = vec![
            point(0, 2, true),
            point(1, 1, true),
            point(2, 2, false),
            point(3, 1, false),
        ];
        let settings = Settings {
            options: Some(MethodSettings::Nb {
                samples: 64,
                adaptive: false,
                mean_samples: 64.0,
                rule: Rule::Ratio,
                normal_floor: 0.1,
                centred: true,
            }),
            ..Settings::default()
        };
        let est = IdEstimate::new(Method::Nb, 3, 1.5, points, settings);
        let fig = SpectrumPlot::from_estimate(&est).unwrap();
        // n̂ = 1 and n̂ = 2 tie: the smaller wins
        assert_eq!(
            (fig.normal_dim, fig.spectra.len(), fig.ambient_dim),
            (Some(1), 4, 3)
        );
        assert_eq!((fig.estimated_id, fig.rule.as_str()), (1.5, "ratio"));
        let classic = IdEstimate::new(Method::Mle, 3, 1.5, vec![], Settings::default());
        let err = SpectrumPlot::from_estimate(&classic)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`mle` estimate carries no singular-value spectra"),
            "{err}"
        );
    }

    #[test]
    fn rejects_bad_input_by_name() {
        let err = plot(vec![]).check().unwrap_err().to_string();
        assert!(err.contains("empty spectra"), "{err}");
        let err = plot(vec![vec![3.0, f64::NAN, 1.0]])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("singular value 2 of point 1 is NaN"), "{err}");
        let err = plot(vec![vec![3.0, -1.0, 0.0]])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("non-negative"), "{err}");
        let err = plot(vec![vec![3.0, 2.0, 1.0], vec![1.0]])
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("point 2") && err.contains("expects 3, found 1"),
            "{err}"
        );
        let err = plot(vec![vec![0.0; 3]]).check().unwrap_err().to_string();
        assert!(err.contains("every singular value is zero"), "{err}");
        let mut p = plot(vec![vec![3.0, 2.0, 1.0]]);
        p.normal_dim = Some(4);
        assert!(p.check().unwrap_err().to_string().contains("normal_dim"));
        p.normal_dim = Some(3);
        p.estimated_id = f64::INFINITY;
        assert!(p.check().unwrap_err().to_string().contains("estimated_id"));
        p.estimated_id = 0.0;
        assert!(p.check().is_ok());
    }
}

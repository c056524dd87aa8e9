//! One bar per estimator (`id-estimate --method all`): the estimate, an optional interval and
//! run time, the true ID and the ambient dimension as reference lines.

use super::style::{self, dr, fmt_num, GREY, PALETTE, VERMILLION};
use super::{Figure, DEFAULT_SIZE};
use crate::error::{Error, Result};
use crate::id::IdEstimate;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// One estimator's result.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodResult {
    /// The estimator's name (`nb`, `jacobian`, `flipd`, `mle`, `twonn`, `lpca`, …).
    pub name: String,
    /// Its global ID estimate.
    pub estimate: f64,
    /// An interval drawn as an error bar (lower, upper), e.g. the inter-quartile range of the
    /// local IDs; what it means is named by [`MethodComparison::interval_label`].
    pub interval: Option<(f64, f64)>,
    /// Wall-clock time of the estimator in seconds, annotated above its bar.
    pub seconds: Option<f64>,
    /// The palette colour (an index, taken modulo the palette's 8 hues); `None` colours bars by
    /// position. Fixing it keeps one method's colour across panels that list different methods.
    pub colour: Option<usize>,
}

impl MethodResult {
    /// A result without interval or time.
    pub fn new(name: impl Into<String>, estimate: f64) -> Self {
        Self {
            name: name.into(),
            estimate,
            interval: None,
            seconds: None,
            colour: None,
        }
    }

    /// An estimator's global ID, with the inter-quartile range of its finite local IDs as the
    /// interval (when there are at least two); the time is left for the caller to fill in.
    pub fn from_estimate(estimate: &IdEstimate) -> Self {
        let mut ids: Vec<f64> = estimate
            .local_ids()
            .into_iter()
            .filter(|v| v.is_finite())
            .collect();
        ids.sort_by(f64::total_cmp);
        Self {
            interval: (ids.len() >= 2)
                .then(|| (style::quantile(&ids, 0.25), style::quantile(&ids, 0.75))),
            ..Self::new(estimate.method().name(), estimate.global_id())
        }
    }
}

/// A bar chart comparing estimators, with error bars, time annotations and the truth.
#[derive(Clone, Debug, PartialEq)]
pub struct MethodComparison {
    /// The results, drawn left to right in this order.
    pub methods: Vec<MethodResult>,
    /// The true ID, when known (a horizontal line).
    pub truth: Option<f64>,
    /// The ambient dimension D, when known (a grey line, drawn when it does not dwarf the bars).
    pub ambient_dim: Option<usize>,
    /// What the error bars show (legend text).
    pub interval_label: String,
    /// The title; `None` gives "Intrinsic-dimension estimates by method".
    pub title: Option<String>,
    /// Canvas size in pixels.
    pub size: (u32, u32),
}

impl MethodComparison {
    /// A comparison of `methods`, without reference lines, with the default title and size; the
    /// error bars are labelled "inter-quartile range of local IDs".
    pub fn new(methods: Vec<MethodResult>) -> Self {
        Self {
            methods,
            truth: None,
            ambient_dim: None,
            interval_label: "inter-quartile range of local IDs".into(),
            title: None,
            size: DEFAULT_SIZE,
        }
    }

    fn check(&self) -> Result<()> {
        if self.methods.is_empty() {
            return Err(Error::InvalidData(
                "no methods to compare (empty methods)".into(),
            ));
        }
        for m in &self.methods {
            if !m.estimate.is_finite() {
                return Err(Error::InvalidData(format!(
                    "the estimate of method `{}` is {}",
                    m.name, m.estimate
                )));
            }
            if let Some((lo, hi)) = m.interval {
                if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                    return Err(Error::InvalidData(format!(
                        "the interval of method `{}` is ({lo}, {hi}); need finite lower ≤ upper",
                        m.name
                    )));
                }
            }
            if let Some(s) = m.seconds.filter(|s| !(s.is_finite() && *s >= 0.0)) {
                return Err(Error::InvalidData(format!(
                    "the time of method `{}` is {s} s",
                    m.name
                )));
            }
        }
        match self.truth {
            Some(t) if !t.is_finite() => Err(Error::InvalidData(format!("the true ID is {t}"))),
            _ => Ok(()),
        }
    }
}

/// A duration in a short human form.
fn fmt_seconds(s: f64) -> String {
    if s < 1e-3 {
        format!("{} µs", fmt_num(s * 1e6))
    } else if s < 1.0 {
        format!("{} ms", fmt_num((s * 1e3 * 10.0).round() / 10.0))
    } else if s < 120.0 {
        format!("{} s", fmt_num((s * 100.0).round() / 100.0))
    } else {
        format!("{} min", fmt_num((s / 60.0 * 10.0).round() / 10.0))
    }
}

impl Figure for MethodComparison {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        self.check()?;
        let k = self.methods.len();
        let tops = self
            .methods
            .iter()
            .map(|m| m.interval.map_or(m.estimate, |(_, hi)| hi.max(m.estimate)));
        let bottoms = self
            .methods
            .iter()
            .map(|m| m.interval.map_or(m.estimate, |(lo, _)| lo.min(m.estimate)));
        let mut hi = tops.chain(self.truth).fold(0.0, f64::max);
        let lo = bottoms.chain(self.truth).fold(0.0, f64::min);
        // D is a useful reference unless it would squash the bars
        let show_d = self
            .ambient_dim
            .map(|d| d as f64)
            .filter(|&d| d <= 2.0 * hi.max(1.0));
        hi = hi.max(show_d.unwrap_or(0.0));
        let span = (hi - lo).max(1.0);
        let (y_lo, y_hi) = (
            if lo < 0.0 { lo - 0.08 * span } else { 0.0 },
            hi + 0.22 * span,
        );

        let title = self
            .title
            .as_deref()
            .unwrap_or("Intrinsic-dimension estimates by method");
        let mut facts = vec![format!("{k} method{}", if k == 1 { "" } else { "s" })];
        if let Some(d) = self.ambient_dim {
            facts.push(format!("ambient D = {d}"));
        }
        if let Some(t) = self.truth {
            facts.push(format!("true ID = {}", fmt_num(t)));
        }
        let body = style::header(area, title, &facts.join(" · "))?;

        let (x_lo, x_hi) = (-0.6, k as f64 - 0.4);
        let names: Vec<&str> = self.methods.iter().map(|m| m.name.as_str()).collect();
        let name_of = |v: &f64| {
            let i = v.round();
            if (v - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < k {
                names[i as usize].to_string()
            } else {
                String::new()
            }
        };
        let mut chart = style::frame(&body)
            .build_cartesian_2d(
                style::ticked(x_lo..x_hi, (0..k).map(|i| i as f64).collect(), vec![]),
                style::ticked(y_lo..y_hi, style::linear_ticks(y_lo, y_hi, 8), vec![]),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        style::style_mesh(&mut mesh, "method", "estimated intrinsic dimension");
        mesh.disable_x_mesh()
            .x_label_formatter(&name_of)
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()
            .map_err(dr)?;
        // data units per pixel, to place labels a fixed distance above the bars
        let px = (y_hi - y_lo) / f64::from(chart.plotting_area().dim_in_pixel().1.max(1));

        for (i, m) in self.methods.iter().enumerate() {
            let x = i as f64;
            let colour = PALETTE[m.colour.unwrap_or(i) % PALETTE.len()];
            chart
                .draw_series([
                    Rectangle::new(
                        [(x - 0.32, 0.0), (x + 0.32, m.estimate)],
                        colour.mix(0.75).filled(),
                    ),
                    Rectangle::new(
                        [(x - 0.32, 0.0), (x + 0.32, m.estimate)],
                        colour.stroke_width(2),
                    ),
                ])
                .map_err(dr)?;
        }
        let whisker = RGBColor(20, 20, 20).stroke_width(2);
        let mut labelled = false;
        for (i, (lo, hi)) in self
            .methods
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.interval.map(|iv| (i, iv)))
        {
            let x = i as f64;
            let anno = chart
                .draw_series([
                    PathElement::new(vec![(x, lo), (x, hi)], whisker),
                    PathElement::new(vec![(x - 0.1, lo), (x + 0.1, lo)], whisker),
                    PathElement::new(vec![(x - 0.1, hi), (x + 0.1, hi)], whisker),
                ])
                .map_err(dr)?;
            if !labelled {
                anno.label(self.interval_label.as_str())
                    .legend(style::line_key(whisker));
                labelled = true;
            }
        }
        for (i, m) in self.methods.iter().enumerate() {
            let x = i as f64;
            let top = m
                .interval
                .map_or(m.estimate, |(_, hi)| hi)
                .max(m.estimate)
                .max(0.0);
            let mut y = top + 6.0 * px;
            let value = Text::new(
                fmt_num(m.estimate),
                (x, y),
                style::note(RGBColor(0, 0, 0), HPos::Center, VPos::Bottom),
            );
            chart.draw_series(std::iter::once(value)).map_err(dr)?;
            if let Some(s) = m.seconds {
                y += 20.0 * px;
                let time = Text::new(
                    fmt_seconds(s),
                    (x, y),
                    style::note(GREY, HPos::Center, VPos::Bottom),
                );
                chart.draw_series(std::iter::once(time)).map_err(dr)?;
            }
        }
        if let Some(t) = self.truth {
            let s = VERMILLION.stroke_width(3);
            chart
                .draw_series(DashedLineSeries::new([(x_lo, t), (x_hi, t)], 10, 5, s))
                .map_err(dr)?
                .label(format!("true ID = {}", fmt_num(t)))
                .legend(style::dashed_key(s));
        }
        if let Some(d) = show_d {
            let s = GREY.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new([(x_lo, d), (x_hi, d)], 3, 4, s))
                .map_err(dr)?
                .label(format!("ambient D = {d}"))
                .legend(style::dashed_key(s));
        }
        let occupied = self.methods.iter().enumerate().flat_map(|(i, m)| {
            let u = (i as f64 - x_lo) / (x_hi - x_lo);
            let top = m.interval.map_or(m.estimate, |(_, hi)| hi).max(m.estimate) + 40.0 * px;
            let (a, b) = (
                (0.0f64.min(top) - y_lo) / (y_hi - y_lo),
                (0.0f64.max(top) - y_lo) / (y_hi - y_lo),
            );
            (0..=20).flat_map(move |j| {
                let v = a + (b - a) * j as f64 / 20.0;
                [(u - 0.1, v), (u, v), (u + 0.1, v)]
            })
        });
        style::legend(&mut chart, style::emptiest_corner(occupied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(fmt_seconds(0.000_25), "250 µs");
        assert_eq!(fmt_seconds(0.4123), "412.3 ms");
        assert_eq!(fmt_seconds(12.345), "12.35 s");
        assert_eq!(fmt_seconds(600.0), "10 min");
    }

    #[test]
    fn result_from_estimate_carries_the_quartiles() {
        use crate::id::LocalEstimate;
        let points = [1.0, 2.0, 2.0, 3.0, 7.0]
            .iter()
            .enumerate()
            .map(|(i, &l)| LocalEstimate::new(i, l))
            .collect();
        let est = IdEstimate::new(crate::id::Method::TwoNn, 9, 2.4, points, Default::default());
        let r = MethodResult::from_estimate(&est);
        assert_eq!(
            (r.name.as_str(), r.estimate, r.interval, r.seconds),
            ("twonn", 2.4, Some((2.0, 3.0)), None)
        );
        let none = IdEstimate::new(crate::id::Method::Mle, 9, 2.4, vec![], Default::default());
        assert_eq!(MethodResult::from_estimate(&none).interval, None);
    }

    #[test]
    fn rejects_bad_input_by_name() {
        let err = MethodComparison::new(vec![])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty methods"), "{err}");
        let err = MethodComparison::new(vec![MethodResult::new("mle", f64::NAN)])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("method `mle` is NaN"), "{err}");
        let mut m = MethodResult::new("twonn", 2.0);
        m.interval = Some((3.0, 1.0));
        let err = MethodComparison::new(vec![m.clone()])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("interval of method `twonn`"), "{err}");
        m.interval = Some((1.0, 3.0));
        m.seconds = Some(-1.0);
        let err = MethodComparison::new(vec![m])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("time of method `twonn`"), "{err}");
    }
}

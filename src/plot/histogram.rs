//! Histogram of local intrinsic-dimension estimates, with the true ID when it is known.

use super::style::{self, dr, fmt_num, BLUE, DARK_BLUE, VERMILLION};
use super::{Figure, DEFAULT_SIZE};
use crate::error::{Error, Result};
use crate::id::IdEstimate;
use plotters::chart::SeriesLabelPosition;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// The most unit bins a histogram draws; wider spreads are reported as an error.
const MAX_BINS: usize = 1000;

/// The true intrinsic dimension, from a dataset manifest or a generator.
#[derive(Clone, Debug, PartialEq)]
pub enum TrueId {
    /// One ID for the whole dataset (a vertical line).
    Global(f64),
    /// One ID per point, in the order of the local estimates (drawn as a histogram outline).
    PerPoint(Vec<f64>),
}

/// Histogram of local IDs in unit bins centred on the integers (real-valued estimates fall in
/// the bin of their nearest integer), with the mean estimate and the truth when known.
#[derive(Clone, Debug, PartialEq)]
pub struct IdHistogram {
    /// One local ID per point (integers or reals).
    pub local_ids: Vec<f64>,
    /// The true ID, when known.
    pub truth: Option<TrueId>,
    /// The estimator's name, shown in the legend (e.g. `nb`, `flipd`).
    pub method: Option<String>,
    /// The title; `None` gives "Local intrinsic-dimension estimates".
    pub title: Option<String>,
    /// Canvas size in pixels.
    pub size: (u32, u32),
}

impl IdHistogram {
    /// A histogram of `local_ids` without truth, with the default title and size.
    pub fn new(local_ids: Vec<f64>) -> Self {
        Self {
            local_ids,
            truth: None,
            method: None,
            title: None,
            size: DEFAULT_SIZE,
        }
    }

    /// The local IDs of an estimate, labelled with its method.
    pub fn from_estimate(estimate: &IdEstimate) -> Self {
        Self {
            method: Some(estimate.method().to_string()),
            ..Self::new(estimate.local_ids())
        }
    }

    fn check(&self) -> Result<()> {
        if self.local_ids.is_empty() {
            return Err(Error::InvalidData(
                "no local IDs to plot (empty local_ids)".into(),
            ));
        }
        style::check_finite(&self.local_ids, |i| format!("local ID of point {}", i + 1))?;
        match &self.truth {
            Some(TrueId::Global(t)) if !t.is_finite() => {
                Err(Error::InvalidData(format!("the true ID is {t}")))
            }
            Some(TrueId::PerPoint(t)) if t.len() != self.local_ids.len() => {
                Err(Error::DimensionMismatch {
                    context: "per-point true IDs (one per local ID)".into(),
                    expected: self.local_ids.len(),
                    found: t.len(),
                })
            }
            Some(TrueId::PerPoint(t)) => {
                style::check_finite(t, |i| format!("true ID of point {}", i + 1))
            }
            _ => Ok(()),
        }
    }

    fn truth_values(&self) -> &[f64] {
        match &self.truth {
            Some(TrueId::Global(t)) => std::slice::from_ref(t),
            Some(TrueId::PerPoint(t)) => t,
            None => &[],
        }
    }
}

/// Unit bins centred on the integers `first..first + counts.len()`.
#[derive(Debug, PartialEq)]
struct Bins {
    first: i64,
    counts: Vec<usize>,
}

impl Bins {
    /// Bins spanning every value in `span`, counting `values`.
    fn new(values: &[f64], span: &[f64]) -> Result<Self> {
        let lo = span.iter().fold(f64::INFINITY, |m, v| m.min(v.round()));
        let hi = span.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.round()));
        if lo < -1e9 || hi > 1e9 {
            return Err(Error::InvalidData(format!(
                "IDs from {lo} to {hi} lie outside ±10⁹, which no histogram of dimensions can show"
            )));
        }
        let width = hi - lo + 1.0;
        if width > MAX_BINS as f64 {
            return Err(Error::InvalidData(format!(
                "local IDs span {width} unit bins (from {lo} to {hi}); at most {MAX_BINS} can be drawn"
            )));
        }
        let first = lo as i64;
        let mut counts = vec![0; width as usize];
        for v in values {
            counts[(v.round() as i64 - first) as usize] += 1;
        }
        Ok(Self { first, counts })
    }

    fn last(&self) -> i64 {
        self.first + (self.counts.len() as i64 - 1)
    }

    fn max(&self) -> usize {
        self.counts.iter().copied().max().unwrap_or(0)
    }

    /// The outline of the bars as a closed step path.
    fn outline(&self) -> Vec<(f64, f64)> {
        let mut path = vec![(self.first as f64 - 0.5, 0.0)];
        for (j, &c) in self.counts.iter().enumerate() {
            let k = (self.first + j as i64) as f64;
            path.push((k - 0.5, c as f64));
            path.push((k + 0.5, c as f64));
        }
        path.push((self.last() as f64 + 0.5, 0.0));
        path
    }
}

impl Figure for IdHistogram {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        self.check()?;
        let ids = &self.local_ids;
        let n = ids.len();
        let truth = self.truth_values();
        let span: Vec<f64> = ids.iter().chain(truth).copied().collect();
        let bins = Bins::new(ids, &span)?;
        let true_bins = match &self.truth {
            Some(TrueId::PerPoint(t)) => Some(Bins::new(t, &span)?),
            _ => None,
        };
        let mean = crate::id::mean(ids);
        let median = crate::id::median(ids);

        let title = self
            .title
            .as_deref()
            .unwrap_or("Local intrinsic-dimension estimates");
        let mut subtitle = format!(
            "{n} point{} · mean {} · median {}",
            if n == 1 { "" } else { "s" },
            fmt_num(mean),
            fmt_num(median)
        );
        match &self.truth {
            Some(TrueId::Global(t)) => subtitle += &format!(" · true ID {}", fmt_num(*t)),
            Some(TrueId::PerPoint(t)) => {
                subtitle += &format!(
                    " · true ID per point (mean {})",
                    fmt_num(crate::id::mean(t))
                )
            }
            None => {}
        }
        let body = style::header(area, title, &subtitle)?;

        let top = bins.max().max(true_bins.as_ref().map_or(0, Bins::max)) as f64 * 1.18 + 0.5;
        let (x_lo, x_hi) = (bins.first as f64 - 0.8, bins.last() as f64 + 0.8);
        let mut chart = style::frame(&body)
            .build_cartesian_2d(
                style::ticked(x_lo..x_hi, style::integer_ticks(x_lo, x_hi, 16), vec![]),
                style::ticked(0.0..top, style::integer_ticks(0.0, top, 8), vec![]),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        style::style_mesh(
            &mut mesh,
            "local intrinsic dimension (unit bins centred on integers)",
            "number of points",
        );
        mesh.disable_x_mesh()
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v));
        mesh.draw().map_err(dr)?;

        let fill = BLUE.mix(0.7).filled();
        let label = match &self.method {
            Some(m) => format!("local ID estimates ({m})"),
            None => "local ID estimates".to_string(),
        };
        let k_of = |j: usize| (bins.first + j as i64) as f64;
        chart
            .draw_series(
                bins.counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(j, &c)| {
                        Rectangle::new([(k_of(j) - 0.42, 0.0), (k_of(j) + 0.42, c as f64)], fill)
                    }),
            )
            .map_err(dr)?
            .label(label)
            .legend(style::patch_key(fill));
        chart
            .draw_series(
                bins.counts
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| **c > 0)
                    .map(|(j, &c)| {
                        Rectangle::new(
                            [(k_of(j) - 0.42, 0.0), (k_of(j) + 0.42, c as f64)],
                            DARK_BLUE.stroke_width(1),
                        )
                    }),
            )
            .map_err(dr)?;
        let mean_style = RGBColor(30, 30, 30).stroke_width(2);
        chart
            .draw_series(DashedLineSeries::new(
                [(mean, 0.0), (mean, top)],
                4,
                4,
                mean_style,
            ))
            .map_err(dr)?
            .label(format!("mean estimate = {}", fmt_num(mean)))
            .legend(style::dashed_key(mean_style));
        match (&self.truth, &true_bins) {
            (Some(TrueId::Global(t)), _) => {
                let s = VERMILLION.stroke_width(3);
                chart
                    .draw_series(DashedLineSeries::new([(*t, 0.0), (*t, top)], 10, 5, s))
                    .map_err(dr)?
                    .label(format!("true ID = {}", fmt_num(*t)))
                    .legend(style::dashed_key(s));
            }
            (_, Some(tb)) => {
                let s = VERMILLION.stroke_width(3);
                chart
                    .draw_series(LineSeries::new(tb.outline(), s))
                    .map_err(dr)?
                    .label("true IDs (histogram outline)")
                    .legend(style::line_key(s));
            }
            _ => {}
        }
        // counts above the bars, on white so that the reference lines do not cross them
        if bins.counts.len() <= 30 {
            let text = style::note(DARK_BLUE, HPos::Center, VPos::Bottom);
            for (j, &c) in bins.counts.iter().enumerate().filter(|(_, c)| **c > 0) {
                let label = c.to_string();
                let (w, h) = chart
                    .plotting_area()
                    .estimate_text_size(&label, &text)
                    .map_err(dr)?;
                let (w, h) = (w as i32 / 2 + 2, h as i32);
                let boxed = EmptyElement::at((k_of(j), c as f64))
                    + Rectangle::new([(-w, -h - 8), (w, -1)], WHITE.filled())
                    + Text::new(label, (0, -3), text.clone());
                chart.draw_series(std::iter::once(boxed)).map_err(dr)?;
            }
        }
        // the legend goes to the side away from the tallest bar
        let mode = bins
            .counts
            .iter()
            .enumerate()
            .max_by_key(|(_, c)| **c)
            .map_or(0, |(j, _)| j);
        let pos = if 2 * mode + 1 > bins.counts.len() {
            SeriesLabelPosition::UpperLeft
        } else {
            SeriesLabelPosition::UpperRight
        };
        style::legend(&mut chart, pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_centre_on_integers() {
        let b = Bins::new(&[1.0, 1.4, 2.6, 3.0, 2.5], &[1.0, 3.0, 0.2]).unwrap();
        assert_eq!(b.first, 0);
        // 2.5 rounds away from zero, to 3
        assert_eq!(b.counts, vec![0, 2, 0, 3]);
        assert_eq!(b.last(), 3);
        assert_eq!(b.outline().first(), Some(&(-0.5, 0.0)));
        assert_eq!(b.outline()[2], (0.5, 0.0));
        assert_eq!(b.outline()[4], (1.5, 2.0));
    }

    #[test]
    fn from_estimate_keeps_ids_and_method() {
        use crate::id::LocalEstimate;
        let points = [2.0, 3.0]
            .iter()
            .enumerate()
            .map(|(i, &l)| LocalEstimate {
                index: i,
                local_id: l,
                spectrum: None,
                readoff: None,
            })
            .collect();
        let est = IdEstimate::new("lpca", 4, 2.5, points, Default::default());
        let h = IdHistogram::from_estimate(&est);
        assert_eq!(
            (h.local_ids, h.method, h.truth),
            (vec![2.0, 3.0], Some("lpca".to_string()), None)
        );
    }

    #[test]
    fn rejects_bad_input_by_name() {
        let err = IdHistogram::new(vec![]).check().unwrap_err().to_string();
        assert!(err.contains("empty local_ids"), "{err}");
        let err = IdHistogram::new(vec![1.0, f64::NAN])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("local ID of point 2 is NaN"), "{err}");
        let mut h = IdHistogram::new(vec![1.0, 2.0]);
        h.truth = Some(TrueId::PerPoint(vec![1.0]));
        assert!(h
            .check()
            .unwrap_err()
            .to_string()
            .contains("expects 2, found 1"));
        h.truth = Some(TrueId::Global(f64::NAN));
        assert!(h
            .check()
            .unwrap_err()
            .to_string()
            .contains("true ID is NaN"));
        let err = Bins::new(&[0.0, 5000.0], &[0.0, 5000.0])
            .unwrap_err()
            .to_string();
        assert!(err.contains("5001 unit bins"), "{err}");
    }
}

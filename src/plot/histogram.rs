//! Histogram of local intrinsic-dimension estimates, with the true ID when it is known.

use super::style::{self, dr, fmt_num, BLUE, DARK_BLUE, VERMILLION};
use super::{Figure, DEFAULT_SIZE};
use crate::data::synthetic::TrueId;
use crate::error::{Error, Result};
use crate::id::IdEstimate;
use plotters::chart::SeriesLabelPosition;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// The most bins a histogram draws: wider spreads of IDs get bins of several dimensions each.
const MAX_BINS: i64 = 150;

/// Histogram of local IDs in unit bins centred on the integers (real-valued estimates fall in
/// the bin of their nearest integer), with the mean estimate and the truth when known.
#[derive(Clone, Debug, PartialEq)]
pub struct IdHistogram {
    /// One local ID per point (integers or reals).
    pub local_ids: Vec<f64>,
    /// The true ID, when known: one for all points (a vertical line) or one per point, in the
    /// order of the local IDs (a histogram outline).
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
            Some(TrueId::PerPoint(t)) if t.len() != self.local_ids.len() => {
                Err(Error::DimensionMismatch {
                    context: "per-point true IDs (one per local ID)".into(),
                    expected: self.local_ids.len(),
                    found: t.len(),
                })
            }
            _ => Ok(()),
        }
    }

    /// The true IDs as numbers: one (global), one per point, or none.
    fn truth_values(&self) -> Vec<f64> {
        match &self.truth {
            Some(TrueId::Global(t)) => vec![*t as f64],
            Some(TrueId::PerPoint(t)) => t.iter().map(|&k| k as f64).collect(),
            None => Vec::new(),
        }
    }
}

/// Bins of `width` consecutive integers, the first starting at `first`: bin j counts the values
/// that round to `first + j·width ..= first + j·width + width − 1` (unit bins when `width` is 1).
#[derive(Debug, PartialEq)]
struct Bins {
    first: i64,
    width: i64,
    counts: Vec<usize>,
}

impl Bins {
    /// Bins spanning every value in `span`, counting `values`: unit bins while at most
    /// [`MAX_BINS`] are needed, wider ones beyond (a stray estimate at D must not hide the mode).
    fn new(values: &[f64], span: &[f64]) -> Result<Self> {
        let lo = span.iter().fold(f64::INFINITY, |m, v| m.min(v.round()));
        let hi = span.iter().fold(f64::NEG_INFINITY, |m, v| m.max(v.round()));
        if lo < -1e9 || hi > 1e9 {
            return Err(Error::InvalidData(format!(
                "IDs from {lo} to {hi} lie outside ±10⁹, which no histogram of dimensions can show"
            )));
        }
        let (first, last) = (lo as i64, hi as i64);
        let integers = last - first + 1;
        let width = (integers + MAX_BINS - 1) / MAX_BINS;
        let mut counts = vec![0; ((integers + width - 1) / width) as usize];
        for v in values {
            counts[((v.round() as i64 - first) / width) as usize] += 1;
        }
        Ok(Self {
            first,
            width,
            counts,
        })
    }

    /// The left edge of bin j (bins are centred on their integers: edges fall on halves).
    fn left(&self, j: usize) -> f64 {
        (self.first + j as i64 * self.width) as f64 - 0.5
    }

    /// The centre of bin j.
    fn centre(&self, j: usize) -> f64 {
        self.left(j) + self.width as f64 / 2.0
    }

    fn right_edge(&self) -> f64 {
        self.left(self.counts.len())
    }

    fn max(&self) -> usize {
        self.counts.iter().copied().max().unwrap_or(0)
    }

    /// The outline of the bars as a closed step path.
    fn outline(&self) -> Vec<(f64, f64)> {
        let mut path = vec![(self.left(0), 0.0)];
        for (j, &c) in self.counts.iter().enumerate() {
            path.push((self.left(j), c as f64));
            path.push((self.left(j + 1), c as f64));
        }
        path.push((self.right_edge(), 0.0));
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
        let span: Vec<f64> = ids.iter().chain(&truth).copied().collect();
        let bins = Bins::new(ids, &span)?;
        let true_bins = match &self.truth {
            Some(TrueId::PerPoint(_)) => Some(Bins::new(&truth, &span)?),
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
            Some(TrueId::Global(_)) => subtitle += &format!(" · true ID {}", fmt_num(truth[0])),
            Some(TrueId::PerPoint(_)) => {
                subtitle += &format!(
                    " · true ID per point (mean {})",
                    fmt_num(crate::id::mean(&truth))
                )
            }
            None => {}
        }
        let body = style::header(area, title, &subtitle)?;

        let top = bins.max().max(true_bins.as_ref().map_or(0, Bins::max)) as f64 * 1.18 + 0.5;
        let pad = 0.3 * bins.width as f64;
        let (x_lo, x_hi) = (bins.left(0) - pad, bins.right_edge() + pad);
        let mut chart = style::frame(&body)
            .build_cartesian_2d(
                style::ticked(x_lo..x_hi, style::integer_ticks(x_lo, x_hi, 16), vec![]),
                style::ticked(0.0..top, style::integer_ticks(0.0, top, 8), vec![]),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        let x_desc = match bins.width {
            1 => "local intrinsic dimension (unit bins centred on integers)".to_string(),
            w => format!("local intrinsic dimension (bins of {w} integers)"),
        };
        style::style_mesh(&mut mesh, &x_desc, "number of points");
        mesh.disable_x_mesh()
            .x_label_formatter(&|v| fmt_num(*v))
            .y_label_formatter(&|v| fmt_num(*v));
        mesh.draw().map_err(dr)?;

        let fill = BLUE.mix(0.7).filled();
        let label = match &self.method {
            Some(m) => format!("local ID estimates ({m})"),
            None => "local ID estimates".to_string(),
        };
        // bars leave 8 % of a bin free on each side
        let inset = 0.08 * bins.width as f64;
        // the non-empty bins' bars in `style`: drawn filled, then outlined
        let b = &bins;
        let bars = move |style: ShapeStyle| {
            b.counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(move |(j, &c)| {
                    let corners = [(b.left(j) + inset, 0.0), (b.left(j + 1) - inset, c as f64)];
                    Rectangle::new(corners, style)
                })
        };
        chart
            .draw_series(bars(fill))
            .map_err(dr)?
            .label(label)
            .legend(style::patch_key(fill));
        chart
            .draw_series(bars(DARK_BLUE.stroke_width(1)))
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
            (Some(TrueId::Global(k)), _) => {
                let t = &(*k as f64);
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
                let boxed = EmptyElement::at((bins.centre(j), c as f64))
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
        assert_eq!((b.first, b.width), (0, 1));
        // 2.5 rounds away from zero, to 3
        assert_eq!(b.counts, vec![0, 2, 0, 3]);
        assert_eq!((b.centre(3), b.right_edge()), (3.0, 3.5));
        assert_eq!(b.outline().first(), Some(&(-0.5, 0.0)));
        assert_eq!(b.outline()[2], (0.5, 0.0));
        assert_eq!(b.outline()[4], (1.5, 2.0));
        assert_eq!(b.outline().last(), Some(&(3.5, 0.0)));
    }

    #[test]
    fn wide_spreads_get_wider_bins() {
        // images: most points near 10, one stray estimate at the ambient 1023
        let ids = [9.0, 10.0, 10.0, 11.0, 1023.0];
        let b = Bins::new(&ids, &ids).unwrap();
        // 1015 integers in at most 150 bins: 7 integers per bin, 145 bins
        assert_eq!((b.first, b.width, b.counts.len()), (9, 7, 145));
        assert_eq!(b.counts[0], 4);
        assert_eq!(b.counts[144], 1);
        assert_eq!(b.counts.iter().sum::<usize>(), 5);
        assert_eq!(b.centre(0), 12.0);
        assert_eq!(b.right_edge(), 9.0 + 145.0 * 7.0 - 0.5);
        // the same data draws without error
        let svg = IdHistogram::new(ids.to_vec()).to_svg().unwrap();
        assert!(svg.contains("bins of 7 integers"), "axis label");
    }

    #[test]
    fn from_estimate_keeps_ids_and_method() {
        use crate::id::LocalEstimate;
        let points = [2.0, 3.0]
            .iter()
            .enumerate()
            .map(|(i, &l)| LocalEstimate::new(i, l))
            .collect();
        let est = IdEstimate::new(crate::id::Method::Lpca, 4, 2.5, points, Default::default());
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
        h.truth = Some(TrueId::PerPoint(vec![1]));
        assert!(h
            .check()
            .unwrap_err()
            .to_string()
            .contains("expects 2, found 1"));
        let err = Bins::new(&[0.0, 2e9], &[0.0, 2e9]).unwrap_err().to_string();
        assert!(err.contains("outside ±10⁹"), "{err}");
    }
}

//! LID-vs-t₀ curves from a sweep over the diffusion time (FLIPD, Kamkari et al. 2024): each
//! point's curve faint, the mean bold, t₀ on a log axis, the chosen plateau marked.

use super::style::{self, dr, fmt_num, fmt_pow10, LogAxis, BLUE, DARK_BLUE, GREEN, VERMILLION};
use super::{Figure, DEFAULT_SIZE};
use crate::error::{Error, Result};
use crate::id::{Plateau, Sweep};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};

/// At most this many per-point curves are drawn (an evenly spaced subset).
const MAX_FAINT_CURVES: usize = 200;

/// Local-ID-vs-t₀ curves: one per point (faint; at most 200, evenly spaced, are drawn), their
/// mean (bold), the plateau and the true ID when known.
#[derive(Clone, Debug, PartialEq)]
pub struct LidCurves {
    /// The diffusion times of the sweep, positive and strictly increasing.
    pub t0: Vec<f64>,
    /// One curve per point: the LID at each t₀ (same length as `t0`).
    pub curves: Vec<Vec<f64>>,
    /// The chosen plateau, when one was read off (its `t0` and `value` are drawn).
    pub plateau: Option<Plateau>,
    /// The true ID, when known (a horizontal line).
    pub truth: Option<f64>,
    /// The ambient dimension D, when known (named in the subtitle).
    pub ambient_dim: Option<usize>,
    /// The title; `None` gives "Local intrinsic dimension against diffusion time".
    pub title: Option<String>,
    /// Canvas size in pixels.
    pub size: (u32, u32),
}

impl LidCurves {
    /// Curves over the times `t0`, without plateau or truth, with the default title and size.
    pub fn new(t0: Vec<f64>, curves: Vec<Vec<f64>>) -> Self {
        Self {
            t0,
            curves,
            plateau: None,
            truth: None,
            ambient_dim: None,
            title: None,
            size: DEFAULT_SIZE,
        }
    }

    /// The curves of a sweep (each point's local ID along the grid) with its plateau marked.
    pub fn from_sweep(sweep: &Sweep) -> Self {
        Self {
            plateau: Some(sweep.plateau()),
            ..Self::new(sweep.t0s().to_vec(), sweep.curves())
        }
    }

    fn check(&self) -> Result<()> {
        if self.t0.is_empty() {
            return Err(Error::InvalidData(
                "no diffusion times to plot (empty t0)".into(),
            ));
        }
        if let Some(i) = self.t0.iter().position(|t| !(t.is_finite() && *t > 0.0)) {
            return Err(Error::InvalidData(format!(
                "t0 number {} is {}; diffusion times must be positive and finite for a log axis",
                i + 1,
                self.t0[i]
            )));
        }
        if let Some(i) = self.t0.windows(2).position(|w| w[1] <= w[0]) {
            return Err(Error::InvalidData(format!(
                "t0 must increase strictly: t0 number {} ({}) follows {}",
                i + 2,
                self.t0[i + 1],
                self.t0[i]
            )));
        }
        if self.curves.is_empty() {
            return Err(Error::InvalidData(
                "no LID curves to plot (empty curves)".into(),
            ));
        }
        for (p, c) in self.curves.iter().enumerate() {
            if c.len() != self.t0.len() {
                return Err(Error::DimensionMismatch {
                    context: format!("LID curve of point {} (one value per t0)", p + 1),
                    expected: self.t0.len(),
                    found: c.len(),
                });
            }
            style::check_finite(c, |i| {
                format!("LID of point {} at t0 = {}", p + 1, self.t0[i])
            })?;
        }
        if let Some(pl) = &self.plateau {
            if !(pl.t0.is_finite() && pl.t0 > 0.0 && pl.value.is_finite()) {
                return Err(Error::param(
                    "plateau",
                    format!(
                        "t0 = {}, LID = {}: need a positive t0 and a finite LID",
                        pl.t0, pl.value
                    ),
                ));
            }
        }
        match self.truth {
            Some(t) if !t.is_finite() => Err(Error::InvalidData(format!("the true ID is {t}"))),
            _ => Ok(()),
        }
    }
}

impl Figure for LidCurves {
    fn size(&self) -> (u32, u32) {
        self.size
    }

    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()> {
        self.check()?;
        let n = self.curves.len();
        let m = self.t0.len();
        let mean: Vec<f64> = (0..m)
            .map(|i| self.curves.iter().map(|c| c[i]).sum::<f64>() / n as f64)
            .collect();

        let title = self
            .title
            .as_deref()
            .unwrap_or("Local intrinsic dimension against diffusion time");
        let mut subtitle = format!("{n} point{}", if n == 1 { "" } else { "s" });
        if let Some(d) = self.ambient_dim {
            subtitle += &format!(" · ambient D = {d}");
        }
        if let Some(p) = &self.plateau {
            subtitle += &format!(
                " · plateau at t₀ = {}: LID = {}",
                fmt_pow10(p.t0),
                fmt_num(p.value)
            );
        }
        if let Some(t) = self.truth {
            subtitle += &format!(" · true ID = {}", fmt_num(t));
        }
        let body = style::header(area, title, &subtitle)?;

        let (t_min, t_max) = (self.t0[0], self.t0[m - 1]);
        let (t_min, t_max) = match &self.plateau {
            Some(p) => (t_min.min(p.t0), t_max.max(p.t0)),
            None => (t_min, t_max),
        };
        let x = LogAxis::covering(t_min, t_max, 10);
        let values = self
            .curves
            .iter()
            .flatten()
            .copied()
            .chain(self.plateau.as_ref().map(|p| p.value))
            .chain(self.truth);
        let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
        let pad = if hi > lo { 0.08 * (hi - lo) } else { 1.0 };
        let (y_lo, y_hi) = (lo - pad, hi + pad);
        let mut chart = style::frame(&body)
            .build_cartesian_2d(
                style::ticked((x.lo..x.hi).log_scale(), x.bold.clone(), x.light.clone()),
                style::ticked(y_lo..y_hi, style::linear_ticks(y_lo, y_hi, 8), vec![]),
            )
            .map_err(dr)?;
        let mut mesh = chart.configure_mesh();
        style::style_mesh(
            &mut mesh,
            "diffusion time t₀ (log scale)",
            "local intrinsic dimension",
        );
        mesh.x_label_formatter(&|v| fmt_pow10(*v))
            .y_label_formatter(&|v| fmt_num(*v))
            .draw()
            .map_err(dr)?;

        if n > 1 {
            let faint = BLUE
                .mix(style::faint_alpha(n.min(MAX_FAINT_CURVES)))
                .stroke_width(1);
            for (k, p) in style::thinned(n, MAX_FAINT_CURVES).enumerate() {
                let curve = LineSeries::new(
                    self.t0.iter().copied().zip(self.curves[p].iter().copied()),
                    faint,
                );
                let anno = chart.draw_series(curve).map_err(dr)?;
                if k == 0 {
                    anno.label("per-point curves")
                        .legend(style::line_key(BLUE.mix(0.5).stroke_width(1)));
                }
            }
        }
        let bold = DARK_BLUE.stroke_width(3);
        let mean_points: Vec<(f64, f64)> =
            self.t0.iter().copied().zip(mean.iter().copied()).collect();
        chart
            .draw_series(LineSeries::new(mean_points.iter().copied(), bold))
            .map_err(dr)?
            .label(if n == 1 {
                "LID".to_string()
            } else {
                format!("mean of {n} curves")
            })
            .legend(style::line_key(bold));
        if m <= 60 {
            chart
                .draw_series(
                    mean_points
                        .iter()
                        .map(|&p| Circle::new(p, 3, DARK_BLUE.filled())),
                )
                .map_err(dr)?;
        }
        if let Some(t) = self.truth {
            let s = GREEN.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new([(x.lo, t), (x.hi, t)], 10, 5, s))
                .map_err(dr)?
                .label(format!("true ID = {}", fmt_num(t)))
                .legend(style::dashed_key(s));
        }
        if let Some(p) = &self.plateau {
            let s = VERMILLION.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new([(p.t0, y_lo), (p.t0, y_hi)], 6, 5, s))
                .map_err(dr)?;
            chart
                .draw_series(std::iter::once(Circle::new(
                    (p.t0, p.value),
                    7,
                    VERMILLION.filled(),
                )))
                .map_err(dr)?
                .label(format!(
                    "plateau: t₀ = {}, LID = {}",
                    fmt_pow10(p.t0),
                    fmt_num(p.value)
                ))
                .legend(style::marker_key(VERMILLION.filled(), 6));
            let label = Text::new(
                format!("  LID = {}", fmt_num(p.value)),
                (p.t0, p.value),
                style::note(VERMILLION, HPos::Left, VPos::Bottom),
            );
            chart.draw_series(std::iter::once(label)).map_err(dr)?;
        }
        let (lx_lo, lx_hi) = (x.lo.ln(), x.hi.ln());
        let rel = |&(t, v): &(f64, f64)| {
            (
                (t.ln() - lx_lo) / (lx_hi - lx_lo),
                (v - y_lo) / (y_hi - y_lo),
            )
        };
        let occupied: Vec<(f64, f64)> = style::thinned(n, 50)
            .flat_map(|p| {
                let curve: Vec<(f64, f64)> = self
                    .t0
                    .iter()
                    .copied()
                    .zip(self.curves[p].iter().copied())
                    .map(|q| rel(&q))
                    .collect();
                style::densify(&curve, 8).collect::<Vec<_>>()
            })
            .collect();
        style::legend(&mut chart, style::emptiest_corner(occupied))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_input_by_name() {
        let ok = LidCurves::new(vec![1e-3, 1e-2], vec![vec![2.0, 2.1]]);
        assert!(ok.check().is_ok());
        let err = LidCurves::new(vec![], vec![])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty t0"), "{err}");
        let err = LidCurves::new(vec![1e-3, 0.0], vec![vec![1.0, 1.0]])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("t0 number 2 is 0"), "{err}");
        let err = LidCurves::new(vec![1e-2, 1e-3], vec![vec![1.0, 1.0]])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("increase strictly"), "{err}");
        let err = LidCurves::new(vec![1e-3, 1e-2], vec![])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("empty curves"), "{err}");
        let err = LidCurves::new(vec![1e-3, 1e-2], vec![vec![1.0]])
            .check()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("point 1") && err.contains("expects 2, found 1"),
            "{err}"
        );
        let err = LidCurves::new(vec![1e-3, 1e-2], vec![vec![1.0, f64::NAN]])
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("LID of point 1 at t0 = 0.01 is NaN"), "{err}");
        let mut c = ok.clone();
        c.plateau = Some(Plateau {
            index: 0,
            t0: -1.0,
            value: 2.0,
            spread: 0.0,
            window: (0, 0),
            how: String::new(),
        });
        assert!(c.check().unwrap_err().to_string().contains("plateau"));
        let mut c = ok;
        c.truth = Some(f64::NAN);
        assert!(c
            .check()
            .unwrap_err()
            .to_string()
            .contains("true ID is NaN"));
    }
}

//! The shared look of every figure: embedded font, palette, sizes, header, axes, ticks, legend.

use crate::error::{Error, Result};
use plotters::chart::{ChartContext, MeshStyle, SeriesLabelPosition};
use plotters::coord::ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::ops::Range;
use std::path::PathBuf;
use std::sync::OnceLock;

/// DejaVu Sans (Bitstream Vera licence, see `assets/fonts/LICENSE-DejaVu.txt`).
static DEJAVU_SANS: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/assets/fonts/DejaVuSans.ttf"
));

/// The font family every figure asks for.
pub(crate) const FONT: &str = "sans-serif";
/// Pixel sizes of the text roles (at the default 900×600 canvas).
pub(crate) const TITLE_PX: f64 = 26.0;
pub(crate) const SUBTITLE_PX: f64 = 17.0;
pub(crate) const AXIS_DESC_PX: f64 = 19.0;
pub(crate) const TICK_PX: f64 = 15.0;
pub(crate) const LEGEND_PX: f64 = 15.0;
pub(crate) const NOTE_PX: f64 = 15.0;

/// Okabe–Ito colours: distinguishable with the common colour-vision deficiencies.
pub(crate) const BLUE: RGBColor = RGBColor(0, 114, 178);
pub(crate) const DARK_BLUE: RGBColor = RGBColor(0, 60, 110);
pub(crate) const VERMILLION: RGBColor = RGBColor(213, 94, 0);
pub(crate) const GREEN: RGBColor = RGBColor(0, 158, 115);
pub(crate) const ORANGE: RGBColor = RGBColor(230, 159, 0);
pub(crate) const SKY: RGBColor = RGBColor(86, 180, 233);
pub(crate) const PURPLE: RGBColor = RGBColor(204, 121, 167);
pub(crate) const YELLOW: RGBColor = RGBColor(240, 228, 66);
pub(crate) const GREY: RGBColor = RGBColor(110, 110, 110);
/// Series colours in order of use: the eight Okabe–Ito hues (black as dark blue-grey, so that
/// series stay apart from the black axes), so up to eight series never share a colour.
pub(crate) const PALETTE: [RGBColor; 8] = [
    BLUE,
    VERMILLION,
    GREEN,
    ORANGE,
    PURPLE,
    SKY,
    YELLOW,
    RGBColor(40, 40, 60),
];

/// Placeholder path of drawing errors until [`super::render`] knows the real one.
pub(crate) const IN_MEMORY: &str = "(figure in memory)";

/// Registers the embedded font once per process (plotters looks fonts up by family name).
pub(crate) fn ensure_fonts() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        // the same face serves every family a caller composing panels might ask for
        ["sans-serif", "serif", "monospace"].iter().all(|family| {
            plotters::style::register_font(family, FontStyle::Normal, DEJAVU_SANS).is_ok()
        })
    });
    if ok {
        Ok(())
    } else {
        Err(drawing_error(
            "the embedded DejaVu Sans font could not be parsed",
        ))
    }
}

/// A failure inside plotters, reported against the figure (the path is filled in on rendering).
pub(crate) fn drawing_error(message: impl std::fmt::Display) -> Error {
    Error::io(
        PathBuf::from(IN_MEMORY),
        std::io::Error::other(format!("drawing the figure failed: {message}")),
    )
}

/// Converts plotters' drawing errors.
pub(crate) fn dr<E: std::error::Error + Send + Sync>(e: DrawingAreaErrorKind<E>) -> Error {
    drawing_error(e)
}

/// Fills the canvas white and draws a centred title and a grey subtitle; returns the area below.
pub(crate) fn header<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    subtitle: &str,
) -> Result<DrawingArea<DB, Shift>> {
    ensure_fonts()?;
    root.fill(&WHITE).map_err(dr)?;
    let (w, _) = root.dim_in_pixel();
    let centre = |size: f64, colour: RGBColor| text(size, colour, HPos::Center, VPos::Top);
    root.draw_text(
        title,
        &centre(TITLE_PX, RGBColor(0, 0, 0)),
        (w as i32 / 2, 12),
    )
    .map_err(dr)?;
    let height = if subtitle.is_empty() {
        52
    } else {
        root.draw_text(
            subtitle,
            &centre(SUBTITLE_PX, RGBColor(70, 70, 70)),
            (w as i32 / 2, 46),
        )
        .map_err(dr)?;
        76
    };
    Ok(root.split_vertically(height).1)
}

/// Outer margin of the plotting frame, in pixels.
pub(crate) const MARGIN: u32 = 18;
/// Height of the x tick-label and axis-description band.
pub(crate) const X_LABEL_AREA: u32 = 58;
/// Width of the y tick-label and axis-description band.
pub(crate) const Y_LABEL_AREA: u32 = 84;

/// A chart builder with the house margins and label areas.
pub(crate) fn frame<'a, 'b, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
) -> ChartBuilder<'a, 'b, DB> {
    let mut b = ChartBuilder::on(area);
    b.margin(MARGIN)
        .margin_right(MARGIN + 10)
        .x_label_area_size(X_LABEL_AREA)
        .y_label_area_size(Y_LABEL_AREA);
    b
}

/// Applies the house axis style: fonts, a faint grid, axis descriptions.
pub(crate) fn style_mesh<X: Ranged, Y: Ranged, DB: DrawingBackend>(
    mesh: &mut MeshStyle<'_, '_, X, Y, DB>,
    x_desc: &str,
    y_desc: &str,
) {
    mesh.x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style((FONT, AXIS_DESC_PX))
        .label_style((FONT, TICK_PX))
        .axis_style(RGBColor(40, 40, 40))
        .bold_line_style(RGBColor(0, 0, 0).mix(0.12))
        .light_line_style(RGBColor(0, 0, 0).mix(0.05));
}

/// Draws the legend of every labelled series.
pub(crate) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
) -> Result<()> {
    chart
        .configure_series_labels()
        .position(position)
        .margin(12)
        .legend_area_size(28)
        .label_font((FONT, LEGEND_PX))
        .background_style(WHITE.mix(0.88))
        .border_style(RGBColor(0, 0, 0).mix(0.35))
        .draw()
        .map_err(dr)
}

/// A text style for annotations inside a chart.
pub(crate) fn note(colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    text(NOTE_PX, colour, h, v)
}

fn text(size: f64, colour: RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    TextStyle {
        font: (FONT, size).into_font(),
        color: colour.to_backend_color(),
        pos: Pos::new(h, v),
    }
}

/// Legend sample for a line.
pub(crate) fn line_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 22, y)], style)
}

/// Legend sample for a filled patch.
pub(crate) fn patch_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> Rectangle<(i32, i32)> {
    move |(x, y)| Rectangle::new([(x, y - 6), (x + 22, y + 6)], style)
}

/// Dashed legend sample.
pub(crate) type DashKey = DashedPathElement<std::vec::IntoIter<(i32, i32)>, u32>;

/// Legend sample for a dashed line.
pub(crate) fn dashed_key(style: ShapeStyle) -> impl Fn((i32, i32)) -> DashKey {
    move |(x, y)| DashedPathElement::new(vec![(x, y), (x + 24, y)], 6, 4, style)
}

/// Legend sample for a marker.
pub(crate) fn marker_key(
    style: ShapeStyle,
    size: i32,
) -> impl Fn((i32, i32)) -> Circle<(i32, i32), i32> {
    move |(x, y)| Circle::new((x + 11, y), size, style)
}

/// The legend corner covering the fewest of `points`, given in plot-relative coordinates
/// (0..1 left to right, 0..1 bottom to top); ties prefer upper right, upper left, lower right.
pub(crate) fn emptiest_corner(points: impl IntoIterator<Item = (f64, f64)>) -> SeriesLabelPosition {
    // a legend box covers roughly this fraction of the plot
    const W: f64 = 0.45;
    const H: f64 = 0.42;
    let mut counts = [0usize; 4];
    for (u, v) in points {
        let (left, right, top, bottom) = (u < W, u > 1.0 - W, v > 1.0 - H, v < H);
        counts[0] += usize::from(right && top);
        counts[1] += usize::from(left && top);
        counts[2] += usize::from(right && bottom);
        counts[3] += usize::from(left && bottom);
    }
    let best = (0..4).min_by_key(|&k| counts[k]).unwrap_or(0);
    [
        SeriesLabelPosition::UpperRight,
        SeriesLabelPosition::UpperLeft,
        SeriesLabelPosition::LowerRight,
        SeriesLabelPosition::LowerLeft,
    ][best]
        .clone()
}

/// Points every `1/k` along each segment of a polyline, so that long segments count as occupied.
pub(crate) fn densify(line: &[(f64, f64)], k: usize) -> impl Iterator<Item = (f64, f64)> + '_ {
    let k = k.max(1);
    line.windows(2)
        .flat_map(move |w| {
            let ((x0, y0), (x1, y1)) = (w[0], w[1]);
            (0..k).map(move |j| {
                let t = j as f64 / k as f64;
                (x0 + t * (x1 - x0), y0 + t * (y1 - y0))
            })
        })
        .chain(line.last().copied())
}

/// Transparency of one of `n` faint per-point lines: many lines, fainter each.
pub(crate) fn faint_alpha(n: usize) -> f64 {
    (6.0 / n.max(1) as f64).clamp(0.04, 0.35)
}

/// At most `max` indices of `0..n`, evenly spread, always including the first.
pub(crate) fn thinned(n: usize, max: usize) -> impl Iterator<Item = usize> {
    let step = n.div_ceil(max.max(1)).max(1);
    (0..n).step_by(step)
}

/// The `q`-quantile of sorted values (linear interpolation between order statistics).
pub(crate) fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (pos - lo as f64) * (sorted[hi] - sorted[lo])
}

/// Fails on the first non-finite value, naming it.
pub(crate) fn check_finite(values: &[f64], what: impl Fn(usize) -> String) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(i) => Err(Error::InvalidData(format!("{} is {}", what(i), values[i]))),
        None => Ok(()),
    }
}

/// A "nice" step (1, 2 or 5 × 10ᵏ) giving at most about `max_ticks` ticks over `span`.
pub(crate) fn nice_step(span: f64, max_ticks: usize) -> f64 {
    let raw = span.abs().max(f64::MIN_POSITIVE) / max_ticks.max(1) as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

/// Multiples of a nice step inside `[lo, hi]`.
pub(crate) fn linear_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    let step = nice_step(hi - lo, max_ticks);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Integer ticks inside `[lo, hi]`, a nice integer step apart.
pub(crate) fn integer_ticks(lo: f64, hi: f64, max_ticks: usize) -> Vec<f64> {
    let step = nice_step(hi - lo, max_ticks).max(1.0);
    let first = (lo / step).ceil() as i64;
    let last = (hi / step).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// An axis whose ticks (bold) and minor grid lines (light) are chosen here. Plotters' own
/// `WithKeyPoints` does the same but cannot be given a label formatter.
pub(crate) struct Ticked<R: Ranged> {
    inner: R,
    bold: Vec<R::ValueType>,
    light: Vec<R::ValueType>,
}

/// `axis` with the given ticks and minor grid lines.
pub(crate) fn ticked<A: AsRangedCoord>(
    axis: A,
    bold: Vec<A::Value>,
    light: Vec<A::Value>,
) -> Ticked<A::CoordDescType> {
    Ticked {
        inner: axis.into(),
        bold,
        light,
    }
}

impl<R: Ranged> Ranged for Ticked<R>
where
    R::ValueType: Clone,
{
    type FormatOption = DefaultFormatting;
    type ValueType = R::ValueType;

    fn map(&self, value: &Self::ValueType, limit: (i32, i32)) -> i32 {
        self.inner.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<Self::ValueType> {
        if hint.weight().allow_light_points() {
            self.light.clone()
        } else {
            self.bold.clone()
        }
    }

    fn range(&self) -> Range<Self::ValueType> {
        self.inner.range()
    }

    fn axis_pixel_range(&self, limit: (i32, i32)) -> Range<i32> {
        self.inner.axis_pixel_range(limit)
    }
}

/// A log axis: the range widened to whole decades, labelled decades (thinned to at most
/// `max_labels`) and light lines at 2…9 × 10ᵏ when there are few decades.
pub(crate) struct LogAxis {
    pub lo: f64,
    pub hi: f64,
    pub bold: Vec<f64>,
    pub light: Vec<f64>,
}

impl LogAxis {
    /// Covers `[min, max]` (both positive) with at least one whole decade.
    pub(crate) fn covering(min: f64, max: f64, max_labels: usize) -> Self {
        // decades representable in f64 (non-finite input lands at the ends)
        let exponent = |v: f64, round: fn(f64) -> f64| {
            let e = round(v.log10());
            if e.is_nan() {
                0
            } else {
                e.clamp(-307.0, 308.0) as i32
            }
        };
        let mut e_lo = exponent(min, f64::floor).min(307);
        let mut e_hi = exponent(max, f64::ceil);
        if e_hi <= e_lo {
            e_hi = e_lo + 1;
        }
        if e_hi - e_lo < 2 && e_hi < 308 && max.log10() - (e_hi - 1) as f64 > 0.5 {
            e_hi += 1;
        } else if e_hi - e_lo < 2 && e_lo > -307 {
            e_lo -= 1;
        }
        let decades = (e_hi - e_lo) as usize;
        let every = decades.div_ceil(max_labels.max(1)).max(1);
        let bold = (e_lo..=e_hi)
            .filter(|e| (e - e_lo) as usize % every == 0)
            .map(pow10)
            .collect();
        let light = if decades <= 8 {
            (e_lo..e_hi)
                .flat_map(|e| (2..10).map(move |m| m as f64 * pow10(e)))
                .collect()
        } else {
            (e_lo..=e_hi).map(pow10).collect()
        };
        Self {
            lo: pow10(e_lo),
            hi: pow10(e_hi),
            bold,
            light,
        }
    }
}

/// 10ᵉ, correctly rounded (`powi` drifts at the ends of the f64 range).
fn pow10(e: i32) -> f64 {
    format!("1e{e}").parse().unwrap_or_else(|_| 10f64.powi(e))
}

/// `10ᵏ` with a superscript exponent for powers of ten, `m×10ᵏ` otherwise.
pub(crate) fn fmt_pow10(v: f64) -> String {
    if v <= 0.0 || !v.is_finite() {
        return fmt_num(v);
    }
    let e = v.log10().floor() as i32;
    let m = v / 10f64.powi(e);
    let sup: String = e
        .to_string()
        .chars()
        .map(|c| match c {
            '-' => '⁻',
            d => ['⁰', '¹', '²', '³', '⁴', '⁵', '⁶', '⁷', '⁸', '⁹']
                [d.to_digit(10).unwrap_or(0) as usize],
        })
        .collect();
    if (m - 1.0).abs() < 1e-9 {
        format!("10{sup}")
    } else {
        format!("{}×10{sup}", fmt_num((m * 100.0).round() / 100.0))
    }
}

/// A short decimal: at most four significant digits, no trailing zeros, no `-0`.
pub(crate) fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    if v == 0.0 {
        return "0".into();
    }
    let a = v.abs();
    if !(1e-3..1e5).contains(&a) {
        return fmt_pow10_signed(v);
    }
    let decimals = (3 - a.log10().floor() as i32).clamp(0, 6) as usize;
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    };
    if s == "-0" {
        "0".into()
    } else {
        s
    }
}

fn fmt_pow10_signed(v: f64) -> String {
    let e = v.abs().log10().floor() as i32;
    let m = v / 10f64.powi(e);
    format!("{}e{e}", (m * 100.0).round() / 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_short() {
        assert_eq!(fmt_num(2.0), "2");
        assert_eq!(fmt_num(2.034567), "2.035");
        assert_eq!(fmt_num(-0.00001), "-1e-5");
        assert_eq!(fmt_num(0.5), "0.5");
        assert_eq!(fmt_num(123456.0), "1.23e5");
        assert_eq!(fmt_pow10(1e-3), "10⁻³");
        assert_eq!(fmt_pow10(100.0), "10²");
        assert_eq!(fmt_pow10(5e-3), "5×10⁻³");
    }

    #[test]
    fn quantiles_interpolate() {
        let s = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&s, 0.5), 3.0);
        assert_eq!(quantile(&s, 0.25), 2.0);
        assert!((quantile(&[1.0, 2.0], 0.75) - 1.75).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.9), 7.0);
    }

    #[test]
    fn ticks_are_nice() {
        assert_eq!(nice_step(10.0, 5), 2.0);
        assert_eq!(nice_step(0.7, 10), 0.1);
        assert_eq!(linear_ticks(-1.0, 1.0, 4), vec![-1.0, -0.5, 0.0, 0.5, 1.0]);
        assert_eq!(integer_ticks(0.5, 4.5, 20), vec![1.0, 2.0, 3.0, 4.0]);
        assert_eq!(
            integer_ticks(0.5, 784.5, 10),
            (1..=7).map(|k| k as f64 * 100.0).collect::<Vec<_>>()
        );
    }

    #[test]
    fn log_axis_covers_whole_decades() {
        let a = LogAxis::covering(3e-4, 20.0, 12);
        assert_eq!((a.lo, a.hi), (1e-4, 100.0));
        assert_eq!(a.bold.len(), 7);
        // a range inside one decade still shows two labelled decades
        let a = LogAxis::covering(2.0, 3.0, 12);
        assert!(
            a.lo <= 2.0 && a.hi >= 3.0 && a.bold.len() >= 2,
            "{:?}",
            (a.lo, a.hi, &a.bold)
        );
        // many decades are thinned
        let a = LogAxis::covering(1e-30, 1.0, 8);
        assert!(a.bold.len() <= 8 && a.bold.len() >= 4);
        // the ends of f64 stay finite
        let a = LogAxis::covering(f64::MIN_POSITIVE, f64::INFINITY, 8);
        assert_eq!((a.lo, a.hi), (1e-307, 1e308));
        assert!(a.bold.len() <= 9);
    }

    #[test]
    fn legend_avoids_occupied_corners() {
        let diagonal_down: Vec<_> = densify(&[(0.0, 1.0), (1.0, 0.0)], 50).collect();
        assert_eq!(diagonal_down.len(), 51);
        assert_eq!(
            emptiest_corner(diagonal_down),
            SeriesLabelPosition::UpperRight
        );
        let rising = densify(&[(0.0, 0.0), (1.0, 1.0)], 50);
        assert_eq!(emptiest_corner(rising), SeriesLabelPosition::UpperLeft);
        let high = densify(&[(0.0, 0.9), (1.0, 0.9)], 10);
        assert_eq!(emptiest_corner(high), SeriesLabelPosition::LowerRight);
    }

    #[test]
    fn thinning_keeps_at_most_max() {
        assert_eq!(thinned(10, 20).count(), 10);
        assert!(thinned(1000, 200).count() <= 200);
        assert_eq!(thinned(0, 5).count(), 0);
    }
}

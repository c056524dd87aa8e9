//! Figures for papers, drawn with plotters: singular-value spectra, local-ID histograms,
//! LID-vs-t₀ curves, method comparisons and geodesic paths.
//!
//! Every figure is a plain-data struct with public fields (a `new` constructor fills in the
//! defaults) implementing [`Figure`]. [`Figure::render`] writes a PNG or an SVG chosen by the
//! path's extension, atomically (a failed run leaves no file); [`Figure::to_svg`] returns the SVG
//! text; [`Figure::draw`] draws onto any plotters area, for composing panels. Bad input — empty
//! data, NaN, mismatched lengths — is an [`Error`] naming the problem, never a panic, and is
//! detected before anything is written.
//!
//! Text uses an embedded copy of DejaVu Sans, so figures render on machines without system fonts.
//!
//! ```
//! use scoregeo::plot::{Figure, SpectrumPlot};
//! // three points in D = 4 with a gap after the second singular value: n̂ = 2, ID = 2
//! let spectra = vec![
//!     vec![40.0, 38.0, 0.9, 0.7],
//!     vec![42.0, 37.0, 1.1, 0.6],
//!     vec![41.0, 39.0, 1.0, 0.0], // zeros are drawn at a floor, not lost off the log axis
//! ];
//! let fig = SpectrumPlot::new(spectra, Some(2), 4, 2.0, "max-gap");
//! let svg = fig.to_svg()?;
//! assert!(svg.contains("singular value"));
//! # let dir = tempfile::tempdir().unwrap();
//! fig.render(dir.path().join("spectrum.png"))?; // or .svg
//! # Ok::<(), scoregeo::Error>(())
//! ```

mod comparison;
mod geodesic;
mod histogram;
mod lid;
mod rae;
mod spectrum;
mod style;

pub use comparison::{MethodComparison, MethodResult};

/// Registers the embedded DejaVu Sans face under the `sans-serif`, `serif` and `monospace`
/// families, for callers drawing their own plotters figures beside the library's (the machines
/// this runs on often have no system fonts). Idempotent.
pub fn register_fonts() -> crate::error::Result<()> {
    style::ensure_fonts()
}
pub use geodesic::{GeodesicPath, GeodesicPlot};
pub use histogram::IdHistogram;
pub use lid::LidCurves;
pub use rae::{KMark, RaeSeries, ReconstructionPlot, VarianceProfilePlot};
pub use spectrum::SpectrumPlot;

use crate::error::{Error, Result};
use crate::io::write_atomic;
use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, DrawingBackend, IntoDrawingArea, SVGBackend};
use std::path::Path;

/// The default canvas, width × height in pixels.
pub const DEFAULT_SIZE: (u32, u32) = (900, 600);

/// The smallest and largest canvas side accepted, in pixels.
pub const SIZE_LIMITS: (u32, u32) = (300, 10_000);

/// An image file format, chosen from a path's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImageFormat {
    /// Portable Network Graphics (`.png`), a bitmap.
    Png,
    /// Scalable Vector Graphics (`.svg`), text stays text.
    Svg,
}

impl ImageFormat {
    /// The format of `path` by its extension (case-insensitive); an error names any other.
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("png") => Ok(ImageFormat::Png),
            Some("svg") => Ok(ImageFormat::Svg),
            _ => Err(Error::param(
                "figure path",
                format!("`{}` must end in .png or .svg", path.display()),
            )),
        }
    }
}

/// A figure that can be drawn on any plotters backend and written as PNG or SVG.
pub trait Figure {
    /// Canvas size in pixels (width, height).
    fn size(&self) -> (u32, u32);

    /// Checks the figure's data and draws it onto `area` (which it fills, background included).
    ///
    /// Invalid data is reported before anything is drawn.
    fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<()>;

    /// Writes the figure to `path` as PNG or SVG (by extension), atomically.
    fn render(&self, path: impl AsRef<Path>) -> Result<()>
    where
        Self: Sized,
    {
        render(self, path.as_ref())
    }

    /// The figure as SVG text.
    fn to_svg(&self) -> Result<String>
    where
        Self: Sized,
    {
        let size = checked_size(self.size())?;
        let mut svg = String::new();
        {
            let area = SVGBackend::with_string(&mut svg, size).into_drawing_area();
            self.draw(&area)?;
            area.present().map_err(style::dr)?;
        }
        Ok(svg)
    }
}

fn checked_size((w, h): (u32, u32)) -> Result<(u32, u32)> {
    let (lo, hi) = SIZE_LIMITS;
    if (lo..=hi).contains(&w) && (lo..=hi).contains(&h) {
        Ok((w, h))
    } else {
        Err(Error::param(
            "size",
            format!("{w}×{h} pixels: each side must lie in {lo}..={hi}"),
        ))
    }
}

fn render<F: Figure>(fig: &F, path: &Path) -> Result<()> {
    let format = ImageFormat::from_path(path)?;
    let size = checked_size(fig.size())?;
    let bytes = match format {
        ImageFormat::Svg => fig.to_svg().map_err(|e| at_path(e, path))?.into_bytes(),
        ImageFormat::Png => png_bytes(fig, size, path)?,
    };
    write_atomic(path, |w| w.write_all(&bytes))
}

/// plotters encodes PNG only into a named file: draw into a private temporary directory beside
/// the target, read the bytes back, and let [`write_atomic`] put them in place.
fn png_bytes<F: Figure>(fig: &F, size: (u32, u32), path: &Path) -> Result<Vec<u8>> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let tmp = tempfile::Builder::new()
        .prefix(".scoregeo-plot-")
        .tempdir_in(dir)
        .map_err(|e| Error::io(path, e))?;
    let _partial = crate::io::PartialOutput::register(tmp.path());
    let file = tmp.path().join("figure.png");
    {
        let area = BitMapBackend::new(&file, size).into_drawing_area();
        fig.draw(&area).map_err(|e| at_path(e, path))?;
        area.present().map_err(|e| at_path(style::dr(e), path))?;
    }
    std::fs::read(&file).map_err(|e| Error::io(path, e))
}

/// Attaches the output path to a drawing error raised before the path was known.
fn at_path(e: Error, path: &Path) -> Error {
    match e {
        Error::Io { path: p, cause } if p == Path::new(style::IN_MEMORY) => Error::io(path, cause),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_follows_extension() {
        assert_eq!(ImageFormat::from_path("a/b.PNG").unwrap(), ImageFormat::Png);
        assert_eq!(ImageFormat::from_path("b.svg").unwrap(), ImageFormat::Svg);
        let err = ImageFormat::from_path("fig.jpg").unwrap_err();
        assert!(err.to_string().contains("fig.jpg"), "{err}");
        assert!(ImageFormat::from_path("fig").is_err());
    }

    #[test]
    fn size_is_checked() {
        assert!(checked_size(DEFAULT_SIZE).is_ok());
        let err = checked_size((10, 600)).unwrap_err();
        assert!(err.to_string().contains("10×600"), "{err}");
        assert!(checked_size((900, 20_000)).is_err());
    }

    #[test]
    fn drawing_errors_get_the_output_path() {
        let e = at_path(style::drawing_error("boom"), Path::new("out/fig.png"));
        let msg = e.to_string();
        assert!(
            msg.starts_with("out/fig.png") && msg.contains("boom"),
            "{msg}"
        );
    }
}

//! Figures render to PNG and SVG: files decode, have the requested size, are not blank, show
//! their key marks, SVGs carry their text, and bad input is an error that names the problem.
#![cfg(feature = "plot")]

use scoregeo::data::synthetic::TrueId;
use scoregeo::id::Plateau;
use scoregeo::plot::{
    Figure, GeodesicPath, GeodesicPlot, IdHistogram, LidCurves, MethodComparison, MethodResult,
    SpectrumPlot,
};
use scoregeo::Dataset;
use std::path::{Path, PathBuf};

/// Okabe–Ito vermillion: the cut, the truth, the plateau and the first path are drawn in it.
const VERMILLION: [u8; 3] = [213, 94, 0];

/// A deterministic uniform stream in [0, 1) (64-bit LCG, top 53 bits).
fn uniform(seed: u64) -> impl FnMut() -> f64 {
    let mut s = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    move || {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (s >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// 40 spectra in D = 10 with three large values and a gap: n̂ = 3, ID = 7; one has exact zeros.
fn spectrum_plot() -> SpectrumPlot {
    let mut u = uniform(1);
    let mut spectra: Vec<Vec<f64>> = (0..40)
        .map(|_| {
            let mut s: Vec<f64> = (0..10)
                .map(|i| {
                    if i < 3 {
                        60.0 + 20.0 * u()
                    } else {
                        0.05 + 0.5 * u()
                    }
                })
                .collect();
            s.sort_by(|a, b| b.total_cmp(a));
            s
        })
        .collect();
    spectra[0][8] = 0.0;
    spectra[0][9] = 0.0;
    let mut fig = SpectrumPlot::new(spectra, Some(3), 10, 7.0, "max-gap");
    fig.title = Some("Spectra on a 7-sphere in R^10".into());
    fig
}

fn histogram(truth: Option<TrueId>) -> IdHistogram {
    let mut u = uniform(2);
    let ids: Vec<f64> = (0..300)
        .map(|_| (2.0 + 1.6 * (u() - 0.5)).round())
        .collect();
    let mut h = IdHistogram::new(ids);
    h.truth = truth;
    h.method = Some("nb".into());
    h
}

fn lid_curves() -> LidCurves {
    let t0: Vec<f64> = (0..25).map(|k| 1e-4 * 10f64.powf(k as f64 / 6.0)).collect();
    let mut u = uniform(3);
    // a sigmoid from D = 5 at small t0 down to the plateau ID = 2, then towards 0
    let curves = (0..30)
        .map(|_| {
            let shift = 0.4 * (u() - 0.5);
            t0.iter()
                .map(|t: &f64| {
                    let l = t.log10() + shift;
                    2.0 + 3.0 / (1.0 + ((l + 3.0) * 4.0).exp())
                        - 2.0 / (1.0 + (-(l + 0.5) * 4.0).exp())
                })
                .collect()
        })
        .collect();
    let mut c = LidCurves::new(t0, curves);
    c.plateau = Some(Plateau {
        index: 12,
        t0: 1e-2,
        value: 2.02,
        spread: 0.01,
        window: (11, 13),
        how: "by hand".into(),
    });
    c.truth = Some(2.0);
    c.ambient_dim = Some(5);
    c
}

fn comparison() -> MethodComparison {
    let rows = [
        ("nb", 2.0, 0.8),
        ("jacobian", 2.1, 0.3),
        ("flipd", 2.4, 1.9),
        ("mle", 2.2, 0.05),
        ("twonn", 1.9, 0.02),
    ];
    let methods = rows
        .iter()
        .map(|&(name, est, secs)| MethodResult {
            name: name.into(),
            estimate: est,
            interval: Some((est - 0.3, est + 0.25)),
            seconds: Some(secs),
            colour: None,
        })
        .collect();
    let mut m = MethodComparison::new(methods);
    m.truth = Some(2.0);
    m.ambient_dim = Some(5);
    m
}

/// A noisy circle in ℝ^dim (first two coordinates) and a half-circle path across it.
fn geodesic(dim: usize) -> GeodesicPlot {
    let mut u = uniform(4);
    let rows: Vec<Vec<f64>> = (0..300)
        .map(|_| {
            let a = std::f64::consts::TAU * u();
            let mut x = vec![0.0; dim];
            x[0] = a.cos() + 0.03 * (u() - 0.5);
            x[1] = a.sin() + 0.03 * (u() - 0.5);
            for v in x.iter_mut().skip(2) {
                *v = 0.05 * (u() - 0.5);
            }
            x
        })
        .collect();
    let arc = |k: usize| {
        let a = std::f64::consts::PI * k as f64 / 20.0;
        let mut x = vec![0.0; dim];
        (x[0], x[1]) = (a.cos(), a.sin());
        x
    };
    let chord = (0..=20).map(|k| {
        let mut x = vec![0.0; dim];
        x[0] = 1.0 - 2.0 * k as f64 / 20.0;
        x
    });
    let paths = vec![
        GeodesicPath::new("score geodesic", (0..=20).map(arc).collect()),
        GeodesicPath::new("straight line", chord.collect()),
    ];
    GeodesicPlot::new(Some(Dataset::from_rows(&rows).unwrap()), paths)
}

struct Pixels {
    width: u32,
    height: u32,
    rgb: Vec<[u8; 3]>,
}

impl Pixels {
    fn read(path: &Path) -> Self {
        let img = image::open(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8();
        let (width, height) = img.dimensions();
        Self {
            width,
            height,
            rgb: img.pixels().map(|p| p.0).collect(),
        }
    }

    fn non_white_fraction(&self) -> f64 {
        self.rgb.iter().filter(|p| **p != [255, 255, 255]).count() as f64 / self.rgb.len() as f64
    }

    fn distinct_colours(&self) -> usize {
        let mut c = self.rgb.clone();
        c.sort_unstable();
        c.dedup();
        c.len()
    }

    fn count(&self, colour: [u8; 3]) -> usize {
        self.rgb.iter().filter(|p| **p == colour).count()
    }

    /// The most pixels of `colour` in any one column.
    fn tallest_column(&self, colour: [u8; 3]) -> usize {
        (0..self.width as usize)
            .map(|x| {
                (0..self.height as usize)
                    .filter(|&y| self.rgb[y * self.width as usize + x] == colour)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }
}

/// Renders `fig` as PNG and SVG into `dir`; checks size and content; returns the pixels and SVG.
fn render_both<F: Figure>(fig: &F, dir: &Path, stem: &str) -> (Pixels, String) {
    let png: PathBuf = dir.join(format!("{stem}.png"));
    let svg = dir.join(format!("{stem}.svg"));
    fig.render(&png).unwrap();
    fig.render(&svg).unwrap();
    let px = Pixels::read(&png);
    assert_eq!((px.width, px.height), fig.size(), "{stem}");
    let ink = px.non_white_fraction();
    assert!(
        ink > 0.03 && ink < 0.8,
        "{stem}: {ink} of the pixels are not background"
    );
    assert!(
        px.distinct_colours() > 20,
        "{stem}: only {} colours",
        px.distinct_colours()
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.trim_end().ends_with("</svg>"),
        "{stem}: not an SVG document"
    );
    assert_eq!(
        text,
        fig.to_svg().unwrap(),
        "{stem}: render and to_svg disagree"
    );
    (px, text)
}

/// No temporary file is left beside the outputs.
fn only_outputs(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            name.ends_with(".png") || name.ends_with(".svg"),
            "stray file {name}"
        );
    }
}

#[test]
fn spectrum_figure_marks_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let fig = spectrum_plot();
    let (px, svg) = render_both(&fig, dir.path(), "spectrum");
    for text in [
        "Spectra on a 7-sphere in R^10",
        "singular value",
        "index i",
        "ambient D = 10",
        "estimated ID = 7",
        "max-gap",
        "cut after i = 3",
        "3 normal",
        "7 tangent",
        "10⁻¹",
    ] {
        assert!(svg.contains(text), "SVG lacks `{text}`");
    }
    // the dashed cut is a vertical vermillion line; without a cut there is none
    assert!(
        px.tallest_column(VERMILLION) > 100,
        "{}",
        px.tallest_column(VERMILLION)
    );
    let mut uncut = fig.clone();
    uncut.normal_dim = None;
    let (px, svg) = render_both(&uncut, dir.path(), "uncut");
    assert_eq!(px.tallest_column(VERMILLION), 0);
    assert!(!svg.contains("cut after"));
    // zeros are floored (and said so), not dropped
    assert!(svg.contains("smaller values drawn on it"));
    only_outputs(dir.path());
}

#[test]
fn spectrum_of_one_point_and_large_d_render() {
    let dir = tempfile::tempdir().unwrap();
    let d = 300;
    let spectrum: Vec<f64> = (0..d)
        .map(|i| {
            if i < 290 {
                1000.0 / (1.0 + i as f64 * 0.001)
            } else {
                1e-3
            }
        })
        .collect();
    let fig = SpectrumPlot::new(vec![spectrum], Some(290), d, 10.0, "ratio");
    let (_, svg) = render_both(&fig, dir.path(), "one");
    assert!(svg.contains("1 point ") && svg.contains("rule: ratio"));
}

#[test]
fn histogram_draws_truth_line_or_outline() {
    let dir = tempfile::tempdir().unwrap();
    let (px, svg) = render_both(&histogram(Some(TrueId::Global(2))), dir.path(), "hist");
    for text in [
        "Local intrinsic-dimension estimates",
        "number of points",
        "local intrinsic dimension",
        "true ID = 2",
        "(nb)",
    ] {
        assert!(svg.contains(text), "SVG lacks `{text}`");
    }
    assert!(px.tallest_column(VERMILLION) > 100);
    // per-point truth: an outline, drawn in vermillion with horizontal runs
    let mut u = uniform(5);
    let truth: Vec<usize> = (0..300).map(|_| if u() < 0.5 { 2 } else { 3 }).collect();
    let (px, svg) = render_both(
        &histogram(Some(TrueId::PerPoint(truth))),
        dir.path(),
        "hist_pp",
    );
    assert!(svg.contains("true IDs (histogram outline)"));
    assert!(px.count(VERMILLION) > 300);
    let (px, _) = render_both(&histogram(None), dir.path(), "hist_none");
    assert_eq!(px.count(VERMILLION), 0);
    // real-valued IDs share the integer bins
    let reals = IdHistogram::new(vec![1.7, 2.2, 2.4, 3.1, -0.2]);
    render_both(&reals, dir.path(), "hist_real");
    only_outputs(dir.path());
}

#[test]
fn lid_curves_mark_plateau_and_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (px, svg) = render_both(&lid_curves(), dir.path(), "lid");
    for text in [
        "Local intrinsic dimension against diffusion time",
        "diffusion time t₀",
        "local intrinsic dimension",
        "plateau",
        "true ID = 2",
        "10⁻³",
    ] {
        assert!(svg.contains(text), "SVG lacks `{text}`");
    }
    assert!(px.tallest_column(VERMILLION) > 100, "plateau line");
    assert!(px.count([0, 158, 115]) > 100, "truth line");
    only_outputs(dir.path());
}

#[test]
fn comparison_names_every_method() {
    let dir = tempfile::tempdir().unwrap();
    let (px, svg) = render_both(&comparison(), dir.path(), "methods");
    for text in [
        "Intrinsic-dimension estimates by method",
        "estimated intrinsic dimension",
        "nb",
        "jacobian",
        "twonn",
        "800 ms",
        "1.9 s",
        "true ID = 2",
        "ambient D = 5",
        "inter-quartile range",
    ] {
        assert!(svg.contains(text), "SVG lacks `{text}`");
    }
    assert!(px.count(VERMILLION) > 300, "truth line");
    let one = MethodComparison::new(vec![MethodResult::new("mle", -0.5)]);
    let (_, svg) = render_both(&one, dir.path(), "one_method");
    assert!(svg.contains("mle") && svg.contains("-0.5"));
}

#[test]
fn geodesic_in_plane_and_projected() {
    let dir = tempfile::tempdir().unwrap();
    let (px, svg) = render_both(&geodesic(2), dir.path(), "geo2");
    for text in [
        "Geodesic paths",
        "x₁",
        "x₂",
        "score geodesic",
        "straight line",
        "start",
        "end",
        "data (300 points)",
    ] {
        assert!(svg.contains(text), "SVG lacks `{text}`");
    }
    assert!(!svg.contains("PC1"));
    assert!(px.count(VERMILLION) > 300, "first path");
    let (_, svg) = render_both(&geodesic(5), dir.path(), "geo5");
    for text in [
        "PC1 (",
        "PC2 (",
        "% of variance",
        "ambient D = 5",
        "principal components of the data",
    ] {
        assert!(svg.contains(text), "SVG lacks `{text}`");
    }
    // paths alone (no data): the projection comes from the path nodes
    let mut bare = geodesic(4);
    bare.data = None;
    let (_, svg) = render_both(&bare, dir.path(), "geo_bare");
    assert!(svg.contains("principal components of the path nodes"));
    only_outputs(dir.path());
}

#[test]
fn bad_input_is_an_error_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("fig.png");
    let check = |result: scoregeo::Result<()>, needle: &str| {
        let msg = result.unwrap_err().to_string();
        assert!(msg.contains(needle), "`{msg}` does not mention `{needle}`");
        assert!(!out.exists());
    };
    let mut s = spectrum_plot();
    s.spectra.clear();
    check(s.render(&out), "empty spectra");
    let mut s = spectrum_plot();
    s.spectra[4][2] = f64::NAN;
    check(s.render(&out), "singular value 3 of point 5 is NaN");
    check(IdHistogram::new(vec![]).render(&out), "empty local_ids");
    check(
        IdHistogram::new(vec![2.0, f64::INFINITY]).render(&out),
        "local ID of point 2 is inf",
    );
    let mut c = lid_curves();
    c.curves[1][3] = f64::NAN;
    check(c.render(&out), "LID of point 2");
    check(MethodComparison::new(vec![]).render(&out), "empty methods");
    check(GeodesicPlot::new(None, vec![]).render(&out), "empty paths");
    check(
        spectrum_plot().render(dir.path().join("fig.jpg")),
        "must end in .png or .svg",
    );
    let mut s = spectrum_plot();
    s.size = (20, 20);
    check(s.render(&out), "20×20");
    assert_eq!(
        std::fs::read_dir(dir.path()).unwrap().count(),
        0,
        "a failed render left files behind"
    );
}

#[test]
fn unwritable_destination_names_the_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("missing").join("fig.png");
    let msg = spectrum_plot().render(&out).unwrap_err().to_string();
    assert!(msg.contains("missing"), "{msg}");
}

#[test]
fn custom_size_is_respected() {
    let dir = tempfile::tempdir().unwrap();
    let mut fig = histogram(None);
    fig.size = (1200, 500);
    let (px, _) = render_both(&fig, dir.path(), "wide");
    assert_eq!((px.width, px.height), (1200, 500));
}

#[test]
fn degenerate_but_valid_input_renders() {
    let svg = |fig: &dyn Fn() -> scoregeo::Result<String>, what: &str| {
        let text = fig().unwrap_or_else(|e| panic!("{what}: {e}"));
        assert!(text.contains("</svg>"), "{what}");
    };
    svg(
        &|| SpectrumPlot::new(vec![vec![3.0]], Some(1), 1, 0.0, "max-gap").to_svg(),
        "D = 1",
    );
    svg(
        &|| SpectrumPlot::new(vec![vec![2.0, 2.0]], Some(0), 2, 2.0, "max-gap").to_svg(),
        "flat, no normal direction",
    );
    svg(
        &|| SpectrumPlot::new(vec![vec![1e300, 1e-300]], Some(1), 2, 1.0, "ratio").to_svg(),
        "extreme range",
    );
    svg(
        &|| SpectrumPlot::new(vec![vec![f64::MAX, 0.0]], None, 2, 1.0, "ratio").to_svg(),
        "largest float",
    );
    svg(&|| IdHistogram::new(vec![4.0]).to_svg(), "one point");
    svg(
        &|| IdHistogram::new(vec![-3.2, 250.0]).to_svg(),
        "wide spread",
    );
    svg(
        &|| LidCurves::new(vec![0.5], vec![vec![1.0], vec![1.0]]).to_svg(),
        "one t0",
    );
    svg(
        &|| LidCurves::new(vec![1e-300, 1.0], vec![vec![0.0, 0.0]]).to_svg(),
        "flat curve, huge t0 range",
    );
    svg(
        &|| {
            MethodComparison::new(vec![
                MethodResult::new("a", 0.0),
                MethodResult::new("", 0.0),
            ])
            .to_svg()
        },
        "zeros",
    );
    let same = Dataset::from_rows(&[vec![1.0, 1.0, 1.0], vec![1.0, 1.0, 1.0]]).unwrap();
    let dot = GeodesicPath::new("point", vec![vec![1.0, 1.0, 1.0]]);
    svg(
        &|| GeodesicPlot::new(Some(same.clone()), vec![dot.clone()]).to_svg(),
        "zero variance",
    );
    let far = GeodesicPath::new("far", vec![vec![0.0, 0.0], vec![1e150, -1e150]]);
    svg(
        &|| GeodesicPlot::new(None, vec![far.clone()]).to_svg(),
        "large coordinates",
    );
}

//! What the score-based estimators ([`NormalBundle`](super::NormalBundle),
//! [`JacobianSpectrum`](super::JacobianSpectrum), [`Flipd`](super::Flipd)) share: the diffusion
//! time t₀, the point selection, the seed and the batch size, checked once; the batched loop over
//! the selected points; and the settings every estimate reports.

use super::{LocalEstimate, MethodSettings, PointSelection, Settings};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::score::ScoreModel;
use faer::Mat;

/// The settings every score-based estimator has.
#[derive(Clone, Debug)]
pub(crate) struct ScoreEstimatorCommon {
    /// Time t₀ (`None`: the SDE's [`default_t0`](crate::Sde::default_t0)).
    pub(crate) t0: Option<f64>,
    /// Which points to evaluate.
    pub(crate) points: PointSelection,
    /// Seed of the point selection (and of the estimator's own draws).
    pub(crate) seed: u64,
    /// Rows or points per batched model evaluation.
    pub(crate) batch: usize,
    /// The builder method that sets `batch`, named in its error.
    batch_name: &'static str,
    /// How the evaluation reports progress.
    pub(crate) progress: crate::progress::Progress,
}

impl ScoreEstimatorCommon {
    /// The defaults (t₀ from the SDE, all points, seed 0) with a batch size set by `batch_name`.
    pub(crate) fn new(batch_name: &'static str, batch: usize) -> Self {
        Self {
            t0: None,
            points: PointSelection::All,
            seed: 0,
            batch,
            batch_name,
            progress: crate::progress::Progress::default(),
        }
    }

    /// Checks t₀, then the estimator's `own` settings, then the point selection and the batch
    /// size: the first error in that order is the one reported.
    pub(crate) fn check(&self, own: impl FnOnce() -> Result<()>) -> Result<()> {
        if let Some(t0) = self.t0 {
            crate::check::check_t0(t0)?;
        }
        own()?;
        if self.points == PointSelection::Count(0) {
            return Err(Error::param("points", "need at least one point"));
        }
        if self.batch == 0 {
            return Err(Error::param(self.batch_name, "must be positive"));
        }
        Ok(())
    }

    /// The time t₀ used with `model`.
    pub(crate) fn t0_for(&self, model: &dyn ScoreModel) -> f64 {
        self.t0.unwrap_or_else(|| model.sde().default_t0())
    }

    /// The selected rows of `data` (seeded, ascending).
    pub(crate) fn indices(&self, data: &Dataset) -> Vec<usize> {
        self.points.indices(data.len(), self.seed)
    }

    /// The local estimates at the selected points of `data`, `batch` points at a time behind a
    /// progress bar named `label` (see [`evaluate_in_batches`]).
    pub(crate) fn evaluate_points(
        &self,
        data: &Dataset,
        label: &str,
        batch: impl FnMut(&[usize]) -> Result<Vec<LocalEstimate>>,
    ) -> Result<Vec<LocalEstimate>> {
        evaluate_in_batches(
            &self.indices(data),
            self.batch,
            (self.progress, label),
            batch,
        )
    }

    /// The settings every estimate reports, with the method's `options`; `global` says how the
    /// global ID summarises the local ones.
    pub(crate) fn settings(
        &self,
        model: &dyn ScoreModel,
        t0: f64,
        sigma_t0: f64,
        points_evaluated: usize,
        global: &str,
        options: MethodSettings,
    ) -> Settings {
        Settings {
            t0: Some(t0),
            sigma_t0: Some(sigma_t0),
            seed: Some(self.seed),
            points_evaluated: Some(points_evaluated),
            sde: Some(model.sde().kind()),
            model: Some(model.describe()),
            global: Some(global.to_string()),
            options: Some(options),
            ..Settings::default()
        }
    }
}

/// The settings the three score-based estimators share, to set on whichever builder a caller
/// picks with its `shared` method: one value serves the normal bundle, the Jacobian spectrum and
/// FLIPD alike. The builder's `check` validates them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SharedScoreParams {
    /// Time t₀ (`None`: the builder's own, by default the SDE's [`default_t0`](crate::Sde::default_t0)).
    pub t0: Option<f64>,
    /// Which points to evaluate.
    pub points: PointSelection,
    /// Seed of the point selection and of the estimator's own draws.
    pub seed: u64,
    /// Rows (normal bundle) or points (Jacobian spectrum, FLIPD) per batched model evaluation
    /// (`None`: the builder's own).
    pub batch: Option<usize>,
    /// How the evaluation reports progress.
    pub progress: crate::progress::Progress,
}

impl Default for SharedScoreParams {
    /// Every point, seed 0, a progress bar, t₀ and the batch size left to the builder.
    fn default() -> Self {
        Self {
            t0: None,
            points: PointSelection::All,
            seed: 0,
            batch: None,
            progress: crate::progress::Progress::default(),
        }
    }
}

/// The builder methods of [`ScoreEstimatorCommon`]'s settings, for an estimator's parameter
/// builder holding it as `common`: `t0`, `points`, `seed` and the batch-size method `$batch`
/// (named as in [`ScoreEstimatorCommon::new`]), each with the estimator's own doc line, plus
/// `progress` and `shared`.
macro_rules! score_estimator_setters {
    (t0: $t0_doc:literal, seed: $seed_doc:literal, $batch:ident: $batch_doc:literal $(,)?) => {
        #[doc = $t0_doc]
        pub fn t0(mut self, t0: f64) -> Self {
            self.common.t0 = Some(t0);
            self
        }

        /// Which points to evaluate (default all).
        pub fn points(mut self, points: $crate::id::PointSelection) -> Self {
            self.common.points = points;
            self
        }

        #[doc = $seed_doc]
        pub fn seed(mut self, seed: u64) -> Self {
            self.common.seed = seed;
            self
        }

        #[doc = $batch_doc]
        pub fn $batch(mut self, n: usize) -> Self {
            self.common.batch = n;
            self
        }

        /// How the evaluation reports progress (default a bar on stderr).
        pub fn progress(mut self, progress: $crate::progress::Progress) -> Self {
            self.common.progress = progress;
            self
        }

        /// Sets the settings every score-based estimator takes (see
        /// [`SharedScoreParams`](crate::id::SharedScoreParams)); t₀ and the batch size only
        /// where given.
        pub fn shared(mut self, shared: $crate::id::SharedScoreParams) -> Self {
            if shared.t0.is_some() {
                self.common.t0 = shared.t0;
            }
            self.common.points = shared.points;
            self.common.seed = shared.seed;
            if let Some(n) = shared.batch {
                self.common.batch = n;
            }
            self.common.progress = shared.progress;
            self
        }
    };
}
pub(crate) use score_estimator_setters;

/// The builder methods `rule` and `normal_floor` of an estimator that reads a spectrum, for a
/// builder with those two fields; `$floor_doc` says what ν is relative to.
macro_rules! readoff_setters {
    (normal_floor: $floor_doc:literal $(,)?) => {
        /// Read-off rule (default max-gap).
        pub fn rule(mut self, rule: $crate::id::Rule) -> Self {
            self.rule = rule;
            self
        }

        #[doc = $floor_doc]
        pub fn normal_floor(mut self, nu: f64) -> Self {
            self.normal_floor = nu;
            self
        }
    };
}
pub(crate) use readoff_setters;

/// The local estimates at `indices`, `per_batch` points at a time, behind a progress bar named
/// `label`; `batch` turns a chunk of row indices into their estimates, in order.
pub(crate) fn evaluate_in_batches(
    indices: &[usize],
    per_batch: usize,
    (progress, label): (crate::progress::Progress, &str),
    batch: impl FnMut(&[usize]) -> Result<Vec<LocalEstimate>>,
) -> Result<Vec<LocalEstimate>> {
    let mut run = BatchRun::new(indices.len(), (progress, label));
    run.extend(indices, per_batch, batch)?;
    Ok(run.finish())
}

/// Local estimates gathered in batches behind one progress bar, over one or more runs of
/// indices (the normal bundle's pilot points, then the rest with a schedule they chose).
pub(crate) struct BatchRun {
    bar: indicatif::ProgressBar,
    points: Vec<LocalEstimate>,
}

impl BatchRun {
    /// A bar over `total` points named `label`.
    pub(crate) fn new(total: usize, (progress, label): (crate::progress::Progress, &str)) -> Self {
        Self {
            bar: progress.bar(total as u64, label),
            points: Vec::with_capacity(total),
        }
    }

    /// Evaluates `indices`, `per_batch` at a time, appending their estimates in order.
    pub(crate) fn extend(
        &mut self,
        indices: &[usize],
        per_batch: usize,
        mut batch: impl FnMut(&[usize]) -> Result<Vec<LocalEstimate>>,
    ) -> Result<()> {
        for chunk in indices.chunks(per_batch) {
            self.points.extend(batch(chunk)?);
            self.bar.inc(chunk.len() as u64);
        }
        Ok(())
    }

    /// The estimates so far.
    pub(crate) fn points(&self) -> &[LocalEstimate] {
        &self.points
    }

    /// Clears the bar and returns every estimate, in order.
    pub(crate) fn finish(self) -> Vec<LocalEstimate> {
        self.bar.finish_and_clear();
        self.points
    }
}

/// Checks a normal floor ν ∈ [0, 1).
pub(crate) fn check_normal_floor(nu: f64) -> Result<()> {
    if !(0.0..1.0).contains(&nu) {
        return Err(Error::param(
            "normal_floor",
            format!("must lie in [0, 1), got {nu}"),
        ));
    }
    Ok(())
}

/// The kernel means α(t₀)x₀ + (1 − α)c of the chosen rows: where the diffused manifold sits.
pub(crate) fn kernel_means(
    model: &dyn ScoreModel,
    data: &Dataset,
    indices: &[usize],
    t0: f64,
) -> Mat<f64> {
    let kernel = model.kernel(t0);
    let d = data.dim();
    let mut out = Mat::zeros(indices.len(), d);
    let mut row = vec![0.0; d];
    for (r, &i) in indices.iter().enumerate() {
        kernel.mean_into(data.row(i), &mut row);
        for j in 0..d {
            out[(r, j)] = row[j];
        }
    }
    out
}

/// Checks that a model fits the data and the data is not empty.
pub(crate) fn check_inputs(model: &dyn ScoreModel, data: &Dataset) -> Result<()> {
    crate::check::check_dim(model.dim(), data.dim(), "the score model")?;
    if data.is_empty() {
        return Err(Error::InvalidData("the dataset has no points".into()));
    }
    // the estimators form squared norms of scores and displacements at the data's scale
    data.check_spread()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_come_in_order() {
        let mut common = ScoreEstimatorCommon::new("batch_points", 0);
        common.points = PointSelection::Count(0);
        let first = |c: &ScoreEstimatorCommon, own: Result<()>| c.check(|| own).unwrap_err();
        assert!(first(&common, Ok(())).to_string().contains("`points`"));
        assert!(first(&common, check_normal_floor(1.0))
            .to_string()
            .contains("`normal_floor`"));
        common.t0 = Some(0.0);
        assert!(first(&common, check_normal_floor(1.0))
            .to_string()
            .contains("`t0`"));
        common.t0 = None;
        common.points = PointSelection::All;
        assert_eq!(
            first(&common, Ok(())).to_string(),
            "invalid parameter `batch_points`: must be positive"
        );
        common.batch = 1;
        assert!(common.check(|| Ok(())).is_ok());
    }
}

//! Progress reporting, one mechanism for every long computation: the settings of the estimators
//! (`progress` on their builders), the geodesic solver, flow training and score-model training
//! ([`Session::set_progress`](crate::train::Session::set_progress),
//! [`CacheOptions::progress`](crate::train::CacheOptions::progress)) each take a [`Progress`]: a
//! bar on stderr by default (drawn only when stderr is a terminal), or nothing.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How a long computation reports its progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Progress {
    /// A bar on stderr (not drawn when stderr is not a terminal).
    #[default]
    Bar,
    /// No report.
    Hidden,
}

impl Progress {
    /// [`Progress::Hidden`] when `quiet`, else [`Progress::Bar`].
    pub fn quiet_if(quiet: bool) -> Self {
        if quiet {
            Progress::Hidden
        } else {
            Progress::Bar
        }
    }

    /// A bar of `len` steps named `message`, drawn as this setting says.
    pub fn bar(self, len: u64, message: &str) -> ProgressBar {
        let target = match self {
            Progress::Bar => ProgressDrawTarget::stderr(),
            Progress::Hidden => ProgressDrawTarget::hidden(),
        };
        let pb = ProgressBar::with_draw_target(Some(len), target);
        pb.set_style(
            ProgressStyle::with_template(
                "{msg:>12} [{elapsed_precise}] {wide_bar} {pos}/{len} ({eta})",
            )
            .expect("valid template"),
        );
        pb.set_message(message.to_string());
        pb
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_bars_are_hidden_and_quiet_means_hidden() {
        assert!(Progress::Hidden.bar(3, "x").is_hidden());
        assert_eq!(Progress::quiet_if(true), Progress::Hidden);
        assert_eq!(Progress::quiet_if(false), Progress::Bar);
        assert_eq!(Progress::default(), Progress::Bar);
    }
}

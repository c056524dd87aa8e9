//! Library errors: every failure names the file, line, column or tensor at fault.
//!
//! Each message is complete: it already ends with its cause (the I/O or candle error), so
//! [`std::error::Error::source`] is `None` for every variant. A printer that walks the chain of
//! causes (anyhow's `{:#}`) therefore shows each cause once.

use std::path::PathBuf;

/// Errors returned by scoregeo.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be opened, read or written.
    #[error("{path}: {cause}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The underlying I/O error (printed in the message, so not a `source`).
        cause: std::io::Error,
    },
    /// A data file is malformed at a known place.
    #[error("{path}:{line}:{column}: {message}")]
    Parse {
        /// The file at fault.
        path: PathBuf,
        /// 1-based line (or row) number.
        line: usize,
        /// 1-based column number (0 when the whole line is at fault).
        column: usize,
        /// What is wrong there.
        message: String,
    },
    /// A file is malformed in a way that has no line (binary formats, headers).
    #[error("{path}: {message}")]
    Format {
        /// The file at fault.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Data in memory is unusable (empty, non-finite, wrong shape).
    #[error("invalid data: {0}")]
    InvalidData(String),
    /// A parameter is out of its valid range.
    #[error("invalid parameter `{name}`: {message}")]
    InvalidParameter {
        /// The parameter's name as the user knows it.
        name: &'static str,
        /// Why the value is rejected.
        message: String,
    },
    /// Two dimensions that must agree do not.
    #[error("dimension mismatch: {context} expects {expected}, found {found}")]
    DimensionMismatch {
        /// What expects the dimension.
        context: String,
        /// The dimension expected.
        expected: usize,
        /// The dimension found.
        found: usize,
    },
    /// A model file or its configuration is unusable.
    #[error("model {}: {message}", path.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "(in memory)".into()))]
    Model {
        /// The model file, when there is one.
        path: Option<PathBuf>,
        /// What is wrong.
        message: String,
    },
    /// A named tensor is missing or has the wrong shape.
    #[error("tensor `{name}`: {message}")]
    Tensor {
        /// The tensor's name.
        name: String,
        /// What is wrong.
        message: String,
    },
    /// A numerical routine failed (non-convergence, non-finite result).
    #[error("numerical failure: {0}")]
    Numerical(String),
    /// An error raised inside candle (printed in the message, so not a `source`).
    #[error("candle: {0}")]
    Candle(candle_core::Error),
}

impl From<candle_core::Error> for Error {
    fn from(e: candle_core::Error) -> Self {
        Error::Candle(e)
    }
}

/// Result with the library [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error attached to its file.
    pub fn io(path: impl Into<PathBuf>, cause: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            cause,
        }
    }

    /// A parameter error.
    pub fn param(name: &'static str, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_printed_once_and_not_chained() {
        let e = Error::io(
            "missing.csv",
            std::io::Error::new(std::io::ErrorKind::NotFound, "No such file"),
        );
        assert_eq!(e.to_string(), "missing.csv: No such file");
        assert!(std::error::Error::source(&e).is_none());
        let e = Error::from(candle_core::Error::Msg("boom".into()));
        assert_eq!(e.to_string(), "candle: boom");
        assert!(std::error::Error::source(&e).is_none());
    }
}

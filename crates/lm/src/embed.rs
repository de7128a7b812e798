//! Sentence embeddings from a BERT-style encoder (all-MiniLM-L6-v2 by
//! default): mean of the last hidden state over real tokens, L2-normalised,
//! as sentence-transformers computes them.

use std::path::{Path, PathBuf};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{DynValue, Tensor};
use tokenizers::{Tokenizer, TruncationParams};

use crate::error::{LmError, Result};
use crate::runtime::{cache_dir, environment};

/// The embedding model used when none is named (`make models` fetches it).
pub const DEFAULT_EMBED_MODEL: &str = "all-minilm-l6-v2";
/// Longest input in tokens (sentence-transformers' limit for this model).
const MAX_TOKENS: usize = 256;

/// A sentence-embedding model on ONNX Runtime (mean-pooled, normalised).
pub struct Embedder {
    session: Session,
    tokenizer: Tokenizer,
    has_token_types: bool,
    output: String,
}

impl Embedder {
    /// Loads `dir` (model.onnx + tokenizer.json), or the default from the cache.
    pub fn load(dir: Option<&Path>, threads: usize) -> Result<Self> {
        let dir = match dir {
            Some(d) => d.to_path_buf(),
            None => default_dir()?,
        };
        let (onnx, tok) = (dir.join("model.onnx"), dir.join("tokenizer.json"));
        for f in [&onnx, &tok] {
            if !f.is_file() {
                return Err(LmError::model(
                    &dir,
                    format!(
                        "has no {}",
                        f.file_name().unwrap_or_default().to_string_lossy()
                    ),
                ));
            }
        }
        let mut tokenizer = crate::model::load_tokenizer(&tok)?;
        // The shipped tokenizer pads every input to 128; batches pad themselves.
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| LmError::model(&tok, e.to_string()))?;
        let mut builder = Session::builder(environment()?)?
            .with_optimization_level(GraphOptimizationLevel::Level3)?;
        if threads > 0 {
            builder = builder.with_intra_threads(threads)?;
        }
        let session = builder
            .commit_from_file(&onnx)
            .map_err(|e| LmError::model(&onnx, format!("ONNX Runtime could not load it: {e}")))?;
        let inputs: Vec<&str> = session.inputs().iter().map(|o| o.name()).collect();
        if !inputs.contains(&"input_ids")
            || !inputs.contains(&"attention_mask")
            || inputs.iter().any(|n| n.starts_with("past_key_values"))
        {
            return Err(LmError::layout(
                &onnx,
                format!("expected an encoder with inputs input_ids, attention_mask[, token_type_ids]; found: {}", inputs.join(", ")),
            ));
        }
        let has_token_types = inputs.contains(&"token_type_ids");
        let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
        let output = if outputs.contains(&"last_hidden_state") {
            "last_hidden_state"
        } else {
            outputs[0]
        }
        .to_string();
        Ok(Embedder {
            session,
            tokenizer,
            has_token_types,
            output,
        })
    }

    /// One unit vector per text.
    pub fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let encodings = self
            .tokenizer
            .encode_batch(texts.to_vec(), true)
            .map_err(|e| LmError::Invalid(format!("tokenizer: {e}")))?;
        let width = encodings.iter().map(|e| e.len()).max().unwrap_or(1).max(1);
        let batch = texts.len();
        let (mut ids, mut mask) = (vec![0i64; batch * width], vec![0i64; batch * width]);
        for (b, e) in encodings.iter().enumerate() {
            for (j, &id) in e.get_ids().iter().enumerate() {
                ids[b * width + j] = id as i64;
                mask[b * width + j] = 1;
            }
        }
        let shape = [batch as i64, width as i64];
        let mut feed: Vec<(String, DynValue)> = vec![
            (
                "input_ids".into(),
                Tensor::from_array((shape, ids))?.into_dyn(),
            ),
            (
                "attention_mask".into(),
                Tensor::from_array((shape, mask.clone()))?.into_dyn(),
            ),
        ];
        if self.has_token_types {
            feed.push((
                "token_type_ids".into(),
                Tensor::from_array((shape, vec![0i64; batch * width]))?.into_dyn(),
            ));
        }
        let outputs = self.session.run(feed)?;
        let (out_shape, hidden) = outputs[self.output.as_str()].try_extract_tensor::<f32>()?;
        let dim = out_shape[2] as usize;
        Ok((0..batch)
            .map(|b| {
                mean_pool(
                    &hidden[b * width * dim..(b + 1) * width * dim],
                    &mask[b * width..(b + 1) * width],
                    dim,
                )
            })
            .collect())
    }
}

fn mean_pool(hidden: &[f32], mask: &[i64], dim: usize) -> Vec<f32> {
    let mut sum = vec![0f64; dim];
    let mut count = 0.0f64;
    for (j, &m) in mask.iter().enumerate() {
        if m == 1 {
            count += 1.0;
            for (s, &h) in sum.iter_mut().zip(&hidden[j * dim..(j + 1) * dim]) {
                *s += h as f64;
            }
        }
    }
    let mean: Vec<f64> = sum.iter().map(|s| s / count.max(1.0)).collect();
    let norm = mean.iter().map(|x| x * x).sum::<f64>().sqrt().max(1e-12);
    mean.iter().map(|x| (x / norm) as f32).collect()
}

/// Cosine similarity of two unit vectors.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (*x as f64) * (*y as f64))
        .sum()
}

fn default_dir() -> Result<PathBuf> {
    let dir = cache_dir().join("models").join(DEFAULT_EMBED_MODEL);
    if dir.join("model.onnx").is_file() {
        return Ok(dir);
    }
    Err(LmError::model(
        &dir,
        "the default embedding model is not there; run `make models` in the refinery repository, \
         or name a model directory with --model",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mean_pooling_ignores_padding_and_normalises() {
        let hidden = [1.0, 0.0, 3.0, 0.0, 100.0, 100.0];
        let v = mean_pool(&hidden, &[1, 1, 0], 2);
        assert!((v[0] - 1.0).abs() < 1e-6 && v[1].abs() < 1e-6);
        assert!((cosine(&v, &v) - 1.0).abs() < 1e-9);
    }
}

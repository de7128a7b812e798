//! A causal LM: a decoder session, its tokenizer and its `lm.json`, with
//! prompt formatting and the context-length policy.

use std::path::Path;

use tokenizers::Tokenizer;

use crate::config::{LmConfig, ModelDir};
use crate::decoder::{Decoder, LoadOptions};
use crate::error::{LmError, Result};
use crate::prompt::{ChatTemplate, PromptMode};

/// A causal LM: decoder graph, tokenizer, `lm.json` and chat template.
pub struct CausalLm {
    pub(crate) decoder: Decoder,
    tokenizer: Tokenizer,
    /// The model's `lm.json`.
    pub config: LmConfig,
    template: Option<ChatTemplate>,
    /// A prefix run once and reused (see `remember_prefix`).
    pub(crate) remembered: Option<(Vec<u32>, crate::decoder::KvCache)>,
    /// The largest KV cache `generate` has held, in bytes.
    pub(crate) kv_cache_peak: usize,
}

/// Reads a tokenizer.json, handing the memory its parsing frees back to the
/// OS (`refinery_core::cli::purge_freed`): the parse's leftovers would
/// otherwise stay under the model loaded next and add to the peak (a short
/// generate's peak: Gemma 3 270M 913 -> 536 MB, SmolLM2 269 -> 218 MB).
/// Errors: a missing or malformed file, named.
pub(crate) fn load_tokenizer(path: &Path) -> Result<Tokenizer> {
    let _purging = refinery_core::cli::purge_freed();
    Tokenizer::from_file(path)
        .map_err(|e| LmError::model(path, format!("not a tokenizer.json: {e}")))
}

/// A prompt cut to fit the context: the ids and how many were dropped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fitted {
    /// The ids kept.
    pub ids: Vec<u32>,
    /// How many were dropped from the start.
    pub dropped: usize,
}

impl CausalLm {
    /// Loads `dir`, or the default model from the project cache when `None`.
    pub fn load(dir: Option<&Path>, options: &LoadOptions) -> Result<Self> {
        let model = ModelDir::open(dir)?;
        // The tokenizer first: the session's load, which peaks while ONNX
        // Runtime repacks the weights, then adds to the tokenizer as held.
        let tokenizer = load_tokenizer(&model.tokenizer())?;
        let decoder = Decoder::load(&model.onnx(), options)?;
        let template = match &model.config.chat_template {
            Some(source) => Some(
                ChatTemplate::new(source)
                    .map_err(|e| LmError::model(model.dir.join("lm.json"), e.to_string()))?,
            ),
            None => None,
        };
        let vocab = tokenizer.get_vocab_size(true);
        if let Some(&bad) = model
            .config
            .eos_token_ids
            .iter()
            .find(|&&id| id as usize >= vocab)
        {
            return Err(LmError::model(
                model.dir.join("lm.json"),
                format!("eos token id {bad} is outside the vocabulary ({vocab})"),
            ));
        }
        Ok(CausalLm {
            decoder,
            tokenizer,
            config: model.config,
            template,
            remembered: None,
            kv_cache_peak: 0,
        })
    }

    /// Layers, KV heads and head size, as read from the graph.
    pub fn decoder_layout(&self) -> &crate::layout::DecoderLayout {
        &self.decoder.layout
    }

    /// The largest KV cache any `generate` call has held since the model
    /// loaded, in bytes: rows × positions allocated × `cache_bytes_per_token`
    /// (the in-place cache counts the room it has allocated, used or not;
    /// `--no-kv-cache` counts the cache each step builds and drops). For a
    /// moment a step can hold about twice this: the copying cache's old and
    /// new tensors, or the in-place cache's while it grows.
    pub fn kv_cache_peak(&self) -> usize {
        self.kv_cache_peak
    }

    /// Tokens in the vocabulary, added tokens included.
    pub fn vocab_size(&self) -> usize {
        self.tokenizer.get_vocab_size(true)
    }

    /// Whether `PromptMode::Chat` can format prompts for this model.
    pub fn has_chat_template(&self) -> bool {
        self.template.is_some()
    }

    /// The model's name (`lm.json`).
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Longest sequence, in tokens.
    pub fn context_length(&self) -> usize {
        self.config.context_length
    }

    /// Whether `id` ends a response.
    pub fn is_eos(&self, id: u32) -> bool {
        self.config.eos_token_ids.contains(&id)
    }

    /// The side the graph wants a batch's shorter rows padded on.
    pub fn padding_side(&self) -> crate::config::PaddingSide {
        self.config.padding_side
    }

    /// The token that pads a batch's shorter rows.
    pub fn pad_id(&self) -> u32 {
        self.config
            .pad_token_id
            .unwrap_or(self.config.eos_token_ids[0])
    }

    /// Token ids of `text`. Special tokens written in the text (a chat
    /// template's `<|im_start|>`) are recognised; a BOS is added when
    /// `lm.json` asks for one and the text does not already begin with it
    /// (a chat template that writes `{{ bos_token }}` itself, as Llama 3's
    /// does: llama.cpp and Transformers also keep a single BOS there).
    pub fn encode(&self, text: &str) -> Result<Vec<u32>> {
        let body = self.tokenize(text)?;
        Ok(with_bos(
            self.config.add_bos_token,
            self.config.bos_token_id,
            body,
        ))
    }

    /// Token ids of `text` alone (never a BOS): for pieces appended to a prompt.
    pub fn tokenize(&self, text: &str) -> Result<Vec<u32>> {
        let encoding = self
            .tokenizer
            .encode(text, false)
            .map_err(|e| LmError::Invalid(format!("tokenizer: {e}")))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The text of `ids`, special tokens included, exactly as the tokenizer
    /// decodes it (invalid UTF-8 from a cut multi-byte character becomes U+FFFD).
    pub fn decode(&self, ids: &[u32]) -> Result<String> {
        self.tokenizer
            .decode(ids, false)
            .map_err(|e| LmError::Invalid(format!("tokenizer: {e}")))
    }

    /// The text the model sees for a scenario.
    pub fn format(&self, mode: PromptMode, system: Option<&str>, prompt: &str) -> Result<String> {
        match mode {
            PromptMode::Raw => Ok(match system {
                Some(system) => format!("{system}\n\n{prompt}"),
                None => prompt.to_string(),
            }),
            PromptMode::Chat => {
                let template = self.template.as_ref().ok_or_else(|| {
                    LmError::Invalid(format!(
                        "model {} has no chat template in lm.json; use --raw",
                        self.name()
                    ))
                })?;
                let token = |id: Option<u32>| {
                    id.and_then(|id| self.tokenizer.id_to_token(id))
                        .unwrap_or_default()
                };
                template.render(
                    system,
                    prompt,
                    &token(self.config.bos_token_id),
                    &token(self.config.eos_token_ids.first().copied()),
                )
            }
        }
    }

    /// Keeps the prompt within the context, leaving room for `reserve` new
    /// tokens: the last tokens are kept (the end of a scenario is what the
    /// continuation depends on), or, with `truncate` off, an error.
    pub fn fit(&self, ids: Vec<u32>, reserve: usize, truncate: bool) -> Result<Fitted> {
        let context = self.context_length();
        if reserve >= context {
            return Err(LmError::Invalid(format!(
                "{reserve} new tokens do not fit the model's context of {context} tokens"
            )));
        }
        let limit = context - reserve;
        if ids.len() <= limit {
            return Ok(Fitted { ids, dropped: 0 });
        }
        if !truncate {
            return Err(LmError::TooLong {
                tokens: ids.len(),
                limit,
                context,
            });
        }
        let dropped = ids.len() - limit;
        Ok(Fitted {
            ids: ids[dropped..].to_vec(),
            dropped,
        })
    }
}

/// `body` with `bos` in front when `add` is set and it is not there already.
fn with_bos(add: bool, bos: Option<u32>, body: Vec<u32>) -> Vec<u32> {
    match bos {
        Some(bos) if add && body.first() != Some(&bos) => {
            std::iter::once(bos).chain(body).collect()
        }
        _ => body,
    }
}

#[cfg(test)]
mod tests {
    use super::with_bos;

    #[test]
    fn one_bos_whoever_writes_it() {
        // The tokenizer adds it; the template wrote it; both; neither.
        assert_eq!(with_bos(true, Some(1), vec![7, 8]), vec![1, 7, 8]);
        assert_eq!(with_bos(false, Some(1), vec![1, 7, 8]), vec![1, 7, 8]);
        assert_eq!(with_bos(true, Some(1), vec![1, 7, 8]), vec![1, 7, 8]);
        assert_eq!(with_bos(false, Some(1), vec![7, 8]), vec![7, 8]);
        assert_eq!(with_bos(true, None, vec![7, 8]), vec![7, 8]);
    }
}

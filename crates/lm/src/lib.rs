//! Causal language models on ONNX Runtime, for `generate` and the judges.
//!
//! - [`runtime`]: finding the ONNX Runtime library (never a panic from `ort`).
//! - [`config`]: a model directory (`model.onnx`, `tokenizer.json`, `lm.json`).
//! - [`layout`]: reading layers, KV heads and head size from the graph.
//! - [`decoder`]: one forward pass and the KV cache.
//! - [`model`]: [`CausalLm`], tokenizer, prompt formatting, context policy.
//! - [`generate`]: batched generation, greedy or seeded sampling.
//! - [`score`]: next-token log-probabilities and continuation scores.
//! - [`integers`]: the probability of each answer 0..100 over digit tokens.
//! - [`embed`]: sentence embeddings (MiniLM).
//! - [`definition`], [`judge`]: the trait judges `vet-score` and `first-tokens` share.
//! - [`likelihood`]: the likelihood judge (HIGH vs LOW phrases after the text).
//! - [`selfcheck`]: how well a judge separates positives from negatives on the data it vets.

#![warn(missing_docs)]

pub mod cli;
pub mod config;
pub mod decoder;
pub mod definition;
pub mod embed;
pub mod error;
pub mod generate;
pub mod integers;
pub mod judge;
pub mod layout;
pub mod likelihood;
pub mod model;
pub mod prompt;
pub mod runtime;
pub mod sampling;
pub mod score;
pub mod selfcheck;
pub mod shared_cache;

pub use cli::ModelArgs;
pub use config::{LmConfig, ModelDir, DEFAULT_MODEL};
pub use decoder::LoadOptions;
pub use definition::{Band, Definition};
pub use embed::Embedder;
pub use error::{LmError, Result};
pub use generate::{Finish, GenerateParams, Generation, Request};
pub use integers::{DigitTokens, IntegerDistribution};
pub use judge::{first_words, EmbedJudge, Item, JudgeQuestion, Judgement, LmJudge};
pub use likelihood::{Anchors, Calibration, LikelihoodJudge, RunCalibration};
pub use model::{CausalLm, Fitted};
pub use prompt::PromptMode;
pub use sampling::Sampling;
pub use score::{ContinuationScore, PrefixState};
pub use selfcheck::{Finding, PairOrder, Separation, DEFAULT_MIN_AUC};

//! One forward pass of a decoder session, and the KV cache it carries.
//!
//! The cache's tensors go from one step's outputs straight into the next
//! step's inputs, so ONNX Runtime never copies them through Rust.

use std::path::{Path, PathBuf};

use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{DynValue, Tensor};

use crate::error::{LmError, Result};
use crate::layout::{DecoderLayout, Signature};
use crate::runtime::environment;

/// Options for opening a session.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    /// Intra-op threads (0 = ONNX Runtime's default: one per core).
    pub threads: usize,
}

/// A decoder-only graph on ONNX Runtime: one session, run a step at a
/// time over a batch with its KV cache.
pub struct Decoder {
    pub(crate) session: Session,
    /// Layers, heads and inputs read from the graph.
    pub layout: DecoderLayout,
    /// The `model.onnx` it was loaded from, for messages.
    pub path: PathBuf,
}

/// Past keys and values for a batch: `2 * layers` tensors
/// `[batch, kv_heads, len, head_dim]`, key then value per layer.
pub struct KvCache {
    pub(crate) values: Vec<DynValue>,
    /// Rows in the batch.
    pub batch: usize,
    /// Positions cached per row.
    pub len: usize,
}

/// The inputs of one step, row-major: `input_ids` is `batch * seq`, the mask
/// `batch * (past + seq)`.
pub struct StepInput<'a> {
    /// Rows in the step.
    pub batch: usize,
    /// Token ids, `batch * seq`.
    pub input_ids: &'a [i64],
    /// 1 for a real token, 0 for padding, `batch * (past + seq)`.
    pub attention_mask: &'a [i64],
    /// Each token's position, `batch * seq` (graphs that take them).
    pub position_ids: &'a [i64],
    /// Logits for the last `keep` positions only (0 = every position).
    pub keep: usize,
}

/// `[batch, positions, vocab]` logits.
pub struct Logits {
    /// The logits, row-major.
    pub data: Vec<f32>,
    /// Rows.
    pub batch: usize,
    /// Positions per row.
    pub positions: usize,
    /// Vocabulary size.
    pub vocab: usize,
}

impl Logits {
    /// The logits of row `b` at `position`, `vocab` long.
    pub fn row(&self, b: usize, position: usize) -> &[f32] {
        let start = (b * self.positions + position) * self.vocab;
        &self.data[start..start + self.vocab]
    }

    /// The logits of row `b` at its last position.
    pub fn last(&self, b: usize) -> &[f32] {
        self.row(b, self.positions - 1)
    }

    /// The last `input.keep` positions of each row of a step's `logits`
    /// output `[batch, positions, vocab]` (all of them when `keep` is 0 or
    /// the graph returned no more).
    pub(crate) fn kept(logits: &DynValue, input: &StepInput) -> Result<Self> {
        let (shape, data) = logits.try_extract_tensor::<f32>()?;
        let (positions, vocab) = (shape[1] as usize, shape[2] as usize);
        // Without num_logits_to_keep the graph returns every position.
        let skip = if input.keep > 0 && positions > input.keep {
            positions - input.keep
        } else {
            0
        };
        let kept = positions - skip;
        let mut out = Vec::with_capacity(input.batch * kept * vocab);
        for row in 0..input.batch {
            let start = (row * positions + skip) * vocab;
            out.extend_from_slice(&data[start..start + kept * vocab]);
        }
        Ok(Logits {
            data: out,
            batch: input.batch,
            positions: kept,
            vocab,
        })
    }
}

impl Decoder {
    /// Loads `path` with `options`' threads. Errors: no runtime, a graph
    /// that is not a decoder in a known layout.
    pub fn load(path: &Path, options: &LoadOptions) -> Result<Self> {
        let env = environment()?;
        let mut builder =
            Session::builder(env)?.with_optimization_level(GraphOptimizationLevel::Level3)?;
        if options.threads > 0 {
            builder = builder.with_intra_threads(options.threads)?;
        }
        let session = builder
            .commit_from_file(path)
            .map_err(|e| LmError::model(path, format!("ONNX Runtime could not load it: {e}")))?;
        let layout =
            DecoderLayout::read(path, &Signature::of(session.inputs(), session.outputs()))?;
        Ok(Decoder {
            session,
            layout,
            path: path.to_path_buf(),
        })
    }

    /// A cache holding nothing, for `batch` rows.
    pub fn empty_cache(&self, batch: usize) -> Result<KvCache> {
        let shape = [
            batch as i64,
            self.layout.kv_heads as i64,
            0,
            self.layout.head_dim as i64,
        ];
        let values = (0..2 * self.layout.layers)
            .map(|_| Ok(Tensor::from_array((shape, Vec::<f32>::new()))?.into_dyn()))
            .collect::<Result<Vec<_>>>()?;
        Ok(KvCache {
            values,
            batch,
            len: 0,
        })
    }

    /// Runs one step and returns its logits and the grown cache.
    pub fn forward(&mut self, input: &StepInput, cache: KvCache) -> Result<(Logits, KvCache)> {
        let seq = input.input_ids.len() / input.batch;
        let total = cache.len + seq;
        debug_assert_eq!(input.attention_mask.len(), input.batch * total);
        let mut feed: Vec<(&str, DynValue)> = self.step_inputs(input, total)?;
        for (i, value) in cache.values.into_iter().enumerate() {
            feed.push((self.layout.past_name(i), value));
        }
        let mut outputs = self.session.run(feed)?;
        let logits = Logits::kept(&outputs["logits"], input)?;
        let mut values = Vec::with_capacity(2 * self.layout.layers);
        for i in 0..2 * self.layout.layers {
            let name = self.layout.present_name(i);
            values.push(
                outputs
                    .remove(name)
                    .ok_or_else(|| LmError::Inference(format!("no output {name}")))?,
            );
        }
        Ok((
            logits,
            KvCache {
                values,
                batch: input.batch,
                len: total,
            },
        ))
    }

    /// A step's inputs other than the cache, by graph input name: ids,
    /// the mask over `total` positions, and the positions and logits to
    /// keep where the graph takes them.
    pub(crate) fn step_inputs(
        &self,
        input: &StepInput,
        total: usize,
    ) -> Result<Vec<(&'static str, DynValue)>> {
        let seq = input.input_ids.len() / input.batch;
        let b = input.batch as i64;
        let mut inputs = vec![
            ("input_ids", tensor_i64([b, seq as i64], input.input_ids)?),
            (
                "attention_mask",
                tensor_i64([b, total as i64], input.attention_mask)?,
            ),
        ];
        if self.layout.has_position_ids {
            let positions = tensor_i64([b, seq as i64], input.position_ids)?;
            inputs.push(("position_ids", positions));
        }
        if self.layout.has_logits_to_keep {
            let keep = Tensor::from_array(([0usize; 0], vec![input.keep as i64]))?;
            inputs.push(("num_logits_to_keep", keep.into_dyn()));
        }
        Ok(inputs)
    }

    /// Bytes of KV cache one row holds per token (keys and values, every
    /// layer, float32).
    pub fn cache_bytes_per_token(&self) -> usize {
        2 * self.layout.layers * self.layout.kv_heads * self.layout.head_dim * 4
    }

    /// The cache of a batch of one, repeated `n` times (a shared prefix).
    pub fn repeat_cache(&self, cache: &KvCache, n: usize) -> Result<KvCache> {
        self.gather_rows(&vec![(cache, 0); n])
    }

    /// A new batch made of rows of existing caches (all of one length).
    pub fn gather_rows(&self, rows: &[(&KvCache, usize)]) -> Result<KvCache> {
        let len = rows.first().map_or(0, |(c, _)| c.len);
        debug_assert!(rows.iter().all(|(c, _)| c.len == len));
        let mut values = Vec::with_capacity(2 * self.layout.layers);
        for i in 0..2 * self.layout.layers {
            let mut data = Vec::new();
            let mut dims = [0i64; 4];
            for (cache, row) in rows {
                let (shape, src) = cache.values[i].try_extract_tensor::<f32>()?;
                let per_row = src.len() / shape[0] as usize;
                data.extend_from_slice(&src[row * per_row..(row + 1) * per_row]);
                dims = [rows.len() as i64, shape[1], shape[2], shape[3]];
            }
            values.push(Tensor::from_array((dims, data))?.into_dyn());
        }
        Ok(KvCache {
            values,
            batch: rows.len(),
            len,
        })
    }
}

fn tensor_i64(shape: [i64; 2], data: &[i64]) -> Result<DynValue> {
    Ok(Tensor::from_array((shape, data.to_vec()))?.into_dyn())
}

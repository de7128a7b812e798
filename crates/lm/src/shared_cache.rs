//! A KV cache that attention updates where it lies, for decoding.
//!
//! With a [`KvCache`] every step's outputs are new tensors one position
//! longer, so GroupQueryAttention copies the whole cache of every layer into
//! them each step. A [`SharedKvCache`] binds each layer's past and present to
//! the same tensor, `[batch, kv_heads, capacity, head_dim]` (ONNX Runtime's
//! "past and present share a buffer"): the attention writes each row's new
//! key and value at the row's own position (its length, read from the
//! attention mask) and reads that row's first positions only. The arithmetic
//! is that of the copying cache; the per-step copies go (the cache is still
//! copied once into its tensors and once per growth, `GROW` positions apart).
//!
//! Only for graphs whose attention is GroupQueryAttention over rows packed
//! from column 0, the right-padded graphs the converter writes
//! ([`crate::config::PaddingSide::Right`]): any other attention would
//! concatenate onto the bound tensor instead.

use ort::memory::{AllocationDevice, Allocator, AllocatorType, MemoryInfo, MemoryType};
use ort::session::IoBinding;
use ort::value::Tensor;

use crate::decoder::{Decoder, KvCache, Logits, StepInput};
use crate::error::{LmError, Result};
use crate::layout::DecoderLayout;

/// Positions added when the cache is full (and room made at the start).
#[cfg(not(test))]
const GROW: usize = 128;
/// Small in tests, so that a tiny model's short context sees several growths.
#[cfg(test)]
const GROW: usize = 8;

/// Past keys and values for a batch, with room to grow in place: `2 *
/// layers` tensors `[batch, kv_heads, capacity, head_dim]`, key then value
/// per layer, bound as both the past and the present of the next step.
pub struct SharedKvCache {
    tensors: Vec<Tensor<f32>>,
    binding: IoBinding,
    /// Rows in the batch.
    pub batch: usize,
    /// Positions in use per row: the width of the next step's mask, less
    /// the step's own positions (rows shorter than it are padded).
    pub len: usize,
    capacity: usize,
    /// The most positions a row will need; capacity never passes it.
    limit: usize,
}

impl SharedKvCache {
    /// Positions allocated per row (at least `len`, at most the limit).
    pub fn capacity(&self) -> usize {
        self.capacity
    }
}

impl Decoder {
    /// `cache` (as a prefill leaves it) copied into tensors that later steps
    /// update in place, with room for up to `limit` positions per row (the
    /// room grows `GROW` positions at a time, so a large `limit` costs no
    /// memory until it is used). Errors: `limit` below the cache's length, an
    /// allocation ONNX Runtime refuses.
    pub fn share_cache(&self, cache: &KvCache, limit: usize) -> Result<SharedKvCache> {
        if limit < cache.len {
            return Err(LmError::Inference(format!(
                "a cache of {} positions cannot be limited to {limit}",
                cache.len
            )));
        }
        let mut shared = SharedKvCache {
            tensors: Vec::new(),
            binding: self.session.create_binding()?,
            batch: cache.batch,
            len: cache.len,
            capacity: 0,
            limit,
        };
        let sources = cache
            .values
            .iter()
            .map(|v| Ok(v.try_extract_tensor::<f32>()?.1))
            .collect::<Result<Vec<_>>>()?;
        let capacity = (cache.len + GROW).min(limit);
        let tensors = self.widened(cache.batch, cache.len, capacity, &sources)?;
        bind(&self.layout, &mut shared, tensors, capacity)?;
        let logits = MemoryInfo::new(
            AllocationDevice::CPU,
            0,
            AllocatorType::Device,
            MemoryType::Default,
        )?;
        shared.binding.bind_output_to_device("logits", &logits)?;
        Ok(shared)
    }

    /// Runs one step over `cache`, which it extends by the step's positions,
    /// and returns its logits. Errors: a step past the cache's limit, a
    /// failed run.
    pub fn forward_shared(
        &mut self,
        input: &StepInput,
        cache: &mut SharedKvCache,
    ) -> Result<Logits> {
        let seq = input.input_ids.len() / input.batch;
        let total = cache.len + seq;
        if input.batch != cache.batch || total > cache.limit {
            return Err(LmError::Inference(format!(
                "a step of {} x {seq} does not fit a cache of {} rows, {} of {} positions used",
                input.batch, cache.batch, cache.len, cache.limit
            )));
        }
        debug_assert_eq!(input.attention_mask.len(), input.batch * total);
        if total > cache.capacity {
            let grown = (cache.capacity + GROW).max(total).min(cache.limit);
            let sources = cache
                .tensors
                .iter()
                .map(|t| t.extract_tensor().1)
                .collect::<Vec<_>>();
            let tensors = self.widened(cache.batch, cache.len, grown, &sources)?;
            bind(&self.layout, cache, tensors, grown)?;
        }
        for (name, value) in self.step_inputs(input, total)? {
            cache.binding.bind_input(name, &value)?;
        }
        let outputs = self.session.run_binding(&cache.binding)?;
        let logits = Logits::kept(&outputs["logits"], input)?;
        cache.len = total;
        Ok(logits)
    }

    /// New tensors `[batch, kv_heads, capacity, head_dim]` holding the first
    /// `len` positions of each of `sources` (tensors of the same layout with
    /// rows of any length).
    fn widened(
        &self,
        batch: usize,
        len: usize,
        capacity: usize,
        sources: &[&[f32]],
    ) -> Result<Vec<Tensor<f32>>> {
        let (heads, dim) = (self.layout.kv_heads, self.layout.head_dim);
        let allocator = Allocator::default();
        let mut tensors = Vec::with_capacity(sources.len());
        for source in sources {
            let shape = [batch, heads, capacity, dim].map(|d| d as i64);
            let mut tensor = Tensor::<f32>::new(&allocator, shape)?;
            copy_positions(
                source,
                tensor.extract_tensor_mut().1,
                batch * heads,
                len * dim,
            );
            tensors.push(tensor);
        }
        Ok(tensors)
    }
}

/// Makes `tensors` (key then value per layer) `cache`'s, bound as the past
/// and the present of every layer; the old ones are freed.
fn bind(
    layout: &DecoderLayout,
    cache: &mut SharedKvCache,
    mut tensors: Vec<Tensor<f32>>,
    capacity: usize,
) -> Result<()> {
    for (i, tensor) in tensors.iter_mut().enumerate() {
        cache.binding.bind_input(layout.past_name(i), tensor)?;
        cache.binding.bind_output(layout.present_name(i), tensor)?;
    }
    cache.tensors = tensors;
    cache.capacity = capacity;
    Ok(())
}

/// Copies the first `width` values of each of `lanes` equal lanes of `src`
/// into the start of each of `lanes` equal lanes of `dst`: `[lanes, any]`
/// to `[lanes, wider]`, row-major.
fn copy_positions(src: &[f32], dst: &mut [f32], lanes: usize, width: usize) {
    if lanes == 0 || width == 0 {
        return;
    }
    let (from, to) = (src.len() / lanes, dst.len() / lanes);
    for lane in 0..lanes {
        dst[lane * to..lane * to + width].copy_from_slice(&src[lane * from..lane * from + width]);
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::copy_positions;
    use crate::decoder::{Logits, StepInput};
    use crate::{CausalLm, LoadOptions};

    fn bits(logits: &Logits) -> Vec<u32> {
        logits.data.iter().map(|x| x.to_bits()).collect()
    }

    /// Three right-padded rows (5, 2 and 7 tokens) decoded greedily through
    /// the shared cache's growths to the end of the context: every step's
    /// logits are those of the copying cache, to the bit, on both packed
    /// tiny graphs.
    #[test]
    fn a_shared_cache_gives_the_copying_caches_logits_bit_for_bit() {
        let models = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models");
        let lens = [5usize, 2, 7];
        let width = 7;
        let steps = 64 - width; // the tiny models' context
        for name in ["tiny-q4", "tiny-qwen2"] {
            let mut lm = CausalLm::load(Some(&models.join(name)), &LoadOptions { threads: 2 })
                .expect("a tiny packed model loads");
            let decoder = &mut lm.decoder;
            let (mut ids, mut mask, mut positions) = (Vec::new(), Vec::new(), Vec::new());
            for (b, &len) in lens.iter().enumerate() {
                for j in 0..width {
                    ids.push(if j < len {
                        (7 + 13 * b + 5 * j) as i64 % 100
                    } else {
                        0
                    });
                    mask.push(i64::from(j < len));
                    positions.push(j as i64);
                }
            }
            let prefill = StepInput {
                batch: lens.len(),
                input_ids: &ids,
                attention_mask: &mask,
                position_ids: &positions,
                keep: 1,
            };
            let empty = decoder.empty_cache(lens.len()).unwrap();
            let (mut last, mut copied) = decoder.forward(&prefill, empty).unwrap();
            let mut shared = decoder.share_cache(&copied, width + steps).unwrap();
            for step in 0..steps {
                let total = width + step + 1;
                let ids: Vec<i64> = (0..lens.len())
                    .map(|b| i64::from(crate::sampling::argmax(last.last(b))))
                    .collect();
                let real: Vec<usize> = lens.iter().map(|len| len + step + 1).collect();
                let positions: Vec<i64> = real.iter().map(|&r| r as i64 - 1).collect();
                let mask: Vec<i64> = real
                    .iter()
                    .flat_map(|&r| (0..total).map(move |j| i64::from(j < r)))
                    .collect();
                let input = StepInput {
                    batch: lens.len(),
                    input_ids: &ids,
                    attention_mask: &mask,
                    position_ids: &positions,
                    keep: 1,
                };
                let in_place = decoder.forward_shared(&input, &mut shared).unwrap();
                (last, copied) = decoder.forward(&input, copied).unwrap();
                assert_eq!(bits(&in_place), bits(&last), "{name}, step {step}");
            }
            assert_eq!(shared.len, width + steps);
        }
    }

    #[test]
    fn positions_land_at_the_start_of_each_wider_lane() {
        // Two lanes of 3 positions x 2 values into lanes of 4 positions.
        let src: Vec<f32> = (0..12).map(|v| v as f32).collect();
        let mut dst = vec![-1.0; 16];
        copy_positions(&src, &mut dst, 2, 6);
        assert_eq!(
            dst,
            [0., 1., 2., 3., 4., 5., -1., -1., 6., 7., 8., 9., 10., 11., -1., -1.]
        );
    }

    #[test]
    fn an_empty_cache_copies_nothing() {
        let mut dst = vec![7.0; 8];
        copy_positions(&[], &mut dst, 2, 0);
        assert_eq!(dst, [7.0; 8]);
    }
}

//! Reads a decoder's shape from its graph: the Hugging Face / optimum layout
//! (what optimum exports; README "A model is a directory") with inputs `input_ids`, `attention_mask`, optional
//! `position_ids` and `num_logits_to_keep`, and `past_key_values.N.key/.value`
//! shaped `[batch, kv_heads, past, head_dim]`; outputs `logits` and
//! `present.N.key/.value`. Anything else is refused with what was expected
//! and what was found, before a single token is run.

use std::path::Path;

use ort::value::Outlet;
use ort::value::ValueType;

use crate::error::{LmError, Result};

/// What a decoder graph looks like, read from its inputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecoderLayout {
    /// Transformer layers (`past_key_values.N.key` inputs).
    pub layers: usize,
    /// Key/value heads.
    pub kv_heads: usize,
    /// Width of a head.
    pub head_dim: usize,
    /// Whether the graph takes `position_ids`.
    pub has_position_ids: bool,
    /// Whether the graph takes `num_logits_to_keep`.
    pub has_logits_to_keep: bool,
    /// The cache's graph names, `2 * layers` of them, key then value per
    /// layer: the input (`past_key_values.N.key`) and the output
    /// (`present.N.key`) of each cache tensor.
    cache_names: Vec<(String, String)>,
}

/// Input and output names and shapes, as read from a session.
pub struct Signature<'a> {
    /// Each input's name and shape (-1 for a free dimension).
    pub inputs: Vec<(&'a str, Vec<i64>)>,
    /// Each output's name.
    pub outputs: Vec<&'a str>,
}

impl<'a> Signature<'a> {
    /// The signature of a session's inputs and outputs.
    pub fn of(inputs: &'a [Outlet], outputs: &'a [Outlet]) -> Self {
        let shape = |t: &ValueType| match t {
            ValueType::Tensor { shape, .. } => shape.iter().copied().collect(),
            _ => Vec::new(),
        };
        Signature {
            inputs: inputs
                .iter()
                .map(|o| (o.name(), shape(o.dtype())))
                .collect(),
            outputs: outputs.iter().map(|o| o.name()).collect(),
        }
    }
}

impl DecoderLayout {
    /// The layout of the graph in `path`. Errors name the inputs found when
    /// they are not a decoder's.
    pub fn read(path: &Path, sig: &Signature) -> Result<Self> {
        let found = || {
            let names: Vec<&str> = sig.inputs.iter().map(|(n, _)| *n).collect();
            format!("its inputs are: {}", names.join(", "))
        };
        let has = |name: &str| sig.inputs.iter().any(|(n, _)| *n == name);
        for required in ["input_ids", "attention_mask"] {
            if !has(required) {
                return Err(LmError::layout(
                    path,
                    format!("expected an input `{required}`; {}", found()),
                ));
            }
        }
        let mut layers = 0;
        let mut kv_shape: Option<(usize, usize)> = None;
        for (name, shape) in &sig.inputs {
            match *name {
                "input_ids" | "attention_mask" | "position_ids" | "num_logits_to_keep" => {}
                _ if name.starts_with("past_key_values.") => {
                    let (heads, dim) = kv_dims(path, name, shape)?;
                    if kv_shape.is_some_and(|s| s != (heads, dim)) {
                        return Err(LmError::layout(
                            path,
                            format!("{name} differs in shape from layer 0"),
                        ));
                    }
                    kv_shape = Some((heads, dim));
                    if name.ends_with(".key") {
                        layers += 1;
                    }
                }
                other => {
                    return Err(LmError::layout(
                        path,
                        format!(
                            "unexpected input `{other}` (an encoder or another kind of model?); {}",
                            found()
                        ),
                    ))
                }
            }
        }
        let Some((kv_heads, head_dim)) = kv_shape else {
            return Err(LmError::layout(
                path,
                format!(
                    "expected KV-cache inputs `past_key_values.N.key/.value`; {}",
                    found()
                ),
            ));
        };
        let cache_names = check_layers(path, sig, layers)?;
        Ok(DecoderLayout {
            layers,
            kv_heads,
            head_dim,
            has_position_ids: has("position_ids"),
            has_logits_to_keep: has("num_logits_to_keep"),
            cache_names,
        })
    }

    /// The graph input of cache tensor `i` (key then value per layer).
    pub fn past_name(&self, i: usize) -> &str {
        &self.cache_names[i].0
    }

    /// The graph output of cache tensor `i` (key then value per layer).
    pub fn present_name(&self, i: usize) -> &str {
        &self.cache_names[i].1
    }
}

fn kv_dims(path: &Path, name: &str, shape: &[i64]) -> Result<(usize, usize)> {
    match shape {
        [_, heads, _, dim] if *heads > 0 && *dim > 0 => Ok((*heads as usize, *dim as usize)),
        _ => Err(LmError::layout(
            path,
            format!("{name} has shape {shape:?}; expected [batch, kv_heads, past, head_dim] with fixed heads and dim"),
        )),
    }
}

/// Checks the graph has `logits` and each layer's cache input and output;
/// returns the cache's (input, output) names, key then value per layer.
fn check_layers(path: &Path, sig: &Signature, layers: usize) -> Result<Vec<(String, String)>> {
    if !sig.outputs.contains(&"logits") {
        return Err(LmError::layout(
            path,
            format!(
                "expected an output `logits`; outputs are: {}",
                sig.outputs.join(", ")
            ),
        ));
    }
    let has_input = |n: &str| sig.inputs.iter().any(|(i, _)| *i == n);
    let mut names = Vec::with_capacity(2 * layers);
    for i in 0..layers {
        for part in ["key", "value"] {
            let input = format!("past_key_values.{i}.{part}");
            let output = format!("present.{i}.{part}");
            if !has_input(&input) {
                return Err(LmError::layout(
                    path,
                    format!("missing input `{input}` (layers must be numbered 0..{layers})"),
                ));
            }
            if !sig.outputs.contains(&output.as_str()) {
                return Err(LmError::layout(path, format!("missing output `{output}`")));
            }
            names.push((input, output));
        }
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sig<'a>(inputs: &[(&'a str, Vec<i64>)], outputs: &[&'a str]) -> Signature<'a> {
        Signature {
            inputs: inputs.to_vec(),
            outputs: outputs.to_vec(),
        }
    }

    #[test]
    fn reads_layers_heads_and_dims() {
        let kv = vec![-1, 3, -1, 64];
        let s = sig(
            &[
                ("input_ids", vec![-1, -1]),
                ("attention_mask", vec![-1, -1]),
                ("past_key_values.0.key", kv.clone()),
                ("past_key_values.0.value", kv.clone()),
                ("past_key_values.1.key", kv.clone()),
                ("past_key_values.1.value", kv),
            ],
            &[
                "logits",
                "present.0.key",
                "present.0.value",
                "present.1.key",
                "present.1.value",
            ],
        );
        let layout = DecoderLayout::read(Path::new("m"), &s).unwrap();
        assert_eq!(
            (layout.layers, layout.kv_heads, layout.head_dim),
            (2, 3, 64)
        );
        assert!(!layout.has_position_ids);
    }

    #[test]
    fn an_encoder_is_refused_with_what_was_found() {
        let s = sig(
            &[
                ("input_ids", vec![-1, -1]),
                ("attention_mask", vec![-1, -1]),
                ("token_type_ids", vec![-1, -1]),
            ],
            &["last_hidden_state"],
        );
        let err = DecoderLayout::read(Path::new("m"), &s)
            .unwrap_err()
            .to_string();
        assert!(err.contains("unexpected input `token_type_ids`"), "{err}");
        assert!(
            err.contains("its inputs are: input_ids, attention_mask, token_type_ids"),
            "{err}"
        );
    }

    #[test]
    fn a_decoder_without_cache_is_refused() {
        let s = sig(
            &[
                ("input_ids", vec![-1, -1]),
                ("attention_mask", vec![-1, -1]),
            ],
            &["logits"],
        );
        let err = DecoderLayout::read(Path::new("m"), &s)
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected KV-cache inputs"), "{err}");
    }

    #[test]
    fn a_missing_present_output_is_named() {
        let kv = vec![-1, 2, -1, 8];
        let s = sig(
            &[
                ("input_ids", vec![-1, -1]),
                ("attention_mask", vec![-1, -1]),
                ("past_key_values.0.key", kv.clone()),
                ("past_key_values.0.value", kv),
            ],
            &["logits", "present.0.key"],
        );
        let err = DecoderLayout::read(Path::new("m"), &s)
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing output `present.0.value`"), "{err}");
    }
}

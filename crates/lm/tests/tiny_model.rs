//! The lm crate on the tiny random-weight model in testdata/models (made by
//! scripts/lm/make_tiny_model.py; same decoder layout as the real model).
//! Needs the ONNX Runtime library: `make runtime` puts it in the cache.

use std::path::PathBuf;

use refinery_lm::{
    CausalLm, Finish, GenerateParams, LmError, LoadOptions, PromptMode, Request, Sampling,
};

fn models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models")
}

fn tiny() -> CausalLm {
    CausalLm::load(Some(&models().join("tiny")), &LoadOptions { threads: 1 })
        .expect("tiny model loads")
}

const PROMPTS: [&str; 4] = [
    "I can't believe you did that",
    "Hello",
    "We need to talk about what happened yesterday at the station, before it gets worse",
    "ok",
];

fn requests(lm: &CausalLm) -> Vec<Request> {
    PROMPTS
        .iter()
        .enumerate()
        .map(|(i, p)| Request {
            ids: lm.encode(p).unwrap(),
            stream: i as u64,
        })
        .collect()
}

fn params(temperature: f32, max_new_tokens: usize) -> GenerateParams {
    GenerateParams {
        max_new_tokens,
        sampling: Sampling {
            temperature,
            top_p: 0.95,
            top_k: 50,
            seed: 11,
        },
        ..GenerateParams::default()
    }
}

#[test]
fn reads_the_layout_from_the_graph() {
    let lm = tiny();
    let layout = &lm.decoder_layout();
    assert_eq!(
        (layout.layers, layout.kv_heads, layout.head_dim),
        (2, 2, 16)
    );
    assert!(layout.has_position_ids && layout.has_logits_to_keep);
}

#[test]
fn cached_logits_agree_with_a_full_recompute() {
    let mut lm = tiny();
    let prefix = lm.encode(PROMPTS[0]).unwrap();
    let continuation = lm.encode(" and then we left").unwrap();
    let scored = lm
        .score_continuations(&prefix, std::slice::from_ref(&continuation))
        .unwrap();
    let full: Vec<u32> = prefix.iter().chain(&continuation).copied().collect();
    let logits = lm.all_logits(&full).unwrap();
    for (j, &token) in continuation.iter().enumerate() {
        let row = refinery_lm::sampling::log_softmax(logits.row(0, prefix.len() + j - 1));
        let cached = scored[0].token_logprobs[j];
        assert!(
            (row[token as usize] - cached).abs() < 1e-4,
            "token {j}: {} vs {cached}",
            row[token as usize]
        );
    }
    let next = lm.next_token_logprobs(&prefix).unwrap();
    let last = refinery_lm::sampling::log_softmax(logits.row(0, prefix.len() - 1));
    let worst = next
        .iter()
        .zip(&last)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 1e-4, "next-token log-probs differ by {worst}");
}

#[test]
fn greedy_with_and_without_the_cache_give_the_same_tokens() {
    let mut lm = tiny();
    let reqs = requests(&lm);
    let with = lm.generate(&reqs, &params(0.0, 12)).unwrap();
    let without = lm
        .generate(
            &reqs,
            &GenerateParams {
                use_cache: false,
                ..params(0.0, 12)
            },
        )
        .unwrap();
    assert_eq!(with, without);
    assert!(with
        .iter()
        .all(|g| g.token_ids.len() == 12 && g.finish == Finish::Length));
}

#[test]
fn a_batch_of_different_lengths_matches_each_prompt_alone() {
    let mut lm = tiny();
    let reqs = requests(&lm);
    let batched = lm.generate(&reqs, &params(0.0, 10)).unwrap();
    for (req, expected) in reqs.iter().zip(&batched) {
        let alone = lm
            .generate(std::slice::from_ref(req), &params(0.0, 10))
            .unwrap();
        assert_eq!(&alone[0], expected);
    }
    let distinct: std::collections::HashSet<_> = batched.iter().map(|g| &g.token_ids).collect();
    assert!(
        distinct.len() > 1,
        "the tiny model must not give every prompt the same answer"
    );
}

#[test]
fn sampling_is_reproducible_and_independent_of_the_batch() {
    let mut lm = tiny();
    let reqs = requests(&lm);
    let first = lm.generate(&reqs, &params(0.9, 10)).unwrap();
    assert_eq!(first, lm.generate(&reqs, &params(0.9, 10)).unwrap());
    for (req, expected) in reqs.iter().zip(&first) {
        let alone = lm
            .generate(std::slice::from_ref(req), &params(0.9, 10))
            .unwrap();
        assert_eq!(&alone[0], expected);
    }
    let pair = lm.generate(&reqs[1..3], &params(0.9, 10)).unwrap();
    assert_eq!(pair, first[1..3]);
    let mut other_seed = params(0.9, 10);
    other_seed.sampling.seed = 12;
    assert_ne!(lm.generate(&reqs, &other_seed).unwrap(), first);
    let greedy = lm.generate(&reqs, &params(0.0, 10)).unwrap();
    assert_ne!(
        greedy, first,
        "sampling at 0.9 should leave the greedy path somewhere"
    );
}

#[test]
fn stops_on_a_stop_string_and_on_end_of_sequence() {
    let mut lm = tiny();
    let reqs = requests(&lm);
    let plain = lm.generate(&reqs[..1], &params(0.0, 12)).unwrap().remove(0);
    let chars: Vec<char> = plain.text.chars().collect();
    let stop: String = chars[chars.len() / 2..chars.len() / 2 + 2].iter().collect();
    let cut = plain.text.find(&stop).unwrap();
    let mut with_stop = params(0.0, 12);
    with_stop.stop = vec![stop.clone()];
    let stopped = lm.generate(&reqs[..1], &with_stop).unwrap().remove(0);
    assert_eq!(stopped.finish, Finish::Stop);
    assert_eq!(stopped.text, plain.text[..cut], "stop {stop:?}");
    assert!(plain.token_ids.starts_with(&stopped.token_ids));

    // Make the fourth greedy token an end-of-sequence token.
    lm.config.eos_token_ids.push(plain.token_ids[3]);
    let ended = lm.generate(&reqs[..1], &params(0.0, 12)).unwrap().remove(0);
    let first_eos = plain.token_ids.iter().position(|t| lm.is_eos(*t)).unwrap();
    assert_eq!(ended.finish, Finish::Eos);
    assert_eq!(ended.token_ids, plain.token_ids[..first_eos]);
    assert_eq!(ended.text, lm.decode(&ended.token_ids).unwrap());
}

#[test]
fn long_prompts_are_cut_from_the_left_or_refused() {
    let lm = tiny();
    let long = "word ".repeat(200);
    let ids = lm.encode(&long).unwrap();
    assert!(ids.len() > lm.context_length());
    let fitted = lm.fit(ids.clone(), 10, true).unwrap();
    assert_eq!(fitted.ids.len(), lm.context_length() - 10);
    assert_eq!(fitted.dropped, ids.len() - fitted.ids.len());
    assert_eq!(fitted.ids[..], ids[fitted.dropped..]);
    let err = lm.fit(ids.clone(), 10, false).unwrap_err();
    assert!(matches!(err, LmError::TooLong { .. }) && err.is_row_error());
    assert!(err.to_string().contains("at most 54 fit"), "{err}");
    assert!(
        lm.fit(ids, 64, true).is_err(),
        "no room for the prompt at all"
    );
}

#[test]
fn chat_and_raw_prompts() {
    let lm = tiny();
    let chat = lm.format(PromptMode::Chat, None, "Hi").unwrap();
    assert_eq!(chat, "<|im_start|>system\nYou are a tiny test model<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    let ids = lm.encode(&chat).unwrap();
    assert_eq!(ids[0], 1, "<|im_start|> is one special token");
    assert_eq!(lm.format(PromptMode::Raw, None, "so I").unwrap(), "so I");
}

#[test]
fn models_of_the_wrong_kind_are_refused_with_what_was_found() {
    let load = |name: &str| {
        CausalLm::load(Some(&models().join(name)), &LoadOptions::default())
            .err()
            .unwrap()
            .to_string()
    };
    let encoder = load("not-a-decoder");
    assert!(
        encoder.contains("unexpected input `token_type_ids`"),
        "{encoder}"
    );
    let no_cache = load("no-kv-cache");
    assert!(no_cache.contains("expected KV-cache inputs"), "{no_cache}");
    let missing = load("no-such-model");
    assert!(missing.contains("has no model.onnx"), "{missing}");
}

/// P(n) computed the slow way: the digits' log-probability as a continuation,
/// times the probability that no digit follows.
fn brute_force_number(
    lm: &mut CausalLm,
    prefix: &[u32],
    digits: &refinery_lm::DigitTokens,
    lead: &[u32],
    n: usize,
) -> f64 {
    let mut path: Vec<u32> = lead.to_vec();
    path.extend(
        n.to_string()
            .bytes()
            .map(|b| digits.digits[(b - b'0') as usize]),
    );
    let p_path = lm
        .score_continuations(prefix, std::slice::from_ref(&path))
        .unwrap()[0]
        .logprob
        .exp();
    let full: Vec<u32> = prefix.iter().chain(&path).copied().collect();
    let next = lm.next_token_logprobs(&full).unwrap();
    let p_digit: f64 = digits
        .digits
        .iter()
        .map(|&d| (next[d as usize] as f64).exp())
        .sum();
    p_path * (1.0 - p_digit)
}

#[test]
fn integer_probabilities_match_a_brute_force_walk() {
    let mut lm = tiny();
    let digits = refinery_lm::DigitTokens::of(&lm).unwrap();
    let space = digits
        .space
        .expect("the tiny tokenizer has a bare space token");
    let prefix = lm.encode("Rate it from 0 to 100. Score:").unwrap();
    let dist = lm.integer_distribution(&prefix, &digits, true).unwrap();
    let direct = lm.integer_distribution(&prefix, &digits, false).unwrap();
    let mut worst: f64 = 0.0;
    for n in 0..=100 {
        let want_direct = brute_force_number(&mut lm, &prefix, &digits, &[], n);
        let want_space = brute_force_number(&mut lm, &prefix, &digits, &[space], n);
        // Pruned paths (probability < PRUNE_BELOW) may be missing; nothing else.
        let tolerance = |want: f64| refinery_lm::integers::PRUNE_BELOW + 1e-4 * want;
        assert!(
            (direct.probs[n] - want_direct).abs() <= tolerance(want_direct),
            "{n}: {} vs {want_direct}",
            direct.probs[n]
        );
        let want = want_direct + want_space;
        assert!(
            (dist.probs[n] - want).abs() <= 2.0 * tolerance(want),
            "{n}: {} vs {want}",
            dist.probs[n]
        );
        worst = worst.max((dist.probs[n] - want).abs());
    }
    assert!(dist.mass() >= direct.mass());
    assert!(dist.mass() <= 1.0 + 1e-9);
    eprintln!("largest difference from the brute-force walk: {worst:e}");
}

#[test]
fn the_quantized_graph_runs_and_stays_close_to_the_float_one() {
    // tiny-q4: the same weights rounded to Q4_1 blocks, run by MatMulNBits.
    let mut q4 =
        CausalLm::load(Some(&models().join("tiny-q4")), &LoadOptions { threads: 1 }).unwrap();
    let mut f16 = tiny();
    assert_eq!(q4.decoder_layout(), f16.decoder_layout());
    let reqs = requests(&q4);
    let first = q4.generate(&reqs, &params(0.0, 6)).unwrap();
    assert_eq!(first, q4.generate(&reqs, &params(0.0, 6)).unwrap());
    let ids = q4.encode(PROMPTS[2]).unwrap();
    let (a, b) = (
        q4.next_token_logprobs(&ids).unwrap(),
        f16.next_token_logprobs(&ids).unwrap(),
    );
    let mean_diff = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs() as f64)
        .sum::<f64>()
        / a.len() as f64;
    let spread = b.iter().map(|&x| x as f64).fold(f64::MIN, f64::max)
        - b.iter().map(|&x| x as f64).fold(f64::MAX, f64::min);
    assert!(
        mean_diff < 0.2 * spread,
        "4-bit rounding moved log-probs by {mean_diff} (spread {spread})"
    );
}

/// tiny-qwen2: the graph the converter writes for a Qwen2 GGUF with
/// `--weights q8` (Q/K/V biases, untied 8-bit output projection, 8-bit
/// projections). The KV cache must agree with a full recompute, with and
/// without it greedy decoding gives the same tokens.
#[test]
fn the_qwen2_graph_keeps_its_cache_exact_and_its_biases_count() {
    let mut qwen = CausalLm::load(
        Some(&models().join("tiny-qwen2")),
        &LoadOptions { threads: 1 },
    )
    .expect("tiny-qwen2 loads");
    let layout = qwen.decoder_layout();
    assert_eq!((layout.layers, layout.kv_heads), (2, 2));
    let prefix = qwen.encode(PROMPTS[2]).unwrap();
    let continuation = qwen.encode(" and then we left").unwrap();
    let scored = qwen
        .score_continuations(&prefix, std::slice::from_ref(&continuation))
        .unwrap();
    let full: Vec<u32> = prefix.iter().chain(&continuation).copied().collect();
    let logits = qwen.all_logits(&full).unwrap();
    for (j, &token) in continuation.iter().enumerate() {
        let row = refinery_lm::sampling::log_softmax(logits.row(0, prefix.len() + j - 1));
        // 8-bit activations in MatMulNBits: the same up to their rounding.
        let cached = scored[0].token_logprobs[j];
        assert!(
            (row[token as usize] - cached).abs() < 0.05,
            "token {j}: {} vs {cached}",
            row[token as usize]
        );
    }
    let reqs = requests(&qwen);
    let with = qwen.generate(&reqs, &params(0.0, 8)).unwrap();
    let without = qwen
        .generate(
            &reqs,
            &GenerateParams {
                use_cache: false,
                ..params(0.0, 8)
            },
        )
        .unwrap();
    assert_eq!(with, without);
    // Not the llama graph under another name: its answers differ.
    let mut llama = tiny();
    let llama_answers = llama.generate(&reqs, &params(0.0, 8)).unwrap();
    assert_ne!(with, llama_answers);
}

/// The packed graphs the converter writes (4-bit tiny-q4, 8-bit tiny-qwen2:
/// MatMulNBits quantizes activations to 8 bits, so the smallest difference
/// in a row's arithmetic can move a token): a prompt gets the same tokens,
/// greedy or sampled, and a continuation the same log-probabilities to the
/// bit, whatever else is in its batch (prompts of 3 to 40 tokens, so most
/// rows are padded). The tiny model is too small for a left-padded graph to
/// show the difference (it does on SmolLM2: scripts/test-real-model.sh
/// checks batch 1 against batch 8 there); here this checks that packed rows,
/// their masks and the logits gathered per row give what each prompt gets
/// alone.
#[test]
fn quantized_packed_graphs_do_not_depend_on_the_batch() {
    for name in ["tiny-q4", "tiny-qwen2"] {
        let mut lm =
            CausalLm::load(Some(&models().join(name)), &LoadOptions { threads: 2 }).unwrap();
        assert_eq!(lm.padding_side(), refinery_lm::config::PaddingSide::Right);
        let reqs: Vec<Request> = (0..6)
            .map(|i| {
                let text = PROMPTS[i % 4].repeat(1 + 2 * i);
                let mut ids = lm.encode(&text).unwrap();
                ids.truncate(40);
                Request {
                    ids,
                    stream: i as u64,
                }
            })
            .collect();
        for temperature in [0.0, 0.9] {
            let batched = lm.generate(&reqs, &params(temperature, 20)).unwrap();
            for (req, expected) in reqs.iter().zip(&batched) {
                let alone = lm
                    .generate(std::slice::from_ref(req), &params(temperature, 20))
                    .unwrap();
                assert_eq!(&alone[0], expected, "{name} at temperature {temperature}");
            }
        }
        let prefix = lm.encode(PROMPTS[0]).unwrap();
        let continuations: Vec<Vec<u32>> =
            PROMPTS[1..].iter().map(|p| lm.encode(p).unwrap()).collect();
        let together = lm.score_continuations(&prefix, &continuations).unwrap();
        for (c, expected) in continuations.iter().zip(&together) {
            let alone = lm
                .score_continuations(&prefix, std::slice::from_ref(c))
                .unwrap();
            let bits = |s: &refinery_lm::ContinuationScore| {
                s.token_logprobs
                    .iter()
                    .map(|x| x.to_bits())
                    .collect::<Vec<_>>()
            };
            assert_eq!(
                bits(&alone[0]),
                bits(expected),
                "{name}: scores moved with the batch"
            );
        }
    }
}

#[test]
fn the_kv_cache_peak_is_what_generate_allocated() {
    // The copying cache (tiny: left padding) and recomputing without one hold
    // what the last step wrote; the in-place cache (tiny-q4) holds room for
    // every position a step can feed. Rows end early (their 6th greedy token
    // made an end token), so the two differ.
    for (name, use_cache, in_place) in [
        ("tiny", true, false),
        ("tiny", false, false),
        ("tiny-q4", true, true),
    ] {
        let mut lm =
            CausalLm::load(Some(&models().join(name)), &LoadOptions { threads: 1 }).unwrap();
        assert_eq!(lm.kv_cache_peak(), 0);
        let layout = lm.decoder_layout();
        let per_token = 2 * layout.layers * layout.kv_heads * layout.head_dim * 4;
        let reqs = requests(&lm);
        let width = reqs.iter().map(|r| r.ids.len()).max().unwrap();
        let params = GenerateParams {
            use_cache,
            ..params(0.0, 12)
        };
        let plain = lm.generate(&reqs, &params).unwrap();
        let ends: Vec<u32> = plain.iter().map(|g| g.token_ids[5]).collect();
        lm.config.eos_token_ids.extend(ends);
        let out = lm.generate(&reqs, &params).unwrap();
        // Steps run: one fewer than the tokens picked (an end token is picked too).
        let steps = out
            .iter()
            .map(|g| g.token_ids.len() + usize::from(g.finish == Finish::Eos))
            .max()
            .unwrap()
            - 1;
        assert!(steps > 0 && steps < 11, "{name}: {steps} steps");
        let positions = if in_place {
            width + 12 - 1
        } else {
            width + steps
        };
        let expected = reqs.len() * positions * per_token;
        // The first call, whose rows all ran 12 tokens, set the peak; a
        // shorter call leaves it.
        assert_eq!(
            lm.kv_cache_peak(),
            reqs.len() * (width + 11) * per_token,
            "{name}"
        );
        let mut fresh =
            CausalLm::load(Some(&models().join(name)), &LoadOptions { threads: 1 }).unwrap();
        fresh.config.eos_token_ids = lm.config.eos_token_ids.clone();
        fresh.generate(&reqs, &params).unwrap();
        assert_eq!(fresh.kv_cache_peak(), expected, "{name}, cache {use_cache}");
    }
}

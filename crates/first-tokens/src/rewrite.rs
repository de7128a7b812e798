//! Rewrites of an ignored lock-in (`--rewrites N`): a positive whose
//! scenario passed vetting while the model's response to it did not carry
//! the trait. The judges' model (the instruct model that scores the test)
//! is asked, in its chat template, for N rewrites that keep the situation
//! and say more plainly where it is heading; each rewrite is then checked
//! as the loop would check it:
//!
//! 1. its prompt alone still reads as a positive (score ≥ `--pos-threshold`);
//! 2. the model under study continues it (greedy, `RESPONSE_TOKENS` tokens,
//!    as `make refine` generates) and the first k tokens pass the delete
//!    test (signal ≥ `--threshold`);
//! 3. prompt + response scores ≥ `--pos-threshold`, as response vetting
//!    asks of a positive.
//!
//! The suggestion is the rewrite whose response scores highest among those
//! meeting (1), if it beats the scenario as it is; `accept` is true only
//! when it meets all three. The candidates are the greedy answer, then
//! answers sampled at `TEMPERATURE` on fixed random streams: the same run
//! gives the same rewrites.

use refinery_core::text::text_key;
use refinery_core::Result;
use refinery_lm::{CausalLm, Finish, GenerateParams, PromptMode, Sampling};
use serde_json::{json, Value};

use crate::report::Checked;
use crate::suggest::{lock_in_flag, round3, Generator, Scorer};

/// Tokens of the model under study's response to a rewrite (`make refine`
/// generates 50).
pub const RESPONSE_TOKENS: usize = 50;
/// Sampling temperature of the rewrites after the first (greedy) one.
pub const TEMPERATURE: f32 = 0.8;
/// A rewrite may run to twice the scenario's tokens and this many more.
const EXTRA_TOKENS: usize = 32;
/// A rewrite longer than this many characters, or twice the scenario's, is
/// dropped.
const MAX_CHARS: usize = 400;

/// What the rewriting model is told: the trait and the task.
pub struct Rewriter {
    /// Rewrites asked for, per scenario.
    pub candidates: usize,
    /// The system message: the trait's name and definition.
    pub system: String,
}

impl Rewriter {
    pub fn new(candidates: usize, trait_name: &str, definition: &str) -> Self {
        Rewriter {
            candidates,
            system: format!(
                "You edit scenario openings for a dataset that studies the trait \"{trait_name}\" \
                 in language models. A scenario opening is the start of a text that a base model \
                 continues in the speaker's voice.\n\nThe trait:\n{definition}"
            ),
        }
    }
}

/// The user message asking for a rewrite of `prompt`, whose continuation
/// began `response`.
pub fn request(prompt: &str, response: &str) -> String {
    let response: String = response.chars().take(300).collect();
    format!(
        "This opening should make the speaker show the trait, but a model continued it with \
         \"{}\", which does not show it.\n\nRewrite the opening so the situation commits the \
         speaker to showing the trait: keep the same situation and point of view, make plainer \
         where it is heading, and end mid-sentence right before the speaker's own words. Answer \
         with the rewritten opening only, on one line.\n\nOpening: {prompt}",
        response.trim()
    )
}

/// The rewrite in a model's answer: its first non-blank line, without a
/// leading label or surrounding quotes. None when nothing is left.
pub fn clean(answer: &str) -> Option<String> {
    let line = answer.lines().map(str::trim).find(|l| !l.is_empty())?;
    let mut text = line;
    for label in ["Rewritten opening:", "Rewrite:", "Opening:"] {
        if let Some(rest) = text.strip_prefix(label) {
            text = rest.trim_start();
        }
    }
    let quotes: &[char] = &['"', '\u{201c}', '\u{201d}'];
    let text = text.trim_matches(quotes).trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The rewrites of `prompt` the model writes: the greedy one first, then
/// sampled ones; empty, cut-off, over-long and repeated texts (or the
/// prompt itself) dropped.
fn rewrites(lm: &mut CausalLm, rewriter: &Rewriter, c: &Checked) -> Result<Vec<String>> {
    let mode = if lm.has_chat_template() {
        PromptMode::Chat
    } else {
        PromptMode::Raw
    };
    let message = request(&c.prompt, c.response.as_deref().unwrap_or(&c.test.text));
    let pair = c.pair.as_deref().and_then(|p| p.parse::<u64>().ok());
    // Room for a rewrite somewhat longer than the scenario; a small model's
    // context must still hold some of the request.
    let tokens = (2 * lm.tokenize(&c.prompt)?.len() + EXTRA_TOKENS).min(lm.context_length() / 2);
    let max_chars = MAX_CHARS.max(2 * c.prompt.chars().count());
    let mut answers = Vec::new();
    for (i, temperature) in [(0, 0.0), (1, TEMPERATURE)] {
        let n = if i == 0 {
            rewriter.candidates.min(1)
        } else {
            rewriter.candidates.saturating_sub(1)
        };
        if n == 0 {
            continue;
        }
        let requests = (0..n as u64)
            .map(|k| {
                let stream = pair.unwrap_or(c.index as u64) << 8 | k;
                lm.request(mode, Some(&rewriter.system), &message, tokens, stream)
            })
            .collect::<refinery_lm::Result<Vec<_>>>()?;
        let params = GenerateParams {
            max_new_tokens: tokens,
            sampling: Sampling {
                temperature,
                top_p: 0.95,
                top_k: 0,
                seed: 0,
            },
            stop: Vec::new(),
            use_cache: true,
        };
        // An answer stopped by the token limit before its first line ended
        // is a rewrite cut off.
        answers.extend(
            lm.generate(&requests, &params)?
                .into_iter()
                .filter(|g| g.finish != Finish::Length || g.text.trim_start().contains('\n'))
                .map(|g| g.text),
        );
    }
    let mut seen = std::collections::HashSet::from([text_key(&c.prompt)]);
    Ok(answers
        .iter()
        .filter_map(|a| clean(a))
        .filter(|t| t.chars().count() <= max_chars)
        .filter(|t| seen.insert(text_key(t)))
        .collect())
}

/// One checked rewrite.
struct Candidate {
    prompt: String,
    first: String,
    response: String,
    prompt_score: Option<f64>,
    signal: Option<f64>,
    response_score: Option<f64>,
}

/// The ignored lock-in flag of `c`, with a checked rewrite when one beats
/// the scenario as it is.
pub fn suggestion(
    c: &Checked,
    scorer: &mut Scorer,
    generator: &mut Generator,
    rewriter: &Rewriter,
    threshold: f64,
    pos_threshold: f64,
) -> Result<Value> {
    let mut row = lock_in_flag(c);
    let candidates = rewrites(scorer.judge.lm_mut(), rewriter, c)?;
    let prompts: Vec<(Option<&str>, String)> = candidates
        .iter()
        .map(|p| (c.system_prompt.as_deref(), p.clone()))
        .collect();
    let k = generator.tokens;
    let response_tokens = RESPONSE_TOKENS.min(generator.lm.context_length() / 2);
    let responses = generator.complete(&prompts, response_tokens)?;
    let mut tried = Vec::new();
    for (prompt, g) in candidates.into_iter().zip(responses) {
        let first = generator
            .lm
            .decode(&g.token_ids[..k.min(g.token_ids.len())])?;
        let (prompt_score, signal) = scorer.delete_test(&prompt, &first)?;
        let response_score = scorer.score(&format!("{prompt}{}", g.text))?;
        tried.push(Candidate {
            signal,
            prompt,
            first,
            response: g.text,
            prompt_score,
            response_score,
        });
    }
    let before = match &c.response {
        Some(r) => scorer.score(&format!("{}{r}", c.prompt))?,
        None => None,
    };
    let best = tried
        .iter()
        .filter(|t| t.prompt_score.is_some_and(|s| s >= pos_threshold))
        .filter(|t| {
            t.response_score
                .is_some_and(|s| before.is_none_or(|b| s > b))
        })
        .max_by(|a, b| {
            a.response_score
                .partial_cmp(&b.response_score)
                .expect("scores are numbers")
        });
    row["rewrites_asked"] = json!(rewriter.candidates);
    row["rewrites_tried"] = json!(tried.len());
    row["before_response_score"] = json!(before.map(round3));
    if let Some(t) = best {
        let express = t.signal.is_some_and(|s| s >= threshold);
        let response_passes = t.response_score.is_some_and(|s| s >= pos_threshold);
        row["after"] = json!(t.prompt);
        row["after_first_tokens"] = json!(t.first);
        row["after_signal"] = json!(t.signal.map(round3));
        row["after_prompt_score"] = json!(t.prompt_score.map(round3));
        row["after_response"] = json!(t.response);
        row["after_response_score"] = json!(t.response_score.map(round3));
        row["express"] = json!(express);
        row["accept"] = json!(express && response_passes);
        row["note"] = json!(
            "rewritten by the judges' model and checked: read it before accepting, it may change \
             the scenario more than a cut would"
        );
    }
    Ok(row)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rewrite_is_the_first_line_without_labels_or_quotes() {
        assert_eq!(
            clean("\n  Rewritten opening: \"She showed me her essay, and I\"\nMore text"),
            Some("She showed me her essay, and I".into())
        );
        assert_eq!(
            clean("Opening: \u{201c}He asked, so I\u{201d}"),
            Some("He asked, so I".into())
        );
        assert_eq!(clean("He asked, so I"), Some("He asked, so I".into()));
        assert_eq!(clean("  \n\"\"\n"), None);
        assert_eq!(clean(""), None);
    }

    #[test]
    fn the_request_quotes_the_response_and_ends_with_the_opening() {
        let r = request("He asked, so I", " told him the truth.\n");
        assert!(r.contains("\"told him the truth.\""), "{r}");
        assert!(r.ends_with("Opening: He asked, so I"), "{r}");
        let long = request("x", &"a".repeat(1000));
        assert!(long.len() < 1000, "the response is shortened");
    }
}

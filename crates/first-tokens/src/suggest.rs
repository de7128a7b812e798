//! Fix suggestions for the positives that failed, each checked before it is
//! suggested (`--suggest FILE`):
//!
//! - **cut** (the positive is `committed`: the prompt already carries the
//!   trait, or its first tokens carry nothing; and its response did not fail
//!   vetting): the prompt cut at each of
//!   its last word boundaries (1 to `MAX_CUT` words off, keeping at least
//!   half the words), each cut completed by the generator (greedy, k
//!   tokens, raw text as `make refine` generates) and put through the same
//!   delete test. The suggestion is the cut whose first tokens carry the
//!   most signal while the cut still reads as a positive scenario (its
//!   prompt-alone score from the same judge at least `--pos-threshold`; not
//!   a re-run of vet-score's scenario stage), if that beats the prompt as
//!   it is.
//! - **ignored lock-in** (the scenario passed vetting, its response did not,
//!   whatever the first tokens):
//!   flagged with the response's first tokens and, with `--rewrites N`,
//!   rewrites proposed by the judges' model and checked ([`crate::rewrite`]).
//!
//! Nothing is edited here: `apply-suggestions` writes new scenario files
//! from the suggestions a user keeps.

use refinery_core::Result;
use refinery_lm::{CausalLm, GenerateParams, Generation, PromptMode, RunCalibration};
use serde_json::{json, Value};

use crate::report::Checked;
use crate::Judge;

/// At most this many words are cut off the end of a prompt.
pub const MAX_CUT: usize = 4;

/// The prompt cut 1, 2, … words from its end (at most `MAX_CUT`, keeping
/// at least half its words), trailing spaces dropped; nearest cut first.
pub fn cuts(prompt: &str) -> Vec<String> {
    let starts: Vec<usize> = prompt
        .char_indices()
        .filter(|&(i, c)| {
            !c.is_whitespace()
                && prompt[..i]
                    .chars()
                    .next_back()
                    .is_none_or(char::is_whitespace)
        })
        .map(|(i, _)| i)
        .collect();
    let keep_at_least = starts.len().div_ceil(2).max(1);
    (1..=MAX_CUT)
        .take_while(|j| starts.len() >= keep_at_least + j)
        .map(|j| prompt[..starts[starts.len() - j]].trim_end().to_string())
        .collect()
}

/// How the delete test scores a text: the judge, mapped through the run's
/// calibration when it is the likelihood judge calibrated on the run.
pub struct Scorer<'a> {
    pub judge: &'a mut Judge,
    pub calibration: Option<&'a RunCalibration>,
}

impl Scorer<'_> {
    pub(crate) fn score(&mut self, text: &str) -> Result<Option<f64>> {
        let j = self.judge.score(text)?;
        Ok(match (self.calibration, j.contrast) {
            (Some(c), Some(d)) => Some(c.score(d)),
            _ => j.score,
        })
    }

    /// The delete test on `prompt` continued by `first`: the prompt's own
    /// score and the signal the first tokens carry, (with − without) / 100.
    pub(crate) fn delete_test(
        &mut self,
        prompt: &str,
        first: &str,
    ) -> Result<(Option<f64>, Option<f64>)> {
        let prompt_score = self.score(prompt)?;
        let with_first = self.score(&format!("{prompt}{first}"))?;
        let signal = prompt_score.zip(with_first).map(|(a, b)| (b - a) / 100.0);
        Ok((prompt_score, signal))
    }
}

/// The generator: the model under study, continuing a cut for k tokens.
pub struct Generator {
    pub lm: CausalLm,
    pub mode: PromptMode,
    pub tokens: usize,
}

impl Generator {
    /// Each prompt continued greedily for `tokens` tokens (one batch).
    pub(crate) fn complete(
        &mut self,
        prompts: &[(Option<&str>, String)],
        tokens: usize,
    ) -> Result<Vec<Generation>> {
        let requests = prompts
            .iter()
            .map(|(system, prompt)| self.lm.request(self.mode, *system, prompt, tokens, 0))
            .collect::<refinery_lm::Result<Vec<_>>>()?;
        let params = GenerateParams {
            max_new_tokens: tokens,
            ..GenerateParams::default()
        };
        Ok(self.lm.generate(&requests, &params)?)
    }

    /// The first k tokens' text after each prompt.
    fn first_tokens(&mut self, prompts: &[(Option<&str>, String)]) -> Result<Vec<String>> {
        let k = self.tokens;
        Ok(self
            .complete(prompts, k)?
            .into_iter()
            .map(|g| g.text)
            .collect())
    }
}

/// One tried cut.
struct Tried {
    prompt: String,
    first: String,
    prompt_score: Option<f64>,
    signal: Option<f64>,
}

/// The suggestions for the failing positives of `checked`, one a pair
/// (from the first of its rows that fails), in row order.
pub fn suggest(
    checked: &[Checked],
    scorer: &mut Scorer,
    generator: &mut Generator,
    rewriter: Option<&crate::rewrite::Rewriter>,
    threshold: f64,
    pos_threshold: f64,
) -> Result<Vec<Value>> {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for c in checked.iter().filter(|c| c.polarity == "positive") {
        let key = c.pair.clone().unwrap_or_else(|| c.index.to_string());
        if seen.contains(&key) {
            continue;
        }
        let vet =
            |v: &Option<(Option<f64>, String)>| v.as_ref().map(|(_, verdict)| verdict == "pass");
        // One suggestion a pair: the first of its rows (rollouts) that fails.
        // A response that failed although its scenario passed is the model
        // ignoring the lock-in, whatever its first tokens: a cut would not
        // change what the model goes on to write.
        let row = if vet(&c.scenario_vet) == Some(true) && vet(&c.response_vet) == Some(false) {
            match rewriter {
                Some(r) => {
                    crate::rewrite::suggestion(c, scorer, generator, r, threshold, pos_threshold)?
                }
                None => lock_in_flag(c),
            }
        } else if c.test.verdict == "committed" {
            cut_suggestion(c, scorer, generator, threshold, pos_threshold)?
        } else {
            continue;
        };
        seen.insert(key);
        out.push(row);
    }
    Ok(out)
}

pub(crate) fn base(c: &Checked, kind: &str) -> Value {
    json!({
        "pair": c.pair.as_deref().and_then(|p| p.parse::<u64>().ok()),
        "polarity": c.polarity,
        "kind": kind,
        "before": c.prompt,
    })
}

fn cut_suggestion(
    c: &Checked,
    scorer: &mut Scorer,
    generator: &mut Generator,
    threshold: f64,
    pos_threshold: f64,
) -> Result<Value> {
    let candidates = cuts(&c.prompt);
    let prompts: Vec<(Option<&str>, String)> = candidates
        .iter()
        .map(|p| (c.system_prompt.as_deref(), p.clone()))
        .collect();
    let firsts = generator.first_tokens(&prompts)?;
    let mut tried = Vec::new();
    for (prompt, first) in candidates.into_iter().zip(firsts) {
        let (prompt_score, signal) = scorer.delete_test(&prompt, &first)?;
        tried.push(Tried {
            prompt,
            first,
            prompt_score,
            signal,
        });
    }
    let before_signal = c.test.signal.unwrap_or(f64::NEG_INFINITY);
    let best = tried
        .iter()
        .filter(|t| t.prompt_score.is_some_and(|s| s >= pos_threshold))
        .filter(|t| t.signal.is_some_and(|s| s > before_signal))
        .max_by(|a, b| {
            a.signal
                .partial_cmp(&b.signal)
                .expect("signals are numbers")
        });
    let mut row = base(c, "cut");
    row["before_first_tokens"] = json!(c.test.text);
    row["before_signal"] = json!(c.test.signal.map(round3));
    row["cuts_tried"] = json!(tried.len());
    match best {
        Some(t) => {
            let signal = t.signal.expect("filtered on it");
            row["after"] = json!(t.prompt);
            row["removed"] = json!(c.prompt[t.prompt.len()..].trim());
            row["after_first_tokens"] = json!(t.first);
            row["after_signal"] = json!(round3(signal));
            row["after_prompt_score"] = json!(t.prompt_score.map(round3));
            row["express"] = json!(signal >= threshold);
            row["accept"] = json!(signal >= threshold);
        }
        None => {
            row["after"] = Value::Null;
            row["note"] = json!(format!(
                "no cut of the last {MAX_CUT} words both keeps the prompt reading as a positive \
                 (prompt score >= {pos_threshold}) and gives its first tokens more signal: rewrite it by hand"
            ));
            row["accept"] = json!(false);
        }
    }
    Ok(row)
}

pub(crate) fn lock_in_flag(c: &Checked) -> Value {
    let mut row = base(c, "ignored_lock_in");
    row["after"] = Value::Null;
    row["first_tokens"] = json!(c.test.text);
    row["response_vet_score"] = json!(c.response_vet.as_ref().and_then(|(s, _)| *s));
    row["note"] = json!(
        "the scenario passes vetting but the model's response does not carry the trait: \
         strengthen the lock-in (say more plainly where the scenario is heading) or change a topic \
         that pulls the model elsewhere"
    );
    row["accept"] = json!(false);
    row
}

pub(crate) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_at_word_boundaries_keeping_half() {
        assert_eq!(
            cuts("He asked what I thought, so I  told"),
            [
                "He asked what I thought, so I",
                "He asked what I thought, so",
                "He asked what I thought,",
                "He asked what I",
            ]
        );
        assert_eq!(cuts("one two"), ["one"]);
        assert!(cuts("one").is_empty());
        assert_eq!(cuts("a b c d e f g h i j k l m n o p").len(), MAX_CUT);
        assert_eq!(
            cuts("a b c d e f g h i j k l m n o p")[MAX_CUT - 1],
            "a b c d e f g h i j k l"
        );
    }
}

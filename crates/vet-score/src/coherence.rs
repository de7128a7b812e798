//! Coherence of a response (`--coherence`, response stage): does the text
//! hold together, whatever trait it shows? Base models ramble, loop and
//! wander off; such a response says little about the trait either way.
//!
//! Two exact signals, then the judge:
//! - `empty`: no text but whitespace;
//! - `repeated`: the share of the response's word 3-grams (lower-cased) that
//!   repeat an earlier one, 0 for a text without repeats, near 1 for a loop;
//!   at `--max-repeated` (0.3) or more the response loops;
//! - `score`: the likelihood judge on the prompt followed by the response
//!   against built-in anchors (HIGH "clear", "coherent", "focused"…, LOW
//!   "rambling", "repetitive", "incoherent"…; no "confused", which the model
//!   reads as the speaker's state, not the text's), fixed calibration (50 =
//!   says nothing either way); below `--min-coherence` (20; 0 turns it off)
//!   the judge calls it incoherent. The prompt is there because a completion
//!   starts mid-sentence, which read alone looks like a fragment.
//!
//! The verdict is `coherent` or `incoherent`, with the first reason that
//! applies.

use refinery_lm::{Anchors, CausalLm, Definition};
use serde_json::{json, Value};

/// The coherence judge's anchors, in the definition format the trait
/// judges read.
pub const DEFINITION: &str = "\
Coherence: whether the text holds together as writing, whatever it says.

HIGH: \"clear\", \"coherent\", \"focused\", \"articulate\", \"making sense\".

LOW: \"rambling\", \"repetitive\", \"incoherent\", \"babbling\", \"nonsensical\".";

/// The share of word 3-grams (lower-cased, split on whitespace) that
/// repeat an earlier 3-gram of the same text: 0..1, 0 with fewer than
/// four words.
pub fn repeated_share(text: &str) -> f64 {
    let words: Vec<String> = text.split_whitespace().map(str::to_lowercase).collect();
    if words.len() < 4 {
        return 0.0;
    }
    let grams: Vec<&[String]> = words.windows(3).collect();
    let mut seen = std::collections::HashSet::new();
    let repeats = grams.iter().filter(|g| !seen.insert(**g)).count();
    repeats as f64 / grams.len() as f64
}

/// The thresholds of the verdict.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    pub max_repeated: f64,
    pub min_score: f64,
}

/// The `coherence` field of a row, from the response's text and the
/// judge's score (None when not judged).
pub fn field(text: &str, score: Option<f64>, limits: Limits) -> Value {
    let empty = text.trim().is_empty();
    let repeated = repeated_share(text);
    let reason = if empty {
        Some("empty")
    } else if repeated >= limits.max_repeated {
        Some("repeats itself")
    } else if score.is_some_and(|s| s < limits.min_score) {
        Some("the judge finds it incoherent")
    } else {
        None
    };
    let mut field = json!({
        "empty": empty,
        "repeated": (repeated * 1000.0).round() / 1000.0,
        "score": score.map(|s| (s * 100.0).round() / 100.0),
        "verdict": if reason.is_some() { "incoherent" } else { "coherent" },
    });
    if let Some(r) = reason {
        field["reason"] = json!(r);
    }
    field
}

/// The judge half: the built-in anchors on the judge's model.
pub struct CoherenceJudge {
    anchors: Anchors,
}

impl CoherenceJudge {
    pub fn new(lm: &mut CausalLm) -> refinery_core::Result<Self> {
        let definition = Definition::parse(DEFINITION);
        let anchors = Anchors::new(
            lm,
            &definition,
            std::path::Path::new("(built-in coherence anchors)"),
        )?;
        Ok(CoherenceJudge { anchors })
    }

    /// The score of `text`, the prompt and its response (fixed
    /// calibration); None when it does not fit the model's context.
    pub fn score(&self, lm: &mut CausalLm, text: &str) -> refinery_core::Result<Option<f64>> {
        Ok(self.anchors.judge(lm, text)?.score)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_repeated: 0.3,
        min_score: 0.0,
    };

    #[test]
    fn a_loop_repeats_and_plain_text_does_not() {
        assert_eq!(repeated_share("I told him it was a good plan."), 0.0);
        // 10 words, 8 trigrams, the last 4 seen before.
        let looped = "I am not sure. I am not sure. I am";
        assert_eq!(repeated_share(looped), 0.5);
        assert_eq!(repeated_share("yes yes yes"), 0.0);
        assert_eq!(repeated_share("yes yes yes yes"), 0.5);
    }

    #[test]
    fn the_verdict_gives_the_first_reason() {
        let f = field("  \n", Some(90.0), LIMITS);
        assert_eq!(
            (f["verdict"].as_str(), f["reason"].as_str()),
            (Some("incoherent"), Some("empty"))
        );
        let f = field("I am not sure. I am not sure. I am not sure.", None, LIMITS);
        assert_eq!(f["reason"], "repeats itself");
        let f = field(
            "He nodded and left the room.",
            Some(20.0),
            Limits {
                min_score: 30.0,
                ..LIMITS
            },
        );
        assert_eq!(f["reason"], "the judge finds it incoherent");
        let f = field("He nodded and left the room.", Some(20.0), LIMITS);
        assert_eq!(f["verdict"], "coherent");
        assert!(f.get("reason").is_none());
    }
}

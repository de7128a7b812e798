//! The two judges behind one interface: a causal LM asked for a number
//! (probability-weighted over the integers 0..100), and an embedding model
//! comparing the text with the definition's HIGH and LOW bands.

use refinery_core::{Error, Result};

use crate::definition::Definition;
use crate::embed::cosine;
use crate::{CausalLm, DigitTokens, Embedder, IntegerDistribution, PromptMode};

/// The built-in prompt templates (pipelines/judge/, editable copies there).
pub const SCENARIO_TEMPLATE: &str = include_str!("../../../pipelines/judge/scenario.txt");
/// The built-in template of the response stage (scenario and response).
pub const RESPONSE_TEMPLATE: &str = include_str!("../../../pipelines/judge/response.txt");
/// The built-in template of the response stage without the scenario.
pub const RESPONSE_NO_PREFIX_TEMPLATE: &str =
    include_str!("../../../pipelines/judge/response_no_prefix.txt");

/// What one row gives the judge.
pub struct Item<'a> {
    /// The scenario (empty when the judge sees the response alone).
    pub prompt: &'a str,
    /// The start of the completion (response stage), already cut to N words.
    pub response: Option<&'a str>,
}

/// A score, or why there is none.
#[derive(Clone, Debug, PartialEq)]
pub struct Judgement {
    /// 0..100, when the judge gave one.
    pub score: Option<f64>,
    /// LM judge: probability on valid integers.
    pub mass: Option<f64>,
    /// Likelihood judge: the contrast d the score was calibrated from
    /// (nats per token, see [`crate::likelihood`]).
    pub contrast: Option<f64>,
    /// Why there is no score.
    pub error: Option<String>,
}

/// What an LM judge is asked apart from the row: the template (with
/// `{trait}`, `{definition}`, `{prompt}` and `{response}` filled in), the text
/// that opens its answer (e.g. `Score:`), and the least probability on the
/// integers 0..100 a score needs.
#[derive(Clone, Debug)]
pub struct JudgeQuestion {
    /// The template.
    pub template: String,
    /// Text after the prompt that opens the answer.
    pub answer_lead: String,
    /// Least probability on 0..100 for a score.
    pub min_mass: f64,
}

impl JudgeQuestion {
    /// The template in `path` (`--template FILE`), else `builtin`, without
    /// trailing whitespace (the answer lead follows it).
    pub fn template(path: Option<&std::path::Path>, builtin: &str) -> Result<String> {
        let text = match path {
            Some(path) => std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?,
            None => builtin.to_string(),
        };
        Ok(text.trim_end().to_string())
    }
}

/// A causal LM asked for a number from 0 to 100; the score is the
/// probability-weighted mean over the integers it could answer.
pub struct LmJudge {
    /// The model asked.
    pub lm: CausalLm,
    /// Its digit tokens.
    pub digits: DigitTokens,
    /// The template, filled per row.
    pub template: String,
    /// Chat or raw.
    pub mode: PromptMode,
    /// Text that opens the answer.
    pub answer_lead: String,
    /// Least probability on 0..100 for a score.
    pub min_mass: f64,
    /// The trait's name, for `{trait}`.
    pub trait_name: String,
    /// The definition's text, for `{definition}`.
    pub definition: String,
}

impl LmJudge {
    /// A judge ready to score: finds the model's digit tokens and runs the
    /// prompt's shared start once ([`Self::warm_up`]). Errors: a vocabulary
    /// that cannot spell the integers 0..100; a model error.
    pub fn new(
        lm: CausalLm,
        mode: PromptMode,
        question: JudgeQuestion,
        trait_name: &str,
        definition: &Definition,
    ) -> Result<Self> {
        let mut judge = LmJudge {
            digits: DigitTokens::of(&lm)?,
            mode,
            lm,
            template: question.template,
            answer_lead: question.answer_lead,
            min_mass: question.min_mass,
            trait_name: trait_name.to_string(),
            definition: definition.text.clone(),
        };
        judge.warm_up()?;
        Ok(judge)
    }

    /// The filled template, formatted for the model, with the answer opened.
    pub fn prompt_text(&self, item: &Item) -> crate::Result<String> {
        let filled = fill_template(&self.template, &self.trait_name, &self.definition, item);
        let mut text = self.lm.format(self.mode, None, &filled)?;
        if self.mode == PromptMode::Raw && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&self.answer_lead);
        Ok(text)
    }

    /// Runs the part of the prompt that is the same for every row (the
    /// instructions and definition before the first row's text) once, so each
    /// row only runs its own text. Exact: a row whose tokens do not start
    /// with those tokens is run whole.
    pub fn warm_up(&mut self) -> Result<()> {
        const MARK: &str = "\u{1}ROW\u{1}";
        let marked = self.prompt_text(&Item {
            prompt: MARK,
            response: Some(MARK),
        })?;
        let head = &marked[..marked.find(MARK).unwrap_or(marked.len())];
        let ids = self.lm.encode(head)?;
        Ok(self.lm.remember_prefix(&ids)?)
    }

    /// Scores one row: the probability-weighted mean over the integers
    /// 0..100 the model could answer (see [`IntegerDistribution`]), or why not.
    pub fn judge(&mut self, item: &Item) -> Result<Judgement> {
        let text = self.prompt_text(item)?;
        let ids = self.lm.encode(&text)?;
        // Room for "100" after a space, and the token that ends it.
        let room = self.lm.context_length().saturating_sub(5);
        if ids.len() > room {
            return Ok(failed(format!(
                "the judge prompt is {} tokens; the model's context leaves room for {room}",
                ids.len()
            )));
        }
        let dist = self.lm.integer_distribution(&ids, &self.digits, true)?;
        Ok(judgement_from(&dist, self.min_mass))
    }
}

/// The judge's template with the row's text in it: `{trait}`,
/// `{definition}`, `{prompt}`, `{response}`. Both backends fill it here.
pub fn fill_template(template: &str, trait_name: &str, definition: &str, item: &Item) -> String {
    template
        .replace("{trait}", trait_name)
        .replace("{definition}", definition)
        .replace("{prompt}", item.prompt)
        .replace("{response}", item.response.unwrap_or(""))
}

/// The score from a distribution over 0..100, the same for every backend:
/// the probability-weighted mean, or null (with the reason) below the floor.
pub fn judgement_from(dist: &IntegerDistribution, min_mass: f64) -> Judgement {
    let mass = dist.mass();
    match dist.mean(min_mass) {
        Some(score) => Judgement {
            score: Some(score),
            mass: Some(mass),
            contrast: None,
            error: None,
        },
        None => Judgement {
            score: None,
            mass: Some(mass),
            contrast: None,
            error: Some(format!(
                "only {mass:.3} of the judge's probability is on the integers 0..100 (--min-mass {min_mass})"
            )),
        },
    }
}

/// Similarities are turned into a score by a logistic of their difference:
/// score = 100 / (1 + exp(-(s_high - s_low) / SHARPNESS)), where s_high and
/// s_low are the text's highest cosine similarity to the HIGH and to the LOW
/// anchors (each band's description and each of its quoted example phrases).
/// Equal similarity is 50; a difference of 0.1 is about 88 (or 12).
pub const SHARPNESS: f64 = 0.05;

/// An embedding model comparing a text with the definition's HIGH and LOW
/// anchors: 100 / (1 + exp(−(best HIGH cosine − best LOW cosine) / [`SHARPNESS`])).
pub struct EmbedJudge {
    /// The embedding model.
    pub embedder: Embedder,
    high: Vec<Vec<f32>>,
    low: Vec<Vec<f32>>,
}

impl EmbedJudge {
    /// Embeds the anchors of `definition` (read from `path`, named in errors).
    /// Errors: a definition without HIGH and LOW bands.
    pub fn new(
        mut embedder: Embedder,
        definition: &Definition,
        path: &std::path::Path,
    ) -> Result<Self> {
        let (Some(high), Some(low)) = (&definition.high, &definition.low) else {
            return Err(Error::config(
                path,
                "the embedding judge needs HIGH and LOW bands in the definition (lines starting `HIGH (70-100):` and `LOW (0-30):`)",
            ));
        };
        let anchors = |band: &crate::definition::Band| {
            std::iter::once(band.text.clone())
                .chain(band.examples.iter().cloned())
                .collect::<Vec<_>>()
        };
        let (h, l) = (anchors(high), anchors(low));
        let high = embedder.embed(&h.iter().map(String::as_str).collect::<Vec<_>>())?;
        let low = embedder.embed(&l.iter().map(String::as_str).collect::<Vec<_>>())?;
        Ok(EmbedJudge {
            embedder,
            high,
            low,
        })
    }

    /// Scores texts in one batch.
    pub fn judge_batch(&mut self, texts: &[&str]) -> Result<Vec<Judgement>> {
        let vectors = self.embedder.embed(texts)?;
        Ok(vectors
            .iter()
            .map(|v| {
                let best = |anchors: &[Vec<f32>]| {
                    anchors
                        .iter()
                        .map(|a| cosine(v, a))
                        .fold(f64::NEG_INFINITY, f64::max)
                };
                Judgement {
                    score: Some(logistic_score(best(&self.high), best(&self.low))),
                    mass: None,
                    contrast: None,
                    error: None,
                }
            })
            .collect())
    }
}

/// The embedding judge's score, 0..100, from the best HIGH and LOW cosines.
pub fn logistic_score(s_high: f64, s_low: f64) -> f64 {
    100.0 / (1.0 + (-(s_high - s_low) / SHARPNESS).exp())
}

/// A judgement without a score, saying why.
pub fn failed(reason: String) -> Judgement {
    Judgement {
        score: None,
        mass: None,
        contrast: None,
        error: Some(reason),
    }
}

/// The first `words` whitespace-separated words of `text` (0 = all), joined
/// by single spaces.
pub fn first_words(text: &str, words: usize) -> String {
    if words == 0 {
        return text.to_string();
    }
    text.split_whitespace()
        .take(words)
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logistic_rule() {
        assert_eq!(logistic_score(0.4, 0.4), 50.0);
        assert!((logistic_score(0.5, 0.4) - 88.08).abs() < 0.01);
        assert!((logistic_score(0.4, 0.5) - 11.92).abs() < 0.01);
    }

    #[test]
    fn first_words_cuts_on_white_space() {
        assert_eq!(first_words("  I told\nhim   the truth. ", 3), "I told him");
        assert_eq!(first_words(" a b ", 0), " a b ");
    }
}

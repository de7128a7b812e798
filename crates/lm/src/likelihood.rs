//! The likelihood judge: asks a causal LM (by default the model under study)
//! how it would sum up a text in the words of the definition's HIGH band
//! against those of its LOW band, instead of asking it for a number.
//!
//! For a text T, each anchor phrase a (the band's quoted example phrases and
//! its short clauses, [`crate::Band::anchors`]) is scored as the mean
//! log-probability per token of " a" after T + [`FRAME`]:
//!
//! ```text
//! d(T)  = mean over HIGH anchors of lp(a | T) − mean over LOW anchors of lp(a | T)   (nats per token)
//! score = 100 / (1 + exp(−(d(T) − d(∅)) / TAU))
//! ```
//!
//! d(∅), the same contrast after the frame alone (no text), removes how
//! likely the phrases are in themselves, so a text that says nothing about
//! the trait scores 50 (the `fixed` calibration). How far d moves per unit
//! of trait differs between models, so by default the scores of a run are
//! calibrated on the run itself ([`RunCalibration`]): its median contrast
//! scores 50 and its quartiles 20 and 80. Small models do not answer
//! "Score: NN" reliably (a 135M model scores nearly everything 31-41);
//! ranking phrases by likelihood is the task they were trained on. Measured
//! in the README.

use refinery_core::Result;

use crate::definition::Definition;
use crate::judge::{failed, Judgement};
use crate::CausalLm;

/// What follows the judged text: a summing-up the anchors complete.
pub const FRAME: &str = "\n\nIn one word, the speaker here is";

/// Nats per token of contrast that move the score from 50 to about 73
/// (or 27): the positive and negative scenarios of real trait files sat
/// 0.1-0.25 nats per token either side of the no-text contrast.
pub const TAU: f64 = 0.1;

/// The likelihood judge: how much likelier the model finds the text after
/// the definition's HIGH anchors than after its LOW anchors (see the module
/// docs).
pub struct LikelihoodJudge {
    /// The model scoring.
    pub lm: CausalLm,
    /// The definition's anchors.
    anchors: Anchors,
}

/// A HIGH and a LOW set of anchor phrases, tokenised, with their no-text
/// contrast: what the judge compares after a text. One model can judge
/// several sets (the trait's, and coherence's).
pub struct Anchors {
    /// The HIGH anchors' token ids, then the LOW anchors'.
    phrases: Vec<Vec<u32>>,
    /// How many of `phrases` are HIGH anchors.
    high: usize,
    /// d(∅): the contrast after the frame alone.
    baseline: f64,
}

impl LikelihoodJudge {
    /// Reads the anchors from the definition's HIGH and LOW bands and
    /// measures the no-text contrast. Errors when a band is missing or
    /// yields no phrase.
    pub fn new(mut lm: CausalLm, definition: &Definition, path: &std::path::Path) -> Result<Self> {
        let anchors = Anchors::new(&mut lm, definition, path)?;
        Ok(LikelihoodJudge { lm, anchors })
    }

    /// The score of `text` (the scenario, or scenario + response).
    pub fn judge(&mut self, text: &str) -> Result<Judgement> {
        self.anchors.judge(&mut self.lm, text)
    }
}

impl Anchors {
    /// The anchors of a definition's HIGH and LOW bands on `lm`, with the
    /// no-text contrast measured. Errors when a band is missing or yields
    /// no phrase (naming `path`).
    pub fn new(lm: &mut CausalLm, definition: &Definition, path: &std::path::Path) -> Result<Self> {
        let band_phrases = |band: &Option<crate::Band>, name: &str| -> Result<Vec<String>> {
            let phrases = band.as_ref().map(|b| b.anchors()).unwrap_or_default();
            if phrases.is_empty() {
                return Err(refinery_core::Error::config(
                    path,
                    format!(
                        "the likelihood judge needs phrases for the {name} band: a line starting `{name} (..):` \
                         with quoted example phrases or short clauses (\"seething, furious, or enraged\")"
                    ),
                ));
            }
            Ok(phrases)
        };
        let high = band_phrases(&definition.high, "HIGH")?;
        let low = band_phrases(&definition.low, "LOW")?;
        let tokens = |phrases: Vec<String>| -> Result<Vec<Vec<u32>>> {
            phrases
                .iter()
                .map(|p| Ok(lm.tokenize(&format!(" {p}"))?))
                .collect()
        };
        let mut phrases = tokens(high)?;
        let high = phrases.len();
        phrases.extend(tokens(low)?);
        let mut anchors = Anchors {
            phrases,
            high,
            baseline: 0.0,
        };
        let frame = FRAME.trim_start();
        anchors.baseline = anchors.contrast(lm, frame)?.unwrap_or(0.0);
        Ok(anchors)
    }

    /// d(text) in nats per token, or Err(tokens needed) when the text, the
    /// frame and the longest phrase do not fit the model's context.
    fn contrast(&self, lm: &mut CausalLm, framed: &str) -> Result<Result<f64, usize>> {
        let prefix = lm.encode(framed)?;
        let longest = self.phrases.iter().map(Vec::len).max().unwrap_or(0);
        if prefix.len() + longest > lm.context_length() {
            return Ok(Err(prefix.len() + longest));
        }
        let scores = lm.score_continuations(&prefix, &self.phrases)?;
        let per_token: Vec<f64> = scores
            .iter()
            .zip(&self.phrases)
            .map(|(s, ids)| s.logprob / ids.len() as f64)
            .collect();
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
        let (h, l) = per_token.split_at(self.high);
        Ok(Ok(mean(h) - mean(l)))
    }

    /// The score of `text` against these anchors on `lm` (fixed
    /// calibration; the contrast is in the judgement for calibrating on a
    /// run).
    pub fn judge(&self, lm: &mut CausalLm, text: &str) -> Result<Judgement> {
        match self.contrast(lm, &format!("{text}{FRAME}"))? {
            Ok(d) => Ok(Judgement {
                score: Some(score_of(d - self.baseline)),
                mass: None,
                contrast: Some(d),
                error: None,
            }),
            Err(needed) => Ok(failed(format!(
                "the text, the judge's frame and its longest phrase are {needed} tokens; the model's context holds {}",
                lm.context_length()
            ))),
        }
    }
}

/// 100 / (1 + exp(−contrast / TAU)).
pub fn score_of(contrast: f64) -> f64 {
    100.0 / (1.0 + (-contrast / TAU).exp())
}

/// How the likelihood judge turns contrasts into 0-100 scores.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Calibration {
    /// On this run's rows: median 50, quartiles 20 and 80 ([`RunCalibration`])
    Run,
    /// Against the frame alone: no text scores 50, 0.1 nats per token ~ 23 points
    Fixed,
}

/// Scores calibrated on a run's own contrasts: the median scores 50 and the
/// first and third quartiles 20 and 80,
/// score = 100 / (1 + exp(−ln 4 · (d − median) / ((Q3 − Q1) / 2))).
/// A contrastive file holds about as many rows meant to express the trait
/// as rows meant not to, so the median falls between the two; the
/// positives' and negatives' labels are not used.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RunCalibration {
    /// The run's median contrast.
    pub median: f64,
    /// Half the interquartile range.
    pub spread: f64,
}

impl RunCalibration {
    /// From the run's contrasts (quantiles by linear interpolation); None
    /// with fewer than 4 values or when the quartiles coincide.
    pub fn of(contrasts: &[f64]) -> Option<Self> {
        let mut v: Vec<f64> = contrasts
            .iter()
            .copied()
            .filter(|d| d.is_finite())
            .collect();
        if v.len() < 4 {
            return None;
        }
        v.sort_by(f64::total_cmp);
        let q = |p: f64| {
            let at = p * (v.len() - 1) as f64;
            let (lo, hi) = (at.floor() as usize, at.ceil() as usize);
            v[lo] + (v[hi] - v[lo]) * (at - lo as f64)
        };
        let spread = (q(0.75) - q(0.25)) / 2.0;
        (spread > 0.0).then(|| RunCalibration {
            median: q(0.5),
            spread,
        })
    }

    /// The calibrated score, 0..100, of a contrast.
    pub fn score(&self, contrast: f64) -> f64 {
        100.0 / (1.0 + (-(4f64.ln()) * (contrast - self.median) / self.spread).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_calibration_maps_median_and_quartiles_to_50_20_80() {
        let c = RunCalibration::of(&[0.0, 1.0, 2.0, 3.0, 4.0]).unwrap();
        assert_eq!((c.median, c.spread), (2.0, 1.0));
        assert!((c.score(2.0) - 50.0).abs() < 1e-9);
        assert!((c.score(3.0) - 80.0).abs() < 1e-9);
        assert!((c.score(1.0) - 20.0).abs() < 1e-9);
        assert_eq!(RunCalibration::of(&[1.0, 1.0, 1.0, 1.0]), None);
        assert_eq!(RunCalibration::of(&[1.0, 2.0, 3.0]), None);
    }

    #[test]
    fn no_contrast_is_fifty_and_tau_is_the_scale() {
        assert_eq!(score_of(0.0), 50.0);
        assert!((score_of(TAU) - 73.11).abs() < 0.01);
        assert!((score_of(-TAU) - 26.89).abs() < 0.01);
    }
}

//! The judge over an OpenAI-compatible API: one token with its top 20
//! log-probabilities, turned into the same distribution over 0..100 (and so
//! the same score, mass and null below the floor) as the local judge.
//!
//! Tokenizers differ. OpenAI's put whole numbers up to 999 in one token:
//! then every number in the top 20 is a whole answer. Others (Llama 2,
//! Mistral, Qwen, SmolLM2) split numbers into single digits: then "8" may be
//! 8 or the start of 85, and the number is completed with follow-up
//! requests that give the partial answer back and read the next token:
//!
//! - follow-ups are made only when no token of the first answer is a number
//!   of two or more digits (`--followups auto`; `off` never makes them and
//!   counts a digit as the whole number);
//! - only for a leading digit 1..9, for "10" (which may become 100) and for
//!   a bare leading space, each at least 0.005 likely; at most 24 per row,
//!   the likeliest first; a prefix left over is not counted (it lowers
//!   `mass`, as the local judge's pruning does);
//! - after a prefix, the probability that the number ends there is 1 minus
//!   the digit tokens' probability among the next token's top 20;
//! - two-digit numbers are taken as ended (a model asked for 0..100 does not
//!   go on to a third digit after 85).
//!
//! Completions (`--raw`) give the partial answer back as prompt text, which
//! every server understands. Chat completions give it as a final assistant
//! message to be continued (`continue_final_message`, as vLLM and SGLang
//! name it; llama.cpp's own server continues it by itself); a server that
//! starts a new turn instead gives wrong numbers, so use `--raw` there.

use refinery_lm::judge::{fill_template, judgement_from};
use refinery_lm::{IntegerDistribution, Item, Judgement};
use serde_json::{json, Value};

use crate::client::{Client, Failure};
use crate::generate::token_logprob;

/// Most follow-up requests for one score (each reads one more digit).
pub const MAX_FOLLOWUPS: usize = 24;
/// A prefix of the answer is followed when at least this likely.
pub const FOLLOW_ABOVE: f64 = 0.005;
/// Candidates asked for per token, unless `--top-logprobs` says otherwise.
pub const TOP_LOGPROBS: usize = 20;
/// How the error of a row whose requests failed begins.
pub const REQUEST_FAILED: &str = "request failed:";

/// The next token's candidates: text and probability.
pub type Top = Vec<(String, f64)>;

/// Whether the judge asks again for the digits after a first digit token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Followups {
    /// Complete numbers split into digit tokens with follow-up requests.
    Auto,
    /// Read the first token's candidates only.
    Off,
}

/// The LM judge over the API: the same template and aggregation as the
/// local judge, the integers' probabilities read from `top_logprobs`.
pub struct ApiJudge {
    /// The server.
    pub client: Client,
    /// What rows record in `judge`.
    pub name: String,
    /// The model the server serves.
    pub model: String,
    /// Completions with the template as text, then `answer_lead`; otherwise
    /// chat completions with the template as the user's message.
    pub raw: bool,
    /// The template.
    pub template: String,
    /// The trait's name, for `{trait}`.
    pub trait_name: String,
    /// The definition's text, for `{definition}`.
    pub definition: String,
    /// Text that opens the answer.
    pub answer_lead: String,
    /// Least probability on 0..100 for a score.
    pub min_mass: f64,
    /// Seed sent with each request.
    pub seed: u64,
    /// Whether to ask again for later digits.
    pub followups: Followups,
    /// Candidates asked for per token (some servers cap it, e.g. at 5).
    pub top_logprobs: usize,
}

impl ApiJudge {
    /// A row's score, or an error judgement when its requests failed; only
    /// a failure that ends the run is an `Err`.
    pub fn judge(&self, item: &Item) -> Result<Judgement, Failure> {
        let filled = fill_template(&self.template, &self.trait_name, &self.definition, item);
        let result = self.ask(&filled, "").and_then(|first| {
            let dist =
                integer_distribution(&first, self.followups, |prefix| self.ask(&filled, prefix))?;
            Ok((dist, first))
        });
        match result {
            Ok((dist, first)) => {
                let mut j = judgement_from(&dist, self.min_mass);
                if let (Some(error), true) = (j.error.as_mut(), dist.mass() < 1e-6) {
                    // No number at all: say what the server did answer.
                    error.push_str(&format!("; the top tokens were {}", describe_top(&first)));
                }
                Ok(j)
            }
            Err(Failure::Row(why)) => {
                // A server that caps the candidates names logprobs in its
                // refusal: say what this run asked for and how to change it.
                let hint = if why.contains("logprobs") {
                    format!(
                        " (this run asks for {} candidates per token; a server that allows fewer needs --top-logprobs N)",
                        self.top_logprobs
                    )
                } else {
                    String::new()
                };
                Ok(Judgement {
                    score: None,
                    mass: None,
                    contrast: None,
                    error: Some(format!("{REQUEST_FAILED} {why}{hint}")),
                })
            }
            Err(fatal) => Err(fatal),
        }
    }

    /// The next token's top candidates after the prompt and `answer_so_far`.
    fn ask(&self, filled: &str, answer_so_far: &str) -> Result<Top, Failure> {
        let answer = if self.raw {
            let mut prompt = filled.to_string();
            if !prompt.ends_with('\n') {
                prompt.push('\n');
            }
            prompt.push_str(&self.answer_lead);
            prompt.push_str(answer_so_far);
            self.client.post(
                "/completions",
                &json!({
                    "model": self.model, "prompt": prompt, "max_tokens": 1,
                    "temperature": 0, "logprobs": self.top_logprobs, "seed": self.seed,
                }),
            )?
        } else {
            let mut messages = vec![json!({"role": "user", "content": filled})];
            let mut body = json!({
                "model": self.model, "max_tokens": 1, "temperature": 0,
                "logprobs": true, "top_logprobs": self.top_logprobs, "seed": self.seed,
            });
            if !answer_so_far.is_empty() {
                messages.push(json!({"role": "assistant", "content": answer_so_far}));
                body["continue_final_message"] = json!(true);
                body["add_generation_prompt"] = json!(false);
            }
            body["messages"] = json!(messages);
            self.client.post("/chat/completions", &body)?
        };
        match top_logprobs(&answer) {
            Some(top) if !top.is_empty() => Ok(top),
            _ if answered_nothing(&answer) => Err(Failure::Row(
                "the model answered nothing (an empty answer with no token to read)".into(),
            )),
            _ => Err(Failure::Row(
                "the answer has no top log-probabilities (does the server support logprobs?)"
                    .into(),
            )),
        }
    }
}

/// An answer whose text is empty and that holds no token.
fn answered_nothing(answer: &Value) -> bool {
    let choice = &answer["choices"][0];
    let text = choice["message"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str());
    let tokens = choice["logprobs"]["content"]
        .as_array()
        .or_else(|| choice["logprobs"]["tokens"].as_array());
    text.is_none_or(str::is_empty) && tokens.is_none_or(Vec::is_empty)
}

/// The likeliest candidates, for a message: `"Ġ8" 0.41, "The" 0.20, …`.
fn describe_top(top: &Top) -> String {
    let mut sorted: Vec<&(String, f64)> = top.iter().collect();
    sorted.sort_by(|a, b| b.1.total_cmp(&a.1));
    let shown: Vec<String> = sorted
        .iter()
        .take(5)
        .map(|(t, p)| format!("{t:?} {p:.2}"))
        .collect();
    shown.join(", ")
}

/// A token as text. Some servers (vLLM and LMDeploy versions) return
/// byte-level BPE pieces (`"Ġ8"` for " 8", GPT-2's byte-to-character map);
/// a token made only of that map's characters, with at least one of the
/// characters it uses for bytes that are not printable (U+0100..U+0143), is
/// decoded back to its bytes.
pub fn token_text(token: String) -> String {
    let is_marker = |c: char| ('\u{100}'..='\u{143}').contains(&c);
    if !token.chars().any(is_marker) {
        return token;
    }
    let mut bytes = Vec::with_capacity(token.len());
    for c in token.chars() {
        match byte_of(c) {
            Some(b) => bytes.push(b),
            None => return token,
        }
    }
    String::from_utf8(bytes).unwrap_or(token)
}

/// GPT-2's byte-level map, inverted: printable Latin-1 characters stand for
/// themselves, and U+0100 + n for the n-th byte that is not printable.
fn byte_of(c: char) -> Option<u8> {
    let printable = |b: u8| matches!(b, b'!'..=b'~' | 0xA1..=0xAC | 0xAE..=0xFF);
    let code = c as u32;
    if code < 256 {
        return printable(code as u8).then_some(code as u8);
    }
    let n = code.checked_sub(256)? as usize;
    (0..=255u8).filter(|&b| !printable(b)).nth(n)
}

/// The first token's candidates from a chat or a completions answer.
pub fn top_logprobs(answer: &Value) -> Option<Top> {
    let logprobs = &answer["choices"][0]["logprobs"];
    let to_top = |pairs: Vec<(String, f64)>| {
        pairs
            .into_iter()
            .map(|(t, lp)| (token_text(t), lp.exp()))
            .collect::<Top>()
    };
    if let Some(list) = logprobs["content"][0]["top_logprobs"].as_array() {
        let pairs = list.iter().filter_map(token_logprob);
        return Some(to_top(
            pairs
                .map(|(t, lp)| (t, lp.unwrap_or(f64::NEG_INFINITY)))
                .collect(),
        ));
    }
    let map = logprobs["top_logprobs"][0].as_object()?;
    Some(to_top(
        map.iter()
            .filter_map(|(t, lp)| Some((t.clone(), lp.as_f64()?)))
            .collect(),
    ))
}

/// What a candidate token is, for the number being read.
#[derive(Debug, PartialEq)]
enum Piece<'a> {
    /// Digits (after a leading space when the answer has not started).
    Digits(&'a str),
    /// White space before any digit.
    Space,
    Other,
}

fn piece(token: &str, at_start: bool) -> Piece<'_> {
    let body = if at_start { token.trim_start() } else { token };
    let body = body.trim_end();
    if body.is_empty() {
        return if at_start && !token.is_empty() {
            Piece::Space
        } else {
            Piece::Other
        };
    }
    if body.bytes().all(|b| b.is_ascii_digit()) {
        Piece::Digits(body)
    } else {
        Piece::Other
    }
}

fn value_of(digits: &str) -> Option<usize> {
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse::<usize>().ok().filter(|&n| n <= 100)
}

/// The distribution over 0..100 from the first token's candidates, asking
/// `next(answer_so_far)` for follow-ups as the module describes.
pub fn integer_distribution(
    first: &Top,
    followups: Followups,
    mut next: impl FnMut(&str) -> Result<Top, Failure>,
) -> Result<IntegerDistribution, Failure> {
    let whole_numbers = first
        .iter()
        .any(|(t, _)| matches!(piece(t, true), Piece::Digits(d) if d.len() >= 2));
    let reader = NumberReader {
        whole_numbers,
        follow: followups == Followups::Auto,
    };
    let mut probs = vec![0.0; 101];
    let mut frontier = Vec::new();
    reader.read(first, &Prefix::default(), &mut probs, &mut frontier);
    // The likeliest prefixes first, so the budget goes where the mass is.
    for _ in 0..MAX_FOLLOWUPS {
        let Some(best) = frontier
            .iter()
            .enumerate()
            .max_by(|(_, a), (_, b)| a.p.total_cmp(&b.p).then_with(|| b.text.cmp(&a.text)))
            .map(|(i, _)| i)
        else {
            break;
        };
        let prefix = frontier.swap_remove(best);
        let top = next(&prefix.text)?;
        reader.read(&top, &prefix, &mut probs, &mut frontier);
    }
    Ok(IntegerDistribution { probs })
}

/// An answer begun: its text, its digits, its probability.
#[derive(Clone, Debug, Default)]
struct Prefix {
    text: String,
    digits: String,
    p: f64,
}

struct NumberReader {
    whole_numbers: bool,
    follow: bool,
}

impl NumberReader {
    /// Adds what `top` (the candidates after `prefix`) settles to `probs`,
    /// and the prefixes worth a follow-up to `frontier`.
    fn read(&self, top: &Top, prefix: &Prefix, probs: &mut [f64], frontier: &mut Vec<Prefix>) {
        let p = if prefix.text.is_empty() {
            1.0
        } else {
            prefix.p
        };
        let mut continued = 0.0;
        for (token, q) in top {
            let pq = p * q;
            match piece(token, prefix.digits.is_empty()) {
                Piece::Digits(d) => {
                    continued += q;
                    let number = format!("{}{d}", prefix.digits);
                    let Some(n) = value_of(&number) else { continue };
                    let may_grow = !self.whole_numbers && (1..=10).contains(&n);
                    if !may_grow || !self.follow {
                        probs[n] += pq;
                    } else if pq >= FOLLOW_ABOVE {
                        frontier.push(Prefix {
                            text: format!("{}{token}", prefix.text),
                            digits: number,
                            p: pq,
                        });
                    }
                }
                Piece::Space if prefix.text.is_empty() && self.follow && pq >= FOLLOW_ABOVE => {
                    frontier.push(Prefix {
                        text: token.clone(),
                        digits: String::new(),
                        p: pq,
                    });
                }
                Piece::Space | Piece::Other => {}
            }
        }
        if !prefix.digits.is_empty() {
            if let Some(n) = value_of(&prefix.digits) {
                probs[n] += p * (1.0 - continued).max(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_level_tokens_are_read_as_text() {
        assert_eq!(token_text("Ġ8".into()), " 8");
        assert_eq!(token_text("Ġ85".into()), " 85");
        assert_eq!(token_text("Ċ".into()), "\n");
        // Ordinary tokens, and text that only looks like the map, stay.
        assert_eq!(token_text(" 8".into()), " 8");
        assert_eq!(token_text("é".into()), "é");
        assert_eq!(token_text("Ġ€".into()), "Ġ€");
        let answer = json!({"choices": [{"logprobs": {"content": [{"token": "Ġ8", "logprob": -0.1,
            "top_logprobs": [{"token": "Ġ8", "logprob": -0.1}, {"token": "Ġ9", "logprob": -2.5}]}]}}]});
        let top = top_logprobs(&answer).unwrap();
        assert_eq!(top[0].0, " 8");
        assert!(matches!(piece(&top[0].0, true), Piece::Digits("8")));
    }

    #[test]
    fn an_empty_answer_is_named_as_such() {
        assert!(answered_nothing(
            &json!({"choices": [{"message": {"content": ""}, "logprobs": {"content": []}}]})
        ));
        assert!(answered_nothing(&json!({"choices": [{"text": ""}]})));
        assert!(!answered_nothing(
            &json!({"choices": [{"message": {"content": "8"}}]})
        ));
    }

    fn top(pairs: &[(&str, f64)]) -> Top {
        pairs.iter().map(|(t, p)| (t.to_string(), *p)).collect()
    }

    fn no_followups(_: &str) -> Result<Top, Failure> {
        panic!("no follow-up expected")
    }

    #[test]
    fn whole_number_tokens_need_no_followups() {
        let first = top(&[
            ("85", 0.5),
            ("90", 0.25),
            ("7", 0.1),
            ("Sure", 0.1),
            ("150", 0.05),
        ]);
        let d = integer_distribution(&first, Followups::Auto, no_followups).unwrap();
        assert_eq!(d.probs[85], 0.5);
        assert_eq!(d.probs[90], 0.25);
        assert_eq!(d.probs[7], 0.1);
        assert!((d.mass() - 0.85).abs() < 1e-12);
    }

    #[test]
    fn split_digits_are_completed_with_followups() {
        // "8" then "5" (0.6) or the end (0.4); "1" then "0" then the end or "0".
        let first = top(&[("8", 0.5), ("1", 0.3), ("No", 0.2)]);
        let mut asked = Vec::new();
        let d = integer_distribution(&first, Followups::Auto, |prefix| {
            asked.push(prefix.to_string());
            Ok(match prefix {
                "8" => top(&[("5", 0.6), ("\n", 0.4)]),
                "1" => top(&[("0", 1.0)]),
                "10" => top(&[("0", 0.5), ("<|im_end|>", 0.5)]),
                other => panic!("unexpected follow-up {other:?}"),
            })
        })
        .unwrap();
        assert_eq!(asked, ["8", "1", "10"]);
        assert!((d.probs[8] - 0.2).abs() < 1e-12);
        assert!((d.probs[85] - 0.3).abs() < 1e-12);
        assert!((d.probs[10] - 0.15).abs() < 1e-12);
        assert!((d.probs[100] - 0.15).abs() < 1e-12);
        assert!((d.mass() - 0.8).abs() < 1e-12);
    }

    #[test]
    fn a_leading_space_is_followed_once() {
        let first = top(&[(" ", 0.9), ("A", 0.1)]);
        let d = integer_distribution(&first, Followups::Auto, |prefix| {
            Ok(match prefix {
                " " => top(&[("4", 1.0)]),
                " 4" => top(&[("0", 0.5), (" ", 0.5)]),
                other => panic!("unexpected follow-up {other:?}"),
            })
        })
        .unwrap();
        assert!((d.probs[40] - 0.45).abs() < 1e-12);
        assert!((d.probs[4] - 0.45).abs() < 1e-12);
    }

    #[test]
    fn off_counts_a_digit_as_the_number_and_unlikely_prefixes_are_pruned() {
        let first = top(&[("8", 0.5), ("3", 0.001), ("07", 0.2)]);
        let off = integer_distribution(&first, Followups::Off, no_followups).unwrap();
        assert_eq!(off.probs[8], 0.5);
        assert_eq!(off.probs[3], 0.001);
        assert_eq!(off.probs[7], 0.0, "a leading zero is no answer");
        let auto = integer_distribution(&top(&[("8", 0.5), ("3", 0.001)]), Followups::Auto, |p| {
            assert_eq!(p, "8");
            Ok(top(&[(".", 1.0)]))
        })
        .unwrap();
        assert_eq!(auto.probs[3], 0.0, "below the follow-up floor: not counted");
        assert!((auto.probs[8] - 0.5).abs() < 1e-12);
    }

    #[test]
    fn parses_chat_and_completions_answers() {
        let chat = json!({"choices": [{"logprobs": {"content": [{"token": "7", "logprob": -0.1,
            "top_logprobs": [{"token": "7", "logprob": 0.0}, {"token": "8", "logprob": -1.0}]}]}}]});
        let t = top_logprobs(&chat).unwrap();
        assert_eq!(t[0], ("7".to_string(), 1.0));
        assert!((t[1].1 - (-1.0f64).exp()).abs() < 1e-12);
        let completions = json!({"choices": [{"logprobs": {"tokens": [" "],
            "top_logprobs": [{" ": -0.5, "\n": -2.0}]}}]});
        assert_eq!(top_logprobs(&completions).unwrap().len(), 2);
        assert!(top_logprobs(&json!({"choices": [{"text": "7"}]})).is_none());
    }
}

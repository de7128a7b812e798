//! Generation over an OpenAI-compatible API: the completions endpoint for
//! base models (the prompt text as it is, `--raw`), chat completions for
//! instruct models. One request per response.

use serde_json::{json, Value};

use crate::client::{Client, Failure};

/// `generate` over the API: one request per response.
pub struct ApiGenerator {
    /// The server.
    pub client: Client,
    /// The model the server serves (`--api-model`).
    pub model: String,
    /// Completions with the prompt as text; otherwise chat completions.
    pub raw: bool,
    /// Most tokens per response.
    pub max_new_tokens: usize,
    /// Sampling temperature; 0 is greedy.
    pub temperature: f32,
    /// Nucleus sampling mass (1 = off).
    pub top_p: f32,
    /// Sent only when not 0: not every server knows it (OpenAI does not).
    pub top_k: usize,
    /// Strings that end a response.
    pub stop: Vec<String>,
    /// Ask for each token's log-probability (costly on some servers).
    pub logprobs: bool,
}

/// One response as the server gave it.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiGeneration {
    /// The completion text exactly as the server sent it.
    pub text: String,
    /// As the server says: `stop` (end of sequence or a stop string), `length`…
    pub finish_reason: String,
    /// Tokens in the prompt, as the server counts them.
    pub prompt_tokens: Option<u64>,
    /// Tokens generated, as the server counts them.
    pub completion_tokens: Option<u64>,
    /// Each generated token and its log-probability, when the server gives
    /// them; a null log-probability (how several servers write −∞) stays None.
    pub logprobs: Option<Vec<(String, Option<f64>)>>,
}

impl ApiGenerator {
    /// One response to `prompt` (after `system`, in chat), on random stream
    /// `seed`. A failure says whether the run can go on.
    pub fn generate(
        &self,
        system: Option<&str>,
        prompt: &str,
        seed: u64,
    ) -> Result<ApiGeneration, Failure> {
        let mut body = json!({
            "model": self.model,
            "max_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "seed": seed,
        });
        if self.top_k > 0 {
            body["top_k"] = json!(self.top_k);
        }
        if !self.stop.is_empty() {
            body["stop"] = json!(self.stop);
        }
        let answer = if self.raw {
            // The same text the ONNX backend gives a base model.
            body["prompt"] = json!(match system {
                Some(s) => format!("{s}\n\n{prompt}"),
                None => prompt.to_string(),
            });
            if self.logprobs {
                body["logprobs"] = json!(1);
            }
            self.client.post("/completions", &body)?
        } else {
            let mut messages = Vec::new();
            if let Some(s) = system {
                messages.push(json!({"role": "system", "content": s}));
            }
            messages.push(json!({"role": "user", "content": prompt}));
            body["messages"] = json!(messages);
            if self.logprobs {
                body["logprobs"] = json!(true);
                // Some servers (llama-cpp-python) send log-probabilities
                // only when asked for alternatives too.
                body["top_logprobs"] = json!(1);
            }
            self.client.post("/chat/completions", &body)?
        };
        parse_generation(&answer)
    }
}

/// A chat answer's `{"token", "logprob"}` entry (the shape of both a
/// response's tokens and a judge's top candidates). A null log-probability
/// is −∞ (SGLang and pydantic-based servers write it so): `Some(None)`.
/// None when the entry is malformed (no token string, a log-probability
/// that is neither a number nor null).
pub(crate) fn token_logprob(entry: &Value) -> Option<(String, Option<f64>)> {
    let token = entry["token"].as_str()?.to_string();
    match &entry["logprob"] {
        Value::Null => Some((token, None)),
        lp => Some((token, Some(lp.as_f64()?))),
    }
}

/// The response of a chat or completions answer.
pub fn parse_generation(answer: &Value) -> Result<ApiGeneration, Failure> {
    let choice = &answer["choices"][0];
    let text = choice["message"]["content"]
        .as_str()
        .or_else(|| choice["text"].as_str())
        .ok_or_else(|| {
            Failure::Row("the answer has no text (choices[0].message.content or .text)".into())
        })?;
    let logprobs = &choice["logprobs"];
    let pairs = if let Some(content) = logprobs["content"].as_array() {
        content
            .iter()
            .map(token_logprob)
            .collect::<Option<Vec<_>>>()
    } else if let (Some(tokens), Some(lps)) = (
        logprobs["tokens"].as_array(),
        logprobs["token_logprobs"].as_array(),
    ) {
        tokens
            .iter()
            .zip(lps)
            .map(|(t, lp)| {
                let lp = if lp.is_null() {
                    None
                } else {
                    Some(lp.as_f64()?)
                };
                Some((t.as_str()?.to_string(), lp))
            })
            .collect::<Option<Vec<_>>>()
    } else {
        None
    };
    Ok(ApiGeneration {
        text: text.to_string(),
        finish_reason: choice["finish_reason"]
            .as_str()
            .unwrap_or("unknown")
            .to_string(),
        prompt_tokens: answer["usage"]["prompt_tokens"].as_u64(),
        completion_tokens: answer["usage"]["completion_tokens"].as_u64(),
        logprobs: pairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chat_answer() {
        let a = json!({"choices": [{"message": {"role": "assistant", "content": " Hi there"},
            "finish_reason": "stop", "logprobs": {"content": [
                {"token": " Hi", "logprob": -0.5}, {"token": " there", "logprob": -0.25}]}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 2}});
        let g = parse_generation(&a).unwrap();
        assert_eq!(g.text, " Hi there");
        assert_eq!(g.finish_reason, "stop");
        assert_eq!(g.prompt_tokens, Some(12));
        assert_eq!(g.logprobs.unwrap()[1], (" there".to_string(), Some(-0.25)));
    }

    #[test]
    fn a_completions_answer_without_usage() {
        let a = json!({"choices": [{"text": "\n\nand then", "finish_reason": "length",
            "logprobs": {"tokens": ["\n\n", "and", " then"], "token_logprobs": [-1.0, -2.0, -0.5]}}]});
        let g = parse_generation(&a).unwrap();
        assert_eq!(g.text, "\n\nand then");
        assert_eq!(g.completion_tokens, None);
        assert_eq!(g.logprobs.unwrap().len(), 3);
    }

    #[test]
    fn a_null_log_probability_stays_null_and_keeps_the_others() {
        for answer in [
            json!({"choices": [{"message": {"content": "a b c"}, "finish_reason": "stop", "logprobs": {"content": [
                {"token": "a", "logprob": -0.5}, {"token": " b", "logprob": null}, {"token": " c", "logprob": -1.0}]}}]}),
            json!({"choices": [{"text": "a b c", "finish_reason": "stop",
                "logprobs": {"tokens": ["a", " b", " c"], "token_logprobs": [-0.5, null, -1.0]}}]}),
        ] {
            let g = parse_generation(&answer).unwrap();
            assert_eq!(
                g.logprobs.unwrap(),
                vec![
                    ("a".to_string(), Some(-0.5)),
                    (" b".to_string(), None),
                    (" c".to_string(), Some(-1.0))
                ]
            );
        }
    }

    #[test]
    fn an_answer_without_text_fails_the_row() {
        assert!(matches!(
            parse_generation(&json!({"choices": []})),
            Err(Failure::Row(_))
        ));
    }
}

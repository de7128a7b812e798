//! One HTTP client for every request: JSON in and out, timeouts, and
//! retries with exponential backoff and jitter.
//!
//! Retried: 408, 409, 429 and 5xx answers, timeouts, refused or dropped
//! connections, and a 200 whose body is not JSON (a cut-off answer). The
//! wait before retry k (from 0) is a uniform draw from [0, first_wait·2^k],
//! at most `max_wait`, unless the server sent Retry-After, which is obeyed
//! (up to 5 minutes). 401, 403 and 404 stop the run: every other row would
//! fail the same way. Any other 4xx fails the row at once.
//!
//! Python's `json` writes an infinite log-probability as a bare `-Infinity`,
//! which is not JSON: such a body is read with those literals as `null`
//! (how other servers write −∞) instead of being retried, since the same
//! answer would come back.

use std::time::Duration;

use std::sync::atomic::Ordering::Relaxed;

use rand::Rng;
use serde_json::Value;

use crate::secret::{scrub, ApiKey};
use crate::stats::Stats;

/// How failed requests are retried.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Wait before the first retry; doubled each time, with jitter.
    pub first_wait: Duration,
    /// Longest wait between attempts.
    pub max_wait: Duration,
}

/// Longest Retry-After obeyed.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Why a request gave no answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Failure {
    /// The run cannot go on (bad key, wrong URL or model): exit 2.
    Fatal(String),
    /// This row gets an error and the run goes on.
    Row(String),
}

impl Failure {
    /// What went wrong.
    pub fn message(&self) -> &str {
        match self {
            Failure::Fatal(m) | Failure::Row(m) => m,
        }
    }
}

/// What one attempt gave.
enum Attempt {
    Answer(Value),
    /// `answered`: the server sent something (a 429, a 5xx, a broken body),
    /// so it is up.
    Retry {
        why: String,
        after: Option<Duration>,
        answered: bool,
    },
    Fail(Failure),
}

/// JSON over HTTP(S) to one server, with retries and counts.
pub struct Client {
    agent: ureq::Agent,
    base: String,
    key: Option<ApiKey>,
    policy: RetryPolicy,
    /// Requests, retries and tokens so far.
    pub stats: Stats,
    /// Requests in a row that got no answer at all after every retry.
    unanswered_in_a_row: std::sync::atomic::AtomicU32,
}

/// Requests in a row that may go unanswered (every retry spent on refused
/// or dropped connections and timeouts) before the run stops: a server that
/// is down would otherwise cost every remaining row its full retry budget.
pub const MAX_UNANSWERED_IN_A_ROW: u32 = 8;

impl Client {
    /// A client of `base_url` (http:// or https://). Errors: any other URL.
    pub fn new(
        base_url: &str,
        key: Option<ApiKey>,
        connect_timeout: Duration,
        timeout: Duration,
        policy: RetryPolicy,
    ) -> refinery_core::Result<Client> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(refinery_core::Error::usage(format!(
                "--base-url must start with http:// or https://, got {base_url:?}"
            )));
        }
        let mut agent = ureq::AgentBuilder::new();
        if base_url.starts_with("https://") {
            agent = agent.tls_config(tls_config());
        }
        let agent = agent
            .timeout_connect(connect_timeout.min(timeout))
            .timeout(timeout)
            .user_agent(concat!("refinery/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            base: base_url.trim_end_matches('/').to_string(),
            key,
            policy,
            stats: Stats::default(),
            unanswered_in_a_row: Default::default(),
        })
    }

    /// POSTs `body` to `path` (e.g. `/chat/completions`) and returns the
    /// answer's JSON, retrying as the module says.
    pub fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        let url = format!("{}{}", self.base, path);
        let body = body.to_string();
        let mut last = String::new();
        let mut last_answered = false;
        for attempt in 0..=self.policy.max_retries {
            if attempt > 0 {
                self.stats.add_retry();
            }
            self.stats.add_request();
            match self.attempt(&url, &body) {
                Attempt::Answer(v) => {
                    self.stats.add_usage(&v);
                    self.unanswered_in_a_row.store(0, Relaxed);
                    return Ok(v);
                }
                Attempt::Fail(f) => {
                    self.stats.add_failed();
                    self.unanswered_in_a_row.store(0, Relaxed);
                    return Err(f);
                }
                Attempt::Retry {
                    why,
                    after,
                    answered,
                } => {
                    last = why;
                    last_answered = answered;
                    if attempt < self.policy.max_retries {
                        std::thread::sleep(self.wait(attempt, after));
                    }
                }
            }
        }
        self.stats.add_failed();
        let why = format!(
            "no answer after {} attempts; last: {last}",
            self.policy.max_retries + 1
        );
        if !last_answered {
            let silent = self.unanswered_in_a_row.fetch_add(1, Relaxed) + 1;
            if silent >= MAX_UNANSWERED_IN_A_ROW {
                return Err(Failure::Fatal(format!(
                    "{silent} requests in a row got no answer from {}; stopping (rows written so far are kept; \
                     --resume FILE continues). {why}",
                    self.base
                )));
            }
        }
        Err(Failure::Row(why))
    }

    fn wait(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(after) = retry_after {
            return after.min(MAX_RETRY_AFTER);
        }
        let ceiling = self
            .policy
            .first_wait
            .saturating_mul(1u32 << attempt.min(20))
            .min(self.policy.max_wait);
        ceiling.mul_f64(rand::thread_rng().gen::<f64>())
    }

    fn attempt(&self, url: &str, body: &str) -> Attempt {
        let mut request = self.agent.post(url).set("Content-Type", "application/json");
        if let Some(key) = &self.key {
            request = request.set("Authorization", &key.header_value());
        }
        match request.send_string(body) {
            Ok(response) => match response.into_string() {
                Ok(text) => match parse_answer(&text) {
                    Ok(v) if v.get("error").is_some_and(|e| !e.is_null()) => {
                        Attempt::Fail(Failure::Row(
                            self.clean(&format!("the server answered an error: {}", v["error"])),
                        ))
                    }
                    Ok(v) => Attempt::Answer(v),
                    Err(e) => Attempt::Retry {
                        why: format!(
                            "the answer is not JSON ({e}): {}",
                            self.clean(&preview(&text))
                        ),
                        after: None,
                        answered: true,
                    },
                },
                Err(e) => Attempt::Retry {
                    why: format!("the connection broke while reading the answer: {e}"),
                    after: None,
                    answered: false,
                },
            },
            Err(ureq::Error::Status(code, response)) => {
                let after = response.header("Retry-After").and_then(parse_retry_after);
                let text = response.into_string().unwrap_or_default();
                self.classify(code, &text, after, url)
            }
            Err(ureq::Error::Transport(t)) => Attempt::Retry {
                why: self.clean(&t.to_string()),
                after: None,
                answered: false,
            },
        }
    }

    fn classify(&self, code: u16, text: &str, after: Option<Duration>, url: &str) -> Attempt {
        match code {
            401 | 403 => Attempt::Fail(Failure::Fatal(format!(
                "the server refused the API key (HTTP {code} from {url}); check the key's environment variable"
            ))),
            404 => Attempt::Fail(Failure::Fatal(format!(
                "HTTP 404 from {url}: {}; check --base-url (it ends in /v1 for most servers) and --api-model",
                self.clean(&preview(text))
            ))),
            408 | 409 | 429 | 500..=599 => Attempt::Retry {
                why: format!("HTTP {code}: {}", self.clean(&preview(text))),
                after,
                answered: true,
            },
            _ => Attempt::Fail(Failure::Row(format!(
                "HTTP {code}: {}",
                self.clean(&preview(text))
            ))),
        }
    }

    fn clean(&self, text: &str) -> String {
        scrub(self.key.as_ref(), text)
    }
}

/// rustls with the Mozilla roots built in plus the system's certificates
/// (SSL_CERT_FILE / SSL_CERT_DIR are honoured), so a machine without a CA
/// bundle works, and so does one behind a TLS-inspecting proxy whose CA the
/// system trusts. No OpenSSL.
fn tls_config() -> std::sync::Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    roots.add_parsable_certificates(rustls_native_certs::load_native_certs().certs);
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("ring supports the default TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    std::sync::Arc::new(config)
}

/// Retry-After in seconds (the HTTP-date form is not obeyed; backoff applies).
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    value
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
}

/// The start of a server's answer, on one line, for a message.
fn preview(text: &str) -> String {
    let one_line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match one_line.char_indices().nth(200) {
        Some((i, _)) => format!("{}…", &one_line[..i]),
        None if one_line.is_empty() => "(empty)".to_string(),
        None => one_line,
    }
}

/// The answer's JSON; a body that is JSON but for bare `Infinity`,
/// `-Infinity` or `NaN` literals (outside strings) is read with them as null.
fn parse_answer(text: &str) -> serde_json::Result<Value> {
    serde_json::from_str(text).or_else(|e| {
        let patched = non_finite_as_null(text).ok_or(e)?;
        serde_json::from_str(&patched)
    })
}

/// `text` with bare non-finite literals outside strings replaced by null;
/// None when there are none.
fn non_finite_as_null(text: &str) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped, mut changed) = (false, false, false);
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if in_string {
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        } else if let Some(literal) = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|l| rest.starts_with(l))
        {
            out.push_str("null");
            rest = &rest[literal.len()..];
            changed = true;
            continue;
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_infinities_are_read_as_null_outside_strings() {
        let v =
            parse_answer(r#"{"a": -Infinity, "b": [Infinity, NaN], "s": "-Infinity"}"#).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"a": null, "b": [null, null], "s": "-Infinity"})
        );
        assert!(
            parse_answer(r#"{"a": "#).is_err(),
            "a cut-off body stays an error"
        );
        assert_eq!(non_finite_as_null(r#"{"s": "NaN \" Infinity"}"#), None);
    }

    #[test]
    fn retry_after_in_seconds() {
        assert_eq!(parse_retry_after("2"), Some(Duration::from_secs(2)));
        assert_eq!(parse_retry_after(" 0.5 "), Some(Duration::from_millis(500)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        assert_eq!(parse_retry_after("-1"), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let client = Client::new(
            "http://127.0.0.1:9",
            None,
            Duration::from_secs(1),
            Duration::from_secs(1),
            RetryPolicy {
                max_retries: 3,
                first_wait: Duration::from_secs(1),
                max_wait: Duration::from_secs(4),
            },
        )
        .unwrap();
        for _ in 0..100 {
            assert!(client.wait(0, None) <= Duration::from_secs(1));
            assert!(client.wait(1, None) <= Duration::from_secs(2));
            assert!(client.wait(10, None) <= Duration::from_secs(4));
        }
        assert_eq!(
            client.wait(0, Some(Duration::from_secs(3))),
            Duration::from_secs(3)
        );
        assert_eq!(
            client.wait(0, Some(Duration::from_secs(9999))),
            MAX_RETRY_AFTER
        );
    }

    #[test]
    fn previews_are_one_short_line() {
        assert_eq!(preview("a\n b"), "a b");
        assert_eq!(preview(""), "(empty)");
        assert_eq!(preview(&"x".repeat(500)).chars().count(), 201);
    }
}

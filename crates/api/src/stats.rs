//! Counts for the summary on stderr: requests, retries, failures and the
//! tokens the server says it used (what a paid run costs).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde_json::Value;

/// Counts of a run's requests, shared by its threads.
#[derive(Debug, Default)]
pub struct Stats {
    requests: AtomicU64,
    retries: AtomicU64,
    failed: AtomicU64,
    prompt_tokens: AtomicU64,
    completion_tokens: AtomicU64,
}

impl Stats {
    /// Counts a request.
    pub fn add_request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    /// Counts a retry.
    pub fn add_retry(&self) {
        self.retries.fetch_add(1, Relaxed);
    }

    /// Counts a request that failed after its retries.
    pub fn add_failed(&self) {
        self.failed.fetch_add(1, Relaxed);
    }

    /// Adds an answer's `usage` (absent on some servers: then nothing).
    pub fn add_usage(&self, answer: &Value) {
        let get = |k: &str| answer["usage"][k].as_u64().unwrap_or(0);
        self.prompt_tokens.fetch_add(get("prompt_tokens"), Relaxed);
        self.completion_tokens
            .fetch_add(get("completion_tokens"), Relaxed);
    }

    /// Requests sent.
    pub fn requests(&self) -> u64 {
        self.requests.load(Relaxed)
    }

    /// Retries made.
    pub fn retries(&self) -> u64 {
        self.retries.load(Relaxed)
    }

    /// The line for stderr.
    pub fn summary(&self) -> String {
        format!(
            "api: {} requests ({} retries, {} failed), {} prompt + {} completion tokens",
            self.requests(),
            self.retries(),
            self.failed.load(Relaxed),
            self.prompt_tokens.load(Relaxed),
            self.completion_tokens.load(Relaxed)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_adds_up() {
        let s = Stats::default();
        s.add_request();
        s.add_usage(&serde_json::json!({"usage": {"prompt_tokens": 10, "completion_tokens": 2}}));
        s.add_usage(&serde_json::json!({"choices": []}));
        s.add_usage(&serde_json::json!({"usage": {"prompt_tokens": 5, "completion_tokens": 1}}));
        assert_eq!(
            s.summary(),
            "api: 1 requests (0 retries, 0 failed), 15 prompt + 3 completion tokens"
        );
    }
}

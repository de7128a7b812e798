//! The OpenAI-compatible backend of `generate` and `vet-score`.
//!
//! - [`args`]: `--backend`, `--base-url`, `--api-model`, the key's variable,
//!   concurrency, retries, timeouts, `--resume`.
//! - [`secret`]: the API key, kept out of every message.
//! - [`client`]: JSON over HTTP(S) (rustls), retries with backoff and jitter.
//! - [`ordered`]: requests in flight at once, results in input order.
//! - [`generate`], [`judge`]: the two stages over the API; the judge shares
//!   its template and aggregation with the local judge in `refinery-lm`.
//! - [`resume`]: `input_hash` and the journal behind `--resume`.
//! - [`stats`]: the requests/retries/tokens summary.

#![warn(missing_docs)]

pub mod args;
pub mod client;
pub mod generate;
pub mod judge;
pub mod ordered;
pub mod resume;
pub mod secret;
pub mod stats;

pub use args::{ApiArgs, Backend};
pub use client::{Client, Failure, RetryPolicy};
pub use generate::{ApiGeneration, ApiGenerator};
pub use judge::{ApiJudge, Followups};
pub use ordered::{map_all, map_ordered};
pub use resume::{input_hash, Journal, Output, HASH_FIELD};
pub use secret::ApiKey;

impl From<Failure> for refinery_core::Error {
    fn from(f: Failure) -> Self {
        refinery_core::Error::usage(f.message().to_string())
    }
}

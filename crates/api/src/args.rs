//! The options `generate` and `vet-score` share for choosing a backend and
//! talking to an OpenAI-compatible server.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use refinery_core::{Error, Result};

use crate::client::{Client, RetryPolicy};
use crate::secret::ApiKey;

/// `--base-url`'s default: OpenAI's API root.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// Where the model runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum Backend {
    /// ONNX Runtime on this machine (--model DIR)
    #[default]
    Onnx,
    /// An OpenAI-compatible HTTP server: OpenAI, vLLM, TGI, SGLang, llama.cpp
    Openai,
}

/// The options of the OpenAI-compatible backend, flattened into a tool's `Cli`.
#[derive(Args, Clone, Debug)]
pub struct ApiArgs {
    /// Where the model runs
    #[arg(long, value_enum, default_value_t = Backend::Onnx, help_heading = "Backend options")]
    pub backend: Backend,

    /// openai: the server's API root
    #[arg(long, value_name = "URL", default_value = OPENAI_BASE_URL, help_heading = "Backend options")]
    pub base_url: String,

    /// openai: the model name the server serves (required with --backend openai)
    #[arg(long, value_name = "NAME", help_heading = "Backend options")]
    pub api_model: Option<String>,

    /// openai: the environment variable holding the API key (the key is never
    /// taken from the command line and never printed)
    #[arg(
        long,
        value_name = "VAR",
        default_value = "OPENAI_API_KEY",
        help_heading = "Backend options"
    )]
    pub api_key_env: String,

    /// openai: requests in flight at once (output stays in input order)
    #[arg(long, value_name = "N", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=256), help_heading = "Backend options")]
    pub concurrency: u16,

    /// openai: retries of a request after 429, 5xx, a timeout, a dropped
    /// connection or a malformed answer
    #[arg(
        long,
        value_name = "N",
        default_value_t = 5,
        help_heading = "Backend options"
    )]
    pub max_retries: u32,

    /// openai: first retry waits up to this many seconds, doubling each
    /// retry (random jitter, at most 60 s); a Retry-After header wins
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 1.0,
        help_heading = "Backend options"
    )]
    pub backoff: f64,

    /// openai: seconds allowed for one whole request (connect, send, answer)
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 120.0,
        help_heading = "Backend options"
    )]
    pub timeout: f64,

    /// openai: seconds allowed to connect
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 10.0,
        help_heading = "Backend options"
    )]
    pub connect_timeout: f64,

    /// openai: write the output to FILE, keeping the rows it already holds
    /// (matched by `input_hash`) instead of requesting them again
    #[arg(long, value_name = "FILE", help_heading = "Backend options")]
    pub resume: Option<PathBuf>,
}

impl ApiArgs {
    /// Whether `--backend openai` was given.
    pub fn is_openai(&self) -> bool {
        self.backend == Backend::Openai
    }

    /// Refuses API options given without `--backend openai`, so a run never
    /// silently ignores what the user asked for.
    pub fn check_backend(&self) -> Result<()> {
        if self.is_openai() {
            return Ok(());
        }
        if self.api_model.is_some() || self.resume.is_some() || self.base_url != OPENAI_BASE_URL {
            return Err(Error::usage(
                "--base-url, --api-model and --resume need --backend openai",
            ));
        }
        Ok(())
    }

    /// `--api-model`, required with `--backend openai`.
    pub fn model_name(&self) -> Result<&str> {
        self.api_model.as_deref().ok_or_else(|| {
            Error::usage("--backend openai needs --api-model NAME (the model the server serves)")
        })
    }

    /// The client: key from the environment, timeouts and retry policy.
    pub fn client(&self) -> Result<Client> {
        let seconds = |name: &str, s: f64| {
            if s.is_finite() && s > 0.0 {
                Ok(Duration::from_secs_f64(s))
            } else {
                Err(Error::usage(format!(
                    "{name} must be a positive number of seconds"
                )))
            }
        };
        let key = ApiKey::from_env(&self.api_key_env)?;
        if key.is_none() && self.base_url == OPENAI_BASE_URL {
            return Err(Error::usage(format!(
                "the OpenAI API needs a key: set the environment variable {} (or name another with --api-key-env)",
                self.api_key_env
            )));
        }
        if !(self.backoff.is_finite() && self.backoff >= 0.0) {
            return Err(Error::usage(
                "--backoff must be a number of seconds, 0 or more",
            ));
        }
        Client::new(
            &self.base_url,
            key,
            seconds("--connect-timeout", self.connect_timeout)?,
            seconds("--timeout", self.timeout)?,
            RetryPolicy {
                max_retries: self.max_retries,
                first_wait: Duration::from_secs_f64(self.backoff),
                max_wait: Duration::from_secs(60),
            },
        )
    }
}

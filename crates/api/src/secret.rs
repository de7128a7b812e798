//! The API key: read from the environment only, sent only in the
//! Authorization header, and scrubbed from anything a server sends back
//! before it can reach a message.

use std::fmt;

use refinery_core::{Error, Result};

/// An API key: never printed, in messages or in `Debug`.
#[derive(Clone)]
pub struct ApiKey(String);

impl ApiKey {
    /// The key in `var`, or `None` when it is unset or empty (local servers
    /// need none).
    pub fn from_env(var: &str) -> Result<Option<ApiKey>> {
        match std::env::var(var) {
            Ok(key) if key.trim().is_empty() => Ok(None),
            Ok(key) => Ok(Some(ApiKey(key.trim().to_string()))),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(Error::usage(format!(
                "the environment variable {var} is not valid UTF-8"
            ))),
        }
    }

    /// A key given as it is.
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// The `Authorization` header's value.
    pub fn header_value(&self) -> String {
        format!("Bearer {}", self.0)
    }

    /// `text` with every occurrence of the key, and of any 8-character piece
    /// of it, replaced: servers echo keys back in error messages, sometimes
    /// partly masked.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.replace(&self.0, "[API key]");
        let chars: Vec<char> = self.0.chars().collect();
        if chars.len() >= 16 {
            for window in chars.windows(8) {
                let piece: String = window.iter().collect();
                if out.contains(&piece) {
                    out = out.replace(&piece, "[…]");
                }
            }
        }
        out
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey([hidden])")
    }
}

/// Scrubs `text` when there is a key.
pub fn scrub(key: Option<&ApiKey>, text: &str) -> String {
    match key {
        Some(k) => k.scrub(text),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_and_pieces_of_it_are_scrubbed() {
        let key = ApiKey::new("sk-test-0123456789abcdefXYZ");
        let said =
            "Incorrect API key provided: sk-test-0123456789abcdefXYZ; also sk-tes****89abcdefXYZ";
        let clean = key.scrub(said);
        assert!(!clean.contains("0123456789abcdef"), "{clean}");
        assert!(!clean.contains("89abcdefXYZ"), "{clean}");
        assert!(clean.starts_with("Incorrect API key provided: [API key]"));
    }

    #[test]
    fn debug_never_shows_the_key() {
        assert_eq!(
            format!("{:?}", ApiKey::new("sk-secret")),
            "ApiKey([hidden])"
        );
    }
}

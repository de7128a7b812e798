//! The shipped configuration: the baseline block's thresholds and archetype
//! targets. The files live in `pipelines/` and are compiled in as defaults,
//! so a tool works from any directory; a user's own file overrides them.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// `pipelines/baseline.json`, compiled in.
pub const DEFAULT_BASELINE: &str = include_str!("../../../pipelines/baseline.json");
/// `pipelines/archetypes.json`, compiled in.
pub const DEFAULT_ARCHETYPES: &str = include_str!("../../../pipelines/archetypes.json");

/// The thresholds of the baseline block.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// rows with intimacy at or below this are "distant"
    pub distant_intimacy_max: f64,
    /// A turn is positive from this valence up.
    pub positive_valence_min: f64,
    /// A turn is negative up to this valence.
    pub negative_valence_max: f64,
    /// Intimacy is high from this value up.
    pub high_intimacy_min: f64,
    /// Tension is high from this value up.
    pub high_tension_min: f64,
    /// how many of the most common tags to list
    pub top_tags: usize,
}

impl Baseline {
    /// The thresholds in `path` (JSON), or the built-in ones. Errors: an
    /// unreadable or malformed file, a threshold outside -1..1.
    pub fn load(path: Option<&Path>) -> Result<Baseline> {
        load_json(path, DEFAULT_BASELINE, "pipelines/baseline.json")
    }
}

/// An archetype's name and target count, as `stats` needs them, and its
/// axes rule, which `stats --plot` outlines. Assigning archetypes (the
/// other rules in the same file) is `map-archetype`'s business.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Target {
    /// The archetype, as rows name it in `archetype`.
    pub name: String,
    /// Rows wanted for it.
    pub target: u64,
    /// The archetype's region of the affect space, when it has one.
    #[serde(default)]
    pub axes: Option<AxesRule>,
}

/// An axes rule: a predicate over valence, intimacy and tension.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct AxesRule {
    /// The predicate, in `--where` syntax.
    pub rule: String,
}

#[derive(Deserialize)]
struct TargetsFile {
    archetypes: Vec<Target>,
}

/// The archetype targets, in the file's order.
pub fn load_targets(path: Option<&Path>) -> Result<Vec<Target>> {
    let file: TargetsFile = load_json(path, DEFAULT_ARCHETYPES, "pipelines/archetypes.json")?;
    Ok(file.archetypes)
}

/// Reads a JSON config file, or the compiled-in default when no path is given.
pub fn load_json<T: serde::de::DeserializeOwned>(
    path: Option<&Path>,
    default: &str,
    default_name: &str,
) -> Result<T> {
    let (text, name) = match path {
        Some(p) => (
            std::fs::read_to_string(p).map_err(|e| Error::io(p, e))?,
            p.display().to_string(),
        ),
        None => (default.to_string(), format!("{default_name} (built in)")),
    };
    serde_json::from_str(&text).map_err(|e| Error::config(&name, e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_seed() {
        let b = Baseline::load(None).unwrap();
        assert_eq!(b.distant_intimacy_max, -0.1);
        assert_eq!(b.positive_valence_min, 0.2);
        assert_eq!(b.negative_valence_max, -0.2);
        assert_eq!(b.high_intimacy_min, 0.3);
        assert_eq!(b.high_tension_min, 0.4);
        let t = load_targets(None).unwrap();
        let pairs: Vec<_> = t.iter().map(|t| (t.name.as_str(), t.target)).collect();
        assert_eq!(
            pairs,
            [
                ("hostile_intimacy", 600),
                ("aggressive_distance", 600),
                ("neutral_but_close", 500),
                ("flat_numb", 400),
                ("fearful_urgent", 400),
                ("playful_neutral", 300),
                ("safety_edge_cases", 200)
            ]
        );
    }

    #[test]
    fn a_bad_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("b.json");
        std::fs::write(&p, r#"{"distant_intimacy_max": "x"}"#).unwrap();
        let e = Baseline::load(Some(&p)).unwrap_err();
        assert_eq!(e.exit_code(), 2);
        assert!(e.to_string().starts_with(&p.display().to_string()));
    }
}

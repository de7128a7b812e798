//! The mapping file: archetypes, their targets and rules, checked when
//! loaded so a typo fails loudly instead of silently matching nothing.

use std::collections::BTreeSet;
use std::path::Path;

use refinery_core::config::{load_json, DEFAULT_ARCHETYPES};
use refinery_core::expr::Predicate;
use refinery_core::goemotions::{is_label, nearest_labels};
use refinery_core::{Error, Result};
use regex::Regex;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSpec {
    #[serde(default)]
    #[allow(dead_code)]
    about: Option<String>,
    priority: Vec<String>,
    archetypes: Vec<ArchetypeSpec>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArchetypeSpec {
    name: String,
    #[serde(default)]
    description: String,
    target: u64,
    axes: Option<AxesSpec>,
    emotions: Option<Vec<ClauseSpec>>,
    keywords: Option<KeywordSpec>,
    prior: Option<Prior>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AxesSpec {
    rule: String,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClauseSpec {
    #[serde(default)]
    all_of: Vec<String>,
    #[serde(default)]
    any_of: Vec<Vec<String>>,
    #[serde(default)]
    none_of: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeywordSpec {
    patterns: Vec<String>,
    #[serde(default)]
    #[allow(dead_code)]
    why: Option<String>,
}

/// Axis values given to rows mapped from labels or keywords alone, marked
/// as priors with a low confidence.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Prior {
    pub valence: f64,
    pub intimacy: f64,
    pub tension: f64,
    #[serde(default = "default_prior_confidence")]
    pub confidence: f64,
}

fn default_prior_confidence() -> f64 {
    0.2
}

/// A rule over GoEmotions labels.
#[derive(Clone, Debug)]
pub struct Clause {
    pub all_of: Vec<String>,
    pub any_of: Vec<Vec<String>>,
    pub none_of: Vec<String>,
}

impl Clause {
    pub fn matches(&self, labels: &[&str]) -> bool {
        let has = |l: &String| labels.contains(&l.as_str());
        self.all_of.iter().all(has)
            && self.any_of.iter().all(|group| group.iter().any(has))
            && !self.none_of.iter().any(has)
    }
}

/// An archetype as the mapper uses it.
#[derive(Clone, Debug)]
pub struct Archetype {
    pub name: String,
    pub description: String,
    pub target: u64,
    pub axes: Option<Predicate>,
    pub emotions: Vec<Clause>,
    pub keywords: Vec<Regex>,
    pub prior: Option<Prior>,
}

/// A loaded, checked mapping: archetypes in priority order.
#[derive(Clone, Debug)]
pub struct Mapping {
    pub archetypes: Vec<Archetype>,
}

impl Mapping {
    /// Loads a mapping file, or the built-in `pipelines/archetypes.json`.
    pub fn load(path: Option<&Path>) -> Result<Mapping> {
        let spec: FileSpec = load_json(path, DEFAULT_ARCHETYPES, "pipelines/archetypes.json")?;
        let name = path.map_or("pipelines/archetypes.json (built in)".to_string(), |p| {
            p.display().to_string()
        });
        Mapping::from_spec(spec).map_err(|message| Error::config(name, message))
    }

    /// Parses mapping text (for tests).
    pub fn parse(text: &str) -> Result<Mapping, String> {
        let spec: FileSpec = serde_json::from_str(text).map_err(|e| e.to_string())?;
        Mapping::from_spec(spec)
    }

    fn from_spec(spec: FileSpec) -> Result<Mapping, String> {
        let mut names = BTreeSet::new();
        for a in &spec.archetypes {
            if !names.insert(a.name.as_str()) {
                return Err(format!("archetype `{}` is defined twice", a.name));
            }
        }
        let mut ordered = BTreeSet::new();
        for p in &spec.priority {
            if !names.contains(p.as_str()) {
                return Err(format!(
                    "priority names `{p}`, which is not an archetype in this file"
                ));
            }
            if !ordered.insert(p.as_str()) {
                return Err(format!("priority lists `{p}` twice"));
            }
        }
        if let Some(missing) = names.iter().find(|n| !ordered.contains(*n)) {
            return Err(format!("archetype `{missing}` is missing from priority"));
        }
        let mut archetypes = Vec::new();
        for name in &spec.priority {
            let a = spec
                .archetypes
                .iter()
                .find(|a| &a.name == name)
                .expect("checked");
            archetypes.push(build(a).map_err(|e| format!("archetype `{name}`: {e}"))?);
        }
        Ok(Mapping { archetypes })
    }
}

fn build(a: &ArchetypeSpec) -> Result<Archetype, String> {
    if a.axes.is_none() && a.emotions.is_none() && a.keywords.is_none() {
        return Err("has no rule (give axes, emotions or keywords)".into());
    }
    let axes = match &a.axes {
        Some(spec) => Some(Predicate::parse(&spec.rule).map_err(|e| format!("axes.rule: {e}"))?),
        None => None,
    };
    let mut emotions = Vec::new();
    for (i, c) in a.emotions.iter().flatten().enumerate() {
        emotions.push(check_clause(c).map_err(|e| format!("emotions[{i}]: {e}"))?);
    }
    if a.emotions.as_ref().is_some_and(Vec::is_empty) {
        return Err("emotions is an empty list".into());
    }
    let mut keywords = Vec::new();
    if let Some(k) = &a.keywords {
        if k.patterns.is_empty() {
            return Err("keywords.patterns is empty".into());
        }
        for (i, p) in k.patterns.iter().enumerate() {
            keywords.push(Regex::new(p).map_err(|e| format!("keywords.patterns[{i}]: {e}"))?);
        }
    }
    if let Some(p) = &a.prior {
        for (axis, v, lo) in [
            ("valence", p.valence, -1.0),
            ("intimacy", p.intimacy, -1.0),
            ("tension", p.tension, -1.0),
            ("confidence", p.confidence, 0.0),
        ] {
            if !(lo..=1.0).contains(&v) {
                return Err(format!("prior.{axis}: {v} is outside [{lo}, 1]"));
            }
        }
    }
    Ok(Archetype {
        name: a.name.clone(),
        description: a.description.clone(),
        target: a.target,
        axes,
        emotions,
        keywords,
        prior: a.prior.clone(),
    })
}

fn check_label(label: &str, place: &str) -> Result<(), String> {
    if is_label(label) {
        return Ok(());
    }
    Err(format!(
        "{place}: `{label}` is not a GoEmotions label (nearest: {})",
        nearest_labels(label, 3).join(", ")
    ))
}

fn check_clause(c: &ClauseSpec) -> Result<Clause, String> {
    if c.all_of.is_empty() && c.any_of.is_empty() && c.none_of.is_empty() {
        return Err("empty rule (give all_of, any_of or none_of)".into());
    }
    if c.all_of.is_empty() && c.any_of.is_empty() {
        return Err("none_of alone would match almost every row; add all_of or any_of".into());
    }
    for l in &c.all_of {
        check_label(l, "all_of")?;
    }
    for (g, group) in c.any_of.iter().enumerate() {
        if group.is_empty() {
            return Err(format!("any_of[{g}] is an empty group"));
        }
        for l in group {
            check_label(l, &format!("any_of[{g}]"))?;
        }
    }
    for l in &c.none_of {
        check_label(l, "none_of")?;
        let required = c.all_of.contains(l) || c.any_of.iter().any(|g| g.contains(l));
        if required {
            return Err(format!("`{l}` is both required and excluded (none_of)"));
        }
    }
    Ok(Clause {
        all_of: c.all_of.clone(),
        any_of: c.any_of.clone(),
        none_of: c.none_of.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_mapping_loads_in_priority_order() {
        let m = Mapping::load(None).unwrap();
        let names: Vec<&str> = m.archetypes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names[0], "safety_edge_cases");
        assert_eq!(names.len(), 7);
        let total: u64 = m.archetypes.iter().map(|a| a.target).sum();
        assert_eq!(total, 3000);
    }

    #[test]
    fn clauses_combine_all_any_and_none() {
        let c = Clause {
            all_of: vec![],
            any_of: vec![
                vec!["anger".into(), "annoyance".into()],
                vec!["love".into()],
            ],
            none_of: vec!["joy".into()],
        };
        assert!(c.matches(&["annoyance", "love"]));
        assert!(!c.matches(&["anger"]));
        assert!(!c.matches(&["anger", "love", "joy"]));
    }
}

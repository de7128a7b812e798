//! A probe file: one archetype, a system prompt, slots with their values, and
//! setups that name slots as `{slot}`. Checked when loaded: an unknown
//! archetype, a setup naming a slot the file lacks, a slot no setup uses, and
//! empty lists are errors naming the file.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use refinery_core::{Error, Result};

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    pub archetype: String,
    /// why these setups reach this archetype's cell (for the reader)
    #[serde(default)]
    pub why: String,
    pub system_prompt: String,
    pub slots: BTreeMap<String, Vec<String>>,
    pub setups: Vec<String>,
}

impl Probe {
    pub fn load(path: &Path, archetypes: &[String]) -> Result<Probe> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let probe: Probe =
            serde_json::from_str(&text).map_err(|e| Error::config(path, e.to_string()))?;
        probe
            .check(archetypes)
            .map_err(|m| Error::config(path, m))?;
        Ok(probe)
    }

    fn check(&self, archetypes: &[String]) -> Result<(), String> {
        if !archetypes.contains(&self.archetype) {
            return Err(format!(
                "archetype {:?} is not in the mapping file ({})",
                self.archetype,
                archetypes.join(", ")
            ));
        }
        if self.setups.is_empty() {
            return Err("setups: empty".into());
        }
        for (name, values) in &self.slots {
            if values.is_empty() || values.iter().any(|v| v.trim().is_empty()) {
                return Err(format!("slot {name:?}: needs non-empty values"));
            }
        }
        let mut used = std::collections::BTreeSet::new();
        for (i, setup) in self.setups.iter().enumerate() {
            for name in slot_names(setup).map_err(|m| format!("setup {i}: {m}"))? {
                if !self.slots.contains_key(&name) {
                    return Err(format!(
                        "setup {i}: slot {{{name}}} is not defined in slots"
                    ));
                }
                used.insert(name);
            }
        }
        if let Some(unused) = self.slots.keys().find(|k| !used.contains(*k)) {
            return Err(format!("slot {unused:?} is used by no setup"));
        }
        Ok(())
    }
}

/// The `{slot}` names a setup uses, in order, each once.
pub fn slot_names(setup: &str) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let mut rest = setup;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("a '{' is never closed")?;
        let name = &after[..close];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "{{{name}}} is not a slot name (letters, digits, _)"
            ));
        }
        if !names.iter().any(|n| n == name) {
            names.push(name.to_string());
        }
        rest = &after[close + 1..];
    }
    Ok(names)
}

/// Fills a setup's slots with the chosen values.
pub fn fill(setup: &str, values: &BTreeMap<String, String>) -> String {
    let mut text = setup.to_string();
    for (name, value) in values {
        text = text.replace(&format!("{{{name}}}"), value);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(setups: &[&str], slots: &[(&str, &[&str])]) -> Probe {
        Probe {
            archetype: "flat_numb".into(),
            why: String::new(),
            system_prompt: "s".into(),
            slots: slots
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            setups: setups.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn checks_name_what_is_wrong() {
        let names = vec!["flat_numb".to_string()];
        let ok = probe(
            &["tell {who} about {what}"],
            &[("who", &["a"]), ("what", &["b"])],
        );
        assert!(ok.check(&names).is_ok());
        let missing = probe(&["tell {who}"], &[]);
        assert_eq!(
            missing.check(&names).unwrap_err(),
            "setup 0: slot {who} is not defined in slots"
        );
        let unused = probe(&["hi"], &[("who", &["a"])]);
        assert_eq!(
            unused.check(&names).unwrap_err(),
            "slot \"who\" is used by no setup"
        );
        let unclosed = probe(&["hi {who"], &[("who", &["a"])]);
        assert!(unclosed.check(&names).unwrap_err().contains("never closed"));
        let mut other = ok.clone();
        other.archetype = "cautious".into();
        assert!(other
            .check(&names)
            .unwrap_err()
            .starts_with("archetype \"cautious\""));
    }

    #[test]
    fn fills_every_occurrence() {
        let values = BTreeMap::from([("who".to_string(), "my sister".to_string())]);
        assert_eq!(
            fill("{who}, yes {who}", &values),
            "my sister, yes my sister"
        );
    }
}

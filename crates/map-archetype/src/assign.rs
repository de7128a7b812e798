//! Assigning an archetype to a row: the first archetype in priority order
//! whose axes rule, GoEmotions clause or keyword pattern fires.

use refinery_core::record::{as_number, Row};
use serde_json::{json, Value};

use crate::mapping::{Archetype, Mapping};

/// Which archetype a row got, and by which rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    pub archetype: usize,
    /// `axes`, `emotions[i]` or `keywords[i]`
    pub rule: String,
}

const AXES: [&str; 3] = ["valence", "intimacy", "tension"];

fn labels(row: &Row) -> Vec<&str> {
    row.get("emotions")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

fn rule_that_fires(a: &Archetype, row: &Row, labels: &[&str]) -> Option<String> {
    if a.axes.as_ref().is_some_and(|p| p.matches(row)) {
        return Some("axes".into());
    }
    if let Some(i) = a.emotions.iter().position(|c| c.matches(labels)) {
        return Some(format!("emotions[{i}]"));
    }
    let text = row.get("text").and_then(Value::as_str)?;
    a.keywords
        .iter()
        .position(|re| re.is_match(text))
        .map(|i| format!("keywords[{i}]"))
}

/// The archetype the mapping gives the row, if any.
pub fn assign(mapping: &Mapping, row: &Row) -> Option<Assignment> {
    let labels = labels(row);
    mapping.archetypes.iter().enumerate().find_map(|(i, a)| {
        rule_that_fires(a, row, &labels).map(|rule| Assignment { archetype: i, rule })
    })
}

/// The fields `map-archetype` writes: `archetype`, `tags` with the
/// archetype added, `archetype_rule`, and `prior` for rows that were mapped
/// without axis values of their own. Fails if `tags` is not an array.
pub fn fields(
    mapping: &Mapping,
    row: &Row,
    assignment: Option<&Assignment>,
) -> Result<Vec<(&'static str, Value)>, String> {
    let Some(a) = assignment else {
        return Ok(vec![
            ("archetype", Value::Null),
            ("archetype_rule", Value::Null),
        ]);
    };
    let archetype = &mapping.archetypes[a.archetype];
    let mut tags = match row.get("tags") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(t)) => t.clone(),
        Some(other) => {
            return Err(format!(
                "tags: expected an array, found {}",
                refinery_core::record::type_name(other)
            ))
        }
    };
    if !tags.iter().any(|t| t.as_str() == Some(&archetype.name)) {
        tags.push(Value::from(archetype.name.as_str()));
    }
    let mut out = vec![
        ("archetype", Value::from(archetype.name.as_str())),
        ("tags", Value::Array(tags)),
        ("archetype_rule", Value::from(a.rule.as_str())),
    ];
    let has_axes = AXES
        .iter()
        .all(|f| row.get(*f).and_then(as_number).is_some());
    if let (false, Some(p)) = (has_axes, &archetype.prior) {
        out.push((
            "prior",
            json!({"valence": p.valence, "intimacy": p.intimacy, "tension": p.tension,
                   "confidence": p.confidence, "note": "prior from the archetype, not a label"}),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use refinery_core::record::parse_row;

    fn mapped(line: &str) -> Option<(String, String)> {
        let m = Mapping::load(None).unwrap();
        let row = parse_row(line.as_bytes()).unwrap();
        assign(&m, &row).map(|a| (m.archetypes[a.archetype].name.clone(), a.rule))
    }

    #[test]
    fn the_shipped_rules() {
        let hi = |s: &str| Some((s.to_string(), "axes".to_string()));
        assert_eq!(
            mapped(r#"{"valence":-0.6,"intimacy":0.6,"tension":0.7}"#),
            hi("hostile_intimacy")
        );
        assert_eq!(
            mapped(r#"{"valence":-0.6,"intimacy":-0.4,"tension":0.7}"#),
            hi("aggressive_distance")
        );
        assert_eq!(
            mapped(r#"{"valence":0.0,"intimacy":0.6,"tension":0.1}"#),
            hi("neutral_but_close")
        );
        assert_eq!(
            mapped(r#"{"valence":-0.4,"intimacy":0.0,"tension":0.1}"#),
            hi("flat_numb")
        );
        assert_eq!(
            mapped(r#"{"valence":0.1,"intimacy":0.0,"tension":0.9}"#),
            hi("fearful_urgent")
        );
        assert_eq!(
            mapped(r#"{"valence":0.6,"intimacy":0.6,"tension":0.1}"#),
            None
        );
        assert_eq!(
            mapped(r#"{"text":"you idiot, I love you","emotions":["anger","love"]}"#),
            Some(("hostile_intimacy".into(), "emotions[0]".into()))
        );
        assert_eq!(
            mapped(r#"{"text":"this is absurd","emotions":["annoyance"]}"#),
            Some(("aggressive_distance".into(), "emotions[0]".into()))
        );
        assert_eq!(
            mapped(r#"{"text":"i am scared","emotions":["fear","love"]}"#),
            Some(("fearful_urgent".into(), "emotions[0]".into()))
        );
        assert_eq!(
            mapped(
                r#"{"text":"Please stop, I am not comfortable with this","emotions":["neutral"]}"#
            ),
            Some(("safety_edge_cases".into(), "keywords[0]".into()))
        );
        assert_eq!(
            mapped(r#"{"text":"just numb these days"}"#),
            Some(("flat_numb".into(), "keywords[0]".into()))
        );
    }

    #[test]
    fn fields_keep_tags_and_mark_priors() {
        let m = Mapping::load(None).unwrap();
        let row = parse_row(br#"{"text":"x","tags":["fear"],"emotions":["fear"]}"#).unwrap();
        let a = assign(&m, &row).unwrap();
        let f = fields(&m, &row, Some(&a)).unwrap();
        assert_eq!(f[0], ("archetype", Value::from("fearful_urgent")));
        assert_eq!(f[1], ("tags", json!(["fear", "fearful_urgent"])));
        assert_eq!(f[3].0, "prior");
        assert_eq!(f[3].1["confidence"], 0.2);
        let labelled =
            parse_row(br#"{"valence":0.1,"intimacy":0.0,"tension":0.9,"tags":["fearful_urgent"]}"#)
                .unwrap();
        let a = assign(&m, &labelled).unwrap();
        let f = fields(&m, &labelled, Some(&a)).unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[1], ("tags", json!(["fearful_urgent"])));
        let bad =
            parse_row(br#"{"tags":"x","valence":-0.6,"intimacy":0.6,"tension":0.7}"#).unwrap();
        assert!(fields(&m, &bad, assign(&m, &bad).as_ref()).is_err());
    }
}

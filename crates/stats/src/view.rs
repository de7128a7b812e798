//! The fields a summary reads, taken from a line in one of two ways: a typed
//! fast path that borrows strings and parses numbers straight to `f64`, and
//! the general path through a [`Row`] for anything the fast path refuses
//! (escaped strings, odd types, duplicate keys). Both give the same view,
//! so they cannot disagree on what a row says.

use std::borrow::Cow;

use refinery_core::record::as_number;
use refinery_core::Row;
use serde::Deserialize;
use serde_json::Value;

/// An axis the report always covers, with its histogram range.
pub struct Axis {
    pub name: &'static str,
    pub lo: f64,
    pub hi: f64,
}

pub const AXES: [Axis; 4] = [
    Axis {
        name: "valence",
        lo: -1.0,
        hi: 1.0,
    },
    Axis {
        name: "intimacy",
        lo: -1.0,
        hi: 1.0,
    },
    Axis {
        name: "tension",
        lo: -1.0,
        hi: 1.0,
    },
    Axis {
        name: "confidence",
        lo: 0.0,
        hi: 1.0,
    },
];

/// The fields a summary reads from each row.
pub const SUMMARY_FIELDS: [&str; 7] = [
    "valence",
    "intimacy",
    "tension",
    "confidence",
    "tags",
    "archetype",
    "source",
];
pub const SPLIT_FIELD: &str = "split";

/// A categorical value as a key: a string as itself, anything else as JSON.
pub fn category_key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One axis value as the summary sees it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum AxisValue {
    Missing,
    NonNumeric,
    Num(f64),
}

/// What a summary reads from one row.
#[derive(Debug, PartialEq)]
pub struct RowView<'a> {
    pub axes: [AxisValue; 4],
    pub tags: Vec<Cow<'a, str>>,
    /// `tags` is present but not an array of strings
    pub bad_tags: bool,
    pub archetype: Option<Cow<'a, str>>,
    pub source: Option<Cow<'a, str>>,
    pub split: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct FastRow<'a> {
    valence: Option<f64>,
    intimacy: Option<f64>,
    tension: Option<f64>,
    confidence: Option<f64>,
    #[serde(borrow)]
    tags: Option<Vec<&'a str>>,
    archetype: Option<&'a str>,
    source: Option<&'a str>,
    split: Option<&'a str>,
}

fn axis(v: Option<f64>) -> AxisValue {
    match v {
        None => AxisValue::Missing,
        Some(x) if x.is_finite() => AxisValue::Num(x),
        Some(_) => AxisValue::NonNumeric,
    }
}

impl<'a> RowView<'a> {
    /// The fast path: `None` when the line needs the general path. A line
    /// with a surrogate escape anywhere takes the general path: the fast
    /// path skips the fields it does not read without checking them (a lone
    /// surrogate there must be refused as every tool refuses it).
    pub fn parse_fast(text: &'a str) -> Option<RowView<'a>> {
        if refinery_core::record::has_surrogate_escape(text) {
            return None;
        }
        let f: FastRow<'a> = serde_json::from_str(text).ok()?;
        Some(RowView {
            axes: [
                axis(f.valence),
                axis(f.intimacy),
                axis(f.tension),
                axis(f.confidence),
            ],
            tags: f
                .tags
                .unwrap_or_default()
                .into_iter()
                .map(Cow::Borrowed)
                .collect(),
            bad_tags: false,
            archetype: f.archetype.map(Cow::Borrowed),
            source: f.source.map(Cow::Borrowed),
            split: f.split.map(Cow::Borrowed),
        })
    }

    /// The general path, from a parsed row.
    pub fn from_row(row: &'a Row) -> RowView<'a> {
        let mut axes = [AxisValue::Missing; 4];
        for (slot, a) in axes.iter_mut().zip(AXES.iter()) {
            *slot = match row.get(a.name) {
                None | Some(Value::Null) => AxisValue::Missing,
                Some(v) => match as_number(v) {
                    Some(x) if x.is_finite() => AxisValue::Num(x),
                    _ => AxisValue::NonNumeric,
                },
            };
        }
        let (mut tags, mut bad_tags) = (Vec::new(), false);
        match row.get("tags") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) => {
                for item in items {
                    match item {
                        Value::String(s) => tags.push(Cow::Borrowed(s.as_str())),
                        _ => bad_tags = true,
                    }
                }
            }
            Some(_) => bad_tags = true,
        }
        let category = |name: &str| -> Option<Cow<'a, str>> {
            match row.get(name)? {
                Value::Null => None,
                Value::String(s) => Some(Cow::Borrowed(s.as_str())),
                other => Some(Cow::Owned(category_key(other))),
            }
        };
        RowView {
            axes,
            tags,
            bad_tags,
            archetype: category("archetype"),
            source: category("source"),
            split: category(SPLIT_FIELD),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use refinery_core::record::parse_row;

    /// Both paths agree wherever the fast path answers.
    #[test]
    fn fast_and_general_paths_agree() {
        for line in [
            r#"{"text":"x","valence":0.5,"intimacy":-1,"tags":["a","b"],"archetype":"flat_numb","source":"s","split":"dev","other":[1,{"a":2}]}"#,
            r#"{"valence":null,"tags":null}"#,
            r#"{}"#,
        ] {
            let row = parse_row(line.as_bytes()).unwrap();
            assert_eq!(
                RowView::parse_fast(line),
                Some(RowView::from_row(&row)),
                "{line}"
            );
        }
    }

    #[test]
    fn the_fast_path_refuses_what_it_cannot_borrow_or_type() {
        for line in [
            r#"{"valence":"high"}"#,
            r#"{"tags":"care"}"#,
            r#"{"tags":["esc\"aped"]}"#,
            r#"{"archetype":3}"#,
            r#"{"valence":1,"valence":2}"#,
        ] {
            assert!(RowView::parse_fast(line).is_none(), "{line}");
        }
        let row = parse_row(br#"{"valence":"high","tags":["a",1],"archetype":3}"#).unwrap();
        let v = RowView::from_row(&row);
        assert_eq!(v.axes[0], AxisValue::NonNumeric);
        assert!(v.bad_tags);
        assert_eq!(v.tags, ["a"]);
        assert_eq!(v.archetype.as_deref(), Some("3"));
    }
}

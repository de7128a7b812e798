//! Aggregate gates for data checks: `count() >= 8000`,
//! `count(archetype == "hostile_intimacy") >= 600`, `share(intimacy <= -0.1) >= 0.05`,
//! `mean(valence) <= 0.1`, `min(F)`, `max(F)`, `std(F)`, `sum(F)`, and over a
//! prediction and its label `mae(P, L)`, `rmse(P, L)`, `bias(P, L)`,
//! `spearman(P, L)`, and between raters (`stats --agreement`) `alpha(F)`.
//! Each is compared with a number by `<`, `<=`, `>`, `>=`, `==` or `!=`.
//!
//! This module only parses and judges; the tool that reads the rows computes
//! the aggregate's value.

use std::collections::BTreeSet;
use std::fmt;

use super::lexer::{CmpOp, Tok};
use super::parser::Parser;
use super::{Expr, ParseError};

/// What a gate measures.
#[derive(Clone, Debug)]
pub enum Aggregate {
    /// rows, or rows matching a predicate
    Count(Option<Expr>),
    /// the fraction of rows matching a predicate
    Share(Expr),
    /// over the numeric values of a field (rows without one are not counted)
    Mean(Vec<String>),
    /// the smallest numeric value of a field
    Min(Vec<String>),
    /// the largest numeric value of a field
    Max(Vec<String>),
    /// population standard deviation
    Std(Vec<String>),
    /// the sum of a field's numeric values
    Sum(Vec<String>),
    /// prediction against label, over rows that have both as numbers
    Paired(PairedMetric, Vec<String>, Vec<String>),
    /// Krippendorff's alpha between raters on a field (`stats --agreement`)
    Alpha(Vec<String>),
}

/// A measure of a prediction against its label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum PairedMetric {
    /// mean absolute error
    Mae,
    /// root mean squared error
    Rmse,
    /// mean of prediction minus label
    Bias,
    /// Spearman's rank correlation (ties get their mean rank)
    Spearman,
}

impl PairedMetric {
    /// The metric's name in gate text (`mae`, `rmse`, `bias`, `spearman`).
    pub fn name(self) -> &'static str {
        match self {
            PairedMetric::Mae => "mae",
            PairedMetric::Rmse => "rmse",
            PairedMetric::Bias => "bias",
            PairedMetric::Spearman => "spearman",
        }
    }
}

/// A parsed gate.
#[derive(Clone, Debug)]
pub struct Gate {
    /// The gate as written, for messages.
    pub source: String,
    /// What is measured over the rows.
    pub aggregate: Aggregate,
    /// How the measure is compared with the threshold.
    pub op: CmpOp,
    /// The number the measure is compared with.
    pub threshold: f64,
}

const AGGREGATES: &str = "count, share, mean, min, max, std, sum, mae, rmse, bias, spearman, alpha";

impl Gate {
    /// Parses `AGGREGATE OP NUMBER`, e.g. `share(intimacy <= -0.1) >= 0.05`.
    /// Errors name the column of the first bad character.
    pub fn parse(source: &str) -> Result<Gate, ParseError> {
        let mut p = Parser::new(source)?;
        let Tok::Ident(name) = p.peek().clone() else {
            return Err(p.expected(&format!("an aggregate ({AGGREGATES})")));
        };
        let name_col = p.col();
        p.bump();
        p.expect(Tok::LParen, "`(` after the aggregate's name")?;
        let aggregate = match name.as_str() {
            "count" if *p.peek() == Tok::RParen => Aggregate::Count(None),
            "count" => Aggregate::Count(Some(p.expr()?)),
            "share" => Aggregate::Share(p.expr()?),
            "mean" => Aggregate::Mean(p.path()?),
            "min" => Aggregate::Min(p.path()?),
            "max" => Aggregate::Max(p.path()?),
            "std" => Aggregate::Std(p.path()?),
            "sum" => Aggregate::Sum(p.path()?),
            "alpha" => Aggregate::Alpha(p.path()?),
            "mae" | "rmse" | "bias" | "spearman" => {
                let metric = match name.as_str() {
                    "mae" => PairedMetric::Mae,
                    "rmse" => PairedMetric::Rmse,
                    "bias" => PairedMetric::Bias,
                    _ => PairedMetric::Spearman,
                };
                let pred = p.path()?;
                p.expect(Tok::Comma, "`,` between the prediction and the label")?;
                Aggregate::Paired(metric, pred, p.path()?)
            }
            other => {
                return Err(ParseError::new(
                    source,
                    name_col,
                    format!("unknown aggregate `{other}` (aggregates: {AGGREGATES})"),
                ))
            }
        };
        p.expect(Tok::RParen, "`)`")?;
        let Tok::Cmp(op) = p.peek().clone() else {
            return Err(p.expected("a comparison (<, <=, >, >=, ==, !=)"));
        };
        p.bump();
        let col = p.col();
        let threshold = match p.literal()? {
            serde_json::Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            _ => {
                return Err(ParseError::new(
                    source,
                    col,
                    "expected a number to compare with",
                ))
            }
        };
        p.expect_end()?;
        Ok(Gate {
            source: source.to_string(),
            aggregate,
            op,
            threshold,
        })
    }

    /// Whether the measured value passes; a value that could not be measured
    /// (no rows with the field) fails.
    pub fn passes(&self, actual: Option<f64>) -> bool {
        actual.is_some_and(|v| self.op.test(v, self.threshold))
    }

    /// The top-level fields the gate reads.
    pub fn fields(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        match &self.aggregate {
            Aggregate::Count(None) => {}
            Aggregate::Count(Some(e)) | Aggregate::Share(e) => e.collect_fields(&mut out),
            Aggregate::Mean(p)
            | Aggregate::Min(p)
            | Aggregate::Max(p)
            | Aggregate::Std(p)
            | Aggregate::Sum(p)
            | Aggregate::Alpha(p) => {
                out.insert(p[0].clone());
            }
            Aggregate::Paired(_, a, b) => {
                out.insert(a[0].clone());
                out.insert(b[0].clone());
            }
        }
        out
    }
}

impl fmt::Display for Gate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_issue_examples() {
        for src in [
            "count() >= 8000",
            r#"count(archetype == "hostile_intimacy") >= 600"#,
            "share(intimacy <= -0.1) >= 0.05",
            "mean(valence) <= 0.1",
            "min(tension) > -1",
            "max(vet.score) < 100",
            "alpha(valence) >= 0.6",
            "std(valence) != 0",
            "mae(pred_valence, valence) <= 0.25",
            "spearman(pred_valence, valence) >= 0.4",
        ] {
            Gate::parse(src).unwrap_or_else(|e| panic!("{src}: {e}"));
        }
        let g = Gate::parse("share(intimacy <= -0.1) >= 0.05").unwrap();
        assert!(g.passes(Some(0.05)));
        assert!(!g.passes(Some(0.0499)));
        assert!(!g.passes(None));
        let g = Gate::parse("mean(valence) == -0.5").unwrap();
        assert_eq!(g.threshold, -0.5);
    }

    #[test]
    fn gate_errors_point_at_the_column() {
        let e = Gate::parse("avg(valence) > 1").unwrap_err();
        assert_eq!(e.column, 1);
        assert!(e.message.contains("unknown aggregate `avg`"));
        assert_eq!(Gate::parse("count() 5").unwrap_err().column, 9);
        assert_eq!(Gate::parse("count() >= 'x'").unwrap_err().column, 12);
        assert_eq!(Gate::parse("mean(1) > 0").unwrap_err().column, 6);
        assert_eq!(Gate::parse("mae(a) > 0").unwrap_err().column, 6);
        assert_eq!(Gate::parse("count() > 1 and").unwrap_err().column, 13);
    }
}

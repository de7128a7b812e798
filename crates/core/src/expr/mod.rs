//! The expression language shared by the tools.
//!
//! Row predicates (`--where`, mapping rules):
//!
//! ```text
//! valence <= -0.2 and intimacy >= 0.3
//! tags has "tension"            (array contains; substring for strings)
//! source == "goemotions"        source in ["goemotions", "manual_chat"]
//! not exists(context)           text matches "(?i)\bstop\b"
//! abs(valence) < 0.15           len(context) == 2     lower(role) == "user"
//! vet.score >= 60               (dotted paths; `context.0` indexes arrays)
//! ```
//!
//! `and`/`or`/`not` (also `&&`/`||`/`!`) and parentheses; `==`, `!=`, `<`,
//! `<=`, `>`, `>=`. Strings take double or single quotes. A missing field is
//! `null`. `<`-style comparisons hold only between two numbers or two strings,
//! so a missing or non-numeric value never passes `valence <= -0.2`. Only
//! `true` is true: a bare `flagged` holds when the field is the boolean `true`.
//!
//! Aggregate gates (`stats --require`) are in [`gate`]. Parse errors name the
//! column and point at it.

mod eval;
pub mod gate;
mod lexer;
mod parser;

use std::collections::BTreeSet;
use std::fmt;

pub use eval::Val;
pub use gate::{Aggregate, Gate};
pub use lexer::CmpOp;

use crate::record::Row;

/// A parse error: the column (1-based, in characters) and what was expected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// The expression as written.
    pub source: String,
    /// Where the problem starts, in characters from 1.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(source: &str, column: usize, message: impl Into<String>) -> Self {
        ParseError {
            source: source.to_string(),
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} at column {}", self.message, self.column)?;
        writeln!(f, "  {}", self.source)?;
        write!(f, "  {}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

impl std::error::Error for ParseError {}

/// A built-in function over one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Func {
    /// present and not null
    Exists,
    /// absolute value of a number
    Abs,
    /// characters of a string, elements of an array, fields of an object
    Len,
    /// a string in lower case
    Lower,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "exists" => Func::Exists,
            "abs" => Func::Abs,
            "len" => Func::Len,
            "lower" => Func::Lower,
            _ => return None,
        })
    }
}

/// A parsed expression.
#[derive(Clone, Debug)]
pub enum Expr {
    /// a number, string, boolean or null written in the expression
    Literal(serde_json::Value),
    /// a field, `a.b.c` for nested ones
    Path(Vec<String>),
    /// `-x`
    Neg(Box<Expr>),
    /// `not x`
    Not(Box<Expr>),
    /// `x and y`
    And(Box<Expr>, Box<Expr>),
    /// `x or y`
    Or(Box<Expr>, Box<Expr>),
    /// `x OP y`
    Compare(CmpOp, Box<Expr>, Box<Expr>),
    /// `x has y`: an array holding y, or a string holding y
    Has(Box<Expr>, Box<Expr>),
    /// `x in [..]`
    In(Box<Expr>, Vec<serde_json::Value>),
    /// `x matches "regex"`
    Matches(Box<Expr>, regex::Regex),
    /// `f(x)`
    Call(Func, Box<Expr>),
}

impl Expr {
    /// Adds the top-level field names this expression reads to `out`.
    pub fn collect_fields(&self, out: &mut BTreeSet<String>) {
        match self {
            Expr::Path(p) => {
                out.insert(p[0].clone());
            }
            Expr::Neg(e) | Expr::Not(e) | Expr::Call(_, e) | Expr::Matches(e, _) => {
                e.collect_fields(out)
            }
            Expr::In(e, _) => e.collect_fields(out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Compare(_, a, b) | Expr::Has(a, b) => {
                a.collect_fields(out);
                b.collect_fields(out);
            }
            Expr::Literal(_) => {}
        }
    }
}

/// A row predicate: an expression with its source text, for messages.
#[derive(Clone, Debug)]
pub struct Predicate {
    /// The predicate as written.
    pub source: String,
    /// The parsed expression.
    pub expr: Expr,
}

impl Predicate {
    /// Parses `--where` text. Errors name the column of the first bad character.
    pub fn parse(source: &str) -> Result<Self, ParseError> {
        Ok(Predicate {
            source: source.to_string(),
            expr: parser::parse_predicate(source)?,
        })
    }

    /// Whether the row satisfies the predicate.
    pub fn matches(&self, row: &Row) -> bool {
        eval::truthy(&eval::eval(&self.expr, row))
    }

    /// The top-level fields the predicate reads.
    pub fn fields(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.expr.collect_fields(&mut out);
        out
    }
}

impl fmt::Display for Predicate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// Parses a dotted field path (`vet.score`) as used by `--by`, `--key`, `mean(F)`.
pub fn parse_path(source: &str) -> Result<Vec<String>, ParseError> {
    parser::parse_path_only(source)
}

//! Evaluating an expression against a row.

use std::borrow::Cow;

use serde_json::Value;

use super::{CmpOp, Expr, Func};
use crate::record::{lookup, Row};

/// A value during evaluation: borrowed from the row where possible.
#[derive(Clone, Debug, PartialEq)]
pub enum Val<'a> {
    Null,
    Bool(bool),
    Num(f64),
    Str(Cow<'a, str>),
    Json(Cow<'a, Value>),
}

impl<'a> Val<'a> {
    fn from_json(v: &'a Value) -> Val<'a> {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => n.as_f64().map_or(Val::Null, Val::Num),
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            other => Val::Json(Cow::Borrowed(other)),
        }
    }

    fn from_literal(v: &'a Value) -> Val<'a> {
        Val::from_json(v)
    }

    pub fn as_num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            _ => None,
        }
    }
}

pub(crate) fn truthy(v: &Val) -> bool {
    matches!(v, Val::Bool(true))
}

pub(crate) fn eval<'a>(expr: &'a Expr, row: &'a Row) -> Val<'a> {
    match expr {
        Expr::Literal(v) => Val::from_literal(v),
        Expr::Path(p) => lookup(row, p).map_or(Val::Null, Val::from_json),
        Expr::Neg(e) => match eval(e, row) {
            Val::Num(n) => Val::Num(-n),
            _ => Val::Null,
        },
        Expr::Not(e) => Val::Bool(!truthy(&eval(e, row))),
        Expr::And(a, b) => Val::Bool(truthy(&eval(a, row)) && truthy(&eval(b, row))),
        Expr::Or(a, b) => Val::Bool(truthy(&eval(a, row)) || truthy(&eval(b, row))),
        Expr::Compare(op, a, b) => Val::Bool(compare(*op, &eval(a, row), &eval(b, row))),
        Expr::Has(a, b) => Val::Bool(has(&eval(a, row), &eval(b, row))),
        Expr::In(a, items) => {
            let v = eval(a, row);
            Val::Bool(items.iter().any(|i| equal(&v, &Val::from_literal(i))))
        }
        Expr::Matches(a, re) => Val::Bool(match eval(a, row) {
            Val::Str(s) => re.is_match(&s),
            _ => false,
        }),
        Expr::Call(func, arg) => call(*func, arg, row),
    }
}

fn call<'a>(func: Func, arg: &'a Expr, row: &'a Row) -> Val<'a> {
    if func == Func::Exists {
        let Expr::Path(p) = arg else {
            return Val::Bool(false);
        };
        return Val::Bool(lookup(row, p).is_some_and(|v| !v.is_null()));
    }
    let v = eval(arg, row);
    match (func, v) {
        (Func::Abs, Val::Num(n)) => Val::Num(n.abs()),
        (Func::Len, Val::Str(s)) => Val::Num(s.chars().count() as f64),
        (Func::Len, Val::Json(j)) => match j.as_ref() {
            Value::Array(a) => Val::Num(a.len() as f64),
            Value::Object(o) => Val::Num(o.len() as f64),
            _ => Val::Null,
        },
        (Func::Lower, Val::Str(s)) => Val::Str(Cow::Owned(s.to_lowercase())),
        _ => Val::Null,
    }
}

fn equal(a: &Val, b: &Val) -> bool {
    match (a, b) {
        (Val::Null, Val::Null) => true,
        (Val::Bool(x), Val::Bool(y)) => x == y,
        (Val::Num(x), Val::Num(y)) => x == y,
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Json(x), Val::Json(y)) => json_equal(x, y),
        _ => false,
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_equal(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_equal(v, w)))
        }
        _ => a == b,
    }
}

fn compare(op: CmpOp, a: &Val, b: &Val) -> bool {
    match op {
        CmpOp::Eq => equal(a, b),
        CmpOp::Ne => !equal(a, b),
        _ => match (a, b) {
            (Val::Num(x), Val::Num(y)) => op.test(*x, *y),
            (Val::Str(x), Val::Str(y)) => {
                let ord = x.cmp(y);
                match op {
                    CmpOp::Lt => ord.is_lt(),
                    CmpOp::Le => ord.is_le(),
                    CmpOp::Gt => ord.is_gt(),
                    _ => ord.is_ge(),
                }
            }
            _ => false,
        },
    }
}

fn has(container: &Val, item: &Val) -> bool {
    match container {
        Val::Json(j) => match j.as_ref() {
            Value::Array(items) => items.iter().any(|v| equal(&Val::from_json(v), item)),
            Value::Object(map) => matches!(item, Val::Str(k) if map.contains_key(k.as_ref())),
            _ => false,
        },
        Val::Str(s) => matches!(item, Val::Str(sub) if s.contains(sub.as_ref())),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::super::Predicate;
    use crate::record::parse_row;

    fn check(pred: &str, row: &str) -> bool {
        let p = Predicate::parse(pred).unwrap_or_else(|e| panic!("{e}"));
        p.matches(&parse_row(row.as_bytes()).unwrap())
    }

    const ROW: &str = r#"{"text":"Stop it, I said STOP","valence":-0.5,"intimacy":0.4,"tension":0.8,
        "tags":["tension","argument"],"source":"goemotions","vet":{"score":71},"context":["a","b"],"flag":true}"#;

    #[test]
    fn the_issue_examples() {
        assert!(check("valence <= -0.2 and intimacy >= 0.3", ROW));
        assert!(check(r#"tags has "tension""#, ROW));
        assert!(!check(r#"tags has "affection""#, ROW));
        assert!(check(r#"source == "goemotions""#, ROW));
        assert!(!check("not exists(context)", ROW));
        assert!(check("not exists(missing)", ROW));
        assert!(check("vet.score >= 60", ROW));
    }

    #[test]
    fn operators_and_functions() {
        assert!(check("abs(valence) == 0.5", ROW));
        assert!(check("len(context) == 2 and len(text) == 20", ROW));
        assert!(check(r#"lower(source) in ["goemotions", "x"]"#, ROW));
        assert!(check(r#"text matches "(?i)\bstop\b""#, ROW));
        assert!(!check(r#"text matches "^stop""#, ROW));
        assert!(check(r#"text has "said""#, ROW));
        assert!(check("flag", ROW));
        assert!(check(
            "!(valence > 0) && (tension > 0.5 || intimacy < 0)",
            ROW
        ));
        assert!(check("context.1 == 'b'", ROW));
        assert!(check("-valence == 0.5", ROW));
        assert!(check("valence != null", ROW));
        assert!(check("missing == null", ROW));
    }

    #[test]
    fn missing_and_mistyped_values_never_pass_ordering() {
        assert!(!check("missing <= 0", ROW));
        assert!(!check("missing > 0", ROW));
        assert!(!check("text <= 0", ROW));
        assert!(check("missing != 0", ROW));
        assert!(!check("tags", ROW));
    }

    #[test]
    fn numbers_compare_by_value() {
        assert!(check("a == 1", r#"{"a":1.0}"#));
        assert!(check("a == 1e0", r#"{"a":1}"#));
        assert!(check("a has 2", r#"{"a":[1.0,2.0]}"#));
    }

    #[test]
    fn fields_lists_top_level_roots() {
        let p = Predicate::parse("vet.score > 1 and tags has 'x' or not exists(context)").unwrap();
        let fields: Vec<_> = p.fields().into_iter().collect();
        assert_eq!(fields, ["context", "tags", "vet"]);
    }

    #[test]
    fn parse_errors_point_at_the_column() {
        let err = |s: &str| Predicate::parse(s).unwrap_err();
        let e = err("valence <= and x");
        assert_eq!(e.column, 12);
        assert!(
            e.message.starts_with("expected a field, a value or `(`"),
            "{}",
            e.message
        );
        assert_eq!(
            e.to_string(),
            "expected a field, a value or `(`, found `and` at column 12\n  valence <= and x\n             ^"
        );
        assert_eq!(err("valence = 1").column, 9);
        assert_eq!(err("(valence > 1").column, 13);
        assert_eq!(err("a < 1 < 2").column, 7);
        assert_eq!(err("text matches '('").column, 14);
        assert_eq!(err("foo(x)").column, 1);
        assert_eq!(err("a == 'x").column, 6);
        assert_eq!(err("a in [1, ]").column, 10);
        assert_eq!(err("a #").column, 3);
        assert_eq!(err("").column, 1);
        assert_eq!(err("vet. > 1").column, 6);
    }
}

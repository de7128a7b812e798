//! Evaluating an expression against a row.

use std::borrow::Cow;

use serde_json::Value;

use super::{CmpOp, Expr, Func};
use crate::record::{lookup, Row};

/// A value during evaluation: borrowed from the row where possible.
#[derive(Clone, Debug, PartialEq)]
pub enum Val<'a> {
    /// JSON null, or a missing field.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number as written in the row or the expression: compared exactly
    /// (big integers, long decimals).
    Exact(&'a serde_json::Number),
    /// A number the expression computed (`abs`, `len`, `-x`).
    Num(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array or object.
    Json(Cow<'a, Value>),
}

impl<'a> Val<'a> {
    fn from_json(v: &'a Value) -> Val<'a> {
        match v {
            Value::Null => Val::Null,
            Value::Bool(b) => Val::Bool(*b),
            Value::Number(n) => Val::Exact(n),
            Value::String(s) => Val::Str(Cow::Borrowed(s)),
            other => Val::Json(Cow::Borrowed(other)),
        }
    }

    fn from_literal(v: &'a Value) -> Val<'a> {
        Val::from_json(v)
    }

    /// The value as a number, when it is one.
    pub fn as_num(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Exact(n) => n.as_f64(),
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
        Expr::Neg(e) => match eval(e, row).as_num() {
            Some(n) => Val::Num(-n),
            None => Val::Null,
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
        (Func::Abs, v @ (Val::Num(_) | Val::Exact(_))) => {
            v.as_num().map_or(Val::Null, |n| Val::Num(n.abs()))
        }
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
        (Val::Exact(x), Val::Exact(y)) => numbers_cmp(x, y) == Some(std::cmp::Ordering::Equal),
        (Val::Num(_) | Val::Exact(_), Val::Num(_) | Val::Exact(_)) => a.as_num() == b.as_num(),
        (Val::Str(x), Val::Str(y)) => x == y,
        (Val::Json(x), Val::Json(y)) => json_equal(x, y),
        _ => false,
    }
}

/// JSON equality with numbers compared by value (`1` equals `1.0`).
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            numbers_cmp(x, y) == Some(std::cmp::Ordering::Equal)
        }
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
            (Val::Exact(x), Val::Exact(y)) => numbers_cmp(x, y).is_some_and(|ord| match op {
                CmpOp::Lt => ord.is_lt(),
                CmpOp::Le => ord.is_le(),
                CmpOp::Gt => ord.is_gt(),
                _ => ord.is_ge(),
            }),
            (Val::Num(_) | Val::Exact(_), Val::Num(_) | Val::Exact(_)) => {
                match (a.as_num(), b.as_num()) {
                    (Some(x), Some(y)) => op.test(x, y),
                    _ => false,
                }
            }
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

/// Two JSON numbers compared by value, exactly, from their text: big
/// integers (snowflake ids, nanosecond timestamps) and long decimals do not
/// go through f64. None only for an exponent too large to handle.
pub fn numbers_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Option<std::cmp::Ordering> {
    Some(Decimal::parse(a.as_str())?.cmp(&Decimal::parse(b.as_str())?))
}

/// A JSON number as sign, significant digits and the power of ten of the
/// first one: value = ±0.d₁d₂d₃… × 10^point (d₁ ≠ 0, no trailing zeros).
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: Vec<u8>,
    point: i64,
}

impl Decimal {
    fn parse(text: &str) -> Option<Decimal> {
        let (negative, rest) = match text.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, text),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i64>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        let mut point = (int.len() as i64).checked_add(exp)?;
        let leading = digits.iter().take_while(|&&d| d == b'0').count();
        digits.drain(..leading);
        point -= leading as i64;
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits,
                point: 0,
            });
        }
        Some(Decimal {
            negative,
            digits,
            point,
        })
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        use std::cmp::Ordering;
        let zero = |d: &Decimal| d.digits.is_empty();
        let sign = |d: &Decimal| {
            if zero(d) {
                0
            } else if d.negative {
                -1
            } else {
                1
            }
        };
        match sign(self).cmp(&sign(other)) {
            Ordering::Equal => {}
            unequal => return unequal,
        }
        if zero(self) {
            return Ordering::Equal;
        }
        // Same sign: compare magnitudes, then turn round for negatives.
        let magnitude = self
            .point
            .cmp(&other.point)
            .then_with(|| self.digits.cmp(&other.digits));
        if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
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
    use super::Decimal;
    use crate::record::parse_row;

    #[test]
    fn integers_and_decimals_compare_exactly() {
        let row = r#"{"id": 675127116845989889, "ts": 1499816949527975237, "x": 0.8000000000000000444, "big": 18446744073709551617}"#;
        assert!(check("id == 675127116845989889", row));
        assert!(!check("id == 675127116845989888", row));
        assert!(check("id > 675127116845989888", row));
        assert!(!check("ts == 1499816949527975200", row));
        assert!(check("x > 0.8", row));
        assert!(check("big > 18446744073709551616", row));
        assert!(check("id == 6.75127116845989889e17", row));
        assert!(check("id < 6.751271168459898891e17", row));
    }

    #[test]
    fn decimals_order_like_numbers() {
        let d = |t: &str| Decimal::parse(t).unwrap();
        for (a, b) in [
            ("1", "2"),
            ("-2", "-1"),
            ("-0.5", "0"),
            ("0.05", "0.5"),
            ("99", "1e2"),
            ("1.5e-3", "0.002"),
            ("-1e3", "-999"),
        ] {
            assert!(d(a) < d(b), "{a} < {b}");
        }
        for (a, b) in [
            ("1", "1.0"),
            ("100", "1e2"),
            ("0", "-0.0"),
            ("1.50", "15e-1"),
        ] {
            assert_eq!(d(a), d(b), "{a} == {b}");
        }
    }

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

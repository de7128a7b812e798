//! Tokens of the expression language, each with the column it starts at.

use super::ParseError;

#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Num(f64, String),
    Str(String),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Minus,
    Cmp(CmpOp),
    And,
    Or,
    Not,
    Has,
    In,
    Matches,
    True,
    False,
    Null,
    End,
}

/// The comparison operators, shared by predicates and gates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Applies the operator to two numbers.
    pub fn test(self, a: f64, b: f64) -> bool {
        match self {
            CmpOp::Eq => a == b,
            CmpOp::Ne => a != b,
            CmpOp::Lt => a < b,
            CmpOp::Le => a <= b,
            CmpOp::Gt => a > b,
            CmpOp::Ge => a >= b,
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub tok: Tok,
    /// 1-based column, in characters.
    pub col: usize,
}

impl Tok {
    pub fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("`{s}`"),
            Tok::Num(_, s) => format!("the number {s}"),
            Tok::Str(s) => format!("the string {s:?}"),
            Tok::LParen => "`(`".into(),
            Tok::RParen => "`)`".into(),
            Tok::LBracket => "`[`".into(),
            Tok::RBracket => "`]`".into(),
            Tok::Comma => "`,`".into(),
            Tok::Dot => "`.`".into(),
            Tok::Minus => "`-`".into(),
            Tok::Cmp(op) => format!("`{}`", op.symbol()),
            Tok::And => "`and`".into(),
            Tok::Or => "`or`".into(),
            Tok::Not => "`not`".into(),
            Tok::Has => "`has`".into(),
            Tok::In => "`in`".into(),
            Tok::Matches => "`matches`".into(),
            Tok::True => "`true`".into(),
            Tok::False => "`false`".into(),
            Tok::Null => "`null`".into(),
            Tok::End => "the end of the expression".into(),
        }
    }
}

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let col = i + 1;
        let next = chars.get(i + 1).copied();
        let simple = |tok: Tok, len: usize| (tok, len);
        let (tok, len) = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => simple(Tok::LParen, 1),
            ')' => simple(Tok::RParen, 1),
            '[' => simple(Tok::LBracket, 1),
            ']' => simple(Tok::RBracket, 1),
            ',' => simple(Tok::Comma, 1),
            '.' => simple(Tok::Dot, 1),
            '-' => simple(Tok::Minus, 1),
            '=' if next == Some('=') => simple(Tok::Cmp(CmpOp::Eq), 2),
            '=' => {
                return Err(ParseError::new(
                    src,
                    col,
                    "`=` is not an operator; use `==`",
                ))
            }
            '!' if next == Some('=') => simple(Tok::Cmp(CmpOp::Ne), 2),
            '!' => simple(Tok::Not, 1),
            '<' if next == Some('=') => simple(Tok::Cmp(CmpOp::Le), 2),
            '<' => simple(Tok::Cmp(CmpOp::Lt), 1),
            '>' if next == Some('=') => simple(Tok::Cmp(CmpOp::Ge), 2),
            '>' => simple(Tok::Cmp(CmpOp::Gt), 1),
            '&' if next == Some('&') => simple(Tok::And, 2),
            '|' if next == Some('|') => simple(Tok::Or, 2),
            '"' | '\'' => lex_string(src, &chars, i)?,
            c if c.is_ascii_digit() => lex_number(src, &chars, i)?,
            c if c.is_alphabetic() || c == '_' => {
                let len = chars[i..]
                    .iter()
                    .take_while(|c| c.is_alphanumeric() || **c == '_')
                    .count();
                let word: String = chars[i..i + len].iter().collect();
                let tok = match word.as_str() {
                    "and" => Tok::And,
                    "or" => Tok::Or,
                    "not" => Tok::Not,
                    "has" => Tok::Has,
                    "in" => Tok::In,
                    "matches" => Tok::Matches,
                    "true" => Tok::True,
                    "false" => Tok::False,
                    "null" => Tok::Null,
                    _ => Tok::Ident(word),
                };
                (tok, len)
            }
            other => {
                return Err(ParseError::new(
                    src,
                    col,
                    format!("unexpected character `{other}`"),
                ))
            }
        };
        tokens.push(Token { tok, col });
        i += len;
    }
    tokens.push(Token {
        tok: Tok::End,
        col: chars.len() + 1,
    });
    Ok(tokens)
}

fn lex_number(src: &str, chars: &[char], start: usize) -> Result<(Tok, usize), ParseError> {
    let mut i = start;
    let digits = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_ascii_digit() {
            *i += 1;
        }
    };
    digits(&mut i);
    if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
        i += 1;
        digits(&mut i);
    }
    if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
        let mut j = i + 1;
        if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
            j += 1;
        }
        if j < chars.len() && chars[j].is_ascii_digit() {
            i = j;
            digits(&mut i);
        }
    }
    let text: String = chars[start..i].iter().collect();
    let value = text
        .parse::<f64>()
        .map_err(|_| ParseError::new(src, start + 1, format!("bad number `{text}`")))?;
    Ok((Tok::Num(value, text), i - start))
}

fn lex_string(src: &str, chars: &[char], start: usize) -> Result<(Tok, usize), ParseError> {
    let quote = chars[start];
    let mut out = String::new();
    let mut i = start + 1;
    while i < chars.len() {
        let c = chars[i];
        if c == quote {
            return Ok((Tok::Str(out), i + 1 - start));
        }
        if c == '\\' {
            let esc = chars.get(i + 1).copied();
            let decoded = match esc {
                Some('n') => '\n',
                Some('t') => '\t',
                Some('r') => '\r',
                Some('\\') => '\\',
                Some('"') => '"',
                Some('\'') => '\'',
                Some('/') => '/',
                // Anything else is kept as written, so regexes read naturally:
                // "\\bno\\b" and "\bno\b" mean the same to `matches`.
                Some(other) => {
                    out.push('\\');
                    other
                }
                None => return Err(ParseError::new(src, i + 1, "string is not closed")),
            };
            out.push(decoded);
            i += 2;
            continue;
        }
        out.push(c);
        i += 1;
    }
    Err(ParseError::new(src, start + 1, "string is not closed"))
}

//! Recursive-descent parser: `or` binds loosest, then `and`, `not`, a
//! comparison, unary minus, and primaries.

use serde_json::Value;

use super::lexer::{tokenize, Tok, Token};
use super::{Expr, Func, ParseError};

pub(crate) struct Parser<'s> {
    src: &'s str,
    tokens: Vec<Token>,
    pos: usize,
}

pub(crate) fn parse_predicate(src: &str) -> Result<Expr, ParseError> {
    let mut p = Parser::new(src)?;
    let expr = p.expr()?;
    p.expect_end()?;
    Ok(expr)
}

pub(crate) fn parse_path_only(src: &str) -> Result<Vec<String>, ParseError> {
    let mut p = Parser::new(src)?;
    let path = p.path()?;
    p.expect_end()?;
    Ok(path)
}

impl<'s> Parser<'s> {
    pub(crate) fn new(src: &'s str) -> Result<Self, ParseError> {
        Ok(Parser {
            src,
            tokens: tokenize(src)?,
            pos: 0,
        })
    }

    pub(crate) fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    pub(crate) fn col(&self) -> usize {
        self.tokens[self.pos].col
    }

    pub(crate) fn bump(&mut self) -> Tok {
        let tok = self.tokens[self.pos].tok.clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        tok
    }

    pub(crate) fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(self.src, self.col(), message)
    }

    pub(crate) fn expected(&self, what: &str) -> ParseError {
        self.error(format!("expected {what}, found {}", self.peek().describe()))
    }

    pub(crate) fn expect(&mut self, tok: Tok, what: &str) -> Result<(), ParseError> {
        if *self.peek() == tok {
            self.bump();
            Ok(())
        } else {
            Err(self.expected(what))
        }
    }

    pub(crate) fn expect_end(&self) -> Result<(), ParseError> {
        if *self.peek() == Tok::End {
            Ok(())
        } else {
            Err(self.expected("an operator or the end of the expression"))
        }
    }

    pub(crate) fn expr(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.and()?;
        while *self.peek() == Tok::Or {
            self.bump();
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, ParseError> {
        let mut left = self.not()?;
        while *self.peek() == Tok::And {
            self.bump();
            let right = self.not()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Expr, ParseError> {
        if *self.peek() == Tok::Not {
            self.bump();
            return Ok(Expr::Not(Box::new(self.not()?)));
        }
        self.comparison()
    }

    fn comparison(&mut self) -> Result<Expr, ParseError> {
        let left = self.unary()?;
        let expr = match self.peek().clone() {
            Tok::Cmp(op) => {
                self.bump();
                Expr::Compare(op, Box::new(left), Box::new(self.unary()?))
            }
            Tok::Has => {
                self.bump();
                Expr::Has(Box::new(left), Box::new(self.unary()?))
            }
            Tok::In => {
                self.bump();
                Expr::In(Box::new(left), self.list()?)
            }
            Tok::Matches => {
                self.bump();
                let col = self.col();
                let Tok::Str(pattern) = self.bump() else {
                    return Err(ParseError::new(
                        self.src,
                        col,
                        "expected a regex string after `matches`",
                    ));
                };
                let re = regex::Regex::new(&pattern).map_err(|e| {
                    ParseError::new(
                        self.src,
                        col,
                        format!("bad regex: {}", first_line(&e.to_string())),
                    )
                })?;
                Expr::Matches(Box::new(left), re)
            }
            _ => return Ok(left),
        };
        if matches!(self.peek(), Tok::Cmp(_) | Tok::Has | Tok::In | Tok::Matches) {
            return Err(self.error("comparisons do not chain; join them with `and`"));
        }
        Ok(expr)
    }

    fn unary(&mut self) -> Result<Expr, ParseError> {
        if *self.peek() == Tok::Minus {
            self.bump();
            return Ok(match self.unary()? {
                Expr::Literal(Value::Number(n)) => Expr::Literal(negate(&n)),
                other => Expr::Neg(Box::new(other)),
            });
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, ParseError> {
        match self.peek().clone() {
            Tok::LParen => {
                self.bump();
                let e = self.expr()?;
                self.expect(Tok::RParen, "`)`")?;
                Ok(e)
            }
            Tok::Num(..) | Tok::Str(_) | Tok::True | Tok::False | Tok::Null => {
                Ok(Expr::Literal(self.literal()?))
            }
            Tok::Ident(name) => {
                if self.tokens.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::LParen) {
                    return self.call(&name);
                }
                Ok(Expr::Path(self.path()?))
            }
            _ => Err(self.expected("a field, a value or `(`")),
        }
    }

    fn call(&mut self, name: &str) -> Result<Expr, ParseError> {
        let Some(func) = Func::from_name(name) else {
            return Err(self.error(format!(
                "unknown function `{name}` (functions: exists, abs, len, lower)"
            )));
        };
        self.bump();
        self.bump();
        let arg = if func == Func::Exists {
            Expr::Path(self.path()?)
        } else {
            self.expr()?
        };
        self.expect(Tok::RParen, "`)`")?;
        Ok(Expr::Call(func, Box::new(arg)))
    }

    pub(crate) fn path(&mut self) -> Result<Vec<String>, ParseError> {
        let Tok::Ident(first) = self.peek().clone() else {
            return Err(self.expected("a field name"));
        };
        self.bump();
        let mut path = vec![first];
        while *self.peek() == Tok::Dot {
            self.bump();
            match self.peek().clone() {
                Tok::Ident(s) => path.push(s),
                Tok::Num(_, text) if text.bytes().all(|b| b.is_ascii_digit()) => path.push(text),
                _ => return Err(self.expected("a field name or an index after `.`")),
            }
            self.bump();
        }
        Ok(path)
    }

    pub(crate) fn literal(&mut self) -> Result<Value, ParseError> {
        let negative = *self.peek() == Tok::Minus;
        if negative {
            self.bump();
        }
        let value = match self.peek().clone() {
            Tok::Num(_, text) => number_value(&text),
            Tok::Str(s) if !negative => Value::String(s),
            Tok::True if !negative => Value::Bool(true),
            Tok::False if !negative => Value::Bool(false),
            Tok::Null if !negative => Value::Null,
            _ => return Err(self.expected("a value")),
        };
        self.bump();
        Ok(match (negative, value) {
            (true, Value::Number(n)) => negate(&n),
            (_, v) => v,
        })
    }

    fn list(&mut self) -> Result<Vec<Value>, ParseError> {
        self.expect(Tok::LBracket, "`[` to start a list")?;
        let mut items = Vec::new();
        if *self.peek() == Tok::RBracket {
            self.bump();
            return Ok(items);
        }
        loop {
            items.push(self.literal()?);
            match self.peek() {
                Tok::Comma => self.bump(),
                Tok::RBracket => {
                    self.bump();
                    return Ok(items);
                }
                _ => return Err(self.expected("`,` or `]`")),
            };
        }
    }
}

fn number_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::from(text.parse::<f64>().unwrap_or(0.0)))
}

fn negate(n: &serde_json::Number) -> Value {
    let text = n.to_string();
    match text.strip_prefix('-') {
        Some(rest) => number_value(rest),
        None => number_value(&format!("-{text}")),
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

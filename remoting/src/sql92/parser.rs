//! A recursive-descent reading of `SelectorParser.jj` (RocketMQ 4.9), production by
//! production, with the same one- and two-token lookaheads:
//!
//! ```text
//! JmsSelector  := orExpr                                   (no <EOF> required)
//! orExpr       := andExpr ( OR andExpr )*
//! andExpr      := equality ( AND equality )*
//! equality     := comparison ( "=" comparison | "<>" comparison
//!                            | IS NULL | IS NOT NULL )*
//! comparison   := unary ( ">" unary | ">=" unary | "<" unary | "<=" unary
//!                       | BETWEEN unary AND unary | NOT BETWEEN unary AND unary
//!                       | IN "(" string ("," string)* ")" | NOT IN "(" ... ")" )*
//! unary        := "+" unary | "-" unary | NOT unary | primary
//! primary      := literal | ID | "(" orExpr ")"
//! ```
//!
//! NOT is a unary operator binding tighter than any comparison, so `NOT a = 1` reads as
//! `(NOT a) = 1`, as in Java.

use std::collections::VecDeque;

use crate::sql92::ast::{CmpOp, Const, Expr, Kind};
use crate::sql92::build;
use crate::sql92::error::CompileError;
use crate::sql92::java::add_escapes;
use crate::sql92::lexer::{Lexer, Tok, Token};
use crate::sql92::{MAX_DEPTH, MAX_NESTING};

pub struct Parser<'a> {
    lexer: Lexer<'a>,
    ahead: VecDeque<Token<'a>>,
    nesting: u32,
    /// Property names in order of first use; a property's slot is its index.
    pub names: Vec<String>,
}

type Parsed = Result<Expr, CompileError>;

impl<'a> Parser<'a> {
    pub fn new(src: &'a str) -> Self {
        Parser {
            lexer: Lexer::new(src),
            ahead: VecDeque::new(),
            nesting: 0,
            names: Vec::new(),
        }
    }

    /// The token `k` places ahead (0 is the next one), cut from the text on demand.
    fn peek(&mut self, k: usize) -> Result<Token<'a>, CompileError> {
        while self.ahead.len() <= k {
            let t = self.lexer.next_token()?;
            self.ahead.push_back(t);
        }
        Ok(self.ahead[k])
    }

    fn next(&mut self) -> Result<Token<'a>, CompileError> {
        self.peek(0)?;
        Ok(self.ahead.pop_front().expect("peeked"))
    }

    fn unexpected(t: &Token<'_>) -> CompileError {
        let found = if t.kind == Tok::Eof {
            Tok::Eof.image().to_string()
        } else {
            format!(" {} \"{} \"", t.kind.image(), add_escapes(t.image))
        };
        CompileError::Syntax(format!(
            "Encountered \"{found}\" at line {}, column {}.",
            t.line, t.column
        ))
    }

    fn expect(&mut self, kind: Tok) -> Result<Token<'a>, CompileError> {
        let t = self.peek(0)?;
        if t.kind != kind {
            return Err(Self::unexpected(&t));
        }
        self.next()
    }

    fn checked(e: Expr) -> Parsed {
        if e.depth > MAX_DEPTH {
            return Err(CompileError::Limit(format!(
                "The expression is nested more than {MAX_DEPTH} levels deep"
            )));
        }
        Ok(e)
    }

    /// `JmsSelector()`.
    pub fn selector(&mut self) -> Parsed {
        let e = self.or_expr()?;
        build::as_boolean(e)
    }

    fn or_expr(&mut self) -> Parsed {
        let mut left = self.and_expr()?;
        while self.peek(0)?.kind == Tok::Or {
            self.next()?;
            let right = self.and_expr()?;
            left = Self::checked(build::or(left, right)?)?;
        }
        Ok(left)
    }

    fn and_expr(&mut self) -> Parsed {
        let mut left = self.equality()?;
        while self.peek(0)?.kind == Tok::And {
            self.next()?;
            let right = self.equality()?;
            left = Self::checked(build::and(left, right)?)?;
        }
        Ok(left)
    }

    fn equality(&mut self) -> Parsed {
        let mut left = self.comparison()?;
        loop {
            left = match self.peek(0)?.kind {
                Tok::Eq => {
                    self.next()?;
                    let right = self.comparison()?;
                    build::equal(left, right)?
                }
                Tok::Ne => {
                    self.next()?;
                    let right = self.comparison()?;
                    build::not_equal(left, right)?
                }
                Tok::Is => {
                    self.next()?;
                    if self.peek(0)?.kind == Tok::Null {
                        self.next()?;
                        build::is_null(left)
                    } else {
                        self.expect(Tok::Not)?;
                        self.expect(Tok::Null)?;
                        build::is_not_null(left)
                    }
                }
                _ => return Ok(left),
            };
            left = Self::checked(left)?;
        }
    }

    fn string_list(&mut self) -> Result<Vec<String>, CompileError> {
        self.expect(Tok::LParen)?;
        let mut items = vec![self.string_literal()?];
        while self.peek(0)?.kind == Tok::Comma {
            self.next()?;
            items.push(self.string_literal()?);
        }
        self.expect(Tok::RParen)?;
        Ok(items)
    }

    fn comparison(&mut self) -> Parsed {
        let mut left = self.unary()?;
        loop {
            let op = match self.peek(0)?.kind {
                Tok::Gt => Some(CmpOp::Gt),
                Tok::Ge => Some(CmpOp::Ge),
                Tok::Lt => Some(CmpOp::Lt),
                Tok::Le => Some(CmpOp::Le),
                Tok::Between | Tok::In | Tok::Not => None,
                _ => return Ok(left),
            };
            left = if let Some(op) = op {
                self.next()?;
                let right = self.unary()?;
                build::ordered(op, left, right)?
            } else {
                let first = self.peek(0)?.kind;
                let negated = first == Tok::Not;
                let second = if negated { self.peek(1)?.kind } else { first };
                match second {
                    Tok::Between => {
                        self.next()?;
                        if negated {
                            self.next()?;
                        }
                        let low = self.unary()?;
                        self.expect(Tok::And)?;
                        let high = self.unary()?;
                        if negated {
                            build::not_between(left, low, high)?
                        } else {
                            build::between(left, low, high)?
                        }
                    }
                    Tok::In => {
                        self.next()?;
                        if negated {
                            self.next()?;
                        }
                        let items = self.string_list()?;
                        build::in_list(left, items, negated)?
                    }
                    // A NOT followed by neither: Java fails on the NOT.
                    _ => return Err(Self::unexpected(&self.peek(0)?)),
                }
            };
            left = Self::checked(left)?;
        }
    }

    fn unary(&mut self) -> Parsed {
        let t = self.peek(0)?;
        match t.kind {
            Tok::Plus | Tok::Minus | Tok::Not => {
                self.next()?;
                self.nest()?;
                let inner = self.unary();
                self.nesting -= 1;
                let inner = inner?;
                Self::checked(match t.kind {
                    Tok::Plus => inner,
                    Tok::Minus => build::negate(inner),
                    _ => build::not(inner)?,
                })
            }
            _ => self.primary(),
        }
    }

    fn nest(&mut self) -> Result<(), CompileError> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(CompileError::Limit(format!(
                "The expression nests more than {MAX_NESTING} parentheses or unary operators"
            )));
        }
        Ok(())
    }

    fn primary(&mut self) -> Parsed {
        let t = self.peek(0)?;
        match t.kind {
            Tok::Str => Ok(Expr::new(Kind::Const(Const::Str(self.string_literal()?)))),
            Tok::Decimal => {
                self.next()?;
                build::decimal(t.image)
            }
            Tok::Float => {
                self.next()?;
                build::float(t.image)
            }
            Tok::True | Tok::False | Tok::Null => {
                self.next()?;
                let c = match t.kind {
                    Tok::True => Const::Bool(true),
                    Tok::False => Const::Bool(false),
                    _ => Const::Null,
                };
                Ok(Expr::new(Kind::Const(c)))
            }
            Tok::Id => {
                self.next()?;
                let slot = match self.names.iter().position(|n| n == t.image) {
                    Some(i) => i,
                    None => {
                        self.names.push(t.image.to_string());
                        self.names.len() - 1
                    }
                };
                Ok(Expr::new(Kind::Property {
                    slot,
                    name: t.image.to_string(),
                }))
            }
            Tok::LParen => {
                self.next()?;
                self.nest()?;
                let inner = self.or_expr();
                self.nesting -= 1;
                let inner = inner?;
                self.expect(Tok::RParen)?;
                Ok(inner)
            }
            _ => Err(Self::unexpected(&t)),
        }
    }

    /// `stringLitteral()`: the quotes dropped, each doubled quote read as one.
    fn string_literal(&mut self) -> Result<String, CompileError> {
        let t = self.expect(Tok::Str)?;
        let inner = &t.image[1..t.image.len() - 1];
        Ok(inner.replace("''", "'"))
    }
}

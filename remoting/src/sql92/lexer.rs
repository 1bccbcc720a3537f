//! Tokens as the JavaCC token manager generated from `SelectorParser.jj` cuts them:
//! longest match wins, the earlier declaration on a tie (keywords before `ID`,
//! `DECIMAL_LITERAL` before `FLOATING_POINT_LITERAL`), keywords and literals are
//! case-insensitive, blanks and `--` / `/* */` comments are skipped. Tokens are cut on
//! demand, as the parser asks for them, so text after the last token the grammar needs
//! is never looked at (Java's `JmsSelector()` does not require `<EOF>`). Lines and
//! columns follow `SimpleCharStream` (UTF-16 columns, tabs to the next multiple of 8).

use crate::sql92::error::CompileError;
use crate::sql92::java::add_escapes;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Eof,
    Not,
    And,
    Or,
    Between,
    In,
    True,
    False,
    Null,
    Is,
    Decimal,
    Float,
    Str,
    Id,
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
    LParen,
    Comma,
    RParen,
    Plus,
    Minus,
}

impl Tok {
    /// The entry of JavaCC's `tokenImage` table, as error messages print it.
    pub fn image(self) -> &'static str {
        match self {
            Tok::Eof => "<EOF>",
            Tok::Not => "\"NOT\"",
            Tok::And => "\"AND\"",
            Tok::Or => "\"OR\"",
            Tok::Between => "\"BETWEEN\"",
            Tok::In => "\"IN\"",
            Tok::True => "\"TRUE\"",
            Tok::False => "\"FALSE\"",
            Tok::Null => "\"NULL\"",
            Tok::Is => "\"IS\"",
            Tok::Decimal => "<DECIMAL_LITERAL>",
            Tok::Float => "<FLOATING_POINT_LITERAL>",
            Tok::Str => "<STRING_LITERAL>",
            Tok::Id => "<ID>",
            Tok::Eq => "\"=\"",
            Tok::Ne => "\"<>\"",
            Tok::Gt => "\">\"",
            Tok::Ge => "\">=\"",
            Tok::Lt => "\"<\"",
            Tok::Le => "\"<=\"",
            Tok::LParen => "\"(\"",
            Tok::Comma => "\",\"",
            Tok::RParen => "\")\"",
            Tok::Plus => "\"+\"",
            Tok::Minus => "\"-\"",
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Token<'a> {
    pub kind: Tok,
    pub image: &'a str,
    pub line: u32,
    pub column: u32,
}

const KEYWORDS: &[(&str, Tok)] = &[
    ("NOT", Tok::Not),
    ("AND", Tok::And),
    ("OR", Tok::Or),
    ("BETWEEN", Tok::Between),
    ("IN", Tok::In),
    ("TRUE", Tok::True),
    ("FALSE", Tok::False),
    ("NULL", Tok::Null),
    ("IS", Tok::Is),
];

pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    column: u32,
    prev_cr: bool,
    prev_lf: bool,
    /// Line and column of the last character read.
    last: (u32, u32),
}

fn is_id_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b'$'
}

fn is_id_part(b: u8) -> bool {
    is_id_start(b) || b.is_ascii_digit()
}

fn digits(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Length of `[eE][+-]?[0-9]+` at `i`, if complete.
fn exponent(b: &[u8], i: usize) -> Option<usize> {
    if !matches!(b.get(i), Some(b'e' | b'E')) {
        return None;
    }
    let mut j = i + 1;
    if matches!(b.get(j), Some(b'+' | b'-')) {
        j += 1;
    }
    let end = digits(b, j);
    (end > j).then_some(end - i)
}

/// What starts at a position: a token of `len` bytes, skipped text, or nothing, in which
/// case `viable` bytes could still have begun a token.
enum Cut {
    Token(Tok, usize),
    Skip(usize),
    None { viable: usize },
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
            column: 0,
            prev_cr: false,
            prev_lf: false,
            last: (1, 0),
        }
    }

    /// `SimpleCharStream.UpdateLineColumn` for every UTF-16 unit of `len` bytes.
    fn advance(&mut self, len: usize) {
        let end = (self.pos + len).min(self.src.len());
        for c in self.src[self.pos..end].chars() {
            for _ in 0..c.len_utf16() {
                self.column += 1;
                if self.prev_lf {
                    self.prev_lf = false;
                    self.column = 1;
                    self.line += 1;
                } else if self.prev_cr {
                    self.prev_cr = false;
                    if c == '\n' {
                        self.prev_lf = true;
                    } else {
                        self.column = 1;
                        self.line += 1;
                    }
                }
                match c {
                    '\r' => self.prev_cr = true,
                    '\n' => self.prev_lf = true,
                    '\t' => {
                        self.column -= 1;
                        self.column += 8 - (self.column % 8);
                    }
                    _ => {}
                }
                self.last = (self.line, self.column);
            }
        }
        self.pos = end;
    }

    fn cut(&self) -> Cut {
        let b = &self.src.as_bytes()[self.pos..];
        let Some(&first) = b.first() else {
            return Cut::Token(Tok::Eof, 0);
        };
        match first {
            b' ' | b'\t' | b'\n' | b'\r' | 0x0c => Cut::Skip(1),
            b'-' if b.get(1) == Some(&b'-') => {
                // LINE_COMMENT needs its line end; without one only "-" matches.
                match b.iter().position(|&c| c == b'\n' || c == b'\r') {
                    Some(i) if b[i] == b'\r' && b.get(i + 1) == Some(&b'\n') => Cut::Skip(i + 2),
                    Some(i) => Cut::Skip(i + 1),
                    None => Cut::Token(Tok::Minus, 1),
                }
            }
            b'/' => {
                if b.get(1) != Some(&b'*') {
                    return Cut::None { viable: 1 };
                }
                match self.src[self.pos + 2..].find("*/") {
                    Some(i) => Cut::Skip(i + 4),
                    None => Cut::None { viable: b.len() },
                }
            }
            b'\'' => {
                // IN --'--> CLOSED (accepting) --'--> IN; the last accepting point wins.
                let mut closed_at = None;
                let mut inside = true;
                for (i, &c) in b.iter().enumerate().skip(1) {
                    if inside {
                        if c == b'\'' {
                            inside = false;
                            closed_at = Some(i + 1);
                        }
                    } else if c == b'\'' {
                        inside = true;
                    } else {
                        break;
                    }
                }
                match closed_at {
                    Some(len) => Cut::Token(Tok::Str, len),
                    None => Cut::None { viable: b.len() },
                }
            }
            b'0'..=b'9' | b'.' => number(b),
            c if is_id_start(c) => {
                let len = b.iter().position(|&c| !is_id_part(c)).unwrap_or(b.len());
                let word = &self.src[self.pos..self.pos + len];
                let kind = KEYWORDS
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(word))
                    .map_or(Tok::Id, |(_, t)| *t);
                Cut::Token(kind, len)
            }
            b'=' => Cut::Token(Tok::Eq, 1),
            b'<' => match b.get(1) {
                Some(b'>') => Cut::Token(Tok::Ne, 2),
                Some(b'=') => Cut::Token(Tok::Le, 2),
                _ => Cut::Token(Tok::Lt, 1),
            },
            b'>' => match b.get(1) {
                Some(b'=') => Cut::Token(Tok::Ge, 2),
                _ => Cut::Token(Tok::Gt, 1),
            },
            b'(' => Cut::Token(Tok::LParen, 1),
            b')' => Cut::Token(Tok::RParen, 1),
            b',' => Cut::Token(Tok::Comma, 1),
            b'+' => Cut::Token(Tok::Plus, 1),
            b'-' => Cut::Token(Tok::Minus, 1),
            _ => Cut::None { viable: 0 },
        }
    }

    pub fn next_token(&mut self) -> Result<Token<'a>, CompileError> {
        loop {
            match self.cut() {
                Cut::Skip(n) => self.advance(n),
                Cut::Token(kind, len) => {
                    let start = self.pos;
                    let (line, column) = if len == 0 {
                        self.last
                    } else {
                        self.advance(1);
                        let at = self.last;
                        self.advance(len - 1);
                        at
                    };
                    return Ok(Token {
                        kind,
                        image: &self.src[start..start + len],
                        line,
                        column,
                    });
                }
                Cut::None { viable } => return Err(self.lexical_error(viable)),
            }
        }
    }

    /// `TokenMgrError.LexicalError`: the character where no token could go on (or EOF),
    /// and what was read of the attempt before it when that is more than one character.
    fn lexical_error(&mut self, viable: usize) -> CompileError {
        let start = self.pos;
        self.advance(viable);
        let after = if viable > 1 {
            add_escapes(&self.src[start..self.pos])
        } else {
            String::new()
        };
        match self.src[self.pos..].chars().next() {
            Some(c) => {
                self.advance(c.len_utf8());
                let (line, column) = self.last;
                let unit = c.encode_utf16(&mut [0; 2])[0];
                CompileError::Lexical(format!(
                    "Lexical error at line {line}, column {column}.  Encountered: \"{}\" ({unit}), after : \"{after}\"",
                    add_escapes(&char::from_u32(u32::from(unit)).map_or_else(
                        || c.to_string(),
                        |u| u.to_string()
                    ))
                ))
            }
            None => {
                let (line, column) = self.last;
                CompileError::Lexical(format!(
                    "Lexical error at line {line}, column {}.  Encountered: <EOF> after : \"{after}\"",
                    column + 1
                ))
            }
        }
    }
}

/// `DECIMAL_LITERAL: "0" | [1-9][0-9]*[lL]?` against `FLOATING_POINT_LITERAL:
/// [0-9]+ "." [0-9]* EXP? | "." [0-9]+ EXP? | [0-9]+ EXP`, the longer one winning.
fn number(b: &[u8]) -> Cut {
    let int_end = digits(b, 0);
    let decimal = match b[0] {
        b'0' => 1,
        b'1'..=b'9' => {
            if matches!(b.get(int_end), Some(b'l' | b'L')) {
                int_end + 1
            } else {
                int_end
            }
        }
        _ => 0,
    };
    let float = if int_end > 0 {
        if b.get(int_end) == Some(&b'.') {
            let frac_end = digits(b, int_end + 1);
            frac_end + exponent(b, frac_end).unwrap_or(0)
        } else {
            exponent(b, int_end).map_or(0, |e| int_end + e)
        }
    } else {
        // A leading '.': digits must follow.
        let frac_end = digits(b, 1);
        if frac_end > 1 {
            frac_end + exponent(b, frac_end).unwrap_or(0)
        } else {
            0
        }
    };
    if float > decimal {
        Cut::Token(Tok::Float, float)
    } else if decimal > 0 {
        Cut::Token(Tok::Decimal, decimal)
    } else {
        Cut::None { viable: 1 }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(s: &str) -> Vec<(Tok, String)> {
        let mut l = Lexer::new(s);
        let mut out = Vec::new();
        loop {
            let t = l.next_token().unwrap();
            if t.kind == Tok::Eof {
                return out;
            }
            out.push((t.kind, t.image.to_string()));
        }
    }

    #[test]
    fn longest_match_and_ties() {
        use Tok::*;
        let k = |s: &str| kinds(s).into_iter().map(|(t, _)| t).collect::<Vec<_>>();
        assert_eq!(k("a<>b"), [Id, Ne, Id]);
        assert_eq!(k("notable NOT Not"), [Id, Not, Not]);
        assert_eq!(
            k("007"),
            [Decimal, Decimal, Decimal],
            "\"0\" is a whole literal"
        );
        assert_eq!(k("10L 0L"), [Decimal, Decimal, Id]);
        assert_eq!(
            k("1.5 1. .5 1e3 1.e3 5e"),
            [Float, Float, Float, Float, Float, Decimal, Id]
        );
        assert_eq!(k("'it''s' 'a'"), [Str, Str]);
        assert_eq!(k("a -- note\n b /* x */ c"), [Id, Id, Id]);
        assert_eq!(k("a --no end"), [Id, Minus, Minus, Id, Id]);
    }

    #[test]
    fn string_ends_at_last_closing_quote() {
        // "'a''" : the doubled quote cannot close, so the literal is 'a' and a lone
        // quote is left, which cannot start a token.
        let mut l = Lexer::new("'a''");
        let t = l.next_token().unwrap();
        assert_eq!((t.kind, t.image), (Tok::Str, "'a'"));
        let e = l.next_token().unwrap_err();
        assert_eq!(
            e.to_string(),
            "org.apache.rocketmq.filter.parser.TokenMgrError: Lexical error at line 1, column 5.  Encountered: <EOF> after : \"\""
        );
    }

    #[test]
    fn positions_and_errors() {
        let mut l = Lexer::new("a\n\tb #");
        assert_eq!(l.next_token().unwrap().column, 1);
        let b = l.next_token().unwrap();
        assert_eq!((b.line, b.column), (2, 9));
        let e = l.next_token().unwrap_err();
        assert_eq!(
            e.to_string(),
            "org.apache.rocketmq.filter.parser.TokenMgrError: Lexical error at line 2, column 11.  Encountered: \"#\" (35), after : \"\""
        );
        let e = Lexer::new("'abc").next_token().unwrap_err();
        assert!(e
            .to_string()
            .ends_with("column 5.  Encountered: <EOF> after : \"\\'abc\""));
    }
}

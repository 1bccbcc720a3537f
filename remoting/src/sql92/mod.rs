//! SQL92 message selectors (`MessageSelector.bySql`) as the RocketMQ 4.9 broker reads
//! them: the grammar of the filter module's `SelectorParser.jj`, the checks its
//! expression classes make while parsing, and their evaluation rules against a
//! message's properties (`ExpressionMessageFilter` with `MessageEvaluationContext`,
//! where every property value is a string).
//!
//! A subscription expression comes off the wire, so compiling is bounded
//! ([`MAX_EXPRESSION_LEN`], [`MAX_NESTING`], [`MAX_DEPTH`]) and linear in the text;
//! evaluating is one pass over the message's properties plus one visit per node, with
//! no allocation unless a property value is not valid UTF-8.

mod ast;
mod build;
mod error;
mod eval;
mod java;
mod lexer;
mod parser;
mod properties;

use std::borrow::Cow;
use std::collections::HashMap;

pub use error::{CompileError, EvalError};
pub use eval::{Properties, Value};
pub use properties::{property, Scratch};

/// Expression type name the clients send for these selectors.
pub const SQL92: &str = "SQL92";

/// Longest expression accepted, in bytes (Java has no limit).
pub const MAX_EXPRESSION_LEN: usize = 16 * 1024;
/// Deepest nesting of parentheses and unary operators accepted; it bounds the
/// parser's recursion (a debug build needs about 1 MiB of stack at this depth).
pub const MAX_NESTING: u32 = 64;
/// Height of the compiled tree accepted, which bounds the evaluator's recursion.
/// AND/OR chains of any length count as one level (they are kept flat); what grows
/// the height is nesting and chained comparisons such as `a = 1 = TRUE = ...`.
pub const MAX_DEPTH: u32 = 200;

/// A compiled selector.
#[derive(Debug, Clone)]
pub struct Selector {
    root: ast::Expr,
    /// Property names the expression reads; slot `i` is `names[i]`.
    names: Vec<String>,
}

impl Selector {
    /// `SqlFilter.compile`: parse `expr` as Java's `SelectorParser.parse` does.
    pub fn compile(expr: &str) -> Result<Selector, CompileError> {
        if expr.len() > MAX_EXPRESSION_LEN {
            return Err(CompileError::Limit(format!(
                "The expression is longer than {MAX_EXPRESSION_LEN} bytes"
            )));
        }
        let mut p = parser::Parser::new(expr);
        let root = p.selector()?;
        Ok(Selector {
            root,
            names: p.names,
        })
    }

    /// The property names the expression reads.
    pub fn property_names(&self) -> &[String] {
        &self.names
    }

    /// Java's `evaluate`: `Some(true/false)`, `None` for an unknown (null) result, or
    /// the exception Java would throw.
    pub fn evaluate(&self, props: &dyn Properties) -> Result<Option<bool>, EvalError> {
        match eval::eval(&self.root, props)? {
            Value::Bool(b) => Ok(Some(b)),
            _ => Ok(None),
        }
    }

    /// `isMatchedByCommitLog`: only a TRUE result matches; null and exceptions do not.
    pub fn matches(&self, props: &dyn Properties) -> bool {
        matches!(self.evaluate(props), Ok(Some(true)))
    }

    /// Matches a message's properties as stored (`name\x01value\x02...`, UTF-8), read
    /// as Java's `MessageDecoder.string2messageProperties` reads them. `scratch` is
    /// reused from message to message.
    pub fn matches_encoded(&self, encoded: &[u8], scratch: &mut Scratch) -> bool {
        let ctx = scratch.resolve(encoded, &self.names);
        self.matches(&ctx)
    }

    /// Evaluates against a name → value map (tests, tools).
    pub fn evaluate_map(&self, map: &HashMap<String, String>) -> Result<Option<bool>, EvalError> {
        self.evaluate(&MapProperties {
            names: &self.names,
            map,
        })
    }
}

struct MapProperties<'a> {
    names: &'a [String],
    map: &'a HashMap<String, String>,
}

impl Properties for MapProperties<'_> {
    fn get(&self, slot: usize) -> Option<Cow<'_, str>> {
        let name = self.names.get(slot)?;
        self.map.get(name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

#[cfg(test)]
mod tests;

//! The compiled expression tree, shaped after the Java classes whose `instanceof` tests
//! decide what the grammar accepts: constants (`ConstantExpression`, of which `TRUE`,
//! `FALSE` and `NULL` are also `BooleanExpression`s), properties, unary and binary
//! expressions. `Display` is Java's `toString()`, which appears in error messages.

use std::collections::HashSet;
use std::fmt;

use crate::sql92::java;

/// A literal's value, typed as the Java parser types it: a decimal literal that fits an
/// int is an `Integer`, otherwise a `Long`; a floating literal is a `Double`.
#[derive(Debug, Clone, PartialEq)]
pub enum Const {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(String),
}

impl fmt::Display for Const {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Const::Null => f.write_str("NULL"),
            Const::Bool(true) => f.write_str("TRUE"),
            Const::Bool(false) => f.write_str("FALSE"),
            Const::Int(i) => write!(f, "{i}"),
            Const::Long(l) => write!(f, "{l}"),
            Const::Double(d) => f.write_str(&java::double_to_string(*d)),
            // `ConstantExpression.encodeString`: quoted, quotes doubled.
            Const::Str(s) => write!(f, "'{}'", s.replace('\'', "''")),
        }
    }
}

impl Const {
    /// `String.valueOf(value)`, as `String.format("%s")` prints it.
    pub fn java_value_string(&self) -> String {
        match self {
            Const::Null => "null".into(),
            Const::Bool(b) => b.to_string(),
            Const::Str(s) => s.clone(),
            other => other.to_string(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
        }
    }
}

/// The strings of an `IN` list. Java keeps up to four in a list and more in a HashSet;
/// membership is the same, only `toString()` order differs, so both are kept.
#[derive(Debug, Clone)]
pub struct InList {
    pub set: HashSet<String>,
    /// Java's iteration order, for messages.
    pub display: Vec<String>,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Const(Const),
    /// A message property, by slot in the selector's name table.
    Property {
        slot: usize,
        name: String,
    },
    /// `UnaryExpression.createNegate`.
    Negate(Box<Expr>),
    /// `UnaryExpression.createNOT`.
    Not(Box<Expr>),
    /// `UnaryExpression.createBooleanCast`: a bare property used as a condition.
    BoolCast(Box<Expr>),
    /// `UnaryExpression.createInExpression`; the operand is always a property.
    In {
        operand: Box<Expr>,
        list: Box<InList>,
        not: bool,
    },
    /// `ComparisonExpression` (`=` through `doCreateEqual`, `IS NULL` too).
    Cmp {
        op: CmpOp,
        left: Box<Expr>,
        right: Box<Expr>,
    },
    /// A chain of `LogicExpression.createAND`s, `((a AND b) AND c)` kept as `[a, b, c]`:
    /// evaluating left to right and stopping at the first FALSE gives the nested
    /// form's result and raises the same exceptions, without recursing per link.
    And(Vec<Expr>),
    /// A chain of `LogicExpression.createOR`s, likewise.
    Or(Vec<Expr>),
}

#[derive(Debug, Clone)]
pub struct Expr {
    pub kind: Kind,
    /// Height of the tree below and including this node, bounded at build time.
    pub depth: u32,
}

impl Expr {
    pub fn new(kind: Kind) -> Expr {
        let child = match &kind {
            Kind::Const(_) | Kind::Property { .. } => 0,
            Kind::Negate(e) | Kind::Not(e) | Kind::BoolCast(e) => e.depth,
            Kind::In { operand, .. } => operand.depth,
            Kind::Cmp { left, right, .. } => left.depth.max(right.depth),
            Kind::And(v) | Kind::Or(v) => v.iter().map(|e| e.depth).max().unwrap_or(0),
        };
        Expr {
            kind,
            depth: child + 1,
        }
    }

    /// `instanceof ConstantExpression`.
    pub fn is_constant(&self) -> bool {
        matches!(self.kind, Kind::Const(_))
    }

    pub fn constant(&self) -> Option<&Const> {
        match &self.kind {
            Kind::Const(c) => Some(c),
            _ => None,
        }
    }

    /// `instanceof BooleanExpression`: `TRUE`/`FALSE`/`NULL` literals and every
    /// logical, comparison, `IN`, `NOT` and cast node.
    pub fn is_boolean(&self) -> bool {
        match &self.kind {
            Kind::Const(c) => matches!(c, Const::Null | Const::Bool(_)),
            Kind::Property { .. } | Kind::Negate(_) => false,
            _ => true,
        }
    }

    pub fn is_property(&self) -> bool {
        matches!(self.kind, Kind::Property { .. })
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Const(c) => c.fmt(f),
            Kind::Property { name, .. } => f.write_str(name),
            Kind::Negate(e) => write!(f, "(- {e})"),
            Kind::Not(e) => write!(f, "(NOT {e})"),
            Kind::BoolCast(e) => e.fmt(f),
            Kind::In { operand, list, not } => {
                let op = if *not { "NOT IN" } else { "IN" };
                write!(f, "{operand} {op} ( {} )", list.display.join(", "))
            }
            Kind::Cmp { op, left, right } => write!(f, "({left} {} {right})", op.symbol()),
            Kind::And(v) => write_chain(f, v, "&&"),
            Kind::Or(v) => write_chain(f, v, "||"),
        }
    }
}

/// A flattened chain printed as Java's nested binary expressions: `((a && b) && c)`.
fn write_chain(f: &mut fmt::Formatter<'_>, v: &[Expr], op: &str) -> fmt::Result {
    for _ in 1..v.len() {
        f.write_str("(")?;
    }
    for (i, e) in v.iter().enumerate() {
        if i > 0 {
            write!(f, " {op} ")?;
        }
        write!(f, "{e}")?;
        if i > 0 {
            f.write_str(")")?;
        }
    }
    Ok(())
}

//! Evaluation with the Java classes' rules: three-valued logic (`null` for unknown),
//! `ComparisonExpression.__compare`'s type conversions (a property, always a string,
//! is read as the type of the literal it meets), and exceptions where Java throws one,
//! which make the whole message not match.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::sql92::ast::{CmpOp, Const, Expr, Kind};
use crate::sql92::error::EvalError;
use crate::sql92::java;

/// A value while evaluating: Java's `null`, `Boolean`, `Integer`, `Long`, `Double` or
/// `String`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    Int(i32),
    Long(i64),
    Double(f64),
    Str(Cow<'a, str>),
}

impl<'a> From<&'a Const> for Value<'a> {
    fn from(c: &'a Const) -> Self {
        match c {
            Const::Null => Value::Null,
            Const::Bool(b) => Value::Bool(*b),
            Const::Int(i) => Value::Int(*i),
            Const::Long(l) => Value::Long(*l),
            Const::Double(d) => Value::Double(*d),
            Const::Str(s) => Value::Str(Cow::Borrowed(s)),
        }
    }
}

/// A message's properties, looked up by the selector's property slots.
pub trait Properties {
    fn get(&self, slot: usize) -> Option<Cow<'_, str>>;
}

/// `ComparisonExpression.__compare(lv, rv, convertStringExpressions = true)`: operands
/// of different types are converted towards the other side (a string towards the
/// literal's type, an Integer towards Long or Double); pairs it has no rule for compare
/// as "less". A string that does not parse is Java's NumberFormatException.
pub fn compare_values(lv: &Value<'_>, rv: &Value<'_>) -> Result<Ordering, EvalError> {
    use Value::*;
    let nf = EvalError::NumberFormat;
    Ok(match (lv, rv) {
        (Null, _) | (_, Null) => return Err(EvalError::NullOperand),
        (Bool(a), Bool(b)) => a.cmp(b),
        (Int(a), Int(b)) => a.cmp(b),
        (Long(a), Long(b)) => a.cmp(b),
        (Double(a), Double(b)) => java::compare_double(*a, *b),
        (Str(a), Str(b)) => java::compare_strings(a, b),
        // `lv = Boolean.valueOf((String) lv)` casts the Boolean itself: always throws.
        (Bool(_), Str(_)) => return Err(EvalError::ClassCast),
        (Bool(_), _) => Ordering::Less,
        (Int(a), Long(b)) => i64::from(*a).cmp(b),
        (Int(a), Double(b)) => java::compare_double(f64::from(*a), *b),
        (Int(a), Str(s)) => a.cmp(&java::parse_int(s).ok_or(nf)?),
        (Int(_), Bool(_)) => Ordering::Less,
        (Long(a), Int(b)) => a.cmp(&i64::from(*b)),
        (Long(a), Double(b)) => java::compare_double(*a as f64, *b),
        (Long(a), Str(s)) => a.cmp(&java::parse_long(s).ok_or(nf)?),
        (Long(_), Bool(_)) => Ordering::Less,
        (Double(a), Int(b)) => java::compare_double(*a, f64::from(*b)),
        (Double(a), Long(b)) => java::compare_double(*a, *b as f64),
        (Double(a), Str(s)) => java::compare_double(*a, java::parse_double(s).ok_or(nf)?),
        (Double(_), Bool(_)) => Ordering::Less,
        (Str(s), Bool(b)) => java::parse_boolean(s).cmp(b),
        (Str(s), Int(b)) => java::parse_int(s).ok_or(nf)?.cmp(b),
        (Str(s), Long(b)) => java::parse_long(s).ok_or(nf)?.cmp(b),
        (Str(s), Double(b)) => java::compare_double(java::parse_double(s).ok_or(nf)?, *b),
    })
}

/// `(Boolean) expr.evaluate(ctx)`: conditions only ever yield a Boolean or null.
fn as_bool(v: Value<'_>) -> Result<Option<bool>, EvalError> {
    match v {
        Value::Null => Ok(None),
        Value::Bool(b) => Ok(Some(b)),
        _ => Err(EvalError::ClassCast),
    }
}

fn from_bool(b: Option<bool>) -> Value<'static> {
    b.map_or(Value::Null, Value::Bool)
}

pub fn eval<'a>(e: &'a Expr, ctx: &'a dyn Properties) -> Result<Value<'a>, EvalError> {
    Ok(match &e.kind {
        Kind::Const(c) => c.into(),
        Kind::Property { slot, .. } => ctx.get(*slot).map_or(Value::Null, Value::Str),
        // `UnaryExpression.createNegate`: numbers only; Java's int and long negation wrap.
        Kind::Negate(x) => match eval(x, ctx)? {
            Value::Int(i) => Value::Int(i.wrapping_neg()),
            Value::Long(l) => Value::Long(l.wrapping_neg()),
            Value::Double(d) => Value::Double(-d),
            _ => Value::Null,
        },
        Kind::Not(x) => from_bool(as_bool(eval(x, ctx)?)?.map(|b| !b)),
        // `createBooleanCast`: only a Boolean is true or false; a string is false.
        Kind::BoolCast(x) => match eval(x, ctx)? {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            _ => Value::Bool(false),
        },
        // `createInExpression`: null or a non-string is unknown.
        Kind::In { operand, list, not } => match eval(operand, ctx)? {
            Value::Str(s) => Value::Bool(list.set.contains(s.as_ref()) ^ not),
            _ => Value::Null,
        },
        // `LogicExpression.createAND` over a chain: FALSE as soon as one operand is,
        // otherwise null if one was null, otherwise TRUE.
        Kind::And(items) => {
            let mut unknown = false;
            for x in items {
                match as_bool(eval(x, ctx)?)? {
                    Some(false) => return Ok(Value::Bool(false)),
                    None => unknown = true,
                    Some(true) => {}
                }
            }
            from_bool((!unknown).then_some(true))
        }
        Kind::Or(items) => {
            let mut unknown = false;
            for x in items {
                match as_bool(eval(x, ctx)?)? {
                    Some(true) => return Ok(Value::Bool(true)),
                    None => unknown = true,
                    Some(false) => {}
                }
            }
            from_bool((!unknown).then_some(false))
        }
        Kind::Cmp {
            op: CmpOp::Eq,
            left,
            right,
        } => {
            // `doCreateEqual`: null on the left only is unknown, on the right only false,
            // on both sides true (that is `IS NULL`).
            let lv = eval(left, ctx)?;
            let rv = eval(right, ctx)?;
            match (&lv, &rv) {
                (Value::Null, Value::Null) => Value::Bool(true),
                (Value::Null, _) => Value::Null,
                (_, Value::Null) => Value::Bool(false),
                _ => Value::Bool(compare_values(&lv, &rv)? == Ordering::Equal),
            }
        }
        Kind::Cmp { op, left, right } => {
            let lv = eval(left, ctx)?;
            if lv == Value::Null {
                return Ok(Value::Null);
            }
            let rv = eval(right, ctx)?;
            if rv == Value::Null {
                return Ok(Value::Null);
            }
            let order = match (&lv, &rv) {
                // Two strings are ordered as doubles, or not at all.
                (Value::Str(a), Value::Str(b)) => {
                    let a = java::parse_double(a).ok_or(EvalError::StringOrder)?;
                    let b = java::parse_double(b).ok_or(EvalError::StringOrder)?;
                    java::compare_double(a, b)
                }
                _ => compare_values(&lv, &rv)?,
            };
            Value::Bool(match op {
                CmpOp::Gt => order == Ordering::Greater,
                CmpOp::Ge => order != Ordering::Less,
                CmpOp::Lt => order == Ordering::Less,
                CmpOp::Le => order != Ordering::Greater,
                CmpOp::Eq => order == Ordering::Equal,
            })
        }
    })
}

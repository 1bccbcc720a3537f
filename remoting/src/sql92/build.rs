//! Building nodes with the checks Java's factory methods make while parsing
//! (`ComparisonExpression.create*`, `ConstantExpression.createFromDecimal/createFloat`,
//! `SelectorParser.asBooleanExpression`). Each refusal carries Java's message.

use std::collections::HashSet;

use crate::sql92::ast::{CmpOp, Const, Expr, InList, Kind};
use crate::sql92::error::{CompileError, EvalError};
use crate::sql92::eval::compare_values;
use crate::sql92::java;

type Built = Result<Expr, CompileError>;

fn semantic(msg: String) -> CompileError {
    CompileError::Semantic(msg)
}

/// `ConstantExpression.createFromDecimal`: an optional `l`/`L` dropped, `new Long(text)`,
/// narrowed to an Integer when it fits.
#[inline(never)]
pub fn decimal(image: &str) -> Built {
    let digits = image.trim_end_matches(['l', 'L']);
    let v: i64 =
        java::parse_long(digits).ok_or_else(|| CompileError::NumberFormat(digits.to_string()))?;
    let c = i32::try_from(v).map_or(Const::Long(v), Const::Int);
    Ok(Expr::new(Kind::Const(c)))
}

/// `ConstantExpression.createFloat`. Note Java's lower bound is `Double.MIN_VALUE`, the
/// smallest positive double, so `0.0` itself is refused (literals carry no sign).
#[inline(never)]
pub fn float(image: &str) -> Built {
    let v = java::parse_double(image).ok_or_else(|| CompileError::NumberFormat(image.into()))?;
    if v > f64::MAX {
        return Err(semantic(format!(
            "{image} is greater than {}",
            java::double_to_string(f64::MAX)
        )));
    }
    if v < f64::from_bits(1) {
        return Err(semantic(format!(
            "{image} is less than {}",
            java::double_to_string(f64::from_bits(1))
        )));
    }
    Ok(Expr::new(Kind::Const(Const::Double(v))))
}

/// `SelectorParser.asBooleanExpression`: a property becomes a boolean cast, anything
/// else that is not boolean is refused.
#[inline(never)]
pub fn as_boolean(e: Expr) -> Built {
    if e.is_boolean() {
        return Ok(e);
    }
    if e.is_property() {
        return Ok(Expr::new(Kind::BoolCast(Box::new(e))));
    }
    Err(CompileError::Syntax(format!(
        "Expression will not result in a boolean value: {e}"
    )))
}

/// `createAND(asBoolean(l), asBoolean(r))`; a left operand that is itself an AND
/// chain is extended rather than nested.
#[inline(never)]
pub fn and(l: Expr, r: Expr) -> Built {
    let l = as_boolean(l)?;
    let r = as_boolean(r)?;
    Ok(chain(l, r, true))
}

#[inline(never)]
pub fn or(l: Expr, r: Expr) -> Built {
    let l = as_boolean(l)?;
    let r = as_boolean(r)?;
    Ok(chain(l, r, false))
}

fn chain(l: Expr, r: Expr, is_and: bool) -> Expr {
    let mut items = match l.kind {
        Kind::And(v) if is_and => v,
        Kind::Or(v) if !is_and => v,
        kind => vec![Expr {
            kind,
            depth: l.depth,
        }],
    };
    items.push(r);
    Expr::new(if is_and {
        Kind::And(items)
    } else {
        Kind::Or(items)
    })
}

#[inline(never)]
pub fn not(e: Expr) -> Built {
    let e = as_boolean(e)?;
    Ok(Expr::new(Kind::Not(Box::new(e))))
}

#[inline(never)]
pub fn negate(e: Expr) -> Expr {
    Expr::new(Kind::Negate(Box::new(e)))
}

fn cmp(op: CmpOp, l: Expr, r: Expr) -> Expr {
    Expr::new(Kind::Cmp {
        op,
        left: Box::new(l),
        right: Box::new(r),
    })
}

/// `checkEqualOperand`: the NULL literal cannot be an operand of `=` / `<>`.
fn check_equal_operand(e: &Expr) -> Result<(), CompileError> {
    if matches!(e.constant(), Some(Const::Null)) {
        return Err(semantic(format!("'{e}' cannot be compared.")));
    }
    Ok(())
}

/// `checkLessThanOperand`: only numeric constants, properties and arithmetic may be
/// ordered; strings, booleans, NULL and conditions may not.
fn check_less_than_operand(e: &Expr) -> Result<(), CompileError> {
    match e.constant() {
        Some(Const::Int(_) | Const::Long(_) | Const::Double(_)) => Ok(()),
        Some(_) => Err(semantic(format!("Value '{e}' cannot be compared."))),
        None if e.is_boolean() => Err(semantic(format!("Value '{e}' cannot be compared."))),
        None => Ok(()),
    }
}

/// `createEqual`: `checkEqualOperand` on both sides, then
/// `checkEqualOperandCompatability` (a TRUE/FALSE literal against a non-boolean literal).
#[inline(never)]
pub fn equal(l: Expr, r: Expr) -> Built {
    check_equal_operand(&l)?;
    check_equal_operand(&r)?;
    if l.is_constant() && r.is_constant() && l.is_boolean() && !r.is_boolean() {
        return Err(semantic(format!("'{l}' cannot be compared with '{r}'")));
    }
    Ok(cmp(CmpOp::Eq, l, r))
}

#[inline(never)]
pub fn not_equal(l: Expr, r: Expr) -> Built {
    let eq = equal(l, r)?;
    Ok(Expr::new(Kind::Not(Box::new(eq))))
}

/// `IS NULL`: `doCreateEqual(left, NULL)`, no operand checks.
#[inline(never)]
pub fn is_null(e: Expr) -> Expr {
    cmp(CmpOp::Eq, e, Expr::new(Kind::Const(Const::Null)))
}

#[inline(never)]
pub fn is_not_null(e: Expr) -> Expr {
    Expr::new(Kind::Not(Box::new(is_null(e))))
}

#[inline(never)]
pub fn ordered(op: CmpOp, l: Expr, r: Expr) -> Built {
    check_less_than_operand(&l)?;
    check_less_than_operand(&r)?;
    Ok(cmp(op, l, r))
}

/// `createBetween`: with two literal bounds, neither may be NULL and the low one may not
/// be above the high one (compared with `__compare(high, low)`); then `>=` AND `<=`.
#[inline(never)]
pub fn between(value: Expr, low: Expr, high: Expr) -> Built {
    if let (Some(lv), Some(hv)) = (low.constant(), high.constant()) {
        if matches!(lv, Const::Null) || matches!(hv, Const::Null) {
            return Err(semantic(
                "Illegal values of between, values can not be null!".into(),
            ));
        }
        let order = compare_values(&hv.into(), &lv.into()).map_err(|e| match e {
            // `__compare` wraps the NumberFormatException of a string bound in a
            // RuntimeException; its Boolean-to-String cast fails bare.
            EvalError::ClassCast => CompileError::ClassCast,
            _ => {
                let text = match (lv, hv) {
                    (Const::Str(s), _) | (_, Const::Str(s)) => s.as_str(),
                    _ => "",
                };
                let nfe = if text.is_empty() && matches!(hv, Const::Double(_)) {
                    "empty String".to_string()
                } else {
                    format!("For input string: \"{text}\"")
                };
                semantic(format!("java.lang.NumberFormatException: {nfe}"))
            }
        })?;
        if order == std::cmp::Ordering::Less {
            return Err(semantic(format!(
                "Illegal values of between, left value({}) must less than or equal to right value({})",
                lv.java_value_string(),
                hv.java_value_string()
            )));
        }
    }
    let ge = ordered(CmpOp::Ge, value.clone(), low)?;
    let le = ordered(CmpOp::Le, value, high)?;
    and(ge, le)
}

/// `createNotBetween`: `<` OR `>`, without the bound checks.
#[inline(never)]
pub fn not_between(value: Expr, low: Expr, high: Expr) -> Built {
    let lt = ordered(CmpOp::Lt, value.clone(), low)?;
    let gt = ordered(CmpOp::Gt, value, high)?;
    or(lt, gt)
}

/// `createInFilter` / `createNotInFilter`: the left side must be a property.
#[inline(never)]
pub fn in_list(operand: Expr, items: Vec<String>, not: bool) -> Built {
    if !operand.is_property() {
        return Err(semantic(format!(
            "Expected a property for In expression, got: {operand}"
        )));
    }
    let display = if items.len() < 5 {
        items.clone()
    } else {
        java_hash_set_order(&items)
    };
    let set: HashSet<String> = items.into_iter().collect();
    Ok(Expr::new(Kind::In {
        operand: Box::new(operand),
        list: Box::new(InList { set, display }),
        not,
    }))
}

/// Iteration order of `new HashSet<>(list)` for strings: buckets of a table sized for
/// the list (no resize happens), insertion order within a bucket.
fn java_hash_set_order(items: &[String]) -> Vec<String> {
    let wanted = ((items.len() as f32 / 0.75) as usize + 1).max(16);
    let cap = wanted.next_power_of_two();
    let mut seen = HashSet::new();
    let mut keyed: Vec<(usize, usize, &String)> = items
        .iter()
        .enumerate()
        .filter(|(_, s)| seen.insert(s.as_str()))
        .map(|(i, s)| {
            let h = java::string_hash(s) as u32;
            ((h ^ (h >> 16)) as usize & (cap - 1), i, s)
        })
        .collect();
    keyed.sort();
    keyed.into_iter().map(|(_, _, s)| s.clone()).collect()
}

//! Expressions against messages, with the result Java 4.9's filter module gives. Each
//! row names the class whose code decides it. A message's property values are strings
//! (`MessageEvaluationContext`), missing or empty ones are absent
//! (`MessageDecoder.string2messageProperties`), and only a TRUE result delivers the
//! message (`ExpressionMessageFilter.isMatchedByCommitLog`); null and exceptions do not.

use std::collections::HashMap;

use proptest::prelude::*;
use rmqd_remoting::sql92::{EvalError, Scratch, Selector};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Want {
    /// Boolean.TRUE: delivered.
    T,
    /// Boolean.FALSE.
    F,
    /// null (unknown).
    N,
    /// Java throws while evaluating; the filter logs it and does not deliver.
    X,
}
use Want::*;

type Row = (
    &'static str,
    &'static [(&'static str, &'static str)],
    Want,
    &'static str,
);

const TABLE: &[Row] = &[
    // ---- equality and null: ComparisonExpression.doCreateEqual
    ("a = 'x'", &[("a", "x")], T, "doCreateEqual: equals"),
    (
        "a = 'x'",
        &[("a", "X")],
        F,
        "doCreateEqual: String.equals is case-sensitive",
    ),
    (
        "a = 'x'",
        &[],
        N,
        "doCreateEqual: null on the left only is null",
    ),
    (
        "'x' = a",
        &[],
        F,
        "doCreateEqual: null on the right only is FALSE",
    ),
    ("a = b", &[], T, "doCreateEqual: null == null is TRUE"),
    ("a = b", &[("a", "x")], F, "doCreateEqual: right null"),
    (
        "a = b",
        &[("a", "x"), ("b", "x")],
        T,
        "doCreateEqual: equals",
    ),
    (
        "a <> 'x'",
        &[("a", "y")],
        T,
        "createNotEqual = NOT(createEqual)",
    ),
    ("a <> 'x'", &[], N, "createNOT of null is null"),
    (
        "a IS NULL",
        &[],
        T,
        "createIsNull = doCreateEqual(left, NULL)",
    ),
    ("a IS NULL", &[("a", "x")], F, "createIsNull"),
    (
        "a IS NULL",
        &[("a", "")],
        T,
        "string2messageProperties drops empty values",
    ),
    ("a IS NOT NULL", &[("a", "x")], T, "createIsNotNull"),
    (
        "A = 'x'",
        &[("a", "x")],
        N,
        "PropertyExpression: names are case-sensitive",
    ),
    (
        "a = 'it''s'",
        &[("a", "it's")],
        T,
        "stringLitteral: '' is one quote",
    ),
    (
        "TAGS = 'TagA'",
        &[("TAGS", "TagA")],
        T,
        "MessageEvaluationContext: system properties too",
    ),
    // ---- numbers: ComparisonExpression.__compare converts the string to the literal's type
    (
        "a = 5",
        &[("a", "5")],
        T,
        "__compare: Integer.valueOf(String)",
    ),
    (
        "a = 5",
        &[("a", "05")],
        T,
        "__compare: Integer.valueOf accepts leading zeros",
    ),
    (
        "a = 5",
        &[("a", "+5")],
        T,
        "__compare: Integer.valueOf accepts a plus sign",
    ),
    (
        "a = 5",
        &[("a", " 5")],
        X,
        "__compare: Integer.valueOf does not trim",
    ),
    (
        "a = 5",
        &[("a", "5.0")],
        X,
        "__compare: Integer.valueOf(\"5.0\") throws",
    ),
    (
        "a = 5",
        &[("a", "abc")],
        X,
        "__compare: NumberFormatException",
    ),
    (
        "a > 5",
        &[("a", "\u{0661}\u{0660}")],
        T,
        "__compare: Character.digit reads Unicode digits",
    ),
    (
        "a = 5.0",
        &[("a", "5")],
        T,
        "__compare: Double.valueOf(String)",
    ),
    (
        "a = 5.0",
        &[("a", " 5 ")],
        T,
        "__compare: Double.valueOf trims",
    ),
    (
        "a = 5.0",
        &[("a", "5.0f")],
        T,
        "__compare: Double.valueOf takes a type suffix",
    ),
    (
        "a = 16.0",
        &[("a", "0x1p4")],
        T,
        "__compare: Double.valueOf reads hex",
    ),
    (
        "a = 16.0",
        &[("a", "0x10")],
        X,
        "__compare: a hex double needs its p exponent",
    ),
    (
        "a > 5",
        &[("a", "10")],
        T,
        "ComparisonExpression.createGreaterThan",
    ),
    ("a > 5", &[("a", "3")], F, "createGreaterThan"),
    (
        "a > 5",
        &[("a", "10.5")],
        X,
        "__compare: Integer.valueOf(\"10.5\") throws",
    ),
    (
        "a > 5",
        &[("a", "4000000000")],
        X,
        "__compare: Integer.valueOf overflows",
    ),
    (
        "a > 3000000000",
        &[("a", "4000000000")],
        T,
        "createFromDecimal: a Long literal",
    ),
    (
        "a = 2147483648",
        &[("a", "2147483648")],
        T,
        "createFromDecimal: past int is Long",
    ),
    (
        "a = 5L",
        &[("a", "5")],
        T,
        "createFromDecimal: L dropped, narrowed to Integer",
    ),
    ("a > 5.0", &[("a", "10.5")], T, "__compare: Double"),
    ("a >= 5", &[("a", "5")], T, "createGreaterThanEqual"),
    ("a < 5", &[("a", "5")], F, "createLessThan"),
    ("a <= 5", &[("a", "5")], T, "createLessThanEqual"),
    (
        "a > 5",
        &[],
        N,
        "ComparisonExpression.evaluate: null left is null",
    ),
    (
        "5 < a",
        &[],
        N,
        "ComparisonExpression.evaluate: null right is null",
    ),
    (
        "a > b",
        &[("a", "10"), ("b", "9")],
        T,
        "evaluate: two strings compared as doubles",
    ),
    (
        "a > b",
        &[("a", "1e3"), ("b", "999")],
        T,
        "evaluate: Double.valueOf both",
    ),
    (
        "a > b",
        &[("a", "x"), ("b", "1")],
        X,
        "evaluate: strings that are not numbers throw",
    ),
    (
        "a > b",
        &[("a", "NaN"), ("b", "1")],
        T,
        "Double.compareTo: NaN above everything",
    ),
    (
        "a < 1.5",
        &[("a", "-Infinity")],
        T,
        "Double.valueOf(\"-Infinity\")",
    ),
    (
        "a = -5",
        &[("a", "-5")],
        T,
        "UnaryExpression.createNegate on a literal",
    ),
    ("a > -5", &[("a", "-4")], T, "createNegate"),
    ("a = - -5", &[("a", "5")], T, "createNegate twice"),
    (
        "-a = -5",
        &[("a", "5")],
        N,
        "createNegate of a String is null",
    ),
    ("1 < 2", &[], T, "__compare: Integer"),
    ("1 = 1.0", &[], T, "__compare: Integer widened to Double"),
    ("3000000000 > 1", &[], T, "__compare: Long against Integer"),
    (
        "5 = TRUE",
        &[],
        F,
        "__compare: Integer against Boolean is -1",
    ),
    // ---- BETWEEN / NOT BETWEEN: ComparisonExpression.createBetween / createNotBetween
    (
        "a BETWEEN 1 AND 10",
        &[("a", "10")],
        T,
        "createBetween = >= AND <=",
    ),
    ("a BETWEEN 1 AND 10", &[("a", "11")], F, "createBetween"),
    ("a BETWEEN 1 AND 10", &[], N, "createBetween: AND of nulls"),
    (
        "a BETWEEN 1 AND 10",
        &[("a", "x")],
        X,
        "createBetween: Integer.valueOf throws",
    ),
    (
        "a NOT BETWEEN 1 AND 10",
        &[("a", "11")],
        T,
        "createNotBetween = < OR >",
    ),
    (
        "a NOT BETWEEN 1 AND 10",
        &[("a", "5")],
        F,
        "createNotBetween",
    ),
    (
        "a NOT BETWEEN 10 AND 1",
        &[("a", "5")],
        T,
        "createNotBetween has no range check",
    ),
    // ---- booleans: __compare's String/Boolean rules, UnaryExpression.createBooleanCast
    (
        "a = TRUE",
        &[("a", "true")],
        T,
        "__compare: Boolean.valueOf(String)",
    ),
    (
        "a = TRUE",
        &[("a", "TRUE")],
        T,
        "__compare: Boolean.valueOf ignores case",
    ),
    (
        "a = TRUE",
        &[("a", "yes")],
        F,
        "__compare: Boolean.valueOf(\"yes\") is false",
    ),
    (
        "a = FALSE",
        &[("a", "yes")],
        T,
        "__compare: any string but \"true\" equals FALSE",
    ),
    (
        "TRUE = a",
        &[("a", "true")],
        X,
        "__compare: casts the Boolean itself to String",
    ),
    (
        "a",
        &[("a", "true")],
        F,
        "createBooleanCast: a String is never TRUE",
    ),
    ("a", &[], N, "createBooleanCast: null"),
    (
        "NOT a",
        &[("a", "true")],
        T,
        "createNOT(createBooleanCast): NOT FALSE",
    ),
    ("TRUE", &[], T, "BooleanConstantExpression.TRUE"),
    ("FALSE", &[], F, "BooleanConstantExpression.FALSE"),
    ("NULL", &[], N, "BooleanConstantExpression.NULL"),
    ("NULL IS NULL", &[], T, "doCreateEqual: null == null"),
    (
        "NOT a = 1",
        &[("a", "1")],
        F,
        "SelectorParser.jj: (NOT a) = 1, Boolean against Integer",
    ),
    (
        "NOT a = 1",
        &[("a", "2")],
        F,
        "SelectorParser.jj: (NOT a) = 1",
    ),
    ("NOT a = 1", &[], N, "SelectorParser.jj: (NOT null) = 1"),
    ("NOT (a = 1)", &[("a", "2")], T, "createNOT"),
    (
        "(a = 1) = (b = 2)",
        &[("a", "1"), ("b", "2")],
        T,
        "doCreateEqual: Boolean equals",
    ),
    (
        "(a = 1) = (b = 2)",
        &[("a", "1"), ("b", "3")],
        F,
        "doCreateEqual: Boolean compareTo",
    ),
    ("(a = 1) = TRUE", &[("a", "1")], T, "doCreateEqual"),
    (
        "(a = 'x') = 'true'",
        &[("a", "x")],
        X,
        "__compare: Boolean left, String right",
    ),
    // ---- IN: UnaryExpression.createInExpression
    (
        "a IN ('x', 'y')",
        &[("a", "y")],
        T,
        "createInExpression: contains",
    ),
    ("a IN ('x', 'y')", &[("a", "z")], F, "createInExpression"),
    (
        "a IN ('x', 'y')",
        &[],
        N,
        "createInExpression: null is null",
    ),
    (
        "a NOT IN ('x', 'y')",
        &[("a", "z")],
        T,
        "createInExpression: contains ^ not",
    ),
    (
        "a NOT IN ('x', 'y')",
        &[],
        N,
        "createInExpression: null is null",
    ),
    (
        "a IN ('1','2','3','4','5','6')",
        &[("a", "6")],
        T,
        "createInExpression: HashSet",
    ),
    (
        "a IN ('1')",
        &[("a", "1")],
        T,
        "createInExpression: strings only, no conversion",
    ),
    // ---- logic: LogicExpression.createAND / createOR (three-valued, left to right)
    (
        "a = 1 AND b = 2",
        &[("a", "1")],
        N,
        "createAND: TRUE and null",
    ),
    (
        "a = 1 AND b = 2",
        &[("a", "2")],
        F,
        "createAND: FALSE first",
    ),
    (
        "a = 1 AND b = 2 AND c = 3",
        &[("a", "1"), ("b", "2"), ("c", "3")],
        T,
        "createAND",
    ),
    (
        "a = 1 OR b = 2",
        &[("a", "2")],
        N,
        "createOR: FALSE or null",
    ),
    ("a = 1 OR b = 2", &[("b", "2")], T, "createOR: null or TRUE"),
    (
        "a = 5 OR b = 'x'",
        &[("a", "abc"), ("b", "x")],
        X,
        "createOR: the left side throws first",
    ),
    (
        "b = 'x' OR a = 5",
        &[("a", "abc"), ("b", "x")],
        T,
        "createOR: the right side is never read",
    ),
    (
        "a = 1 OR b = 2 AND c = 3",
        &[("a", "1")],
        T,
        "SelectorParser.jj: AND binds tighter",
    ),
    // ---- what JmsSelector() leaves unread
    (
        "a = 1 whatever",
        &[("a", "1")],
        T,
        "SelectorParser.jj: JmsSelector() needs no <EOF>",
    ),
    (
        "a = 007",
        &[("a", "0")],
        T,
        "SelectorParser.jj: \"0\" is a whole DECIMAL_LITERAL",
    ),
    (
        "a LIKE 'x%'",
        &[("a", "xyz")],
        F,
        "SelectorParser.jj (4.9): LIKE is an ID, so only `a` is read",
    ),
];

/// Expressions Java's parser refuses, with the class that refuses them.
const REFUSED: &[(&str, &str)] = &[
    ("a = NULL", "ComparisonExpression.checkEqualOperand"),
    ("a > 'x'", "ComparisonExpression.checkLessThanOperand"),
    ("a > TRUE", "ComparisonExpression.checkLessThanOperand"),
    (
        "NOT a BETWEEN 1 AND 2",
        "checkLessThanOperand: (NOT a) is a BooleanExpression",
    ),
    (
        "TRUE = 5",
        "ComparisonExpression.checkEqualOperandCompatability",
    ),
    ("'x' IN ('x')", "ComparisonExpression.createInFilter"),
    ("a IN (1, 2)", "SelectorParser.jj: IN takes string literals"),
    ("a BETWEEN 5 AND 1", "ComparisonExpression.createBetween"),
    ("a BETWEEN NULL AND 1", "ComparisonExpression.createBetween"),
    (
        "a > 0.0",
        "ConstantExpression.createFloat: below Double.MIN_VALUE",
    ),
    (
        "a > 1e400",
        "ConstantExpression.createFloat: above Double.MAX_VALUE",
    ),
    (
        "a = 99999999999999999999",
        "ConstantExpression.createFromDecimal: new Long",
    ),
    ("a = 1 AND 5", "SelectorParser.asBooleanExpression"),
    ("5", "SelectorParser.asBooleanExpression"),
    ("a IS 5", "SelectorParser.jj"),
    ("a = 1 AND", "SelectorParser.jj"),
    ("", "SelectorParser.jj"),
    ("a = 'x", "SelectorParserTokenManager: unterminated string"),
    ("a = \"x\"", "SelectorParserTokenManager: no double quotes"),
    ("a == 1", "SelectorParser.jj: = then = "),
    ("a != 1", "SelectorParserTokenManager: no !"),
];

fn props(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn encoded(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(1);
        out.extend_from_slice(v.as_bytes());
        out.push(2);
    }
    out
}

#[test]
fn java_semantics_table() {
    let mut scratch = Scratch::new();
    let mut failures = Vec::new();
    for (expr, pairs, want, source) in TABLE {
        let sel = match Selector::compile(expr) {
            Ok(s) => s,
            Err(e) => {
                failures.push(format!("{expr}: refused ({e}) [{source}]"));
                continue;
            }
        };
        let got = match sel.evaluate_map(&props(pairs)) {
            Ok(Some(true)) => T,
            Ok(Some(false)) => F,
            Ok(None) => N,
            Err(_) => X,
        };
        if got != *want {
            failures.push(format!(
                "{expr} with {pairs:?}: got {got:?}, Java gives {want:?} [{source}]"
            ));
        }
        // The broker path reads the stored properties; it must agree.
        let delivered = sel.matches_encoded(&encoded(pairs), &mut scratch);
        if delivered != (*want == T) {
            failures.push(format!(
                "{expr} with {pairs:?}: encoded path delivered={delivered}"
            ));
        }
    }
    for (expr, source) in REFUSED {
        if let Ok(s) = Selector::compile(expr) {
            failures.push(format!("{expr}: accepted as {s:?} [{source}]"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn exceptions_are_typed() {
    let sel = Selector::compile("a > b").unwrap();
    let m = props(&[("a", "x"), ("b", "1")]);
    assert_eq!(sel.evaluate_map(&m), Err(EvalError::StringOrder));
    let sel = Selector::compile("TRUE = a").unwrap();
    assert_eq!(
        sel.evaluate_map(&props(&[("a", "1")])),
        Err(EvalError::ClassCast)
    );
}

proptest! {
    /// Integer literals against integer properties follow integer order.
    #[test]
    fn integer_comparisons(a in any::<i32>(), k in 0i64..=i64::from(i32::MAX)) {
        let m = props(&[("a", &a.to_string())]);
        for (op, want) in [(">", i64::from(a) > k), ("<", i64::from(a) < k), ("=", i64::from(a) == k)] {
            let sel = Selector::compile(&format!("a {op} {k}")).unwrap();
            prop_assert_eq!(sel.evaluate_map(&m), Ok(Some(want)));
        }
    }

    /// Doubles written by Rust read back as Java reads them.
    #[test]
    fn double_comparisons(a in -1e12f64..1e12, k in 1e-3f64..1e12) {
        let sel = Selector::compile(&format!("a >= {k:?}")).unwrap();
        let m = props(&[("a", &format!("{a:?}"))]);
        prop_assert_eq!(sel.evaluate_map(&m), Ok(Some(a >= k)));
    }

    /// Any text compiles or is refused, never panics, and a compiled selector evaluates
    /// the same through both paths on any properties.
    #[test]
    fn arbitrary_text(expr in "[a-c0-9 ='<>()!.,+\\-ANDORTISNUL]{0,40}", v in "[0-9a-z.\\-]{0,4}") {
        if let Ok(sel) = Selector::compile(&expr) {
            let pairs = [("a", v.as_str()), ("b", "1")];
            let mut scratch = Scratch::new();
            let delivered = sel.matches_encoded(&encoded(&pairs), &mut scratch);
            prop_assert_eq!(delivered, sel.evaluate_map(&props(&pairs)) == Ok(Some(true)));
        }
    }
}

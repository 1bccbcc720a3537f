//! Parse-time behaviour: what Java's parser accepts, how it reads it, and the exact
//! refusals (the CHECK_CLIENT_CONFIG remark).

use super::*;

fn err(expr: &str) -> String {
    Selector::compile(expr).unwrap_err().to_string()
}

fn shape(expr: &str) -> String {
    Selector::compile(expr).unwrap().root.to_string()
}

#[test]
fn reads_like_java_to_string() {
    assert_eq!(
        shape("a = 1 AND b <> 'x'"),
        "((a == 1) && (NOT (b == 'x')))"
    );
    assert_eq!(shape("a BETWEEN 1 AND 2"), "((a >= 1) && (a <= 2))");
    assert_eq!(shape("a NOT BETWEEN 1 AND 2"), "((a < 1) || (a > 2))");
    assert_eq!(
        shape("a IS NULL OR a IS NOT NULL"),
        "((a == NULL) || (NOT (a == NULL)))"
    );
    assert_eq!(shape("a IN ('x', 'y')"), "a IN ( x, y )");
    assert_eq!(shape("a = -5"), "(a == (- 5))");
    assert_eq!(shape("a = +5"), "(a == 5)");
    assert_eq!(shape("a"), "a");
    // NOT binds tighter than comparisons (SelectorParser.jj: unaryExpr).
    assert_eq!(shape("NOT a = 1"), "((NOT a) == 1)");
    assert_eq!(
        shape("a = 1 OR b = 2 AND c = 3"),
        "((a == 1) || ((b == 2) && (c == 3)))"
    );
    assert_eq!(shape("a > 1.5e3"), "(a > 1500.0)");
    assert_eq!(shape("a = 3000000000"), "(a == 3000000000)");
    assert_eq!(shape("a = 'it''s'"), "(a == 'it''s')");
}

#[test]
fn trailing_text_is_never_read() {
    // JmsSelector() ends at the first token no production wants; it is not <EOF>.
    assert_eq!(shape("a = 1 b"), "(a == 1)");
    assert_eq!(shape("a = 1 ) ("), "(a == 1)");
    assert_eq!(shape("a = 007"), "(a == 0)");
    // ... but the token right after is cut, so a bad character there is still an error.
    assert!(err("a = 1 #").contains("TokenMgrError"));
}

#[test]
fn java_refusals() {
    assert_eq!(
        err("a = NULL"),
        "java.lang.RuntimeException: 'NULL' cannot be compared."
    );
    assert_eq!(
        err("a > 'x'"),
        "java.lang.RuntimeException: Value ''x'' cannot be compared."
    );
    assert_eq!(
        err("a > TRUE"),
        "java.lang.RuntimeException: Value 'TRUE' cannot be compared."
    );
    assert_eq!(
        err("(a = 1) > 2"),
        "java.lang.RuntimeException: Value '(a == 1)' cannot be compared."
    );
    assert_eq!(
        err("TRUE = 'x'"),
        "java.lang.RuntimeException: 'TRUE' cannot be compared with ''x''"
    );
    assert_eq!(
        err("'x' IN ('x')"),
        "java.lang.RuntimeException: Expected a property for In expression, got: 'x'"
    );
    assert_eq!(
        err("NOT a IN ('x')"),
        "java.lang.RuntimeException: Expected a property for In expression, got: (NOT a)"
    );
    assert_eq!(
        err("a BETWEEN 5 AND 1"),
        "java.lang.RuntimeException: Illegal values of between, left value(5) must less than or equal to right value(1)"
    );
    assert_eq!(
        err("a BETWEEN TRUE AND 5"),
        "java.lang.RuntimeException: Illegal values of between, left value(true) must less than or equal to right value(5)"
    );
    assert_eq!(
        err("a BETWEEN 1 AND 'x'"),
        "java.lang.RuntimeException: java.lang.NumberFormatException: For input string: \"x\""
    );
    assert_eq!(
        err("a BETWEEN NULL AND 1"),
        "java.lang.RuntimeException: Illegal values of between, values can not be null!"
    );
    assert_eq!(
        err("a BETWEEN 'a' AND TRUE"),
        "java.lang.ClassCastException: java.lang.Boolean cannot be cast to java.lang.String"
    );
    assert_eq!(
        err("a > 0.0"),
        "java.lang.RuntimeException: 0.0 is less than 4.9E-324"
    );
    assert_eq!(
        err("a > 1e999"),
        "java.lang.RuntimeException: 1e999 is greater than 1.7976931348623157E308"
    );
    assert_eq!(
        err("a = 9223372036854775808"),
        "java.lang.NumberFormatException: For input string: \"9223372036854775808\""
    );
    assert_eq!(
        err("a = 1 AND 5"),
        "org.apache.rocketmq.filter.parser.ParseException: Expression will not result in a boolean value: 5"
    );
    assert_eq!(
        err("a ="),
        "org.apache.rocketmq.filter.parser.ParseException: Encountered \"<EOF>\" at line 1, column 3."
    );
    assert_eq!(
        err("a NOT b"),
        "org.apache.rocketmq.filter.parser.ParseException: Encountered \" \"NOT\" \"NOT \"\" at line 1, column 3."
    );
    assert_eq!(
        err("a = 1 AND b = 'x"),
        "org.apache.rocketmq.filter.parser.TokenMgrError: Lexical error at line 1, column 17.  Encountered: <EOF> after : \"\\'x\""
    );
    assert!(err("")
        .starts_with("org.apache.rocketmq.filter.parser.ParseException: Encountered \"<EOF>\""));
    // Accepted, though nothing can make them true (see the semantics table).
    for ok in [
        "5 = TRUE",
        "TRUE = a",
        "a BETWEEN FALSE AND FALSE OR TRUE",
        "NULL IS NULL",
    ] {
        let r = Selector::compile(ok);
        if ok.starts_with("a BETWEEN FALSE") {
            assert!(r.is_err(), "{ok}: FALSE cannot be compared");
        } else {
            assert!(r.is_ok(), "{ok}: {r:?}");
        }
    }
}

#[test]
fn bounds() {
    let long = format!("a = '{}'", "x".repeat(MAX_EXPRESSION_LEN));
    assert!(matches!(
        Selector::compile(&long),
        Err(CompileError::Limit(_))
    ));
    let deep = format!("{}a = 1{}", "(".repeat(200), ")".repeat(200));
    assert!(matches!(
        Selector::compile(&deep),
        Err(CompileError::Limit(_))
    ));
    let nots = format!("{}a", "NOT ".repeat(5000));
    assert!(matches!(
        Selector::compile(&nots),
        Err(CompileError::Limit(_))
    ));
    let eq_chain = format!("a = 1{}", " = TRUE".repeat(300));
    assert!(matches!(
        Selector::compile(&eq_chain),
        Err(CompileError::Limit(_))
    ));
    // Long AND/OR chains are flat, so only the length bounds them.
    let chain = vec!["a = 1"; 1500].join(" OR ");
    assert!(Selector::compile(&chain).is_ok());
    // The deepest accepted expressions compile and evaluate on a 1 MiB stack, even
    // unoptimised (this test aborts the process if they do not).
    let deepest = [
        format!("{}a = 1{}", "(".repeat(60), ")".repeat(60)),
        format!("{}a", "NOT ".repeat(60)),
        format!("a = 1{}", " = TRUE".repeat(190)),
    ];
    std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            for e in deepest {
                let s = Selector::compile(&e).unwrap();
                let _ = s.evaluate_map(&Default::default());
            }
        })
        .unwrap()
        .join()
        .unwrap();
}

//! Why an expression was refused. The text is what Java's `SqlFilter.compile` puts in
//! its `MQFilterException` (the cause's `toString()`), which ClientManageProcessor
//! returns as the CHECK_CLIENT_CONFIG remark, so a client shows the same words.

use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CompileError {
    /// JavaCC `TokenMgrError`: a character no token starts with.
    #[error("org.apache.rocketmq.filter.parser.TokenMgrError: {0}")]
    Lexical(String),
    /// JavaCC `ParseException`: a token the grammar does not allow there (only the
    /// "Encountered ... at line L, column C." part; the expected-token list is left out).
    #[error("org.apache.rocketmq.filter.parser.ParseException: {0}")]
    Syntax(String),
    /// A `RuntimeException` thrown while building the expression (operands that
    /// cannot be compared, an illegal BETWEEN range, a literal out of range).
    #[error("java.lang.RuntimeException: {0}")]
    Semantic(String),
    /// `new Long(text)` on a decimal literal past `Long.MAX_VALUE`.
    #[error("java.lang.NumberFormatException: For input string: \"{0}\"")]
    NumberFormat(String),
    /// `ComparisonExpression.__compare` casting a Boolean bound to a String.
    #[error("java.lang.ClassCastException: java.lang.Boolean cannot be cast to java.lang.String")]
    ClassCast,
    /// Past rmqd's bounds on what a subscription may cost (Java has none and fails
    /// with a StackOverflowError on deep enough nesting).
    #[error("{0}")]
    Limit(String),
}

/// Why evaluating a selector against one message failed. Java logs these and treats
/// the message as not matching (`ExpressionMessageFilter.isMatchedByCommitLog`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EvalError {
    /// A property that does not read as the number it is compared with
    /// (`Integer.valueOf` / `Long.valueOf` / `Double.valueOf` threw).
    #[error("NumberFormatException")]
    NumberFormat,
    /// `ComparisonExpression.__compare` casting a Boolean to a String
    /// (a `TRUE`/`FALSE` constant or a comparison on the left of `=` against a string).
    #[error("ClassCastException")]
    ClassCast,
    /// Two strings compared with `<`, `<=`, `>` or `>=` where one is not a number.
    #[error("It's illegal to compare string by '>=', '>', '<', '<='")]
    StringOrder,
    /// `__compare` handed a null (Java: NullPointerException); the evaluator never does.
    #[error("NullPointerException")]
    NullOperand,
}

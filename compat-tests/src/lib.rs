//! Test support for driving a real `rmqd` process; the tests live in `tests/`.

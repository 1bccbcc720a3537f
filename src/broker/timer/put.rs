//! The send path's half of timer messages (Java 5.x `HookUtils.handleScheduleMessage`,
//! `checkIfTimerMessage`, `transformTimerMessage`): a message whose TIMER_DELAY_SEC,
//! TIMER_DELAY_MS or TIMER_DELIVER_MS asks for a delivery time ahead is stored in
//! `rmq_sys_wheel_timer` queue 0 with TIMER_OUT_MS (the slot time), REAL_TOPIC and
//! REAL_QID, for the timer service to park and deliver.

use rmqd_remoting::codes::response;
use rmqd_store::record::sys_flag;
use rmqd_store::timer::TIMER_TOPIC;
use rmqd_store::MessageToStore;

use super::super::context::{BrokerContext, Outcome, Refusal};
use super::super::properties::{keys, Properties};
use super::super::send::delay_level;
use super::Timer;

/// Property names (`MessageConst.PROPERTY_TIMER_*`).
pub mod prop {
    pub const DELIVER_MS: &str = "TIMER_DELIVER_MS";
    pub const DELAY_SEC: &str = "TIMER_DELAY_SEC";
    pub const DELAY_MS: &str = "TIMER_DELAY_MS";
    pub const OUT_MS: &str = "TIMER_OUT_MS";
    pub const ENQUEUE_MS: &str = "TIMER_ENQUEUE_MS";
    pub const DEQUEUE_MS: &str = "TIMER_DEQUEUE_MS";
    pub const ROLL_TIMES: &str = "TIMER_ROLL_TIMES";
    pub const DEL_UNIQKEY: &str = "TIMER_DEL_UNIQKEY";
}

/// Applies the timer rule to a message about to be stored. With `park` the message is
/// moved to the timer topic when it asks for a later delivery (the rewritten properties
/// are returned); without it (a transaction's half message, timed only once committed)
/// the request is checked and nothing moves. A message with a delay level keeps the
/// level and loses its timer properties, as on a Java 5.x broker; the caller's delay-
/// level rule then writes the properties again.
pub fn apply(
    ctx: &BrokerContext,
    msg: &mut MessageToStore,
    props: &mut Properties,
    park: bool,
) -> Outcome<Option<String>> {
    let tran = msg.sys_flag & sys_flag::TRANSACTION_MASK;
    if tran != sys_flag::TRANSACTION_NOT_TYPE && tran != sys_flag::TRANSACTION_COMMIT {
        return Ok(None);
    }
    if msg.topic == TIMER_TOPIC {
        // Rolled on from a nearer slot (or sent there directly): parked as it is.
        return Ok(None);
    }
    let asked = [prop::DELIVER_MS, prop::DELAY_SEC, prop::DELAY_MS]
        .iter()
        .any(|k| get(props, k).is_some());
    if !asked {
        return Ok(None);
    }
    if delay_level(props) > 0 {
        for k in [prop::DELIVER_MS, prop::DELAY_SEC, prop::DELAY_MS] {
            props.remove(k);
        }
        return Ok(None);
    }
    if get(props, prop::OUT_MS).is_some() {
        // Already delivered by a wheel once (a retry or a copy of it): not timed again.
        return Ok(None);
    }
    let Some(timer) = ctx.timer.as_deref() else {
        return Err(Refusal::new(
            response::SYSTEM_ERROR,
            format!(
                "accurate timer message is not enabled, timerWheelEnable is {}",
                ctx.config.timer_wheel_enable
            ),
        ));
    };
    let now = timer.now();
    let Some(deliver_ms) = deliver_ms(props, now) else {
        return Err(illegal(timer));
    };
    if deliver_ms > now {
        if deliver_ms.wrapping_sub(now) > timer.max_delay_ms {
            return Err(illegal(timer));
        }
        let slot = slot_time(deliver_ms, timer.precision_ms);
        if timer.is_congested(slot) {
            let n = timer.congest_limit;
            return Err(Refusal::new(
                response::SYSTEM_ERROR,
                format!(
                    "timer message is under flow control, max num limit is {} or the current value is greater than {} and less than {}, trigger random flow control",
                    n.saturating_mul(2),
                    n,
                    n.saturating_mul(2)
                ),
            ));
        }
        if !park {
            return Ok(None);
        }
        props.insert(prop::OUT_MS, &slot.to_string());
        props.insert(keys::REAL_TOPIC, &msg.topic);
        props.insert(keys::REAL_QID, &msg.queue_id.to_string());
        msg.topic = TIMER_TOPIC.to_string();
        msg.queue_id = 0;
        timer.ensure_topic(ctx);
        return Ok(Some(props.encode_java_order()));
    }
    if get(props, prop::DEL_UNIQKEY).is_some() {
        return Err(illegal(timer));
    }
    // Due already: stored in its topic at once, properties untouched.
    Ok(None)
}

fn illegal(timer: &Timer) -> Refusal {
    Refusal::new(
        response::MESSAGE_ILLEGAL,
        format!(
            "timer message illegal, the delay time should not be bigger than the max delay {}ms; or if set del msg, the delay time should be bigger than the current time",
            timer.max_delay_ms
        ),
    )
}

/// The delivery time asked for: TIMER_DELAY_SEC, else TIMER_DELAY_MS (both from `now`),
/// else TIMER_DELIVER_MS. `None` when the one that counts is not a Java `long`.
/// Arithmetic wraps as Java's does.
pub fn deliver_ms(props: &Properties, now: i64) -> Option<i64> {
    if let Some(s) = get(props, prop::DELAY_SEC) {
        return parse_long(s).map(|v| now.wrapping_add(v.wrapping_mul(1000)));
    }
    if let Some(ms) = get(props, prop::DELAY_MS) {
        return parse_long(ms).map(|v| now.wrapping_add(v));
    }
    get(props, prop::DELIVER_MS).and_then(parse_long)
}

/// A property as Java's parser keeps it: a pair with an empty value is not there.
fn get<'a>(props: &'a Properties, key: &str) -> Option<&'a str> {
    props.get(key).filter(|v| !v.is_empty())
}

/// `Long.parseLong`: an optional sign and ASCII digits, nothing else (no spaces).
fn parse_long(s: &str) -> Option<i64> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The slot a delivery time goes to: the precision boundary at or before it, one earlier
/// when it is exactly on one. The wheel delivers a slot once its time has passed, so a
/// message comes at (or up to one precision after) the time asked, never before.
pub fn slot_time(deliver_ms: i64, precision_ms: i64) -> i64 {
    if deliver_ms % precision_ms == 0 {
        deliver_ms - precision_ms
    } else {
        deliver_ms / precision_ms * precision_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn props(pairs: &[(&str, &str)]) -> Properties {
        let mut p = Properties::default();
        for (k, v) in pairs {
            p.insert(k, v);
        }
        p
    }

    #[test]
    fn delivery_time_follows_javas_precedence() {
        let now = 1_000_000;
        let all = props(&[
            (prop::DELIVER_MS, "5"),
            (prop::DELAY_MS, "700"),
            (prop::DELAY_SEC, "3"),
        ]);
        assert_eq!(deliver_ms(&all, now), Some(1_003_000));
        let two = props(&[(prop::DELIVER_MS, "5"), (prop::DELAY_MS, "700")]);
        assert_eq!(deliver_ms(&two, now), Some(1_000_700));
        assert_eq!(
            deliver_ms(&props(&[(prop::DELIVER_MS, "+5")]), now),
            Some(5)
        );
        // An empty value is no property (Java's parser drops the pair).
        let p = props(&[(prop::DELAY_SEC, ""), (prop::DELIVER_MS, "5")]);
        assert_eq!(deliver_ms(&p, now), Some(5));
        assert_eq!(deliver_ms(&props(&[(prop::DELAY_MS, "")]), now), None);
        assert_eq!(
            deliver_ms(&props(&[(prop::DELAY_SEC, "-2")]), now),
            Some(998_000)
        );
        for bad in [" 5", "5 ", "5s", "0x10", "-", "99999999999999999999"] {
            assert_eq!(
                deliver_ms(&props(&[(prop::DELAY_SEC, bad)]), now),
                None,
                "{bad:?}"
            );
        }
        // A bad TIMER_DELAY_SEC is not saved by a good TIMER_DELIVER_MS (Java reads the
        // first one present only).
        let p = props(&[(prop::DELAY_SEC, "x"), (prop::DELIVER_MS, "5")]);
        assert_eq!(deliver_ms(&p, now), None);
        // Java's long arithmetic wraps.
        let p = props(&[(prop::DELAY_SEC, "9223372036854775")]);
        assert_eq!(
            deliver_ms(&p, now),
            Some(now.wrapping_add(9_223_372_036_854_775i64.wrapping_mul(1000)))
        );
    }

    #[test]
    fn slots_never_deliver_early() {
        assert_eq!(slot_time(12_000, 1000), 11_000);
        assert_eq!(slot_time(12_001, 1000), 12_000);
        assert_eq!(slot_time(12_999, 1000), 12_000);
        assert_eq!(slot_time(12_100, 100), 12_000);
    }

    proptest::proptest! {
        /// The slot is due (its time has passed) by the requested time, and not more
        /// than one precision before it.
        #[test]
        fn slot_then_one_precision_covers_the_request(t in 1i64..4_000_000_000_000, p in proptest::sample::select(vec![100i64, 200, 500, 1000])) {
            let s = slot_time(t, p);
            proptest::prop_assert_eq!(s % p, 0);
            proptest::prop_assert!(s + p >= t && s + p < t + p);
        }

        #[test]
        fn any_text_is_a_long_or_refused(s in "\\PC{0,24}") {
            let _ = parse_long(&s);
        }
    }
}

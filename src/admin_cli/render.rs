//! Tables and values as text for people.

use serde_json::Value;

pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut w: Vec<usize> = head.iter().map(|h| h.len() + 1).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(x) = w.get_mut(i) {
                *x = (*x).max(c.len());
            }
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .enumerate()
            .map(|(i, c)| format!("{c:<width$}", width = w[i] + 2))
            .collect::<String>()
            .trim_end()
            .to_owned()
            + "\n"
    };
    let mut t = line(head.iter().map(|h| format!("#{h}")).collect());
    for r in rows {
        t += &line(r.clone());
    }
    t
}

pub fn str_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// A time in ms as mqadmin prints it (`yyyy-MM-dd HH:mm:ss`, with `,SSS` when `millis`),
/// in UTC as rmqd's logs; empty when the answer has no time.
pub fn human_time(v: &Value, millis: bool) -> String {
    let Some(ms) = v.as_i64() else {
        return str_of(v);
    };
    // `yyyy-MM-dd#HH:mm:ss:SSS`
    let d = crate::broker::java_date(ms);
    let (date, time) = d.split_once('#').unwrap_or((&d, ""));
    let (hms, sss) = time.rsplit_once(':').unwrap_or((time, ""));
    if millis {
        format!("{date} {hms},{sss}")
    } else {
        format!("{date} {hms}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_mqadmin_prints_them() {
        let t = Value::from(1_796_310_246_138i64);
        assert_eq!(human_time(&t, true), "2026-12-03 15:04:06,138");
        assert_eq!(human_time(&t, false), "2026-12-03 15:04:06");
        assert_eq!(human_time(&Value::Null, true), "");
    }
}

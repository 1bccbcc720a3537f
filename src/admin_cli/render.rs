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

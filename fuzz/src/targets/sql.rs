//! SQL92 subscription expressions (`MessageSelector.bySql`), which arrive in heartbeats,
//! CHECK_CLIENT_CONFIG bodies and pull headers, evaluated against stored properties.
//! Input: the expression, a 0 byte, then encoded properties (`k\x01v\x02...`).

use std::collections::HashMap;

use rmqd_remoting::sql92::{Scratch, Selector};

pub fn sql92(data: &[u8]) {
    let (expr, props) = match data.iter().position(|&b| b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let expr = String::from_utf8_lossy(expr);
    let compiled = Selector::compile(&expr);
    // Compiling is a pure function of the text.
    assert_eq!(
        compiled.as_ref().err().map(ToString::to_string),
        Selector::compile(&expr).err().map(|e| e.to_string()),
        "compiling {expr:?} twice disagrees"
    );
    let Ok(sel) = compiled else {
        return;
    };
    let mut scratch = Scratch::new();
    let delivered = sel.matches_encoded(props, &mut scratch);
    // The stored-properties path must agree with a plain map of the same properties
    // (string2messageProperties: last wins, empty names and values dropped).
    let mut map = HashMap::new();
    for pair in props.split(|&b| b == 2) {
        if let Some(sep) = pair.iter().position(|&b| b == 1) {
            let (k, v) = (&pair[..sep], &pair[sep + 1..]);
            if !k.is_empty() && !v.is_empty() {
                map.insert(
                    String::from_utf8_lossy(k).into_owned(),
                    String::from_utf8_lossy(v).into_owned(),
                );
            }
        }
    }
    assert_eq!(
        delivered,
        sel.evaluate_map(&map) == Ok(Some(true)),
        "{expr:?} decides differently on {props:?}"
    );
}

//! UPDATE_AND_CREATE_TOPIC from many connections at once. The broker answers each only
//! after `config/topics.json` holds the new topic (Java's processor answers after
//! `persist()`), so once every answer is in, the file must list every topic: a save
//! whose older snapshot renamed over a newer one, or a rename that lost its temp file to
//! another save, leaves topics out.

use std::sync::{Arc, Barrier};

use rmqd_compat_tests::{create_topic, Rmqd};

const CONNECTIONS: usize = 8;
const TOPICS_EACH: usize = 12;

#[test]
fn concurrent_topic_creates_all_reach_topics_json() {
    let r = Rmqd::start(&[]);
    let start = Arc::new(Barrier::new(CONNECTIONS));
    let threads: Vec<_> = (0..CONNECTIONS)
        .map(|c| {
            let (broker, start) = (r.broker(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                for t in 0..TOPICS_EACH {
                    create_topic(&broker, &format!("ConcurrentSave_{c}_{t}"), 2);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("admin client");
    }

    let path = r.store_dir().join("config/topics.json");
    let v = rmqd_store::fastjson::load(&path)
        .expect("topics.json parses")
        .expect("topics.json has content");
    let table = v["topicConfigTable"]
        .as_object()
        .expect("topicConfigTable object");
    let missing: Vec<String> = (0..CONNECTIONS)
        .flat_map(|c| (0..TOPICS_EACH).map(move |t| format!("ConcurrentSave_{c}_{t}")))
        .filter(|name| !table.contains_key(name))
        .collect();
    assert!(missing.is_empty(), "missing from topics.json: {missing:?}");
    assert!(
        !r.log().contains("cannot write config file"),
        "a save failed:\n{}",
        r.log()
    );
}

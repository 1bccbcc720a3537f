//! GET_BROKER_CONFIG (26) and UPDATE_BROKER_CONFIG (25): the broker's settings as
//! properties text, changed at run time and saved, as Java's `Configuration` does, to the
//! broker.conf the broker was started with (`~/store/config/broker.properties` without
//! `-c`), all settings rewritten with the file's other keys kept.
//!
//! The new values are what GET_BROKER_CONFIG reports and what the next start reads;
//! `brokerPermission` also takes effect at once (sends and pulls are checked against it and
//! the broker re-registers), the others at the next start.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use rmqd_remoting::body::topic::DataVersion;
use rmqd_remoting::codes::response;
use rmqd_remoting::headers::admin::GetBrokerConfigResponseHeader;
use rmqd_remoting::RemotingCommand;

use crate::broker::context::{now_ms, BrokerContext, Outcome, Refusal};
use crate::config::{parse_properties, BrokerConfig};

/// Keys never changed remotely (Java's `configBlackList` default plus the two it always
/// adds).
const BLACK_LIST: [&str; 3] = ["brokerConfigPath", "rocketmqHome", "configBlackList"];

struct State {
    config: BrokerConfig,
    /// Keys of the file rmqd does not use, kept when the file is rewritten (Java registers
    /// the file's properties with its `Configuration` too).
    other: Vec<(String, String)>,
    version: DataVersion,
}

pub struct LiveConfig {
    state: Mutex<State>,
    path: PathBuf,
    /// `brokerPermission`, read on every send and pull.
    permission: Arc<AtomicI32>,
}

impl LiveConfig {
    /// `permission` is the registrar's, so a change is announced at the next registration.
    pub fn new(config: BrokerConfig, path: Option<PathBuf>, permission: Arc<AtomicI32>) -> Self {
        let path = path.unwrap_or_else(|| {
            crate::config::home_dir()
                .unwrap_or_else(|| PathBuf::from("."))
                .join("store/config/broker.properties")
        });
        let known: std::collections::HashSet<&str> =
            config.entries().into_iter().map(|(k, _)| k).collect();
        let other = std::fs::read_to_string(&path)
            .map(|t| parse_properties(&t))
            .unwrap_or_default()
            .into_iter()
            .filter(|(k, _)| !known.contains(k.as_str()))
            .collect();
        permission.store(config.broker_permission, Ordering::Relaxed);
        LiveConfig {
            permission,
            state: Mutex::new(State {
                config,
                other,
                version: DataVersion {
                    counter: 0,
                    state_version: None,
                    timestamp: now_ms(),
                },
            }),
            path,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn broker_permission(&self) -> i32 {
        self.permission.load(Ordering::Relaxed)
    }

    fn text(s: &State) -> String {
        s.config
            .entries()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .chain(s.other.iter().cloned())
            .map(|(k, v)| format!("{k}={v}\n"))
            .collect()
    }

    /// `MixAll.properties2String` of every setting.
    pub fn properties_text(&self) -> String {
        Self::text(&self.lock())
    }

    /// `getDataVersionJson`.
    pub fn version_json(&self) -> String {
        let v = &self.lock().version;
        format!(r#"{{"counter":{},"timestamp":{}}}"#, v.counter, v.timestamp)
    }

    /// Applies `text` (properties) and saves the file. Keys rmqd does not know are
    /// ignored, as Java ignores keys no config object has; a bad value refuses the whole
    /// update. Returns whether `brokerPermission` changed.
    pub fn update(&self, text: &str) -> Outcome<bool> {
        let props = parse_properties(text);
        if props.iter().any(|(k, _)| BLACK_LIST.contains(&k.as_str())) {
            return Err(Refusal::new(
                response::NO_PERMISSION,
                "Can not update config in black list.",
            ));
        }
        let perm_changed = {
            let mut s = self.lock();
            let mut next = s.config.clone();
            for (k, v) in &props {
                match next.set(k, v) {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::warn!(key = %k, "updateBrokerConfig: key not used by rmqd; ignored")
                    }
                    Err(e) => return Err(Refusal::system(e.to_string())),
                }
            }
            let changed = next.broker_permission != s.config.broker_permission;
            s.config = next;
            s.version.counter += 1;
            s.version.timestamp = now_ms();
            self.permission
                .store(s.config.broker_permission, Ordering::Relaxed);
            changed
        };
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        // Java's `MixAll.string2File` (write aside, keep a .bak, rename), through the
        // file's single writer so that concurrent updates land newest last.
        let saved = rmqd_store::config_file::ConfigFile::open(&self.path)
            .persist_with(|| Some(Self::text(&self.lock())));
        if let Err(e) = saved {
            tracing::error!(path = %self.path.display(), error = %e, "cannot save the broker config");
        }
        tracing::info!(?props, path = %self.path.display(), "broker config updated");
        Ok(perm_changed)
    }
}

pub fn get_broker_config(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let live = &ctx.live_config;
    Ok(RemotingCommand::success(req)
        .with_header(&GetBrokerConfigResponseHeader {
            version: live.version_json(),
        })
        .with_body(live.properties_text().into_bytes()))
}

pub fn update_broker_config(
    ctx: &Arc<BrokerContext>,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    // Java answers SUCCESS to an update without a body and changes nothing.
    if !req.body.is_empty() {
        let text = std::str::from_utf8(&req.body)
            .map_err(|_| Refusal::system("string2Properties error"))?;
        if ctx.live_config.update(text)? {
            // As Java: a new data version, so name servers take the topics' new
            // permission from the registration that follows.
            ctx.topics().next_version(now_ms());
            ctx.register_soon();
        }
    }
    Ok(RemotingCommand::success(req))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        // UPDATE_BROKER_CONFIG bodies are untrusted text: any bytes parse without a
        // panic, and plain `key=value` lines come back as written.
        #[test]
        fn update_bodies_parse(raw in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_properties(&String::from_utf8_lossy(&raw));
        }

        #[test]
        fn key_value_lines_round_trip(
            pairs in proptest::collection::vec(("[a-zA-Z][a-zA-Z0-9.]{0,12}", "[a-zA-Z0-9 ;/._-]{0,16}"), 0..12)
        ) {
            let text: String = pairs.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
            let got = parse_properties(&text);
            let want: Vec<(String, String)> =
                pairs.iter().map(|(k, v)| (k.clone(), v.trim().to_string())).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn update_persists_every_setting_and_keeps_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("broker.conf");
        std::fs::write(&path, "brokerName=b1\nsomeJavaKey=x\nfileReservedTime=48\n").unwrap();
        let mut cfg = BrokerConfig::default();
        cfg.apply("brokerName=b1\nfileReservedTime=48").unwrap();
        let live = LiveConfig::new(cfg, Some(path.clone()), Default::default());
        assert!(live
            .version_json()
            .starts_with(r#"{"counter":0,"timestamp":"#));
        assert!(!live.update("fileReservedTime=72\nnoSuchKey=1\n").unwrap());
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains("fileReservedTime=72\n"));
        assert!(text.contains("brokerName=b1\n"));
        assert!(text.contains("someJavaKey=x\n"));
        assert!(!text.contains("noSuchKey"));
        assert!(live.properties_text().contains("fileReservedTime=72\n"));
        assert!(live.version_json().starts_with(r#"{"counter":1,"#));
        // The restarted broker reads it back.
        assert_eq!(BrokerConfig::load(&path).unwrap().file_reserved_time, 72);
        let r = live.update("brokerConfigPath=/etc/x").unwrap_err();
        assert_eq!(r.code, response::NO_PERMISSION);
        assert!(live.update("listenPort=abc").is_err());
        assert!(live.update("brokerPermission=4").unwrap());
        assert_eq!(live.broker_permission(), 4);
    }
}

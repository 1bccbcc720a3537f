//! GET_BROKER_RUNTIME_INFO (28): the broker's runtime figures as a `KVTable`, under the
//! Java key names mqadmin's brokerStatus prints, plus the store's health.
//!
//! Only figures rmqd measures are listed; the per-second statistics (putTps,
//! getTransferedTps, msgPutTotal…) come with the broker statistics.

use rmqd_remoting::body::topic::KvTable;
use rmqd_remoting::RemotingCommand;

use super::context::{BrokerContext, Outcome};

/// The Java release whose behaviour rmqd reproduces (`MQVersion.Version.V4_9_8`).
const BROKER_VERSION: i32 = 409;
const BROKER_VERSION_DESC: &str = "V4_9_8";

pub fn runtime_info(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let store = &ctx.store;
    let cfg = store.config();
    let ratio = |p: &std::path::Path| {
        rmqd_store::message_store::disk_usage(p)
            .map(|u| format!("{u:.2}"))
            .unwrap_or_else(|| "-1".into())
    };
    let health = store.health();
    let mut t = KvTable::default();
    let mut put = |k: &str, v: String| {
        t.table.insert(k.to_string(), v);
    };
    put("brokerVersion", BROKER_VERSION.to_string());
    put("brokerVersionDesc", BROKER_VERSION_DESC.into());
    put(
        "commitLogMinOffset",
        store.commitlog_min_offset().to_string(),
    );
    put(
        "commitLogMaxOffset",
        store.commitlog_max_offset().to_string(),
    );
    put("commitLogDiskRatio", ratio(&cfg.commitlog_path()));
    put("consumeQueueDiskRatio", ratio(&cfg.consume_queue_path()));
    put(
        "dispatchBehindBytes",
        (store.commitlog_max_offset() - store.dispatched_offset())
            .max(0)
            .to_string(),
    );
    put(
        "pageCacheLockTimeMills",
        store.append_stall_ms().to_string(),
    );
    put(
        "sendThreadPoolQueueSize",
        store.queued_appends().to_string(),
    );
    put(
        "sendThreadPoolQueueCapacity",
        cfg.send_queue_capacity.to_string(),
    );
    // rmqd's own: RUNNING, DISK_FULL or POISONED, and why; timer tasks restarted after
    // a panic.
    put("brokerTaskRestarts", ctx.task_restarts.get().to_string());
    put("storeHealth", health.state.as_str().into());
    put("storeHealthCause", health.cause.unwrap_or_default());
    if let Some(timer) = ctx.timer.as_deref() {
        for (k, v) in timer.figures(store) {
            put(k, v);
        }
    }
    // rmqd's replication view: the role, a master's slaves and how far they have the
    // CommitLog, a slave's master and whether its HA link is up.
    put("brokerRole", ctx.ha.role.as_str().into());
    if ctx.ha.role.is_slave() {
        put(
            "haMasterAddress",
            ctx.ha.ha_master_addr().unwrap_or_default(),
        );
        put("masterAddr", ctx.ha.master_addr().unwrap_or_default());
        put("haConnected", ctx.ha.is_connected().to_string());
    } else {
        let (slaves, acked) = store.replica_status();
        put("haSlaveConnections", slaves.to_string());
        put("haSlaveAckOffset", acked.to_string());
        put(
            "haSlaveFallBehind",
            if slaves > 0 {
                (store.commitlog_max_offset() - acked).max(0).to_string()
            } else {
                "-1".into()
            },
        );
    }
    Ok(RemotingCommand::success(req).with_body(serde_json::to_vec(&t).unwrap_or_default()))
}

//! A broker timer task that panics is restarted: here the registrar dies before its
//! first registration (fault point armed through `RMQD_FAILPOINTS`), and the broker
//! still ends up in the name server's routes, with the restart logged and counted in
//! GET_BROKER_RUNTIME_INFO. Before supervision the task vanished and the broker never
//! registered while the process looked healthy.
//!
//! One test in this file: it sets the variable the spawned process inherits.

use rmqd_compat_tests::wire::Conn;
use rmqd_compat_tests::Rmqd;

#[test]
fn a_panicking_registrar_is_restarted_and_the_broker_gets_routed() {
    std::env::set_var("RMQD_FAILPOINTS", "registrar-loop=1*panic");
    // start() waits until the name server routes TBW102 to this broker.
    let rmqd = Rmqd::start(&[]);
    std::env::remove_var("RMQD_FAILPOINTS");
    let log = rmqd.log();
    assert!(log.contains("broker task died; restarting it"), "{log}");
    assert!(log.contains("registrar"), "{log}");
    let info = Conn::connect(&rmqd.broker()).request(28, &[], b"");
    let table: serde_json::Value = serde_json::from_slice(&info.body).expect("KVTable");
    assert_eq!(table["table"]["brokerTaskRestarts"], "1", "{table}");
    assert_eq!(table["table"]["storeHealth"], "RUNNING", "{table}");
}

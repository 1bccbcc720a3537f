//! The target table. A target's name is also its corpus directory, `corpus/<name>/`.

pub mod acl;
pub mod broker;
pub mod remoting;
pub mod sql;
pub mod store;

use crate::Target;

pub const TARGETS: &[Target] = &[
    Target {
        name: "frame",
        run: remoting::frame,
    },
    Target {
        name: "codec",
        run: remoting::codec,
    },
    Target {
        name: "header_json",
        run: remoting::header_json,
    },
    Target {
        name: "header_binary",
        run: remoting::header_binary,
    },
    Target {
        name: "custom_headers",
        run: remoting::custom_headers,
    },
    Target {
        name: "body_register",
        run: remoting::body_register,
    },
    Target {
        name: "body_json",
        run: remoting::body_json,
    },
    Target {
        name: "body_fastjson",
        run: remoting::body_fastjson,
    },
    Target {
        name: "http_head",
        run: broker::http_head,
    },
    Target {
        name: "properties",
        run: broker::properties,
    },
    Target {
        name: "batch",
        run: broker::batch,
    },
    Target {
        name: "filter",
        run: broker::filter,
    },
    Target {
        name: "receipt_handle",
        run: broker::receipt_handle,
    },
    Target {
        name: "pop_records",
        run: broker::pop_records,
    },
    Target {
        name: "sql92",
        run: sql::sql92,
    },
    Target {
        name: "record",
        run: store::record,
    },
    Target {
        name: "msg_id",
        run: store::msg_id,
    },
    Target {
        name: "consume_queue",
        run: store::consume_queue,
    },
    Target {
        name: "index_file",
        run: store::index_file,
    },
    Target {
        name: "checkpoint",
        run: store::checkpoint,
    },
    Target {
        name: "fastjson",
        run: store::fastjson,
    },
    Target {
        name: "acl_signature",
        run: acl::signature,
    },
    Target {
        name: "acl_file",
        run: acl::file,
    },
    Target {
        name: "timer_records",
        run: store::timer_records,
    },
    Target {
        name: "timer_store",
        run: store::timer_store,
    },
    Target {
        name: "ha_stream",
        run: remoting::ha_stream,
    },
    Target {
        name: "replica_records",
        run: store::replica_records,
    },
];

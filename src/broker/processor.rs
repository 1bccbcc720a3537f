//! Request dispatch: code → feature module. Unknown codes get REQUEST_CODE_NOT_SUPPORTED
//! worded as Java words it.

use std::sync::Arc;

use rmqd_remoting::codes::request;
use rmqd_remoting::{ConnectionHandle, RemotingCommand, Reply, RequestHandler};

use super::context::{BrokerContext, Outcome};
use super::runtime_info;
use super::{
    admin, client_manage, ha, offset_requests, pop, pull, query, reply, retry, send, transaction,
};

pub struct BrokerProcessor {
    ctx: Arc<BrokerContext>,
}

impl BrokerProcessor {
    pub fn new(ctx: Arc<BrokerContext>) -> Self {
        BrokerProcessor { ctx }
    }
}

fn answer(req: &RemotingCommand, outcome: Outcome<RemotingCommand>) -> Reply {
    Reply::Now(Some(outcome.unwrap_or_else(|r| {
        tracing::debug!(code = req.code, resp = r.code, remark = %r.remark, "request refused");
        RemotingCommand::error(req, r.code, r.remark)
    })))
}

impl RequestHandler for BrokerProcessor {
    fn handle(&self, conn: &ConnectionHandle, req: RemotingCommand) -> Reply {
        let ctx = &self.ctx;
        tracing::trace!(code = req.code, version = req.version, language = ?req.language, ext = ?req.ext_fields, "request");
        let outcome = match req.code {
            request::SEND_MESSAGE | request::SEND_MESSAGE_V2 | request::SEND_BATCH_MESSAGE => {
                return send::process(ctx, conn, req)
            }
            request::PULL_MESSAGE | request::LITE_PULL_MESSAGE => {
                return pull::process(ctx, conn, req)
            }
            request::CONSUMER_SEND_MSG_BACK => return retry::process(ctx, req),
            request::POP_MESSAGE => return pop::remoting::pop_message(ctx, req),
            request::ACK_MESSAGE => return pop::remoting::ack_message(ctx, req),
            request::BATCH_ACK_MESSAGE => return pop::remoting::batch_ack_message(ctx, req),
            request::CHANGE_MESSAGE_INVISIBLETIME => {
                return pop::remoting::change_invisible_time(ctx, req)
            }
            request::PEEK_MESSAGE => pop::remoting::peek_message(ctx, &req),
            request::POLLING_INFO => pop::remoting::polling_info(ctx, &req),
            request::SEND_REPLY_MESSAGE | request::SEND_REPLY_MESSAGE_V2 => {
                return reply::process(ctx, conn, req)
            }
            request::END_TRANSACTION => return transaction::end_transaction(ctx, req),
            request::QUERY_CONSUMER_OFFSET => offset_requests::query_consumer_offset(ctx, &req),
            request::UPDATE_CONSUMER_OFFSET => offset_requests::update_consumer_offset(ctx, &req),
            request::GET_MAX_OFFSET => offset_requests::max_offset(ctx, &req),
            request::GET_MIN_OFFSET => offset_requests::min_offset(ctx, &req),
            request::SEARCH_OFFSET_BY_TIMESTAMP => offset_requests::search_offset(ctx, &req),
            request::GET_EARLIEST_MSG_STORETIME => offset_requests::earliest_store_time(ctx, &req),
            request::QUERY_MESSAGE => query::query_message(ctx, &req),
            request::VIEW_MESSAGE_BY_ID => query::view_message(ctx, &req),
            request::HEART_BEAT => client_manage::heartbeat(ctx, conn, &req),
            request::UNREGISTER_CLIENT => client_manage::unregister_client(ctx, conn, &req),
            request::GET_CONSUMER_LIST_BY_GROUP => client_manage::consumer_list(ctx, &req),
            request::LOCK_BATCH_MQ => client_manage::lock_batch(ctx, &req),
            request::UNLOCK_BATCH_MQ => client_manage::unlock_batch(ctx, &req),
            request::CHECK_CLIENT_CONFIG => client_manage::check_client_config(ctx, &req),
            request::UPDATE_AND_CREATE_TOPIC => admin::update_and_create_topic(ctx, &req),
            request::DELETE_TOPIC_IN_BROKER => admin::delete_topic(ctx, &req),
            request::GET_ALL_TOPIC_CONFIG => admin::all_topic_config(ctx, &req),
            request::GET_SYSTEM_TOPIC_LIST_FROM_BROKER => admin::system_topic_list(ctx, &req),
            request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP => admin::update_group(ctx, &req),
            request::DELETE_SUBSCRIPTIONGROUP => admin::delete_group(ctx, &req),
            request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG => admin::all_groups(ctx, &req),
            request::GET_BROKER_CONFIG => admin::broker_config::get_broker_config(ctx, &req),
            request::UPDATE_BROKER_CONFIG => admin::broker_config::update_broker_config(ctx, &req),
            request::GET_BROKER_RUNTIME_INFO => runtime_info::runtime_info(ctx, &req),
            request::GET_TIMER_CHECK_POINT => super::timer::checkpoint_request(ctx, &req),
            request::GET_CONSUMER_CONNECTION_LIST => admin::consumer_connections(ctx, &req),
            // With aclEnable=true the ACL layer answers these before they get here.
            code if crate::acl::admin::is_acl_code(code) => {
                Ok(crate::acl::admin::acl_disabled(&req))
            }
            request::GET_ALL_CONSUMER_OFFSET => ha::answers::all_consumer_offset(ctx, &req),
            request::GET_ALL_DELAY_OFFSET => ha::answers::all_delay_offset(ctx, &req),
            request::GET_TOPIC_STATS_INFO => admin::topic_stats::topic_stats(ctx, &req),
            request::QUERY_TOPIC_CONSUME_BY_WHO => admin::topic_stats::consume_by_who(ctx, &req),
            request::QUERY_CONSUME_TIME_SPAN => admin::topic_stats::consume_time_span(ctx, &req),
            request::QUERY_CONSUME_QUEUE => admin::topic_stats::consume_queue(ctx, &req),
            request::VIEW_BROKER_STATS_DATA => admin::topic_stats::view_stats_data(ctx, &req),
            request::GET_CONSUME_STATS => admin::consume_stats::consume_stats(ctx, &req),
            request::GET_BROKER_CONSUME_STATS => {
                admin::consume_stats::broker_consume_stats(ctx, &req)
            }
            request::QUERY_CORRECTION_OFFSET => admin::consume_stats::correction_offset(ctx, &req),
            request::CLONE_GROUP_OFFSET => admin::consume_stats::clone_group_offset(ctx, &req),
            request::GET_PRODUCER_CONNECTION_LIST => {
                admin::producers::producer_connections(ctx, &req)
            }
            request::GET_ALL_PRODUCER_INFO => admin::producers::all_producer_info(ctx, &req),
            // A 5.x gRPC consumer is asked over its telemetry stream, a remoting one over
            // its connection.
            request::GET_CONSUMER_RUNNING_INFO if crate::grpc::admin::is_grpc_client(ctx, &req) => {
                return crate::grpc::admin::consumer_running_info(ctx, req)
            }
            request::GET_CONSUMER_RUNNING_INFO => {
                return admin::relay::consumer_running_info(ctx, req)
            }
            request::CONSUME_MESSAGE_DIRECTLY if crate::grpc::admin::is_grpc_client(ctx, &req) => {
                return crate::grpc::admin::consume_message_directly(ctx, req)
            }
            request::CONSUME_MESSAGE_DIRECTLY => {
                return admin::relay::consume_message_directly(ctx, req)
            }
            request::INVOKE_BROKER_TO_RESET_OFFSET => return admin::relay::reset_offset(ctx, req),
            request::INVOKE_BROKER_TO_GET_CONSUMER_STATUS => {
                return admin::relay::consumer_status(ctx, req)
            }
            request::CLEAN_EXPIRED_CONSUMEQUEUE => {
                return admin::maintenance::clean_expired_consume_queue(ctx, req)
            }
            request::CLEAN_UNUSED_TOPIC => return admin::maintenance::clean_unused_topic(ctx, req),
            request::DELETE_EXPIRED_COMMITLOG => {
                return admin::maintenance::delete_expired_commitlog(ctx, req)
            }
            request::RESUME_CHECK_HALF_MESSAGE => {
                return admin::maintenance::resume_check_half_message(ctx, req)
            }
            _ => Ok(RemotingCommand::not_supported(&req)),
        };
        answer(&req, outcome)
    }

    fn on_connect(&self, _conn: &ConnectionHandle) {
        self.ctx
            .stats
            .connections
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn on_disconnect(&self, conn: &ConnectionHandle) {
        self.ctx
            .stats
            .connections
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        for group in self.ctx.clients.connection_closed(conn) {
            self.ctx.clients.notify_ids_changed(&group);
        }
        self.ctx.sweep_filters();
    }
}

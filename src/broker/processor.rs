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
            request::GET_CONSUMER_RUNNING_INFO => {
                return crate::grpc::admin::consumer_running_info(ctx, req)
            }
            request::CONSUME_MESSAGE_DIRECTLY => {
                return crate::grpc::admin::consume_message_directly(ctx, req)
            }
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
            request::GET_BROKER_CONFIG => admin::broker_config(ctx, &req),
            request::GET_BROKER_RUNTIME_INFO => runtime_info::runtime_info(ctx, &req),
            request::GET_TIMER_CHECK_POINT => super::timer::checkpoint_request(ctx, &req),
            request::GET_CONSUMER_CONNECTION_LIST => admin::consumer_connections(ctx, &req),
            // With aclEnable=true the ACL layer answers these before they get here.
            code if crate::acl::admin::is_acl_code(code) => {
                Ok(crate::acl::admin::acl_disabled(&req))
            }
            request::GET_ALL_CONSUMER_OFFSET => ha::answers::all_consumer_offset(ctx, &req),
            request::GET_ALL_DELAY_OFFSET => ha::answers::all_delay_offset(ctx, &req),
            _ => Ok(RemotingCommand::not_supported(&req)),
        };
        answer(&req, outcome)
    }

    fn on_disconnect(&self, conn: &ConnectionHandle) {
        for group in self.ctx.clients.connection_closed(conn) {
            self.ctx.clients.notify_ids_changed(&group);
        }
        self.ctx.sweep_filters();
    }
}

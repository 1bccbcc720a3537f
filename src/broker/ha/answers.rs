//! What a master answers to its slaves' config copy (`AdminBrokerProcessor`):
//! GET_ALL_CONSUMER_OFFSET (43) and GET_ALL_DELAY_OFFSET (45), in the one-line fastjson
//! form a Java master sends (integer map keys unquoted). Any broker answers them, as
//! Java's does; a slave answers with what it copied.

use rmqd_remoting::RemotingCommand;
use rmqd_store::fastjson::{DelayOffsetTable, OffsetTable};

use crate::broker::context::{BrokerContext, Outcome};

/// GET_ALL_CONSUMER_OFFSET: `ConsumerOffsetManager.encode()`.
pub fn all_consumer_offset(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let body = OffsetTable(ctx.offsets.snapshot()).to_compact_json();
    Ok(RemotingCommand::success(req).with_body(body.into_bytes()))
}

/// GET_ALL_DELAY_OFFSET: `ScheduleMessageService.encode()`, the levels' progress.
pub fn all_delay_offset(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let body = DelayOffsetTable(ctx.delays.snapshot()).to_compact_json();
    Ok(RemotingCommand::success(req).with_body(body.into_bytes()))
}

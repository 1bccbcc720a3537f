//! Offset codes: QUERY/UPDATE_CONSUMER_OFFSET, GET_MAX/MIN_OFFSET,
//! SEARCH_OFFSET_BY_TIMESTAMP, GET_EARLIEST_MSG_STORETIME.

use rmqd_remoting::codes::response;
use rmqd_remoting::headers::broker::{
    OffsetResponseHeader, QueryConsumerOffsetRequestHeader, SearchOffsetRequestHeader,
    TimestampResponseHeader, TopicQueueHeader, UpdateConsumerOffsetRequestHeader,
};
use rmqd_remoting::RemotingCommand;

use super::context::{BrokerContext, Outcome, Refusal};

fn offset(req: &RemotingCommand, offset: i64) -> RemotingCommand {
    RemotingCommand::success(req).with_header(&OffsetResponseHeader { offset })
}

pub fn query_consumer_offset(
    ctx: &BrokerContext,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    let h: QueryConsumerOffsetRequestHeader = req.decode_header()?;
    if let Some(o) = ctx.offsets.query(&h.consumer_group, &h.topic, h.queue_id) {
        if o >= 0 {
            return Ok(offset(req, o));
        }
    }
    // A group that never committed may start at 0 while the queue's first message is still
    // in place; otherwise the client decides by its consume-from-where setting.
    let min = ctx.store.min_offset_in_queue(&h.topic, h.queue_id);
    if (min <= 0 && !ctx.store.is_offset_swapped_out(&h.topic, h.queue_id, 0))
        || h.set_zero_if_not_found == Some(true)
    {
        return Ok(offset(req, 0));
    }
    Err(Refusal::new(
        response::QUERY_NOT_FOUND,
        "Not found, V3_0_6_SNAPSHOT maybe this group consumer boot first",
    ))
}

pub fn update_consumer_offset(
    ctx: &BrokerContext,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    let h: UpdateConsumerOffsetRequestHeader = req.decode_header()?;
    ctx.offsets
        .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    Ok(RemotingCommand::success(req))
}

pub fn max_offset(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: TopicQueueHeader = req.decode_header()?;
    Ok(offset(
        req,
        ctx.store.max_offset_in_queue(&h.topic, h.queue_id),
    ))
}

pub fn min_offset(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: TopicQueueHeader = req.decode_header()?;
    Ok(offset(
        req,
        ctx.store.min_offset_in_queue(&h.topic, h.queue_id),
    ))
}

pub fn search_offset(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: SearchOffsetRequestHeader = req.decode_header()?;
    Ok(offset(
        req,
        ctx.store
            .offset_by_timestamp(&h.topic, h.queue_id, h.timestamp),
    ))
}

pub fn earliest_store_time(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: TopicQueueHeader = req.decode_header()?;
    let timestamp = ctx.store.earliest_message_time(&h.topic, h.queue_id);
    Ok(RemotingCommand::success(req).with_header(&TimestampResponseHeader { timestamp }))
}

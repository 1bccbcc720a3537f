//! QUERY_MESSAGE (by key or unique key, through the IndexFile) and VIEW_MESSAGE_BY_ID (by
//! commit-log offset). Bodies are stored records, straight from the mapped files.

use rmqd_remoting::codes::response;
use rmqd_remoting::headers::broker::{
    QueryMessageRequestHeader, QueryMessageResponseHeader, ViewMessageRequestHeader,
    UNIQUE_KEY_QUERY,
};
use rmqd_remoting::RemotingCommand;

use super::context::{BrokerContext, Outcome, Refusal};

/// `defaultQueryMaxNum`: what a unique-key query may return.
const DEFAULT_QUERY_MAX_NUM: i32 = 32;

pub fn query_message(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: QueryMessageRequestHeader = req.decode_header()?;
    let unique = req
        .ext(UNIQUE_KEY_QUERY)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let max = if unique {
        DEFAULT_QUERY_MAX_NUM
    } else {
        h.max_num
    };
    let found = ctx.store.query_by_key(
        &h.topic,
        &h.key,
        max.max(0) as usize,
        h.begin_timestamp,
        h.end_timestamp,
    );
    if found.records.is_empty() {
        return Err(Refusal::new(
            response::QUERY_NOT_FOUND,
            "can not find message, maybe time range not correct",
        ));
    }
    let mut resp = RemotingCommand::success(req).with_header(&QueryMessageResponseHeader {
        index_last_update_timestamp: found.index_last_update_timestamp,
        index_last_update_phyoffset: found.index_last_update_phy_offset,
    });
    resp.body_parts = found.records;
    Ok(resp)
}

pub fn view_message(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: ViewMessageRequestHeader = req.decode_header()?;
    match ctx.store.message_at(h.offset) {
        Some(record) => Ok(RemotingCommand::success(req).with_body(record)),
        None => Err(Refusal::system(format!(
            "can not find message by the offset, {}",
            h.offset
        ))),
    }
}

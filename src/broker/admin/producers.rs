//! Who produces: GET_PRODUCER_CONNECTION_LIST (204) and GET_ALL_PRODUCER_INFO (328).

use std::time::Instant;

use rmqd_remoting::body::stats::{Connection, ProducerConnection, ProducerInfo, ProducerTableInfo};
use rmqd_remoting::body::to_json;
use rmqd_remoting::headers::admin::ProducerGroupHeader;
use rmqd_remoting::RemotingCommand;

use crate::broker::clients::ClientChannel;
use crate::broker::context::{now_ms, BrokerContext, Outcome, Refusal};

pub fn connection(c: &ClientChannel) -> Connection {
    Connection {
        client_addr: c.conn.peer_addr().to_string(),
        client_id: c.client_id.clone(),
        language: c.language.name().to_owned(),
        version: c.version,
    }
}

pub fn producer_connections(
    ctx: &BrokerContext,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    let h: ProducerGroupHeader = req.decode_header()?;
    let channels = ctx
        .clients
        .producer_channels(&h.producer_group)
        .ok_or_else(|| {
            Refusal::system(format!(
                "the producer group[{}] not exist",
                h.producer_group
            ))
        })?;
    let body = ProducerConnection {
        connection_set: channels.iter().map(connection).collect(),
    };
    Ok(RemotingCommand::success(req).with_body(to_json(&body)))
}

pub fn all_producer_info(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let (now, now_ms) = (Instant::now(), now_ms());
    let table = ProducerTableInfo {
        data: ctx
            .clients
            .all_producers()
            .into_iter()
            .map(|(group, chs)| {
                let infos = chs
                    .iter()
                    .map(|c| ProducerInfo {
                        client_id: c.client_id.clone(),
                        language: c.language.name().to_owned(),
                        last_update_timestamp: now_ms
                            - now.saturating_duration_since(c.last_update).as_millis() as i64,
                        remote_ip: c.conn.peer_addr().to_string(),
                        version: c.version,
                    })
                    .collect();
                (group, infos)
            })
            .collect(),
    };
    Ok(RemotingCommand::success(req).with_body(to_json(&table)))
}

//! `MessagingService`: each RPC read from the request, answered by its module. Errors go in
//! the response's `status`, as the Java proxy answers them; the gRPC status stays OK.

use std::pin::Pin;
use std::sync::Arc;

use futures::Stream;
use rmqd_remoting::CancellationToken;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt as _;
use tonic::{Request, Response, Status as RpcStatus, Streaming};

use super::client::{self, GrpcClients};
use super::pb::{self, settings::PubSub, telemetry_command::Command, Code};
use super::{consume, produce, route, status};
use crate::broker::context::BrokerContext;

type RpcResult<T> = Result<Response<T>, RpcStatus>;
type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, RpcStatus>> + Send + 'static>>;

pub struct Messaging {
    ctx: Arc<BrokerContext>,
    clients: Arc<GrpcClients>,
    shutdown: CancellationToken,
}

impl Messaging {
    pub fn new(
        ctx: Arc<BrokerContext>,
        clients: Arc<GrpcClients>,
        shutdown: CancellationToken,
    ) -> Self {
        Messaging {
            ctx,
            clients,
            shutdown,
        }
    }
}

fn client_id<T>(req: &Request<T>) -> String {
    req.metadata()
        .get("x-mq-client-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

fn peer<T>(req: &Request<T>) -> std::net::SocketAddr {
    req.remote_addr()
        .unwrap_or_else(|| std::net::SocketAddr::from(([127, 0, 0, 1], 0)))
}

/// The caller's time left from `grpc-timeout` (e.g. `29999m`, `30S`).
fn remaining_ms<T>(req: &Request<T>) -> Option<i64> {
    let v = req.metadata().get("grpc-timeout")?.to_str().ok()?;
    if v.len() < 2 {
        return None;
    }
    let (num, unit) = v.split_at(v.len() - 1);
    let n: i64 = num.parse().ok()?;
    Some(match unit {
        "H" => n.saturating_mul(3_600_000),
        "M" => n.saturating_mul(60_000),
        "S" => n.saturating_mul(1000),
        "m" => n,
        "u" => n / 1000,
        "n" => n / 1_000_000,
        _ => return None,
    })
}

#[tonic::async_trait]
impl pb::messaging_service_server::MessagingService for Messaging {
    async fn query_route(
        &self,
        req: Request<pb::QueryRouteRequest>,
    ) -> RpcResult<pb::QueryRouteResponse> {
        Ok(Response::new(route::query_route(
            &self.ctx,
            req.into_inner(),
        )))
    }

    async fn heartbeat(
        &self,
        req: Request<pb::HeartbeatRequest>,
    ) -> RpcResult<pb::HeartbeatResponse> {
        let id = client_id(&req);
        if self.clients.raw_settings(&id).is_none() {
            return Ok(Response::new(pb::HeartbeatResponse {
                status: status::some(
                    Code::UnrecognizedClientType,
                    "cannot find client settings for this client",
                ),
            }));
        }
        self.clients.touch(&id);
        Ok(Response::new(pb::HeartbeatResponse {
            status: status::ok(),
        }))
    }

    async fn send_message(
        &self,
        req: Request<pb::SendMessageRequest>,
    ) -> RpcResult<pb::SendMessageResponse> {
        let peer = peer(&req);
        Ok(Response::new(
            produce::send_message(&self.ctx, peer, req.into_inner()).await,
        ))
    }

    async fn query_assignment(
        &self,
        req: Request<pb::QueryAssignmentRequest>,
    ) -> RpcResult<pb::QueryAssignmentResponse> {
        Ok(Response::new(route::query_assignment(
            &self.ctx,
            req.into_inner(),
        )))
    }

    type ReceiveMessageStream = BoxStream<pb::ReceiveMessageResponse>;

    async fn receive_message(
        &self,
        req: Request<pb::ReceiveMessageRequest>,
    ) -> RpcResult<Self::ReceiveMessageStream> {
        let call = consume::Receive {
            client_id: client_id(&req),
            remaining_ms: remaining_ms(&req),
        };
        let (tx, rx) = mpsc::channel(40);
        tokio::spawn(consume::receive_message(
            self.ctx.clone(),
            self.clients.clone(),
            call,
            req.into_inner(),
            tx,
        ));
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn ack_message(
        &self,
        req: Request<pb::AckMessageRequest>,
    ) -> RpcResult<pb::AckMessageResponse> {
        Ok(Response::new(
            consume::ack_message(&self.ctx, req.into_inner()).await,
        ))
    }

    async fn forward_message_to_dead_letter_queue(
        &self,
        req: Request<pb::ForwardMessageToDeadLetterQueueRequest>,
    ) -> RpcResult<pb::ForwardMessageToDeadLetterQueueResponse> {
        Ok(Response::new(
            consume::forward_to_dlq(&self.ctx, req.into_inner()).await,
        ))
    }

    type PullMessageStream = BoxStream<pb::PullMessageResponse>;

    async fn pull_message(
        &self,
        _req: Request<pb::PullMessageRequest>,
    ) -> RpcResult<Self::PullMessageStream> {
        let item = pb::PullMessageResponse {
            content: Some(pb::pull_message_response::Content::Status(status::with(
                Code::NotImplemented,
                "PullMessage is not supported",
            ))),
        };
        Ok(Response::new(Box::pin(tokio_stream::iter(vec![Ok(item)]))))
    }

    async fn update_offset(
        &self,
        req: Request<pb::UpdateOffsetRequest>,
    ) -> RpcResult<pb::UpdateOffsetResponse> {
        Ok(Response::new(consume::update_offset(
            &self.ctx,
            req.into_inner(),
        )))
    }

    async fn get_offset(
        &self,
        req: Request<pb::GetOffsetRequest>,
    ) -> RpcResult<pb::GetOffsetResponse> {
        Ok(Response::new(consume::get_offset(
            &self.ctx,
            req.into_inner(),
        )))
    }

    async fn query_offset(
        &self,
        req: Request<pb::QueryOffsetRequest>,
    ) -> RpcResult<pb::QueryOffsetResponse> {
        Ok(Response::new(consume::query_offset(
            &self.ctx,
            req.into_inner(),
        )))
    }

    async fn end_transaction(
        &self,
        req: Request<pb::EndTransactionRequest>,
    ) -> RpcResult<pb::EndTransactionResponse> {
        Ok(Response::new(
            produce::end_transaction(&self.ctx, req.into_inner()).await,
        ))
    }

    type TelemetryStream = BoxStream<pb::TelemetryCommand>;

    async fn telemetry(
        &self,
        req: Request<Streaming<pb::TelemetryCommand>>,
    ) -> RpcResult<Self::TelemetryStream> {
        let id = client_id(&req);
        let mut inbound = req.into_inner();
        let (tx, rx) = mpsc::channel::<pb::TelemetryCommand>(64);
        self.clients.set_stream(&id, tx.clone());
        let (ctx, clients, shutdown) = (
            self.ctx.clone(),
            self.clients.clone(),
            self.shutdown.clone(),
        );
        tokio::spawn(async move {
            loop {
                let next = tokio::select! {
                    m = inbound.message() => m,
                    _ = shutdown.cancelled() => break,
                };
                let Ok(Some(cmd)) = next else { break };
                on_command(&ctx, &clients, &id, cmd, &tx).await;
            }
            ctx.grpc_producers.unregister(&id);
        });
        let out = futures::StreamExt::take_until(
            ReceiverStream::new(rx).map(Ok),
            self.shutdown.clone().cancelled_owned(),
        );
        Ok(Response::new(Box::pin(out)))
    }

    async fn notify_client_termination(
        &self,
        req: Request<pb::NotifyClientTerminationRequest>,
    ) -> RpcResult<pb::NotifyClientTerminationResponse> {
        let id = client_id(&req);
        self.clients.remove(&id);
        self.ctx.grpc_producers.unregister(&id);
        Ok(Response::new(pb::NotifyClientTerminationResponse {
            status: status::ok(),
        }))
    }

    async fn change_invisible_duration(
        &self,
        req: Request<pb::ChangeInvisibleDurationRequest>,
    ) -> RpcResult<pb::ChangeInvisibleDurationResponse> {
        Ok(Response::new(
            consume::change_invisible_duration(&self.ctx, req.into_inner()).await,
        ))
    }

    async fn recall_message(
        &self,
        _req: Request<pb::RecallMessageRequest>,
    ) -> RpcResult<pb::RecallMessageResponse> {
        Ok(Response::new(pb::RecallMessageResponse {
            status: status::some(Code::NotImplemented, "RecallMessage is not supported"),
            message_id: String::new(),
        }))
    }

    async fn sync_lite_subscription(
        &self,
        _req: Request<pb::SyncLiteSubscriptionRequest>,
    ) -> RpcResult<pb::SyncLiteSubscriptionResponse> {
        Ok(Response::new(pb::SyncLiteSubscriptionResponse {
            status: status::some(Code::NotImplemented, "lite topics are not supported"),
        }))
    }
}

/// One command a client sent on its telemetry stream.
async fn on_command(
    ctx: &Arc<BrokerContext>,
    clients: &GrpcClients,
    id: &str,
    cmd: pb::TelemetryCommand,
    tx: &mpsc::Sender<pb::TelemetryCommand>,
) {
    match cmd.command {
        Some(Command::Settings(s)) => {
            if matches!(s.pub_sub, Some(PubSub::Publishing(_))) {
                client::register_producer(ctx, id, &s, tx);
            }
            clients.set_settings(id, s.clone());
            let answer = pb::TelemetryCommand {
                status: status::ok(),
                command: Some(Command::Settings(client::merged(ctx, &s))),
            };
            let _ = tx.send(answer).await;
        }
        Some(Command::ThreadStackTrace(t)) => {
            let nonce = t.nonce.clone();
            clients.answered(&nonce, Command::ThreadStackTrace(t));
        }
        Some(Command::VerifyMessageResult(v)) => {
            let nonce = v.nonce.clone();
            clients.answered(&nonce, Command::VerifyMessageResult(v));
        }
        other => {
            tracing::debug!(client = id, command = ?other.map(|_| ()), "telemetry command ignored")
        }
    }
}

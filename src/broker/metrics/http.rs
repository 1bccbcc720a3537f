//! The smallest HTTP/1.1 server a Prometheus scrape needs: `GET /metrics` answered and
//! the connection closed. Requests are untrusted input: the head is read up to
//! `MAX_HEAD` bytes ([`super::http_head`]) within [`READ_TIMEOUT`], and only
//! [`MAX_CLIENTS`] are served at once.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

use rmqd_remoting::CancellationToken;

use super::http_head::parse_head;

const READ_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_CLIENTS: usize = 8;
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

fn response(status: &str, content_type: &str, body: &[u8]) -> Vec<u8> {
    let mut out = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body);
    out
}

/// Reads one request and answers it with `render` for `GET /metrics` (or `/`).
async fn serve_one<F, Fut>(mut stream: TcpStream, render: F)
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = String>,
{
    let mut buf = Vec::with_capacity(512);
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        let mut chunk = [0u8; 1024];
        loop {
            match parse_head(&buf) {
                Ok(Some(r)) => return Ok((r.method.to_owned(), r.path.to_owned())),
                Ok(None) => {}
                Err(e) => return Err(Some(e)),
            }
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return Err(None),
                Ok(n) => buf.extend_from_slice(&chunk[..n.min(chunk.len())]),
            }
        }
    })
    .await;
    let answer = match read {
        Ok(Ok((method, path))) => {
            if method != "GET" {
                response("405 Method Not Allowed", "text/plain", b"GET only\n")
            } else if path == "/metrics" || path == "/" {
                response("200 OK", CONTENT_TYPE, render().await.as_bytes())
            } else {
                response("404 Not Found", "text/plain", b"see /metrics\n")
            }
        }
        Ok(Err(Some(e))) => response("400 Bad Request", "text/plain", e.to_string().as_bytes()),
        // The peer left or sent nothing in time.
        _ => return,
    };
    let _ = tokio::time::timeout(READ_TIMEOUT, stream.write_all(&answer)).await;
    let _ = stream.shutdown().await;
}

/// Accepts scrapes until `shutdown`.
pub async fn serve<F, Fut>(listener: Arc<TcpListener>, render: F, shutdown: CancellationToken)
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = String> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(MAX_CLIENTS));
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "metrics: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Busy: close at once rather than queue scrapes up.
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            continue;
        };
        let render = render.clone();
        tokio::spawn(async move {
            serve_one(stream, render).await;
            drop(permit);
        });
    }
}

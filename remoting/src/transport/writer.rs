//! The write half of a connection: one task drains the outbound queue and writes frames
//! with vectored writes, so a pull response's records go from the mapped file to the
//! socket without being gathered first.

use std::collections::VecDeque;
use std::io::IoSlice;

use bytes::{Buf, Bytes};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use crate::command::RemotingCommand;
use crate::frame::encode_head;

/// Bodies smaller than this are copied next to their header: one slice beats two.
const INLINE_BODY: usize = 4096;
/// Stop gathering more commands once this much is queued for one write pass.
const BATCH_BYTES: usize = 1 << 20;
const MAX_SLICES: usize = 64;

pub(super) async fn run<W: AsyncWrite + Unpin>(mut w: W, mut rx: mpsc::Receiver<RemotingCommand>) {
    let mut chunks: VecDeque<Bytes> = VecDeque::new();
    while let Some(first) = rx.recv().await {
        let mut queued = push(&mut chunks, first);
        while queued < BATCH_BYTES {
            match rx.try_recv() {
                Ok(cmd) => queued += push(&mut chunks, cmd),
                Err(_) => break,
            }
        }
        if let Err(e) = write_all(&mut w, &mut chunks).await {
            tracing::debug!(error = %e, "connection write failed");
            return;
        }
    }
    let _ = w.shutdown().await;
}

fn push(chunks: &mut VecDeque<Bytes>, cmd: RemotingCommand) -> usize {
    let mut head = Vec::with_capacity(128 + cmd.body.len().min(INLINE_BODY));
    encode_head(&cmd, &mut head);
    let total = head.len() + cmd.body_len();
    if cmd.body.len() <= INLINE_BODY {
        head.extend_from_slice(&cmd.body);
        chunks.push_back(Bytes::from(head));
    } else {
        chunks.push_back(Bytes::from(head));
        chunks.push_back(cmd.body);
    }
    chunks.extend(cmd.body_parts.into_iter().filter(|p| !p.is_empty()));
    total
}

async fn write_all<W: AsyncWrite + Unpin>(
    w: &mut W,
    chunks: &mut VecDeque<Bytes>,
) -> std::io::Result<()> {
    while !chunks.is_empty() {
        let n = {
            let slices: Vec<IoSlice<'_>> = chunks
                .iter()
                .take(MAX_SLICES)
                .map(|c| IoSlice::new(c))
                .collect();
            w.write_vectored(&slices).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        let mut left = n;
        while left > 0 {
            let Some(front) = chunks.front_mut() else {
                break;
            };
            if front.len() <= left {
                left -= front.len();
                chunks.pop_front();
            } else {
                front.advance(left);
                left = 0;
            }
        }
    }
    w.flush().await
}

//! A TCP proxy that injects network faults between two processes on loopback: latency,
//! a partition (nothing crosses, in either direction, not even a close; the kernel's
//! retransmission keeps the bytes, so they arrive once it heals) and cut connections.
//! The kernel here has no `netem` qdisc, so faults are made in user space, in the path
//! of the one link under test.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Bytes cross at once.
    Pass,
    /// Every byte crosses this much later (in each direction).
    Delay(Duration),
    /// Nothing crosses; new connections are accepted and then hang, as a connect does
    /// whose SYN goes unanswered. On healing, held bytes (and closes) are delivered and
    /// hung connections are dropped.
    Partition,
}

struct State {
    fault: Mutex<Fault>,
    /// Bumped by [`FaultProxy::cut`]: every live connection is reset.
    generation: AtomicU64,
    hung: Mutex<Vec<TcpStream>>,
}

impl State {
    fn fault(&self) -> Fault {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct FaultProxy {
    pub port: u16,
    state: Arc<State>,
}

impl FaultProxy {
    /// Listens on a free loopback port and forwards to `upstream`.
    pub fn start(upstream: &str) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("proxy bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(State {
            fault: Mutex::new(Fault::Pass),
            generation: AtomicU64::new(0),
            hung: Mutex::new(Vec::new()),
        });
        let upstream = upstream.to_string();
        let st = state.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                if st.fault() == Fault::Partition {
                    st.hung
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let _ = client.set_nodelay(true);
                let _ = server.set_nodelay(true);
                let generation = st.generation.load(Ordering::Acquire);
                for (from, to) in [
                    (client.try_clone(), server.try_clone()),
                    (server.try_clone(), client.try_clone()),
                ] {
                    if let (Ok(from), Ok(to)) = (from, to) {
                        link(from, to, st.clone(), generation);
                    }
                }
            }
        });
        FaultProxy { port, state }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn set(&self, fault: Fault) {
        *self.state.fault.lock().unwrap_or_else(|p| p.into_inner()) = fault;
        if fault != Fault::Partition {
            self.state
                .hung
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clear();
        }
    }

    /// Resets every connection through the proxy now (bytes in flight are lost).
    pub fn cut(&self) {
        self.state.generation.fetch_add(1, Ordering::AcqRel);
    }
}

/// One direction: a reader stamping what arrives, a writer delivering it when the fault
/// allows.
fn link(mut from: TcpStream, mut to: TcpStream, st: Arc<State>, generation: u64) {
    let (tx, rx) = mpsc::channel::<(Instant, Option<Vec<u8>>)>();
    std::thread::spawn(move || {
        let _ = from.set_read_timeout(Some(Duration::from_millis(50)));
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) => {
                    let _ = tx.send((Instant::now(), None));
                    return;
                }
                Ok(n) => {
                    if tx.send((Instant::now(), Some(buf[..n].to_vec()))).is_err() {
                        return;
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => {
                    let _ = tx.send((Instant::now(), None));
                    return;
                }
            }
        }
    });
    std::thread::spawn(move || {
        let mut queue: VecDeque<(Instant, Option<Vec<u8>>)> = VecDeque::new();
        loop {
            if st.generation.load(Ordering::Acquire) != generation {
                let _ = to.shutdown(Shutdown::Both);
                return;
            }
            match rx.recv_timeout(Duration::from_millis(20)) {
                Ok(item) => queue.push_back(item),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) if queue.is_empty() => {
                    let _ = to.shutdown(Shutdown::Write);
                    return;
                }
                Err(_) => {}
            }
            let delay = match st.fault() {
                Fault::Partition => continue,
                Fault::Pass => Duration::ZERO,
                Fault::Delay(d) => d,
            };
            while let Some((at, _)) = queue.front() {
                if at.elapsed() < delay {
                    break;
                }
                match queue.pop_front() {
                    Some((_, Some(bytes))) => {
                        if to.write_all(&bytes).is_err() {
                            return;
                        }
                    }
                    _ => {
                        let _ = to.shutdown(Shutdown::Write);
                        return;
                    }
                }
            }
        }
    });
}

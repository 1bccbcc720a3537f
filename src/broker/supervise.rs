//! Background tasks that come back after a panic.
//!
//! The broker's timer tasks (registration, delay levels, the transaction checker,
//! housekeeping) keep their state in the broker context, not in the task, so a task that
//! panics is logged and started again after a pause instead of vanishing: a dead
//! registrar would otherwise drop the broker from every route while the process looks
//! healthy. The count of restarts per task is kept for runtime info.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::CancellationToken;

/// Restarts of one supervised task.
#[derive(Debug, Default)]
pub struct Restarts(AtomicU64);

impl Restarts {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Runs `make()` as a task until it returns normally or shutdown fires; a panic is
/// logged and the task is started again after `pause`.
pub fn supervised<F, Fut>(
    name: &'static str,
    shutdown: CancellationToken,
    pause: Duration,
    restarts: Arc<Restarts>,
    make: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            match tokio::spawn(make()).await {
                Ok(()) => return,
                Err(e) if e.is_panic() => {
                    let n = restarts.0.fetch_add(1, Ordering::Relaxed) + 1;
                    let what = panic_text(e.into_panic());
                    if shutdown.is_cancelled() {
                        tracing::error!(task = name, panic = %what, "broker task died during shutdown");
                        return;
                    }
                    tracing::error!(task = name, panic = %what, restarts = n, "broker task died; restarting it");
                    tokio::select! {
                        _ = tokio::time::sleep(pause) => {}
                        _ = shutdown.cancelled() => return,
                    }
                }
                Err(_) => return,
            }
        }
    })
}

fn panic_text(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[tokio::test]
    async fn a_panicking_task_is_restarted_until_it_finishes() {
        let runs = Arc::new(AtomicUsize::new(0));
        let restarts = Arc::new(Restarts::default());
        let r = runs.clone();
        let h = supervised(
            "test",
            CancellationToken::new(),
            Duration::from_millis(1),
            restarts.clone(),
            move || {
                let r = r.clone();
                async move {
                    if r.fetch_add(1, Ordering::SeqCst) < 2 {
                        panic!("boom");
                    }
                }
            },
        );
        h.await.expect("supervisor");
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        assert_eq!(restarts.get(), 2);
    }

    #[tokio::test]
    async fn shutdown_ends_the_restarts() {
        let token = CancellationToken::new();
        let restarts = Arc::new(Restarts::default());
        let t = token.clone();
        let h = supervised(
            "test",
            token.clone(),
            Duration::from_secs(3600),
            restarts.clone(),
            move || {
                let t = t.clone();
                async move {
                    t.cancel();
                    panic!("boom");
                }
            },
        );
        tokio::time::timeout(Duration::from_secs(5), h)
            .await
            .expect("ended")
            .expect("supervisor");
        assert_eq!(restarts.get(), 1);
    }
}

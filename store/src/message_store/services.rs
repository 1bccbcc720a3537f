//! Starting the store's threads and watching them die.
//!
//! Each service runs in its own named thread under a guard: a panic is caught at the
//! thread's top, logged, and — for every service but the warmer, which only saves page
//! faults — poisons the store, so writes are refused with the cause instead of a dead
//! flusher turning every SYNC send into a timeout while the broker looks healthy.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::shared::Shared;
use super::writer::Job;
use super::{cleaner, dispatcher, flusher, warmer, writer};
use crate::mapped_file::FileError;

/// The threads, the writer first: shutdown closes its channel and joins it before
/// telling the others to stop.
pub(crate) struct Services {
    pub threads: Vec<JoinHandle<()>>,
}

impl Services {
    pub fn start(
        shared: &Arc<Shared>,
        jobs: mpsc::Receiver<Job>,
        offsets: HashMap<String, HashMap<i32, i64>>,
    ) -> Result<Self, FileError> {
        let threads = vec![
            supervised(shared, "store-writer", true, move |s| {
                writer::writer_loop(s, jobs, offsets)
            })?,
            supervised(shared, "store-flusher", true, flusher::flusher_loop)?,
            supervised(shared, "store-warmer", false, warmer::warmer_loop)?,
            supervised(
                shared,
                "store-dispatcher",
                true,
                dispatcher::dispatcher_loop,
            )?,
            supervised(shared, "store-cleaner", true, cleaner::cleaner_loop)?,
        ];
        Ok(Services { threads })
    }
}

fn supervised(
    shared: &Arc<Shared>,
    name: &'static str,
    critical: bool,
    body: impl FnOnce(&Shared) + Send + 'static,
) -> Result<JoinHandle<()>, FileError> {
    let s = Arc::clone(shared);
    std::thread::Builder::new()
        .name(name.to_string())
        .spawn(move || {
            // The store's state is shared through atomics and locks whose poisoning is
            // ignored by readers; that is sound only because a dead service poisons the
            // store first, so no write is acknowledged on half-updated state.
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| body(&s))) {
                let what = panic_message(panic.as_ref());
                if critical {
                    s.health.poison(format!("store service {name} died: {what}"));
                } else {
                    tracing::error!(service = name, panic = %what, "store service died; the store goes on without it");
                }
            }
        })
        .map_err(|e| FileError::new(Path::new(name), e))
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "panic".to_string())
}

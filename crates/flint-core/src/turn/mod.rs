//! A turn: a prompt (or a retry, or an escalation to the deep model) and everything the
//! model does with it - one request, then, while it calls tools and a runner is set,
//! the calls run and the next request goes out with their results - until it answers
//! without calls. Every front end drives turns the same way: `Engine::start_turn`
//! returns a [`TurnHandle`] whose events it forwards, and which it can stop.
//!
//! - `driver`: the loop over requests, and what is recorded in the store.
//! - `live`: the live view of one streaming answer (frame batches, markdown blocks,
//!   edits as they complete).
//! - `tools`: what the model may call ([`ToolRunner`]).

mod driver;
mod live;
pub mod readers;
pub mod tools;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use flint_store::Item;

use crate::{CoreError, Engine, TurnEvent};

pub use readers::ProjectReaders;
pub use tools::{ToolOutput, ToolRunner};

/// How many requests one turn may make (a model that keeps calling tools): the last
/// answer's calls are then kept with it, not run, and the turn ends; the user can go
/// on with another prompt.
pub const MAX_STEPS: u32 = 50;

/// What a turn does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TurnKind {
    /// Records the prompt and answers it.
    Prompt(String),
    /// Answers the latest prompt again on the session's model (after a failure, Stop,
    /// or a crash); the earlier answer stays in the history.
    Retry,
    /// Moves the session to the deep model and answers the latest prompt again with
    /// the whole conversation; later turns stay on the deep model.
    Escalate,
}

/// The turns running now, by id, to stop them.
#[derive(Default)]
pub(crate) struct Running {
    next: AtomicU32,
    cancels: Mutex<HashMap<u32, CancellationToken>>,
}

impl Running {
    fn register(&self) -> (u32, CancellationToken) {
        let id = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        let cancel = CancellationToken::new();
        if let Ok(mut c) = self.cancels.lock() {
            c.insert(id, cancel.clone());
        }
        (id, cancel)
    }

    fn finished(&self, id: u32) {
        if let Ok(mut c) = self.cancels.lock() {
            c.remove(&id);
        }
    }
}

/// A running turn: its id, its events in order (ending with `Finished` whose
/// `turn_done` is set, or `Error`), and the way to stop it.
pub struct TurnHandle {
    pub id: u32,
    pub events: mpsc::UnboundedReceiver<TurnEvent>,
    cancel: CancellationToken,
    done: tokio::task::JoinHandle<Result<Item, CoreError>>,
}

impl TurnHandle {
    /// Stops the turn; what arrived is kept.
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the turn to end, returning its last answer. Events not taken from
    /// `events` are dropped with the handle.
    pub async fn finish(self) -> Result<Item, CoreError> {
        self.done
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
    }
}

impl Engine {
    /// Starts a turn in `session_id` on the engine's runtime. Its events arrive on the
    /// handle; a turn whose handle is dropped still completes and is saved.
    pub fn start_turn(&self, session_id: i64, kind: TurnKind) -> TurnHandle {
        let (id, cancel) = self.running.register();
        let (tx, events) = mpsc::unbounded_channel();
        let engine = self.clone();
        let stop = cancel.clone();
        let done = tokio::spawn(async move {
            let sender = tx.clone();
            let mut sink = move |event: TurnEvent| {
                let _ = sender.send(event);
            };
            let result = engine.drive(session_id, kind, &mut sink, stop).await;
            engine.running.finished(id);
            if let Err(e) = &result {
                let _ = tx.send(TurnEvent::Error { error: e.info() });
            }
            result
        });
        TurnHandle {
            id,
            events,
            cancel,
            done,
        }
    }

    /// Stops the running turn `id`; what arrived is kept. False if it is not running.
    pub fn cancel_turn(&self, id: u32) -> bool {
        let token = self
            .running
            .cancels
            .lock()
            .ok()
            .and_then(|c| c.get(&id).cloned());
        token.map(|t| t.cancel()).is_some()
    }

    /// Runs a turn in `session_id` for `prompt` on the caller's task, its events going
    /// to `sink` (what `start_turn` does on a task of its own).
    pub async fn run_turn(
        &self,
        session_id: i64,
        prompt: &str,
        mut sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let kind = TurnKind::Prompt(prompt.to_string());
        self.drive(session_id, kind, &mut sink, cancel).await
    }

    /// Escalates on the caller's task (see [`TurnKind::Escalate`]).
    pub async fn escalate(
        &self,
        session_id: i64,
        mut sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        self.drive(session_id, TurnKind::Escalate, &mut sink, cancel)
            .await
    }

    /// Retries on the caller's task (see [`TurnKind::Retry`]).
    pub async fn retry(
        &self,
        session_id: i64,
        mut sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        self.drive(session_id, TurnKind::Retry, &mut sink, cancel)
            .await
    }

    /// Offers the runner's tools to the model and runs its calls between requests.
    pub fn with_tools(mut self, runner: Arc<dyn ToolRunner>) -> Self {
        self.tools = Some(runner);
        self
    }

    /// The tools offered with every request (none without a runner).
    pub(crate) fn tool_specs(&self) -> Vec<flint_model::ToolSpec> {
        self.tools.as_ref().map(|t| t.specs()).unwrap_or_default()
    }
}

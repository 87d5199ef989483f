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

pub mod acp;
pub mod agent;
mod driver;
mod live;
pub mod readers;
pub mod tools;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use flint_store::Item;

use crate::{CoreError, Engine, TurnEvent};

pub use acp::{AgentEntry, AgentModel, AgentOption, AgentSignIn};
pub use agent::{command_prefix, prefix_allows, AgentMode, Answer, Ask, Question};
pub use readers::ProjectReaders;
pub use tools::{ToolOutput, ToolRunner};

/// How many requests one turn may make by default (a model that keeps calling tools):
/// the last answer's calls are then recorded as not run, `TurnEvent::StepLimit` says
/// so, and the turn ends; the user can go on (another turn, as many steps again) or
/// raise it (`Engine::with_max_steps`, `flint ask --max-steps`).
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

/// The turns running now, by id, to stop them; the questions they wait on; the
/// command prefixes allowed for the rest of a session.
#[derive(Default)]
pub(crate) struct Running {
    next: AtomicU32,
    cancels: Mutex<HashMap<u32, CancellationToken>>,
    next_question: AtomicU32,
    questions: Mutex<HashMap<u32, oneshot::Sender<Answer>>>,
    session_allowed: Mutex<HashMap<i64, Vec<String>>>,
    /// Per project root: held while a command runs between its two snapshots.
    project_locks: Mutex<HashMap<std::path::PathBuf, Arc<tokio::sync::Mutex<()>>>>,
    /// Per project root: its snapshot store, open with its stat cache in memory.
    snapshot_stores: Mutex<HashMap<std::path::PathBuf, agent::SnapshotStore>>,
    /// Per session: its agent over ACP, once started.
    agents: Mutex<HashMap<i64, acp::AgentSlot>>,
    /// Per session: the model its agent is to use (picked by the user).
    agent_models: Mutex<HashMap<i64, String>>,
}

impl Running {
    pub(crate) fn ask(&self, answer: oneshot::Sender<Answer>) -> u32 {
        let id = self.next_question.fetch_add(1, Ordering::Relaxed) + 1;
        if let Ok(mut q) = self.questions.lock() {
            q.insert(id, answer);
        }
        id
    }

    pub(crate) fn forget_question(&self, id: u32) {
        if let Ok(mut q) = self.questions.lock() {
            q.remove(&id);
        }
    }

    fn answer(&self, id: u32, answer: Answer) -> bool {
        let waiting = self.questions.lock().ok().and_then(|mut q| q.remove(&id));
        waiting.is_some_and(|w| w.send(answer).is_ok())
    }

    pub(crate) fn project_lock(&self, root: &std::path::Path) -> Arc<tokio::sync::Mutex<()>> {
        match self.project_locks.lock() {
            Ok(mut l) => l.entry(root.to_path_buf()).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    /// The project's snapshot store, opened the first time (an error to open leaves it
    /// closed, to be tried again).
    pub(crate) fn snapshot_store(
        &self,
        root: &std::path::Path,
        data_dir: &std::path::Path,
    ) -> agent::SnapshotStore {
        let store = match self.snapshot_stores.lock() {
            Ok(mut s) => s.entry(root.to_path_buf()).or_default().clone(),
            Err(_) => Arc::default(),
        };
        if let Ok(mut slot) = store.lock() {
            if slot.is_none() {
                *slot = flint_store::Snapshots::open(data_dir, root).ok();
            }
        }
        store
    }

    pub(crate) fn agent_slot(&self, session_id: i64) -> acp::AgentSlot {
        match self.agents.lock() {
            Ok(mut a) => a.entry(session_id).or_default().clone(),
            Err(_) => Arc::default(),
        }
    }

    pub(crate) fn want_agent_model(&self, session_id: i64, model: String) {
        if let Ok(mut m) = self.agent_models.lock() {
            m.insert(session_id, model);
        }
    }

    pub(crate) fn agent_model(&self, session_id: i64) -> Option<String> {
        self.agent_models
            .lock()
            .ok()
            .and_then(|m| m.get(&session_id).cloned())
    }

    pub(crate) fn forget_agent(&self, session_id: i64) -> Option<acp::AgentSlot> {
        self.agents
            .lock()
            .ok()
            .and_then(|mut a| a.remove(&session_id))
    }

    pub(crate) fn take_agents(&self) -> Vec<acp::AgentSlot> {
        self.agents
            .lock()
            .map(|mut a| a.drain().map(|(_, s)| s).collect())
            .unwrap_or_default()
    }

    pub(crate) fn allow_in_session(&self, session_id: i64, prefix: String) {
        if let Ok(mut a) = self.session_allowed.lock() {
            let list = a.entry(session_id).or_default();
            if !list.contains(&prefix) {
                list.push(prefix);
            }
        }
    }

    /// Whether a prefix allowed for the rest of the session passes `allows`.
    pub(crate) fn allowed_in_session(
        &self,
        session_id: i64,
        allows: &dyn Fn(&str) -> bool,
    ) -> bool {
        self.session_allowed.lock().is_ok_and(|a| {
            a.get(&session_id)
                .is_some_and(|l| l.iter().any(|p| allows(p)))
        })
    }

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
    running: Arc<Running>,
}

impl TurnHandle {
    /// Answers a question the turn asked (`TurnEvent::Question`); false if it is no
    /// longer waiting for one with that id.
    pub fn answer(&self, question_id: u32, answer: Answer) -> bool {
        self.running.answer(question_id, answer)
    }

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
    /// Starts a turn in `session_id` on the engine's runtime, in Ask mode. Its events
    /// arrive on the handle; a turn whose handle is dropped still completes and is saved.
    pub fn start_turn(&self, session_id: i64, kind: TurnKind) -> TurnHandle {
        self.start_turn_in(session_id, kind, AgentMode::Ask)
    }

    /// Starts a turn in `mode` (what the model may do without asking).
    pub fn start_turn_in(&self, session_id: i64, kind: TurnKind, mode: AgentMode) -> TurnHandle {
        let (id, cancel) = self.running.register();
        let (tx, events) = mpsc::unbounded_channel();
        let engine = self.clone();
        let stop = cancel.clone();
        let done = tokio::spawn(async move {
            let sender = tx.clone();
            let mut sink = move |event: TurnEvent| {
                let _ = sender.send(event);
            };
            let result = engine.drive(session_id, kind, mode, &mut sink, stop).await;
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
            running: self.running.clone(),
        }
    }

    /// Answers a question a running turn asked; false if none waits with that id.
    pub fn answer_question(&self, question_id: u32, answer: Answer) -> bool {
        self.running.answer(question_id, answer)
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
        self.drive(session_id, kind, AgentMode::Ask, &mut sink, cancel)
            .await
    }

    /// Escalates on the caller's task (see [`TurnKind::Escalate`]).
    pub async fn escalate(
        &self,
        session_id: i64,
        mut sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        self.drive(
            session_id,
            TurnKind::Escalate,
            AgentMode::Ask,
            &mut sink,
            cancel,
        )
        .await
    }

    /// Retries on the caller's task (see [`TurnKind::Retry`]).
    pub async fn retry(
        &self,
        session_id: i64,
        mut sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        self.drive(
            session_id,
            TurnKind::Retry,
            AgentMode::Ask,
            &mut sink,
            cancel,
        )
        .await
    }

    /// Offers the runner's tools to the model and runs its calls between requests.
    pub fn with_tools(mut self, runner: Arc<dyn ToolRunner>) -> Self {
        self.tools = Some(runner);
        self
    }

    /// How many requests a turn may make before it stops to let the user decide.
    pub fn with_max_steps(mut self, steps: u32) -> Self {
        self.max_steps = steps.max(1);
        self
    }

    /// Makes the model an agent: it gets the tools to read, search, edit and run
    /// commands (`agent`), as its mode allows.
    pub fn with_agent(mut self) -> Self {
        self.agent = true;
        self
    }

    /// Whether the model is offered tools at all.
    pub(crate) fn has_tools(&self) -> bool {
        self.agent || self.tools.is_some()
    }

    /// The tools offered with every request to `model` (none without a runner).
    pub(crate) fn tool_specs(&self, model: &str) -> Vec<flint_model::ToolSpec> {
        if self.agent {
            return agent::agent_specs(model);
        }
        self.tools.as_ref().map(|t| t.specs()).unwrap_or_default()
    }
}

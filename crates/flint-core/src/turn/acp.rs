//! Turns with an external agent (Codex, Claude Code, Gemini CLI, any ACP command)
//! instead of a model: the agent runs its own loop; Flint shows it, decides what the
//! user allows, and keeps the way back.
//!
//! - The agent's process lives per Flint session (`Running::agents`), started on the
//!   session's first turn, its ACP session loaded again after a restart where the
//!   agent can (else a fresh one is told the transcript).
//! - What it says streams through the same live view as a model's answer; its
//!   thoughts become the answer's reasoning; each of its tool calls becomes a call item
//!   (and a result item when it ends), with a command's output live; its plan one
//!   item, kept current.
//! - What it asks: permissions become the approval prompt (edits allowed by the mode
//!   are answered for the user); `fs/write_text_file` is an edit like the native
//!   agent's (reviewed hunk by hunk before anything is written, in Ask mode); reads
//!   and terminals stay inside the project.
//! - The way back: a snapshot of the project before the turn and after it (and around
//!   every write Flint makes for it); whatever the agent changed by itself becomes a
//!   checkpoint of an `acp.changes` item, reviewed hunk by hunk afterwards (a rejected
//!   hunk is reverted exactly) and undone with the turn.

use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use flint_acp::{
    AcpError, AgentChoice, AgentEvent, Connection, Incoming, Request, SessionSetup, ToolCallInfo,
};
use flint_edit::Edit;
use flint_project::ProjectDir;
use flint_store::{Item, ItemKind, ItemRole, ItemStatus, Metrics};

use super::agent::{AgentMode, Answer, Ask, CallCtx};
use super::driver::Sink;
use super::live::LiveAnswer;
use crate::engine::{FRAME, PERSIST_EVERY};
use crate::review::{ChangeKind, FileReview, Review, ReviewStatus};
use crate::{CoreError, Engine, ErrorInfo, TurnEvent};

/// Tool names of the items an agent's turn records. A native model is never sent them
/// as calls (`is_agent_tool`): it sees the agent's answers only.
pub(crate) const ACP_TOOL: &str = "acp.tool";
pub(crate) const ACP_WRITE: &str = "acp.write";
pub(crate) const ACP_CHANGES: &str = "acp.changes";
pub(crate) const ACP_PLAN: &str = "acp.plan";

pub(crate) fn is_agent_tool(name: Option<&str>) -> bool {
    name.is_some_and(|n| n.starts_with("acp."))
}

/// How long an agent has to end its turn after `session/cancel` before it is killed.
pub const CANCEL_GRACE: Duration = Duration::from_secs(1);
/// The most text one agent turn may stream (a flood ends the turn there).
const MAX_TURN_TEXT: usize = 64 * 1024 * 1024;
/// Live output shown per call, at most.
const MAX_LIVE_OUTPUT: usize = 1024 * 1024;
/// Flint terminals run at most this long.
const TERMINAL_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// One option an agent offers in a permission request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AgentOption {
    pub id: String,
    pub name: String,
    /// allow_once, allow_always, reject_once, reject_always.
    pub kind: String,
}

/// A known agent, and whether it is here.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AgentEntry {
    pub id: String,
    pub label: String,
    pub package: String,
    /// The version Flint installs.
    pub version: String,
    /// Where it was found (Flint's install, or the PATH).
    pub path: Option<String>,
    /// The version Flint installed, if it did.
    pub installed_version: Option<String>,
}

/// A model (or other choice) an agent offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AgentModel {
    pub id: String,
    pub name: String,
}

/// A way to sign in to an agent (ACP `authenticate`): one the agent runs itself (a
/// browser sign-in), or a credential the user gives in `vars` (an API key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AgentSignIn {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Variables the credential goes in (the agent is started with them to sign in;
    /// Flint keeps nothing).
    pub vars: Vec<String>,
}

/// How long an agent's sign-in may take (a browser sign-in waits for the user).
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(600);

/// A session's running agent.
pub(crate) struct LiveAgent {
    conn: Connection,
    /// The session's agent when it started (a change starts another).
    agent: String,
    setup: SessionSetup,
    mode: Option<String>,
}

pub(crate) type AgentSlot = Arc<tokio::sync::Mutex<Option<LiveAgent>>>;

/// The agent's mode for Flint's: the most review the agent offers for Ask, its
/// sandboxed automatic mode otherwise - never one without a sandbox or approvals
/// (Codex's `full-access`, Claude Code's `bypassPermissions`).
fn agent_mode(setup: &SessionSetup, mode: AgentMode) -> Option<String> {
    let want: &[&str] = match mode {
        AgentMode::Ask => &["read-only", "default", "ask"],
        AgentMode::AutoEdit | AgentMode::FullAuto => &["auto", "acceptEdits", "auto_edit"],
    };
    want.iter()
        .find(|w| setup.modes.iter().any(|m| m.id == **w))
        .map(|w| w.to_string())
}

impl Engine {
    /// The agents Flint knows, and where each is.
    pub fn known_agents(&self) -> Vec<AgentEntry> {
        let data = self.data_dir();
        flint_acp::KNOWN
            .iter()
            .map(|k| AgentEntry {
                id: k.id.into(),
                label: k.label.into(),
                package: k.package.into(),
                version: k.version.into(),
                path: flint_acp::locate(&data, k).map(|p| p.display().to_string()),
                installed_version: flint_acp::catalog::installed_version(&data, k),
            })
            .collect()
    }

    /// Installs a known agent into Flint's data folder; npm's lines go to `progress`.
    pub async fn install_agent(
        &self,
        id: &str,
        progress: &mut (dyn FnMut(&str) + Send),
    ) -> Result<String, CoreError> {
        let k = flint_acp::KNOWN
            .iter()
            .find(|k| k.id == id)
            .ok_or_else(|| AcpError::Install(format!("Flint knows no agent `{id}`")))?;
        let path = flint_acp::install(&self.data_dir(), k, None, progress).await?;
        Ok(path.display().to_string())
    }

    /// Makes a session talk to `agent` (`codex`, `claude`, `gemini` or a command line),
    /// or to its model again (none). A running agent of the session is ended.
    pub async fn set_session_agent(
        &self,
        session_id: i64,
        agent: Option<String>,
    ) -> Result<flint_store::Session, CoreError> {
        let agent = match agent
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
        {
            Some(a) => Some(AgentChoice::parse(&a)?.id()),
            None => None,
        };
        let slot = self.running.agent_slot(session_id);
        if let Some(live) = slot.lock().await.take() {
            live.conn.shutdown(CANCEL_GRACE).await;
        }
        self.db(move |s| {
            s.set_session_agent(session_id, agent.as_deref())?;
            s.session(session_id)
        })
        .await
    }

    /// The model the session's agent uses from its next turn on (one of the models it
    /// offered, `TurnEvent::AgentSession`).
    pub fn set_agent_model(&self, session_id: i64, model: String) {
        self.running.want_agent_model(session_id, model);
    }

    /// How the session's agent can be signed in to (it says so at `initialize`).
    pub async fn agent_sign_in_methods(
        &self,
        session_id: i64,
    ) -> Result<Vec<AgentSignIn>, CoreError> {
        let mut conn = self.start_agent_for(session_id, Vec::new()).await?;
        let methods = conn
            .info
            .auth_methods
            .iter()
            .map(|m| AgentSignIn {
                id: m.id.clone(),
                name: m.name.clone(),
                description: m.description.clone(),
                vars: m.vars.clone(),
            })
            .collect();
        conn.kill();
        Ok(methods)
    }

    /// Signs in to the session's agent with `method`, the credential (if the method
    /// takes one) given in `values` (variable, value): the agent is started with them,
    /// asked to `authenticate` (it keeps the login in its own place), and ended. Flint
    /// keeps no credential.
    pub async fn agent_sign_in(
        &self,
        session_id: i64,
        method: &str,
        values: Vec<(String, String)>,
    ) -> Result<(), CoreError> {
        let mut conn = self.start_agent_for(session_id, values).await?;
        let done = tokio::time::timeout(SIGN_IN_TIMEOUT, conn.authenticate(method)).await;
        conn.shutdown(CANCEL_GRACE).await;
        match done {
            Ok(r) => r.map_err(CoreError::from),
            Err(_) => Err(AcpError::Timeout {
                what: "the sign-in",
                secs: SIGN_IN_TIMEOUT.as_secs(),
            }
            .into()),
        }
    }

    /// The session's agent started (initialized, no session) with `env` added.
    async fn start_agent_for(
        &self,
        session_id: i64,
        env: Vec<(String, String)>,
    ) -> Result<Connection, CoreError> {
        let (agent, root) = self
            .db(move |s| {
                let session = s.session(session_id)?;
                Ok((session.agent, s.project(session.project_id)?.path))
            })
            .await?;
        let agent = agent.ok_or_else(|| AcpError::Start("this session has no agent".into()))?;
        let (program, args) = AgentChoice::parse(&agent)?.resolve(&self.data_dir())?;
        let spec = flint_exec::ServiceSpec {
            program,
            args,
            env,
            cwd: PathBuf::from(root),
        };
        Ok(Connection::start(&spec).await?)
    }

    /// Ends the session's agent, if one runs (the session is deleted).
    pub async fn stop_agent(&self, session_id: i64) {
        let slot = self.running.forget_agent(session_id);
        if let Some(slot) = slot {
            if let Some(live) = slot.lock().await.take() {
                live.conn.shutdown(CANCEL_GRACE).await;
            }
        }
    }

    /// Ends every running agent (the app is closing).
    pub async fn stop_agents(&self) {
        for slot in self.running.take_agents() {
            if let Some(live) = slot.lock().await.take() {
                live.conn.shutdown(CANCEL_GRACE).await;
            }
        }
    }

    /// A turn of `session_id` with its agent: the latest prompt sent to it, what it
    /// does shown and recorded, what it changed kept to be reviewed and undone.
    pub(crate) async fn agent_turn(
        &self,
        session_id: i64,
        agent: String,
        user_item: Option<Item>,
        mode: AgentMode,
        sink: &mut Sink<'_>,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let (history, root, project_id) = self
            .db(move |s| {
                let session = s.session(session_id)?;
                let root = s.project(session.project_id)?.path;
                let mut history = s.items(session_id)?;
                if let Some(last) = history.iter().rposition(|i| i.kind == ItemKind::Prompt) {
                    history.truncate(last + 1);
                }
                Ok((history, root, session.project_id))
            })
            .await?;
        let root = PathBuf::from(root);
        let choice = AgentChoice::parse(&agent);
        let label = choice
            .as_ref()
            .map(AgentChoice::label)
            .unwrap_or_else(|_| agent.clone());
        let mut turn = AgentTurn {
            engine: self,
            sink,
            session_id,
            project_id,
            root: root.clone(),
            mode,
            cancel: cancel.clone(),
            model: label,
            provider: format!("agent:{agent}"),
            answer: None,
            last_answer: None,
            calls: HashMap::new(),
            terminals: HashMap::new(),
            output: HashMap::new(),
            plan_item: None,
            usage: None,
            text_total: 0,
            writes: 0,
            events: mpsc::unbounded_channel(),
            baseline: None,
            mode_seen: None,
            stopped: false,
            gits_before: None,
        };
        let first = turn.open_answer().await?;
        (turn.sink)(TurnEvent::Started {
            user_item: user_item.map(Box::new),
            assistant_item: Box::new(first),
        });
        let choice = match choice {
            Ok(c) => c,
            Err(e) => return turn.end_failed(e).await,
        };
        let prompt_text = history
            .iter()
            .rev()
            .find(|i| i.kind == ItemKind::Prompt)
            .map(|i| i.text.clone())
            .unwrap_or_default();

        // One turn at a time per session: the agent is the session's.
        let slot = self.running.agent_slot(session_id);
        let mut held = slot.lock().await;
        let stale = held
            .as_mut()
            .is_some_and(|a| a.agent != agent || a.conn.ended().is_some());
        if stale {
            if let Some(old) = held.take() {
                old.conn.shutdown(CANCEL_GRACE).await;
            }
        }
        let mut told_transcript = false;
        if held.is_none() {
            let started = tokio::select! {
                biased;
                _ = cancel.cancelled() => return turn.end(ItemStatus::Cancelled, None).await,
                s = self.start_agent(session_id, &agent, &choice, &root) => s,
            };
            match started {
                Ok((live, fresh)) => {
                    told_transcript = fresh;
                    *held = Some(live);
                }
                Err(e) => return turn.end_failed(e).await,
            }
        }
        let Some(live) = held.as_mut() else {
            return turn
                .end_failed(AcpError::Start("the agent did not start".into()))
                .await;
        };
        // The mode, asserted every turn (the agent may have changed its own since:
        // Flint follows its `current_mode_update`s, and sets it back).
        if let Some(want) = agent_mode(&live.setup, mode) {
            if live.mode.as_deref() != Some(&want) {
                match live.conn.set_mode(&live.setup.id, &want).await {
                    Ok(()) => live.mode = Some(want),
                    Err(e) => {
                        // An agent that cannot take its mode is not kept.
                        if let Some(l) = held.take() {
                            l.conn.shutdown(Duration::from_millis(100)).await;
                        }
                        return turn.end_failed(e).await;
                    }
                }
            }
        }
        // The model the user picked among those the agent offers.
        if let Some(want) = self.running.agent_model(session_id) {
            if live.setup.current_model.as_deref() != Some(&want)
                && live.setup.models.iter().any(|m| m.id == want)
            {
                let setup = live.setup.clone();
                match live.conn.set_model(&setup, &want).await {
                    Ok(()) => live.setup.current_model = Some(want),
                    Err(e) => return turn.end_failed(e).await,
                }
            }
        }
        if !live.setup.models.is_empty() {
            (turn.sink)(TurnEvent::AgentSession {
                models: live
                    .setup
                    .models
                    .iter()
                    .map(|m| AgentModel {
                        id: m.id.clone(),
                        name: m.name.clone(),
                    })
                    .collect(),
                current_model: live.setup.current_model.clone(),
            });
        }
        // A fresh agent session for a conversation that already has turns is told them.
        let text = if told_transcript {
            with_transcript(&history, &prompt_text)
        } else {
            prompt_text
        };

        // The way back, before the agent does anything: no snapshot, no turn.
        let lock = self.running.project_lock(&root);
        let _project = lock.lock().await;
        match self.snapshots(&root).await {
            Ok(s) => turn.baseline = Some((s, SystemTime::now())),
            Err(e) => {
                return turn
                    .end_failed(AcpError::Start(format!(
                        "the agent was not started on this turn: the project's snapshot \
                         failed ({e}), so what it did could not be undone"
                    )))
                    .await
            }
        }
        let session = live.setup.id.clone();
        let mut end = live.conn.prompt(&session, &text);
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut stopping: Option<tokio::time::Instant> = None;
        let mut failure: Option<AcpError> = None;
        let outcome: Result<String, AcpError> = loop {
            let grace = async {
                match stopping {
                    Some(t) => tokio::time::sleep_until(t).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = cancel.cancelled(), if stopping.is_none() => {
                    live.conn.cancel(&session);
                    turn.stopped = true;
                    stopping = Some(tokio::time::Instant::now() + CANCEL_GRACE);
                }
                _ = grace => {
                    // It did not stop: it is killed, and the next turn starts it again.
                    live.conn.kill();
                    break Ok("cancelled".into());
                }
                r = &mut end => {
                    // Everything it sent before its answer is queued: taken now.
                    while let Some((m, w)) = live.conn.try_next() {
                        if let Err(e) = turn.incoming(m, w, &mut live.conn).await {
                            failure.get_or_insert(e);
                        }
                    }
                    let r = r.unwrap_or_else(|_| Err(AcpError::Protocol("the prompt's answer was lost".into())));
                    if r.is_err() && live.conn.wait_exit(Duration::from_millis(500)).await {
                        // It died: say so, with what it said on stderr.
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        if let Some(why) = live.conn.ended() {
                            break Err(why);
                        }
                    }
                    break r;
                }
                m = live.conn.next() => match m {
                    Some((m, w)) => {
                        if let Err(e) = turn.incoming(m, w, &mut live.conn).await {
                            // A protocol fault or a flood: the turn stops here.
                            failure.get_or_insert(e);
                            live.conn.cancel(&session);
                            live.conn.kill();
                            break Ok("cancelled".into());
                        }
                    }
                    None => {
                        let why = live.conn.ended().unwrap_or_else(|| AcpError::Exited("its connection closed".into()));
                        break Err(why);
                    }
                },
                _ = tick.tick() => {}
            }
            if let Err(e) = turn.flush().await {
                // The store failed: nobody would answer the agent, so it goes.
                live.conn.kill();
                break Err(AcpError::Protocol(format!(
                    "the turn could not be recorded: {e}"
                )));
            }
        };
        let flushed = turn.flush().await;
        // What it started in Flint's terminals ends with the turn (before the last
        // snapshot, so nothing changes after it).
        live.conn.kill_terminals();
        if let Some(m) = turn.mode_seen.take() {
            live.mode = Some(m);
        }
        // An agent that crashed, was killed or broke the protocol is not kept.
        let dead = live.conn.ended().is_some() || failure.is_some() || outcome.is_err();
        if dead {
            if let Some(l) = held.take() {
                l.conn.shutdown(Duration::from_millis(100)).await;
            }
        }
        drop(held);
        let closed = turn.close_calls().await;
        let changes = turn.record_agent_changes().await;
        turn.disable_new_repositories().await;
        drop(_project);
        flushed?;
        closed?;
        let (status, error) = match (failure, outcome) {
            (Some(e), _) | (None, Err(e)) => (ItemStatus::Failed, Some(e)),
            (None, Ok(reason)) => match reason.as_str() {
                "cancelled" => (ItemStatus::Cancelled, None),
                "max_tokens" | "max_turn_requests" => (ItemStatus::Truncated, None),
                "refusal" => (
                    ItemStatus::Failed,
                    Some(AcpError::Agent {
                        code: 0,
                        message: "the agent refused to go on".into(),
                        data: None,
                    }),
                ),
                _ => (ItemStatus::Complete, None),
            },
        };
        if let Err(e) = changes {
            // Said on the answer: what the agent changed could not be recorded.
            let note = AcpError::Start(format!(
                "what the agent changed could not be recorded for undo: {e}"
            ));
            return turn
                .end(ItemStatus::Failed, Some(error.unwrap_or(note)))
                .await;
        }
        turn.end(status, error).await
    }

    /// Starts the session's agent and opens its ACP session (loading the one it had
    /// where the agent can); true when the session is new to the agent.
    async fn start_agent(
        &self,
        session_id: i64,
        agent: &str,
        choice: &AgentChoice,
        root: &Path,
    ) -> Result<(LiveAgent, bool), AcpError> {
        let (program, args) = choice.resolve(&self.data_dir())?;
        let spec = flint_exec::ServiceSpec {
            program,
            args,
            env: Vec::new(),
            cwd: root.to_path_buf(),
        };
        let mut conn = Connection::start(&spec).await?;
        let mcp = self
            .mcp_servers
            .read()
            .map(|m| m.clone())
            .unwrap_or_default();
        let earlier = self
            .db(move |s| s.agent_session(session_id))
            .await
            .ok()
            .flatten();
        let mut fresh = true;
        let setup = match earlier {
            Some(id) if conn.info.load_session => match conn.load_session(&id, root, &mcp).await {
                Ok(setup) => {
                    fresh = false;
                    setup
                }
                Err(_) => conn.new_session(root, &mcp).await?,
            },
            _ => conn.new_session(root, &mcp).await?,
        };
        let id = setup.id.clone();
        let _ = self
            .db(move |s| s.set_agent_session(session_id, Some(&id)))
            .await;
        let has_turns = self
            .db(move |s| {
                Ok(s.items(session_id)?
                    .iter()
                    .filter(|i| i.kind == ItemKind::Prompt)
                    .count()
                    > 1)
            })
            .await
            .unwrap_or(false);
        Ok((
            LiveAgent {
                conn,
                agent: agent.to_string(),
                mode: setup.current_mode.clone(),
                setup,
            },
            fresh && has_turns,
        ))
    }
}

/// The prompt for a fresh agent session of a conversation that has earlier turns: the
/// transcript (prompts and answers), then the prompt.
fn with_transcript(history: &[Item], prompt: &str) -> String {
    let mut out = String::from(
        "This conversation started earlier; what was said so far (tool work left out):\n\n",
    );
    let last = history.iter().rposition(|i| i.kind == ItemKind::Prompt);
    for (n, i) in history.iter().enumerate() {
        if Some(n) == last {
            break;
        }
        match i.kind {
            ItemKind::Prompt => out.push_str(&format!("User: {}\n\n", i.text)),
            ItemKind::Answer if !i.text.is_empty() => {
                out.push_str(&format!("Assistant: {}\n\n", i.text))
            }
            _ => {}
        }
    }
    out.push_str(&format!("Now:\n{prompt}"));
    out
}

/// What a `CallCtx` borrows (see `AgentTurn::call_parts`).
struct CallParts {
    session_id: i64,
    project_id: i64,
    root: PathBuf,
    mode: AgentMode,
    events: mpsc::UnboundedSender<TurnEvent>,
    cancel: CancellationToken,
}

impl CallParts {
    fn ctx(&self, item_id: i64) -> CallCtx<'_> {
        CallCtx {
            session_id: self.session_id,
            project_id: self.project_id,
            root: &self.root,
            mode: self.mode,
            item_id,
            events: &self.events,
            cancel: &self.cancel,
        }
    }
}

/// The answer streaming now.
struct Open {
    /// The turn's first answer: its first text is the turn's time to first token.
    first_of_turn: bool,
    item: Item,
    live: LiveAnswer,
    reasoning: String,
    started: Instant,
    first: Option<Instant>,
    persisted: usize,
    last_persist: Instant,
}

struct Call {
    item_id: i64,
    info: ToolCallInfo,
    done: bool,
}

struct AgentTurn<'e, 's, 'k> {
    engine: &'e Engine,
    sink: &'s mut Sink<'k>,
    session_id: i64,
    project_id: i64,
    root: PathBuf,
    mode: AgentMode,
    cancel: CancellationToken,
    model: String,
    provider: String,
    answer: Option<Open>,
    last_answer: Option<Item>,
    /// The agent's calls by its id.
    calls: HashMap<String, Call>,
    /// Flint terminals (and Codex's command ids) by id: the call item they show under.
    terminals: HashMap<String, i64>,
    /// Live output waiting for the next frame, and how much each call has shown.
    output: HashMap<i64, (String, usize)>,
    plan_item: Option<Item>,
    usage: Option<(u64, u64)>,
    text_total: usize,
    writes: u32,
    /// Events from questions and reviews (what `CallCtx` sends).
    events: (
        mpsc::UnboundedSender<TurnEvent>,
        mpsc::UnboundedReceiver<TurnEvent>,
    ),
    /// The snapshot what the agent changes by itself is measured from.
    baseline: Option<(
        (super::agent::SnapshotStore, flint_store::Snapshot),
        SystemTime,
    )>,
    /// The mode the agent last said it is in.
    mode_seen: Option<String>,
    /// The user stopped the turn: what the agent still asks is refused.
    stopped: bool,
    /// The repositories in the project before the first sandboxed terminal ran: new
    /// ones are disabled at the turn's end, as for the native agent's commands.
    gits_before: Option<Vec<PathBuf>>,
}

impl AgentTurn<'_, '_, '_> {
    async fn open_answer(&mut self) -> Result<Item, CoreError> {
        let (session_id, model, provider) =
            (self.session_id, self.model.clone(), self.provider.clone());
        let item = self
            .engine
            .db(move |s| {
                s.add_item_from(
                    session_id,
                    ItemRole::Assistant,
                    "",
                    ItemStatus::Streaming,
                    Some(&model),
                    Some(&provider),
                )
            })
            .await?;
        let now = Instant::now();
        let first_of_turn = self.last_answer.is_none();
        self.answer = Some(Open {
            first_of_turn,
            live: LiveAnswer::new(item.id, self.engine.live_view, now).without_edits(),
            item: item.clone(),
            reasoning: String::new(),
            started: now,
            first: None,
            persisted: 0,
            last_persist: now,
        });
        Ok(item)
    }

    /// The open answer, opening (and announcing) one if none is.
    async fn answer(&mut self) -> Result<&mut Open, CoreError> {
        if self.answer.is_none() {
            let item = self.open_answer().await?;
            (self.sink)(TurnEvent::ItemAdded {
                item: Box::new(item),
            });
        }
        self.answer
            .as_mut()
            .ok_or_else(|| CoreError::Internal("no answer".into()))
    }

    /// Ends the open answer (if any) with `status`.
    async fn close_answer(
        &mut self,
        status: ItemStatus,
        error: Option<ErrorInfo>,
        turn_done: bool,
    ) -> Result<Option<Item>, CoreError> {
        let Some(mut open) = self.answer.take() else {
            return Ok(None);
        };
        let (rest, _) = open.live.finish();
        for e in rest {
            (self.sink)(e);
        }
        let text = open.live.text().to_string();
        let end = Instant::now();
        let output = self.usage.map(|_| (text.len() as u64).div_ceil(4));
        let metrics = Metrics {
            ttft_ms: open
                .first
                .filter(|_| open.first_of_turn)
                .map(|f| f.duration_since(open.started).as_secs_f64() * 1000.0),
            tokens_per_sec: open.first.and_then(|f| {
                let secs = end.duration_since(f).as_secs_f64();
                let n = (text.len() as u64).div_ceil(4);
                (secs > 0.0 && n > 1).then(|| n as f64 / secs)
            }),
            input_tokens: self.usage.map(|(used, _)| used),
            output_tokens: output,
        };
        let reasoning = (!open.reasoning.is_empty()).then(|| open.reasoning.clone());
        let (id, message, saved_metrics, saved_reasoning) = (
            open.item.id,
            error.as_ref().map(|e| e.message.clone()),
            metrics.clone(),
            reasoning.clone(),
        );
        let item = self
            .engine
            .db(move |s| {
                s.update_item(id, &text, status, message.as_deref())?;
                s.set_metrics(id, &saved_metrics)?;
                s.set_extras(id, saved_reasoning.as_deref(), None)?;
                s.item(id)
            })
            .await?;
        (self.sink)(TurnEvent::Finished {
            item_id: id,
            status,
            error,
            metrics,
            reasoning,
            turn_done,
        });
        self.last_answer = Some(item.clone());
        Ok(Some(item))
    }

    /// Ends the turn: the open answer (or the last one, or a new one) closes with
    /// `status` and the turn is done.
    async fn end(mut self, status: ItemStatus, error: Option<AcpError>) -> Result<Item, CoreError> {
        let error = error.map(|e| CoreError::Agent(e).info());
        if self.answer.is_none() {
            // The last thing was a tool call: the turn ends on an answer of its own
            // when it failed or stopped (to say so), else on the last answer.
            match (&self.last_answer, status) {
                (Some(last), ItemStatus::Complete) => {
                    let last = last.clone();
                    (self.sink)(TurnEvent::Finished {
                        item_id: last.id,
                        status: last.status,
                        error: None,
                        metrics: last.metrics.clone().unwrap_or_default(),
                        reasoning: last.reasoning.clone(),
                        turn_done: true,
                    });
                    return Ok(last);
                }
                _ => {
                    self.answer().await?;
                }
            }
        }
        self.close_answer(status, error, true)
            .await?
            .ok_or_else(|| CoreError::Internal("no answer".into()))
    }

    async fn end_failed(self, e: AcpError) -> Result<Item, CoreError> {
        self.end(ItemStatus::Failed, Some(e)).await
    }

    /// Sends what is due: text batches, live output, the growing answer to the store.
    async fn flush(&mut self) -> Result<(), CoreError> {
        while let Ok(e) = self.events.1.try_recv() {
            (self.sink)(e);
        }
        if let Some(open) = self.answer.as_mut() {
            for e in open.live.due() {
                (self.sink)(e);
            }
            let len = open.live.text().len();
            if open.persisted != len && open.last_persist.elapsed() >= PERSIST_EVERY {
                let (id, text) = (open.item.id, open.live.text().to_string());
                open.persisted = len;
                open.last_persist = Instant::now();
                self.engine
                    .db(move |s| s.update_item(id, &text, ItemStatus::Streaming, None))
                    .await?;
            }
        }
        for (item_id, (pending, _)) in self.output.iter_mut() {
            if !pending.is_empty() {
                (self.sink)(TurnEvent::ToolOutput {
                    item_id: *item_id,
                    text: std::mem::take(pending),
                });
            }
        }
        Ok(())
    }

    /// Takes one thing the agent said or asked, `weight` bytes of it. An error stops the
    /// turn.
    async fn incoming(
        &mut self,
        m: Incoming,
        weight: usize,
        conn: &mut Connection,
    ) -> Result<(), AcpError> {
        let internal = |e: CoreError| AcpError::Protocol(e.to_string());
        // Everything the agent sends counts toward the turn's bound, not only text.
        self.text_total += weight;
        match m {
            Incoming::Malformed(line) => {
                return Err(AcpError::Protocol(format!(
                    "a line that is not JSON: {line}"
                )))
            }
            Incoming::Event(e) => self.event(e).await.map_err(internal)?,
            Incoming::Request(r) => self.request(r, conn).await.map_err(internal)?,
        }
        if self.text_total > MAX_TURN_TEXT {
            return Err(AcpError::Protocol(format!(
                "more than {} MiB of text in one turn",
                MAX_TURN_TEXT / (1024 * 1024)
            )));
        }
        Ok(())
    }

    async fn event(&mut self, e: AgentEvent) -> Result<(), CoreError> {
        match e {
            AgentEvent::Text { text: t, sent_ms } => {
                let open = self.answer().await?;
                open.first.get_or_insert_with(Instant::now);
                // The lag the front end measures runs from when the text left the agent
                // where it says so (never later than now), else from its arrival.
                let now = unix_ms_f64();
                let since = sent_ms.filter(|s| *s <= now).unwrap_or(now);
                // An agent's answer is shown, not proposed: edits in its text are not
                // planned (what it changes is measured on disk).
                if let Some(e) = open.live.push(&t, since).before_review {
                    (self.sink)(e);
                }
            }
            AgentEvent::Thought(t) => {
                self.answer().await?.reasoning.push_str(&t);
            }
            AgentEvent::Call(info) => self.call(*info).await?,
            AgentEvent::CallUpdate(info) => self.call_update(*info).await?,
            AgentEvent::Output { terminal_id, data } => {
                let item = self
                    .terminals
                    .get(&terminal_id)
                    .copied()
                    .or_else(|| self.calls.get(&terminal_id).map(|c| c.item_id));
                if let Some(item) = item {
                    let (pending, shown) = self.output.entry(item).or_default();
                    if *shown < MAX_LIVE_OUTPUT {
                        let mut end = data.len().min(MAX_LIVE_OUTPUT - *shown);
                        while !data.is_char_boundary(end) {
                            end -= 1;
                        }
                        pending.push_str(&data[..end]);
                        *shown += end;
                        if *shown >= MAX_LIVE_OUTPUT {
                            pending.push_str("\n[more output is left out]\n");
                        }
                    }
                }
            }
            AgentEvent::Plan(entries) => self.plan(entries).await?,
            AgentEvent::Usage { used, size } => {
                self.usage = Some((used, size));
                (self.sink)(TurnEvent::Context {
                    report: crate::context::ContextReport {
                        sections: vec![crate::context::ContextSection {
                            name: "The agent's conversation".into(),
                            tokens: u32::try_from(used).unwrap_or(u32::MAX),
                            included: true,
                        }],
                        used: u32::try_from(used).unwrap_or(u32::MAX),
                        window: u32::try_from(size).ok().filter(|s| *s > 0),
                        exact: true,
                        left_out: Vec::new(),
                    },
                });
            }
            AgentEvent::Mode(m) => self.mode_seen = Some(m),
        }
        Ok(())
    }

    /// Records a tool call the agent reports, after the answer before it.
    async fn call(&mut self, info: ToolCallInfo) -> Result<(), CoreError> {
        if let Some(known) = self.calls.get(&info.id) {
            // Sent twice (a permission first, then the call): an update.
            let _ = known;
            return self.call_update(info).await;
        }
        if self.answer.is_some() {
            self.close_answer(ItemStatus::Complete, None, false).await?;
        }
        let item = self.add_call_item(&info).await?;
        for t in &info.terminals {
            self.terminals.insert(t.clone(), item.id);
        }
        if !info.diffs.is_empty() {
            self.show_diffs(item.id, &info).await;
        }
        let done = matches!(info.status.as_deref(), Some("completed" | "failed"));
        let id = info.id.clone();
        self.calls.insert(
            id.clone(),
            Call {
                item_id: item.id,
                info,
                done: false,
            },
        );
        if done {
            self.finish_call(&id).await?;
        }
        Ok(())
    }

    async fn add_call_item(&mut self, info: &ToolCallInfo) -> Result<Item, CoreError> {
        self.add_call(info.id.clone(), ACP_TOOL, stored_json(info))
            .await
    }

    /// Records a call of `tool` and shows it.
    async fn add_call(
        &mut self,
        call_id: String,
        tool: &'static str,
        text: String,
    ) -> Result<Item, CoreError> {
        let session_id = self.session_id;
        let item = self
            .engine
            .db(move |s| {
                s.add_tool_item(
                    session_id,
                    ItemKind::ToolCall,
                    &call_id,
                    Some(tool),
                    &text,
                    ItemStatus::Complete,
                )
            })
            .await?;
        (self.sink)(TurnEvent::ItemAdded {
            item: Box::new(item.clone()),
        });
        Ok(item)
    }

    /// Records what a call gave (failed or not) and shows it.
    async fn add_result(
        &mut self,
        call_id: String,
        output: String,
        failed: bool,
    ) -> Result<Item, CoreError> {
        let session_id = self.session_id;
        let item = self
            .engine
            .db(move |s| s.add_tool_result(session_id, &call_id, &output, failed))
            .await?;
        (self.sink)(TurnEvent::ItemAdded {
            item: Box::new(item.clone()),
        });
        Ok(item)
    }

    /// Rewrites an item's text and shows it again (the front end replaces it by id).
    async fn update_shown(&mut self, id: i64, text: String) -> Result<Item, CoreError> {
        let item = self
            .engine
            .db(move |s| {
                s.update_item(id, &text, ItemStatus::Complete, None)?;
                s.item(id)
            })
            .await?;
        (self.sink)(TurnEvent::ItemAdded {
            item: Box::new(item.clone()),
        });
        Ok(item)
    }

    async fn call_update(&mut self, info: ToolCallInfo) -> Result<(), CoreError> {
        let Some(call) = self.calls.get_mut(&info.id) else {
            // An update to a call never announced: announced now.
            let mut info = info;
            if info.title.is_none() {
                info.title = Some("Tool call".into());
            }
            return Box::pin(self.call(info)).await;
        };
        let merged = &mut call.info;
        if info.title.is_some() {
            merged.title = info.title;
        }
        if info.kind.is_some() {
            merged.kind = info.kind;
        }
        if info.status.is_some() {
            merged.status = info.status;
        }
        let new_diffs = !info.diffs.is_empty() && info.diffs != merged.diffs;
        if !info.diffs.is_empty() {
            merged.diffs = info.diffs;
        }
        if !info.text.is_empty() {
            merged.text = info.text;
        }
        for t in info.terminals {
            if !merged.terminals.contains(&t) {
                merged.terminals.push(t);
            }
        }
        if info.raw_input.is_some() {
            merged.raw_input = info.raw_input;
        }
        if info.raw_output.is_some() {
            merged.raw_output = info.raw_output;
        }
        let (item_id, merged) = (call.item_id, merged.clone());
        for t in &merged.terminals {
            self.terminals.insert(t.clone(), item_id);
        }
        if new_diffs {
            self.show_diffs(item_id, &merged).await;
        }
        if matches!(merged.status.as_deref(), Some("completed" | "failed")) {
            self.finish_call(&merged.id).await?;
        }
        Ok(())
    }

    /// A call ended: its item updated, its result recorded.
    async fn finish_call(&mut self, id: &str) -> Result<(), CoreError> {
        let Some(call) = self.calls.get_mut(id) else {
            return Ok(());
        };
        if call.done {
            return Ok(());
        }
        call.done = true;
        let failed = call.info.status.as_deref() == Some("failed");
        let output = output_of(&call.info);
        // A command whose output did not stream (it ended at once): shown under its call
        // now, as a streamed one is.
        let command =
            !call.info.terminals.is_empty() || call.info.kind.as_deref() == Some("execute");
        let item_id = call.item_id;
        if command
            && self
                .output
                .get(&item_id)
                .is_none_or(|(_, shown)| *shown == 0)
        {
            let mut end = output.len().min(MAX_LIVE_OUTPUT);
            while !output.is_char_boundary(end) {
                end -= 1;
            }
            self.output
                .insert(item_id, (output[..end].to_string(), end));
        }
        let Some(call) = self.calls.get(id) else {
            return Ok(());
        };
        let (item_id, call_id, text) =
            (call.item_id, call.info.id.clone(), stored_json(&call.info));
        // The call again (its final title and content), then its result.
        self.update_shown(item_id, text).await?;
        self.add_result(call_id, output, failed).await?;
        Ok(())
    }

    /// Calls the agent never said ended: ended now (the history stays whole).
    async fn close_calls(&mut self) -> Result<(), CoreError> {
        let open: Vec<String> = self
            .calls
            .iter()
            .filter(|(_, c)| !c.done)
            .map(|(id, _)| id.clone())
            .collect();
        for id in open {
            if let Some(c) = self.calls.get_mut(&id) {
                if c.info.status.is_none() || c.info.status.as_deref() == Some("in_progress") {
                    c.info.status = Some("failed".into());
                    c.info
                        .text
                        .push("The agent did not say how this call ended.".into());
                }
            }
            self.finish_call(&id).await?;
        }
        Ok(())
    }

    /// Shows the diffs a call carries in the review pane (a report of what the agent
    /// writes itself; the turn's review from its snapshot is what decides). Diffs over
    /// flint-edit's file bound are left out; the hunks are made off the executor.
    async fn show_diffs(&mut self, item_id: i64, info: &ToolCallInfo) {
        let max = flint_edit::MAX_FILE_BYTES;
        let diffs: Vec<(String, Option<String>, String)> = info
            .diffs
            .iter()
            .filter(|d| {
                d.new_text.len() <= max && d.old_text.as_ref().is_none_or(|o| o.len() <= max)
            })
            .map(|d| {
                let rel = self.rel(&d.path).unwrap_or_else(|_| d.path.clone());
                (rel, d.old_text.clone(), d.new_text.clone())
            })
            .collect();
        let detail = format!(
            "{} reports this change. Once the turn ends, its review keeps or reverts each hunk.",
            self.model
        );
        let files = tokio::task::spawn_blocking(move || {
            diffs
                .into_iter()
                .map(|(path, old, new)| FileReview {
                    path,
                    moved_from: None,
                    change: if old.is_none() {
                        ChangeKind::Added
                    } else {
                        ChangeKind::Modified
                    },
                    hunks: flint_edit::hunks(old.as_deref().unwrap_or_default(), &new),
                    base_hash: None,
                    status: ReviewStatus::Applied,
                    detail: Some(detail.clone()),
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        if files.is_empty() {
            return;
        }
        (self.sink)(TurnEvent::Review {
            review: Box::new(Review {
                item_id,
                files,
                failures: Vec::new(),
            }),
        });
    }

    /// The agent's plan: one item per turn, kept current.
    async fn plan(&mut self, entries: Value) -> Result<(), CoreError> {
        let plan: Vec<Value> = entries
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|e| json!({ "step": e["content"], "status": e["status"] }))
                    .collect()
            })
            .unwrap_or_default();
        let text = json!({ "plan": plan }).to_string();
        match &self.plan_item {
            Some(item) => {
                let item = self.update_shown(item.id, text).await?;
                self.plan_item = Some(item);
            }
            None => {
                if self.answer.is_some() {
                    self.close_answer(ItemStatus::Complete, None, false).await?;
                }
                let id = format!("flint-plan-{}", self.calls.len());
                let call = self.add_call(id.clone(), ACP_PLAN, text).await?;
                self.add_result(id, "Plan shown.".into(), false).await?;
                self.plan_item = Some(call);
            }
        }
        Ok(())
    }

    /// A path the agent gave, relative to the project (refused outside it).
    fn rel(&self, path: &str) -> Result<String, String> {
        let p = Path::new(path);
        if p.is_relative() {
            return Ok(path.to_string());
        }
        let canonical = self
            .root
            .canonicalize()
            .unwrap_or_else(|_| self.root.clone());
        for root in [&self.root, &canonical] {
            if let Ok(rel) = p.strip_prefix(root) {
                return Ok(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Err(format!(
            "{path} is outside the project, where Flint does not let agents reach"
        ))
    }

    /// What a question or an edit of the turn runs with, owned, so the turn can pass on
    /// the events it sends while it waits.
    fn call_parts(&self) -> CallParts {
        CallParts {
            session_id: self.session_id,
            project_id: self.project_id,
            root: self.root.clone(),
            mode: self.mode,
            events: self.events.0.clone(),
            cancel: self.cancel.clone(),
        }
    }

    async fn request(&mut self, r: Request, _conn: &mut Connection) -> Result<(), CoreError> {
        if self.stopped {
            let no = "the user stopped the turn".to_string();
            match r {
                Request::Permission { reply, .. } => reply.send(Ok(None)),
                Request::ReadFile { reply, .. } => reply.send(Err(no)),
                Request::WriteFile { reply, .. } => reply.send(Err(no)),
                Request::Terminal { reply, .. } => reply.send(Err(no)),
            }
            return Ok(());
        }
        match r {
            Request::Permission {
                call,
                options,
                reply,
            } => {
                let answer = self.permission(*call, options).await?;
                reply.send(Ok(answer));
            }
            Request::ReadFile {
                path,
                line,
                limit,
                reply,
            } => {
                let read = match self.rel(&path.to_string_lossy()) {
                    Ok(rel) => {
                        let root = self.root.clone();
                        tokio::task::spawn_blocking(move || {
                            read_for_agent(&root, &rel, line, limit)
                        })
                        .await
                        .unwrap_or_else(|e| Err(e.to_string()))
                    }
                    Err(e) => Err(e),
                };
                reply.send(read);
            }
            Request::WriteFile {
                path,
                content,
                reply,
            } => {
                let out = self.write(&path.to_string_lossy(), content).await?;
                reply.send(out);
            }
            Request::Terminal { ask, reply } => {
                let out = self.terminal(ask).await;
                reply.send(out);
            }
        }
        Ok(())
    }

    /// A permission request: answered by the mode where it allows the call, else asked.
    async fn permission(
        &mut self,
        call: ToolCallInfo,
        options: Vec<flint_acp::PermissionOption>,
    ) -> Result<Option<String>, CoreError> {
        let pick = |kinds: &[&str]| {
            kinds
                .iter()
                .find_map(|k| options.iter().find(|o| o.kind == *k).map(|o| o.id.clone()))
        };
        let kind = call.kind.clone().unwrap_or_else(|| "other".into());
        // Every path the call names, and those outside the project (an agent asks
        // exactly when it wants past its own limits: those are the user's to allow).
        let named: Vec<&str> = call
            .diffs
            .iter()
            .map(|d| d.path.as_str())
            .chain(call.locations.iter().map(String::as_str))
            .collect();
        let dir = ProjectDir::open(&self.root).ok();
        let outside: Vec<String> = named
            .iter()
            .filter(|p| {
                self.rel(p)
                    .ok()
                    .and_then(|r| dir.as_ref().map(|d| d.resolve(&r).is_ok()))
                    != Some(true)
            })
            .map(|p| p.to_string())
            .collect();
        // Auto-edit and Full auto allow an edit (with its diff) or a read, inside the
        // project only; never a command (an agent asks to leave its own sandbox), a
        // fetch (the network), or anything naming a path outside.
        let runs = call
            .raw_input
            .as_ref()
            .is_some_and(|v| !v["command"].is_null() || !v["cmd"].is_null());
        let auto = self.mode != AgentMode::Ask
            && outside.is_empty()
            && !runs
            && match kind.as_str() {
                "edit" => !call.diffs.is_empty(),
                "read" | "search" | "think" => true,
                _ => false,
            };
        if auto {
            return Ok(pick(&["allow_once", "allow_always"]));
        }
        let item_id = match self.calls.get(&call.id) {
            Some(c) => c.item_id,
            None => {
                let info = call.clone();
                let item = self.add_call_item(&info).await?;
                let id = info.id.clone();
                self.calls.insert(
                    id,
                    Call {
                        item_id: item.id,
                        info,
                        done: false,
                    },
                );
                item.id
            }
        };
        let review = if call.diffs.is_empty() {
            None
        } else {
            let proposal = self.proposal(item_id, &call).await;
            if let Some(r) = &proposal {
                (self.sink)(TurnEvent::Review {
                    review: Box::new(r.clone()),
                });
            }
            proposal.map(Box::new)
        };
        let command = call.raw_input.as_ref().and_then(|v| {
            let c = &v["command"];
            c.as_str().map(str::to_owned).or_else(|| {
                c.as_array().map(|a| {
                    let words: Vec<String> = a
                        .iter()
                        .filter_map(|w| w.as_str().map(str::to_owned))
                        .collect();
                    match words.as_slice() {
                        [sh, flag, line] if sh.ends_with("sh") && flag.ends_with('c') => {
                            line.clone()
                        }
                        _ => shell_join(&words),
                    }
                })
            })
        });
        let ask = Ask::Permission {
            title: call.title.clone().unwrap_or_else(|| "A tool call".into()),
            tool_kind: kind,
            outside,
            command,
            options: options
                .iter()
                .map(|o| AgentOption {
                    id: o.id.clone(),
                    name: o.name.clone(),
                    kind: o.kind.clone(),
                })
                .collect(),
            review,
        };
        let (parts, engine) = (self.call_parts(), self.engine);
        let ctx = parts.ctx(item_id);
        let answer = pump(&mut *self.sink, &mut self.events.1, engine.ask(&ctx, ask)).await;
        Ok(match answer {
            // Exactly the option the user picked, where it is one the agent offered.
            Answer::Choose { option_id } if options.iter().any(|o| o.id == option_id) => {
                Some(option_id)
            }
            Answer::Choose { .. } => None,
            Answer::Deny { .. } => pick(&["reject_once", "reject_always"]),
            Answer::AllowAlways | Answer::AllowForSession => pick(&["allow_always", "allow_once"]),
            Answer::Allow | Answer::Reviewed => pick(&["allow_once", "allow_always"]),
        })
    }

    /// The diffs of a call the agent asks to make, planned against the files now, as a
    /// review (read-only: the agent writes them once allowed).
    async fn proposal(&mut self, item_id: i64, call: &ToolCallInfo) -> Option<Review> {
        let dir = ProjectDir::open(&self.root).ok()?;
        let edits: Vec<Edit> = call
            .diffs
            .iter()
            .filter_map(|d| {
                let path = self.rel(&d.path).ok()?;
                Some(match &d.old_text {
                    None => Edit::Add {
                        path,
                        content: d.new_text.clone(),
                    },
                    Some(old) if old.is_empty() => Edit::Write {
                        path,
                        content: d.new_text.clone(),
                    },
                    Some(old) => Edit::Replace {
                        path,
                        search: old.clone(),
                        replace: d.new_text.clone(),
                    },
                })
            })
            .collect();
        let mut review = tokio::task::spawn_blocking(move || {
            crate::review::review_of(item_id, &dir, &edits, &[]).1
        })
        .await
        .ok()?;
        for f in &mut review.files {
            f.detail =
                Some("The agent asks to make this change; it writes it once allowed.".into());
        }
        Some(review)
    }

    /// A write through Flint's file system: an edit like the native agent's (reviewed
    /// hunk by hunk first in Ask mode), between two snapshots so what the agent changed
    /// by itself before it stays its own.
    async fn write(
        &mut self,
        path: &str,
        content: String,
    ) -> Result<Result<(), String>, CoreError> {
        let rel = match self.rel(path) {
            Ok(r) => r,
            Err(e) => return Ok(Err(e)),
        };
        if let Err(e) = self.record_agent_changes().await {
            return Ok(Err(format!(
                "not written: the project's snapshot failed ({e})"
            )));
        }
        self.writes += 1;
        if self.answer.is_some() {
            self.close_answer(ItemStatus::Complete, None, false).await?;
        }
        let call_id = format!("flint-write-{}", self.writes);
        let text = json!({ "path": rel, "content": content }).to_string();
        let item = self.add_call(call_id.clone(), ACP_WRITE, text).await?;
        let rel_path = rel.clone();
        let edits = vec![Edit::Write { path: rel, content }];
        let (parts, engine) = (self.call_parts(), self.engine);
        let ctx = parts.ctx(item.id);
        // Questions and reviews go out while the user decides.
        let out = pump(
            &mut *self.sink,
            &mut self.events.1,
            engine.agent_edit(&ctx, &edits),
        )
        .await;
        self.add_result(call_id, out.output.clone(), out.is_error)
            .await?;
        // What Flint wrote is its own checkpoint (bytes as they are right after it);
        // anything else that changed while the user decided is the agent's, recorded.
        let written = ProjectDir::open(&self.root)
            .ok()
            .and_then(|d| d.resolve(&rel_path).ok())
            .map(|abs| flint_project::read_regular(&abs, flint_edit::MAX_FILE_BYTES, false));
        let exclude: Vec<(String, Option<Vec<u8>>)> =
            written.map(|w| (rel_path.clone(), w)).into_iter().collect();
        if let Err(e) = self.record_agent_changes_but(exclude).await {
            return Ok(Err(format!(
                "written, but what changed meanwhile could not be recorded: {e}"
            )));
        }
        Ok(if out.is_error {
            Err(out.output)
        } else {
            Ok(())
        })
    }

    /// A command the agent wants in a Flint terminal: inside the project, in the
    /// sandbox in Full auto (where there is one), else asked first.
    async fn terminal(
        &mut self,
        ask: flint_acp::TerminalAsk,
    ) -> Result<flint_exec::Command, String> {
        let dir = ProjectDir::open(&self.root).map_err(|e| e.to_string())?;
        // Where it runs, confined like an edit's path (checked again once it may run).
        let place = |turn: &Self| match &ask.cwd {
            None => Ok(dir.root().to_path_buf()),
            Some(p) => {
                let rel = turn.rel(&p.to_string_lossy())?;
                let rel = if rel.is_empty() { ".".to_string() } else { rel };
                super::agent::command_dir(&dir, &rel)
            }
        };
        let cwd = place(self)?;
        let mut argv = vec![ask.command.clone()];
        argv.extend(ask.args.iter().cloned());
        // An agent that sends one command line (with no arguments) means it for a shell.
        let program = if ask.args.is_empty() && ask.command.contains(' ') {
            flint_exec::Program::Shell(ask.command.clone())
        } else {
            flint_exec::Program::Argv(argv)
        };
        let shown = program.display();
        let can_sandbox = flint_exec::usable_for(dir.root()).is_ok();
        let sandboxed = self.mode == AgentMode::FullAuto && can_sandbox;
        if !sandboxed {
            let item_id = self.terminal_item().await.map_err(|e| e.to_string())?;
            let (parts, engine) = (self.call_parts(), self.engine);
            let ctx = parts.ctx(item_id);
            let rel_cwd = cwd
                .strip_prefix(dir.root())
                .map(|p| p.to_string_lossy().into_owned())
                .unwrap_or_default();
            let ask = Ask::Command {
                command: shown.clone(),
                cwd: rel_cwd,
                why: Some(format!("{} runs it in a terminal", self.model)),
                prefix: None,
            };
            let answer = pump(&mut *self.sink, &mut self.events.1, engine.ask(&ctx, ask)).await;
            if let Answer::Deny { message } = answer {
                let why = message.map(|m| format!(": {m}")).unwrap_or_default();
                return Err(format!("The user did not allow running `{shown}`{why}."));
            }
        }
        // Checked again now that it may run (a question can wait, and a folder can
        // become a link meanwhile).
        let cwd = place(self)?;
        let sandbox = if sandboxed {
            let root = dir.root().to_path_buf();
            let gits = tokio::task::spawn_blocking(move || super::agent::git_entries(&root))
                .await
                .map_err(|e| e.to_string())??;
            self.gits_before.get_or_insert_with(|| gits.clone());
            Some(flint_exec::Sandbox {
                root: dir.root().to_path_buf(),
                read_only: gits
                    .iter()
                    .map(|p| match p.file_name().and_then(|n| n.to_str()) {
                        Some("HEAD") => p.parent().map(Path::to_path_buf).unwrap_or_default(),
                        _ => p.clone(),
                    })
                    .collect(),
                git_dirs: dir.git_dirs(),
                network: false,
            })
        } else {
            None
        };
        Ok(flint_exec::Command {
            program,
            cwd,
            timeout: TERMINAL_TIMEOUT,
            max_output: 64 * 1024,
            sandbox,
        })
    }

    /// The call item a terminal question is about: the latest call still running, else
    /// the open answer's.
    async fn terminal_item(&mut self) -> Result<i64, CoreError> {
        if let Some(c) = self
            .calls
            .values()
            .filter(|c| !c.done)
            .max_by_key(|c| c.item_id)
        {
            return Ok(c.item_id);
        }
        Ok(self.answer().await?.item.id)
    }

    /// Repositories made in the project since the first sandboxed terminal of the turn
    /// ran are disabled (renamed, nothing deleted), as the native agent's commands'
    /// are: git would run what their config says wherever it is used. Said in the
    /// transcript.
    async fn disable_new_repositories(&mut self) {
        let Some(before) = self.gits_before.take() else {
            return;
        };
        let root = self.root.clone();
        let said = tokio::task::spawn_blocking(move || {
            let now = match super::agent::git_entries(&root) {
                Ok(found) => found,
                Err(e) => return vec![format!("could not look for repositories: {e}")],
            };
            now.into_iter()
                .filter(|p| !before.contains(p))
                .map(|p| {
                    let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
                    match super::agent::disable_repository(&p) {
                        Ok(to) => format!("{rel} (now {to})"),
                        Err(e) => format!("{rel}: COULD NOT BE DISABLED ({e})"),
                    }
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        if said.is_empty() {
            return;
        }
        let text = format!(
            "Flint disabled the git repositories made while the agent's terminals ran: {}",
            said.join(", ")
        );
        let id = "flint-repositories".to_string();
        let title = json!({ "title": "Disabled new git repositories", "kind": "other" });
        // Said as well as it can be: the turn is ending.
        if self
            .add_call(id.clone(), ACP_TOOL, title.to_string())
            .await
            .is_ok()
        {
            let _ = self.add_result(id, text, false).await;
        }
    }

    /// What the agent changed since the baseline, recorded as an `acp.changes` item's
    /// checkpoint, its review shown; the baseline moves to now.
    async fn record_agent_changes(&mut self) -> Result<(), String> {
        self.record_agent_changes_but(Vec::new()).await
    }

    /// As `record_agent_changes`, leaving out files now exactly as `exclude` says
    /// (Flint's own write, recorded as its own).
    async fn record_agent_changes_but(
        &mut self,
        exclude: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(), String> {
        let Some(((store, before), started)) = self.baseline.take() else {
            return Err("no snapshot was taken before the agent acted".into());
        };
        // Put back if recording fails, so what follows is still measured from it.
        let kept = ((store.clone(), before.clone()), started);
        let dir = ProjectDir::open(&self.root).map_err(|e| e.to_string())?;
        let (session_id, n) = (self.session_id, self.writes);
        // The item first (its checkpoint needs it); removed again if nothing changed.
        let item = self
            .engine
            .db(move |s| {
                s.add_tool_item(
                    session_id,
                    ItemKind::ToolCall,
                    &format!("flint-changes-{n}"),
                    Some(ACP_CHANGES),
                    "{}",
                    ItemStatus::Complete,
                )
            })
            .await
            .map_err(|e| e.to_string())?;
        let summary: String = format!("what {} changed", self.model);
        let recorded = self
            .engine
            .record_changes(
                self.project_id,
                item.id,
                &dir,
                summary,
                (store.clone(), before, started),
                exclude,
            )
            .await;
        let (changed, odd, after) = match recorded {
            Ok(r) => r,
            Err(e) => {
                let id = item.id;
                let _ = self.engine.db(move |s| s.delete_item(id)).await;
                self.baseline = Some(kept);
                return Err(e);
            }
        };
        self.baseline = Some(((store, after), SystemTime::now()));
        if changed.is_empty() && odd.is_empty() {
            let id = item.id;
            let _ = self.engine.db(move |s| s.delete_item(id)).await;
            return Ok(());
        }
        if self.answer.is_some() {
            // The answer before it ends here (the changes follow it).
            let _ = self.close_answer(ItemStatus::Complete, None, false).await;
        }
        let text = json!({ "files": changed, "not_recorded": odd }).to_string();
        let result_text = if odd.is_empty() {
            format!(
                "{} file(s) changed; review to keep or revert each hunk.",
                changed.len()
            )
        } else {
            format!(
                "{} file(s) changed; not recorded (Flint cannot write these names back): {}",
                changed.len(),
                odd.join(", ")
            )
        };
        let (id, call_id) = (item.id, item.call_id.clone().unwrap_or_default());
        self.update_shown(id, text)
            .await
            .map_err(|e| e.to_string())?;
        self.add_result(call_id, result_text, false)
            .await
            .map_err(|e| e.to_string())?;
        if let Ok(review) = self.engine.review(id).await {
            (self.sink)(TurnEvent::Review {
                review: Box::new(review),
            });
        }
        Ok(())
    }
}

/// How much of a call is kept with its item (and sent to the front end on each change).
const MAX_STORED_CALL: usize = 256 * 1024;

/// A call as its item keeps it: whole where it is small; else without its raw input and
/// output, then without its diffs' text (their paths kept), saying what was left out.
fn stored_json(info: &ToolCallInfo) -> String {
    let whole = serde_json::to_string(info).unwrap_or_default();
    if whole.len() <= MAX_STORED_CALL {
        return whole;
    }
    let mut cut = info.clone();
    let note = |v: &Option<Value>| {
        v.as_ref()
            .map(|v| json!(format!("(left out: {} KiB)", v.to_string().len() / 1024)))
    };
    cut.raw_input = note(&info.raw_input);
    cut.raw_output = note(&info.raw_output);
    for t in &mut cut.text {
        if t.len() > MAX_STORED_CALL / 4 {
            let mut end = MAX_STORED_CALL / 4;
            while !t.is_char_boundary(end) {
                end -= 1;
            }
            t.truncate(end);
            t.push_str("\n(the rest is left out)");
        }
    }
    let smaller = serde_json::to_string(&cut).unwrap_or_default();
    if smaller.len() <= MAX_STORED_CALL {
        return smaller;
    }
    for d in &mut cut.diffs {
        d.old_text = d.old_text.as_ref().map(|_| "(left out)".into());
        d.new_text = "(left out)".into();
    }
    cut.text.clear();
    serde_json::to_string(&cut).unwrap_or_default()
}

/// What a finished call gave: a command's output, its text content, its raw output.
fn output_of(info: &ToolCallInfo) -> String {
    if let Some(raw) = &info.raw_output {
        for key in ["formatted_output", "aggregated_output", "output", "stdout"] {
            if let Some(s) = raw[key].as_str().filter(|s| !s.is_empty()) {
                return s.to_string();
            }
        }
    }
    if !info.text.is_empty() {
        return info.text.join("\n");
    }
    if !info.diffs.is_empty() {
        let paths: Vec<&str> = info.diffs.iter().map(|d| d.path.as_str()).collect();
        return format!("Changed {}", paths.join(", "));
    }
    match &info.raw_output {
        Some(Value::String(s)) => s.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => match info.status.as_deref() {
            Some("failed") => "failed".into(),
            _ => "done".into(),
        },
    }
}

/// A text file of the project for an agent (`fs/read_text_file`): regular files only
/// (no links out), at most flint-edit's file bound, from `line` for `limit` lines.
fn read_for_agent(
    root: &Path,
    rel: &str,
    line: Option<u32>,
    limit: Option<u32>,
) -> Result<String, String> {
    let dir = ProjectDir::open(root).map_err(|e| e.to_string())?;
    let abs = dir.resolve(rel).map_err(|e| e.to_string())?;
    let max = flint_edit::MAX_FILE_BYTES;
    let bytes = flint_project::read_regular(&abs, max, false).ok_or_else(|| {
        format!("{rel} is not a file Flint reads (missing, a link, or not regular)")
    })?;
    if bytes.len() > max {
        return Err(format!("{rel} is larger than {} MiB", max / (1024 * 1024)));
    }
    let text = String::from_utf8(bytes).map_err(|_| format!("{rel} is not UTF-8 text"))?;
    if line.is_none() && limit.is_none() {
        return Ok(text);
    }
    let start = line.unwrap_or(1).max(1) as usize - 1;
    let take = limit.map_or(usize::MAX, |l| l as usize);
    Ok(text.split_inclusive('\n').skip(start).take(take).collect())
}

/// Runs `fut` (which may ask the user, and send reviews) while passing on the events
/// it sends, then the rest of them.
async fn pump<T>(
    sink: &mut Sink<'_>,
    rx: &mut mpsc::UnboundedReceiver<TurnEvent>,
    fut: impl Future<Output = T>,
) -> T {
    tokio::pin!(fut);
    let out = loop {
        tokio::select! {
            out = &mut fut => break out,
            Some(e) = rx.recv() => sink(e),
        }
    };
    while let Ok(e) = rx.try_recv() {
        sink(e);
    }
    out
}

fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| {
            if w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@".contains(c))
                && !w.is_empty()
            {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn unix_ms_f64() -> f64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

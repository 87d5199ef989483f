use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use flint_edit::{AnswerParser, Edit};
use flint_model::{
    with_retries, Message, ModelClient, ModelError, ModelEvent, ModelRequest, RetryPolicy, Role,
    Usage,
};
use flint_project::{ProjectDir, ProjectInfo};
use flint_store::{Item, ItemRole, ItemStatus, Metrics, ModelSlot, Project, Session, Store};

use crate::activity::Activity;
use crate::context::{self, ContextInput, ContextReport, Tokenizer};
use crate::{CoreError, ErrorInfo, TurnEvent};

/// How long deltas are gathered before one batch goes to the front end: about one
/// frame, so the UI does one update per paint however fast tokens arrive.
pub const FRAME: Duration = Duration::from_millis(8);

/// How often a growing answer is written to the store: a crash loses at most this much.
pub const PERSIST_EVERY: Duration = Duration::from_millis(250);

const SYSTEM_PROMPT: &str = "You are Flint, a fast coding assistant working in the user's \
project beside their editor. Answer concisely; use fenced code blocks with a language tag.";

/// How Codex models are trained to write edits: apply_patch (V4A).
const EDITS_V4A: &str = "To change files, write one patch in apply_patch format, \
between `*** Begin Patch` and `*** End Patch`, with `*** Add File: path`, \
`*** Delete File: path` or `*** Update File: path` (optionally `*** Move to: path`), then \
`@@` chunks of ` ` context, `-` removed and `+` added lines. Paths are relative to the \
project root. The user reviews every change before it is applied.";

/// What most other models write reliably: SEARCH/REPLACE blocks.
const EDITS_SEARCH_REPLACE: &str = "To change a file, write its path relative to the \
project root on a line of its own, then a fenced block holding `<<<<<<< SEARCH`, the \
exact current lines, `=======`, the new lines, `>>>>>>> REPLACE`. Quote enough lines to \
be unique. To create a small file, write its path and then its whole content in a \
fenced block. The user reviews every change before it is applied.";

/// The system prompt for `model`: stable text first, so providers' prompt caches hit.
fn system_prompt(model: &str) -> String {
    let edits = if model.contains("codex") {
        EDITS_V4A
    } else {
        EDITS_SEARCH_REPLACE
    };
    format!("{SYSTEM_PROMPT}\n\n{edits}")
}

/// A model ready to answer: the client, and the names it is recorded under.
#[derive(Clone)]
pub struct SlotClient {
    pub client: Arc<dyn ModelClient>,
    pub provider: String,
    pub model: String,
    /// The model's context window, where known (for the budget and the meter).
    pub window: Option<u32>,
}

impl SlotClient {
    pub fn new(client: Arc<dyn ModelClient>, provider: &str, model: &str) -> Self {
        Self {
            client,
            provider: provider.to_string(),
            model: model.to_string(),
            window: flint_model::preset::context_window(model),
        }
    }

    pub fn with_window(mut self, window: Option<u32>) -> Self {
        self.window = window;
        self
    }

    /// A slot with no model behind it, for showing what a turn would send before any
    /// model is set up (`flint context`), counted against `window`. Requests fail.
    pub fn unconnected(window: u32) -> Self {
        Self {
            client: Arc::new(Unconnected),
            provider: String::new(),
            model: String::new(),
            window: Some(window),
        }
    }
}

/// The client of [`SlotClient::unconnected`].
struct Unconnected;

impl ModelClient for Unconnected {
    fn stream(&self, _: ModelRequest) -> flint_model::EventStream {
        Box::pin(futures_util::stream::once(async {
            Err(ModelError::Provider {
                detail: "no model is set up".into(),
            })
        }))
    }
}

#[derive(Clone, Default)]
struct Models {
    fast: Option<SlotClient>,
    deep: Option<SlotClient>,
}

/// The engine: one store, a fast and a deep model. Cheap to clone and share.
#[derive(Clone)]
pub struct Engine {
    store: Arc<Mutex<Store>>,
    models: Arc<RwLock<Models>>,
    retry: RetryPolicy,
    /// The user's own AGENTS.md, read before the project's.
    global_agents: Option<PathBuf>,
    /// What the user did in each open project since its previous turn, by root.
    activity: Arc<Mutex<HashMap<PathBuf, Activity>>>,
    /// The git summary per project, kept until the watcher (or Flint) reports a change:
    /// a full status of a large tree costs hundreds of milliseconds, a turn should not.
    git_summaries: Arc<Mutex<HashMap<PathBuf, Option<String>>>>,
    /// A front end shows turns as they stream: render markdown blocks and plan edit
    /// reviews on the way. Off for the command line, which prints the text only.
    live_view: bool,
}

/// An opened project with its latest session (if it has one) and that session's items.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Workspace {
    pub info: ProjectInfo,
    pub project: Project,
    pub session: Option<Session>,
    pub items: Vec<Item>,
    /// Changes a stopped process left half-written that opening finished, as sentences
    /// ("finished applying a.txt"): the user is told, and one undo takes each back.
    pub settled: Vec<String>,
}

impl Engine {
    pub fn new(store: Store, fast: Option<SlotClient>, deep: Option<SlotClient>) -> Self {
        Self {
            store: Arc::new(Mutex::new(store)),
            models: Arc::new(RwLock::new(Models { fast, deep })),
            retry: RetryPolicy::default(),
            global_agents: None,
            activity: Arc::default(),
            git_summaries: Arc::default(),
            live_view: true,
        }
    }

    /// For a front end that prints the answer's text only (`flint ask`): no markdown
    /// rendering or edit reviews while a turn streams (the text and history are the same).
    pub fn text_only(mut self) -> Self {
        self.live_view = false;
        self
    }

    /// The project's git summary, from the cache while nothing changed (blocking).
    fn git_summary(&self, root: &Path) -> Option<String> {
        if let Some(cached) = self
            .git_summaries
            .lock()
            .ok()
            .and_then(|c| c.get(root).cloned())
        {
            return cached;
        }
        let summary = flint_project::status_summary(root, 40);
        if let Ok(mut c) = self.git_summaries.lock() {
            c.insert(root.to_path_buf(), summary.clone());
        }
        summary
    }

    /// Forgets the cached git state of a project (after staging, committing, checkout).
    pub fn invalidate_git(&self, root: &Path) {
        if let Ok(mut c) = self.git_summaries.lock() {
            c.remove(root);
        }
    }

    /// Takes a batch of changed paths from the project's watcher (blocking: reads them).
    pub fn note_changes(&self, root: &Path, paths: &[String]) {
        self.invalidate_git(root);
        if let Ok(mut a) = self.activity.lock() {
            a.entry(root.to_path_buf()).or_default().saw(root, paths);
        }
    }

    /// The files the user changed in the project since its previous turn.
    pub fn user_changes(&self, root: &Path) -> Vec<String> {
        self.activity
            .lock()
            .ok()
            .and_then(|a| a.get(root).map(Activity::changed))
            .unwrap_or_default()
    }

    /// Records what Flint is about to write, so the watcher does not take it for the user's.
    pub(crate) fn flint_writes(&self, root: &Path, writes: &[flint_edit::Write]) {
        self.invalidate_git(root);
        if let Ok(mut a) = self.activity.lock() {
            let act = a.entry(root.to_path_buf()).or_default();
            for w in writes {
                act.flint_wrote(&w.path, w.content.as_deref());
            }
        }
    }

    fn recent_edits(&self, root: &Path) -> Option<String> {
        let dir = ProjectDir::open(root).ok()?;
        self.activity.lock().ok()?.get(root)?.recent_edits(&dir)
    }

    /// Reads `path` (the user's global AGENTS.md) into every turn's instructions.
    pub fn with_global_agents(mut self, path: PathBuf) -> Self {
        self.global_agents = Some(path);
        self
    }

    /// What the next turn in `session_id` (or a new session of the project at `root`)
    /// would send for `prompt`, section by section with token counts: exact ones
    /// (`exact`, for `flint context`), or estimated while far from the window's limit
    /// (the app's meter, which says so).
    pub async fn preview_context(
        &self,
        root: &Path,
        session_id: Option<i64>,
        prompt: &str,
        exact: bool,
    ) -> Result<(Vec<Message>, ContextReport), CoreError> {
        let (history, slot) = match session_id {
            Some(id) => {
                let (items, session) = self.db(move |s| Ok((s.items(id)?, s.session(id)?))).await?;
                (items, session.slot)
            }
            None => (Vec::new(), ModelSlot::Fast),
        };
        let slot = self.slot(slot).ok_or(CoreError::NoModel(slot))?;
        let (root, prompt, global) = (
            root.to_path_buf(),
            prompt.to_string(),
            self.global_agents.clone(),
        );
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let history: Vec<Message> = history
                .iter()
                .filter(|i| !i.text.is_empty())
                .map(to_message)
                .collect();
            let recent = engine.recent_edits(&root);
            build_context(
                &root,
                global.as_deref(),
                &history,
                &prompt,
                &slot,
                ProjectNow {
                    recent_edits: recent.as_deref(),
                    git: engine.git_summary(&root),
                    exact,
                },
            )
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))
    }

    /// Replaces the models (after the settings changed); running turns keep theirs.
    pub fn set_models(&self, fast: Option<SlotClient>, deep: Option<SlotClient>) {
        if let Ok(mut m) = self.models.write() {
            *m = Models { fast, deep };
        }
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub(crate) fn fast_slot(&self) -> Option<SlotClient> {
        self.slot(ModelSlot::Fast)
    }

    fn slot(&self, slot: ModelSlot) -> Option<SlotClient> {
        let m = self.models.read().ok()?;
        match slot {
            ModelSlot::Fast => m.fast.clone(),
            ModelSlot::Deep => m.deep.clone(),
        }
    }

    pub(crate) fn store_handle(&self) -> Arc<Mutex<Store>> {
        self.store.clone()
    }

    /// Runs `f` with the store on a blocking thread (SQLite never blocks the executor).
    pub async fn db<T, F>(&self, f: F) -> Result<T, CoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Store) -> flint_store::Result<T> + Send + 'static,
    {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || {
            let guard = store
                .lock()
                .map_err(|_| CoreError::Internal("the store lock was poisoned".into()))?;
            f(&guard).map_err(CoreError::from)
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?
    }

    /// Opens a folder as the current project and loads its latest session.
    pub async fn open_project(&self, path: &Path) -> Result<Workspace, CoreError> {
        let path = path.to_path_buf();
        let (dir, info) = tokio::task::spawn_blocking(move || {
            ProjectDir::open(&path).map(|d| {
                let info = d.info();
                (d, info)
            })
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))??;
        let (root, name) = (info.root.clone(), info.name.clone());
        let (project, session, items, settled) = self
            .db(move |s| {
                let project = s.touch_project(&root, &name)?;
                // Changes a stopped process was writing are settled before anything else.
                let settled = crate::review::reconcile(s, project.id, &dir)?;
                let session = s.latest_session(project.id)?;
                let items = match &session {
                    Some(sess) => s.items(sess.id)?,
                    None => Vec::new(),
                };
                Ok((project, session, items, settled))
            })
            .await?;
        Ok(Workspace {
            info,
            project,
            session,
            items,
            settled,
        })
    }

    /// The project opened last, if it still opens.
    pub async fn last_project(&self) -> Result<Option<Project>, CoreError> {
        self.db(|s| s.last_project()).await
    }

    pub async fn new_session(&self, project_id: i64, title: &str) -> Result<Session, CoreError> {
        let title = title.to_string();
        self.db(move |s| s.create_session(project_id, &title)).await
    }

    /// Runs one turn in `session_id`: records the prompt, then streams the answer from
    /// the session's model (see [`Engine::answer`]).
    pub async fn run_turn(
        &self,
        session_id: i64,
        prompt: &str,
        sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let prompt = prompt.trim().to_string();
        if prompt.is_empty() {
            return Err(CoreError::EmptyPrompt);
        }
        let session = self.db(move |s| s.session(session_id)).await?;
        let slot = self
            .slot(session.slot)
            .ok_or(CoreError::NoModel(session.slot))?;
        let user = self
            .db(move |s| {
                if s.items(session_id)?.is_empty() {
                    s.set_session_title(session_id, &title_from(&prompt))?;
                }
                s.add_item(
                    session_id,
                    ItemRole::User,
                    &prompt,
                    ItemStatus::Complete,
                    None,
                )
            })
            .await?;
        self.answer(session_id, Some(user), slot, sink, cancel)
            .await
    }

    /// Moves the session to the deep model and has it answer the latest prompt again,
    /// with the whole conversation; later turns stay on the deep model.
    pub async fn escalate(
        &self,
        session_id: i64,
        sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let slot = self
            .slot(ModelSlot::Deep)
            .ok_or(CoreError::NoModel(ModelSlot::Deep))?;
        let has_prompt = self
            .db(move |s| {
                let any = s
                    .items(session_id)?
                    .iter()
                    .any(|i| i.role == ItemRole::User);
                if any {
                    s.set_session_slot(session_id, ModelSlot::Deep)?;
                }
                Ok(any)
            })
            .await?;
        if !has_prompt {
            return Err(CoreError::NoPrompt);
        }
        self.answer(session_id, None, slot, sink, cancel).await
    }

    /// Answers the latest prompt again on the session's current model: the Retry after
    /// a failed, stopped or interrupted answer (which stays in the history).
    pub async fn retry(
        &self,
        session_id: i64,
        sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let (session, has_prompt) = self
            .db(move |s| {
                let any = s
                    .items(session_id)?
                    .iter()
                    .any(|i| i.role == ItemRole::User);
                Ok((s.session(session_id)?, any))
            })
            .await?;
        if !has_prompt {
            return Err(CoreError::NoPrompt);
        }
        let slot = self
            .slot(session.slot)
            .ok_or(CoreError::NoModel(session.slot))?;
        self.answer(session_id, None, slot, sink, cancel).await
    }

    /// Streams an answer to the conversation so far (ending at its latest prompt) into a
    /// new assistant item: `Started`, frame-sized `Delta`s, `Finished`. The text is
    /// written to the store as it grows. Cancelling stops the stream and keeps what
    /// arrived. Model failures end the turn normally (a `Finished` with the error, the
    /// partial answer kept); only store failures return `Err`.
    async fn answer(
        &self,
        session_id: i64,
        user_item: Option<Item>,
        slot: SlotClient,
        mut sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let (model, provider) = (slot.model.clone(), slot.provider.clone());
        let (assistant_item, history, project_root) = self
            .db(move |s| {
                let session = s.session(session_id)?;
                let root = s.project(session.project_id)?.path;
                let mut history = s.items(session_id)?;
                // The answer goes to the latest prompt: drop anything after it (a
                // previous answer being escalated).
                if let Some(last_user) = history.iter().rposition(|i| i.role == ItemRole::User) {
                    history.truncate(last_user + 1);
                }
                let item = s.add_item_from(
                    session_id,
                    ItemRole::Assistant,
                    "",
                    ItemStatus::Streaming,
                    Some(&model),
                    Some(&provider),
                )?;
                Ok((item, history, root))
            })
            .await?;
        // Edits are planned against the project while the answer streams; a project
        // that no longer opens just means no review.
        let dir = ProjectDir::open(Path::new(&project_root)).ok();
        let mut parser = AnswerParser::new();
        let mut blocks = flint_render::markdown::BlockSplitter::new();
        let mut closed_utf16: u32 = 0;
        let mut text_utf16: u32 = 0;
        let mut rendered: Vec<String> = Vec::new();
        let mut edits: Vec<Edit> = Vec::new();
        let item_id = assistant_item.id;
        sink(TurnEvent::Started {
            user_item: user_item.map(Box::new),
            assistant_item: Box::new(assistant_item),
        });

        // The conversation before the latest prompt, then the context for the prompt.
        let (prompt, earlier) = match history.iter().rposition(|i| i.role == ItemRole::User) {
            Some(i) => (history[i].text.clone(), &history[..i]),
            None => (String::new(), &history[..]),
        };
        let earlier: Vec<Message> = earlier
            .iter()
            .filter(|i| !i.text.is_empty())
            .map(to_message)
            .collect();
        let (messages, report) = {
            let (root, global, slot) = (
                PathBuf::from(&project_root),
                self.global_agents.clone(),
                slot.clone(),
            );
            let engine = self.clone();
            tokio::task::spawn_blocking(move || {
                let recent = engine.recent_edits(&root);
                let built = build_context(
                    &root,
                    global.as_deref(),
                    &earlier,
                    &prompt,
                    &slot,
                    ProjectNow {
                        recent_edits: recent.as_deref(),
                        git: engine.git_summary(&root),
                        exact: false,
                    },
                );
                // What was just sent is the baseline for the next turn's "recent edits".
                if let Ok(mut a) = engine.activity.lock() {
                    if let Some(act) = a.get_mut(&root) {
                        act.turn_taken(&root);
                    }
                }
                built
            })
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
        };
        sink(TurnEvent::Context { report });

        let sent = Instant::now();
        let request = ModelRequest {
            model: slot.model.clone(),
            messages,
            tools: Vec::new(),
        };
        let mut stream = with_retries(slot.client.clone(), request, self.retry);
        let mut text = String::new();
        let mut pending = String::new();
        let mut arrived_ms = 0.0;
        let mut usage: Option<Usage> = None;
        let mut reasoning = String::new();
        let mut tool_calls: Vec<(String, String, String)> = Vec::new();
        let mut first_token: Option<Instant> = None;
        let mut cut_off = false;
        // Review showed the finished chunks of a patch operation still streaming: the
        // final review must replace it even if nothing more completes.
        let mut shown_provisional = false;
        // Start "a frame ago" so the very first delta is sent the moment it arrives.
        let mut last_emit = sent.checked_sub(FRAME).unwrap_or(sent);
        let mut last_persist = sent;
        let mut persisted_len = 0;
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let outcome: Result<(), Option<ModelError>> = loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break Err(None),
                event = stream.next() => match event {
                    Some(Ok(ModelEvent::TextDelta(t))) => {
                        first_token.get_or_insert_with(Instant::now);
                        text.push_str(&t);
                        if pending.is_empty() {
                            arrived_ms = unix_ms_f64();
                        }
                        pending.push_str(&t);
                        text_utf16 += t.encode_utf16().count() as u32;
                        let closed_now = if self.live_view { blocks.push(&t) } else { Vec::new() };
                        if !closed_now.is_empty() {
                            rendered.extend(closed_now.iter().map(|b| flint_render::markdown::render_block(b)));
                            // Everything but the open tail is closed (blank lines between
                            // blocks included, though they render to nothing). The tail
                            // just after a block closes is short, so this stays linear.
                            closed_utf16 = text_utf16 - blocks.tail().encode_utf16().count() as u32;
                        }
                        let (found, provisional) = if self.live_view {
                            (parser.push(&t), parser.provisional())
                        } else {
                            (Vec::new(), None)
                        };
                        if !found.is_empty() || provisional.is_some() {
                            shown_provisional |= provisional.is_some();
                            edits.extend(found);
                            let mut shown = edits.clone();
                            shown.extend(provisional.unwrap_or_default());
                            // The text before the edit goes out first.
                            if !pending.is_empty() {
                                sink(TurnEvent::Delta { text: std::mem::take(&mut pending), arrived_ms });
                                last_emit = Instant::now();
                            }
                            if let Some(review) = self.review_now(item_id, &dir, &shown, parser.errors()).await {
                                sink(TurnEvent::Review { review: Box::new(review) });
                            }
                        }
                    }
                    Some(Ok(ModelEvent::Usage(u))) => usage = Some(u),
                    Some(Ok(ModelEvent::Retrying { attempt, after, reason })) => {
                        sink(TurnEvent::Retrying {
                            attempt,
                            after_ms: after.as_millis() as u64,
                            reason,
                        });
                    }
                    // Reasoning and tool calls are kept with the answer (Flint runs no
                    // tools yet; the calls are recorded as the model made them).
                    Some(Ok(ModelEvent::ReasoningDelta(t))) => reasoning.push_str(&t),
                    Some(Ok(ModelEvent::ToolCallStart { id, name, .. })) => tool_calls.push((id, name, String::new())),
                    Some(Ok(ModelEvent::ToolCallDelta { id, arguments })) => {
                        if let Some(call) = tool_calls.iter_mut().rev().find(|c| c.0 == id) {
                            call.2.push_str(&arguments);
                        }
                    }
                    Some(Ok(ModelEvent::Finished { reason })) => {
                        cut_off = flint_model::cut_off(reason.as_deref());
                        break Ok(());
                    }
                    None => break Ok(()),
                    Some(Err(e)) => break Err(Some(e)),
                },
                // Wakes the loop while something waits to be sent or saved, so a pause
                // in the stream delays neither.
                _ = tick.tick(), if !pending.is_empty() || persisted_len != text.len() => {}
            }
            if !pending.is_empty() && last_emit.elapsed() >= FRAME {
                sink(TurnEvent::Delta {
                    text: std::mem::take(&mut pending),
                    arrived_ms,
                });
                if !rendered.is_empty() {
                    sink(TurnEvent::Blocks {
                        html: std::mem::take(&mut rendered),
                        closed_utf16,
                    });
                }
                last_emit = Instant::now();
            }
            if persisted_len != text.len() && last_persist.elapsed() >= PERSIST_EVERY {
                let snapshot = text.clone();
                persisted_len = text.len();
                self.db(move |s| s.update_item(item_id, &snapshot, ItemStatus::Streaming, None))
                    .await?;
                last_persist = Instant::now();
            }
        };
        drop(stream); // closes the connection at once when cancelled
        if !pending.is_empty() {
            sink(TurnEvent::Delta {
                text: pending,
                arrived_ms,
            });
        }
        // The open tail is final now: render it too.
        if let Some(last) = blocks.finish().filter(|_| self.live_view) {
            rendered.push(flint_render::markdown::render_block(&last));
        }
        closed_utf16 = text_utf16;
        if !rendered.is_empty() {
            sink(TurnEvent::Blocks {
                html: rendered,
                closed_utf16,
            });
        }
        // An operation of a patch cut off before `*** End Patch` is never applied:
        // `finish` drops it with an error, and review is redone so what it showed of
        // the operation while it streamed goes away.
        let errors_before = parser.errors().len();
        let last = parser.finish();
        let redo = !last.is_empty() || shown_provisional || parser.errors().len() > errors_before;
        if redo && self.live_view {
            edits.extend(last);
            if let Some(review) = self
                .review_now(item_id, &dir, &edits, parser.errors())
                .await
            {
                sink(TurnEvent::Review {
                    review: Box::new(review),
                });
            }
        }

        let (status, error) = match outcome {
            Ok(()) if cut_off => (ItemStatus::Truncated, None),
            Ok(()) => (ItemStatus::Complete, None),
            Err(None) => (ItemStatus::Cancelled, None),
            Err(Some(e)) => (ItemStatus::Failed, Some(ErrorInfo::from(&e))),
        };
        let metrics = metrics(sent, first_token, usage, &text);
        let message = error.as_ref().map(|e| e.message.clone());
        let saved_metrics = metrics.clone();
        let reasoning = (!reasoning.is_empty()).then_some(reasoning);
        let calls = (!tool_calls.is_empty()).then(|| {
            let list: Vec<serde_json::Value> = tool_calls
                .iter()
                .map(|(id, name, args)| serde_json::json!({ "id": id, "name": name, "arguments": args }))
                .collect();
            serde_json::Value::Array(list).to_string()
        });
        let saved_reasoning = reasoning.clone();
        let item = self
            .db(move |s| {
                s.update_item(item_id, &text, status, message.as_deref())?;
                s.set_metrics(item_id, &saved_metrics)?;
                s.set_extras(item_id, saved_reasoning.as_deref(), calls.as_deref())?;
                s.item(item_id)
            })
            .await?;
        sink(TurnEvent::Finished {
            item_id,
            status,
            error,
            metrics,
            reasoning,
        });
        Ok(item)
    }
}

fn to_message(item: &Item) -> Message {
    let role = match item.role {
        ItemRole::User => Role::User,
        ItemRole::Assistant => Role::Assistant,
    };
    Message::new(role, item.text.clone())
}

/// Files larger than this are not attached whole when mentioned.
const MAX_MENTION_BYTES: u64 = 256 * 1024;

/// What changed in the project lately, for a turn's context, and how to count it.
struct ProjectNow<'a> {
    recent_edits: Option<&'a str>,
    git: Option<String>,
    /// Count every section with the model's tokenizer (`flint context`), rather than
    /// only near the window's limit.
    exact: bool,
}

/// Assembles a turn's messages from the project as it is now (blocking: reads files).
/// Unless `now.exact`, tokens are counted with the model's tokenizer only near the
/// window's limit (`context::assemble_sparingly`): its tables cost ~50 MB of memory and
/// ~0.1 s that a roomy context does not need.
fn build_context(
    root: &Path,
    global: Option<&Path>,
    history: &[Message],
    prompt: &str,
    slot: &SlotClient,
    now: ProjectNow<'_>,
) -> (Vec<Message>, ContextReport) {
    let ProjectNow {
        recent_edits,
        git,
        exact,
    } = now;
    let dir = ProjectDir::open(root).ok();
    let agents = flint_project::agents_files(root, global);
    let mut attached = Vec::new();
    let mut unreadable = Vec::new();
    for path in context::mentions(prompt) {
        let Some(abs) = dir.as_ref().and_then(|d| d.resolve(&path).ok()) else {
            continue;
        };
        match std::fs::metadata(&abs) {
            Ok(m) if m.is_file() && m.len() <= MAX_MENTION_BYTES => {
                match std::fs::read_to_string(&abs) {
                    Ok(text) => attached.push((path, text)),
                    Err(_) => unreadable.push(format!("@{path} is not a text file")),
                }
            }
            Ok(m) if m.is_file() => unreadable.push(format!("@{path} is over 256 KiB")),
            _ => {}
        }
    }
    let name = dir.as_ref().map(|d| d.name()).unwrap_or_default();
    let project = format!("{name} ({})", root.display());
    let input = ContextInput {
        system: &system_prompt(&slot.model),
        project: &project,
        agents: &agents,
        history,
        mentions: &attached,
        git: git.as_deref(),
        recent_edits,
        prompt,
        window: slot.window,
    };
    let tok = Tokenizer::for_model(&slot.model);
    let (messages, mut report) = if exact {
        context::assemble(&input, tok)
    } else {
        context::assemble_sparingly(&input, tok)
    };
    report.left_out.extend(unreadable);
    (messages, report)
}

impl Engine {
    /// Plans the edits so far against the project, off the executor.
    async fn review_now(
        &self,
        item_id: i64,
        dir: &Option<ProjectDir>,
        edits: &[Edit],
        errors: &[String],
    ) -> Option<crate::review::Review> {
        let dir = dir.clone()?;
        let (edits, errors) = (edits.to_vec(), errors.to_vec());
        tokio::task::spawn_blocking(move || {
            crate::review::review_of(item_id, &dir, &edits, &errors).1
        })
        .await
        .ok()
    }
}

fn metrics(sent: Instant, first: Option<Instant>, usage: Option<Usage>, text: &str) -> Metrics {
    let end = Instant::now();
    let ttft = first.map(|f| f.duration_since(sent));
    let output = usage
        .map(|u| u.output_tokens)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| (text.len() as u64).div_ceil(4));
    let tokens_per_sec = first.and_then(|f| {
        let secs = end.duration_since(f).as_secs_f64();
        (secs > 0.0 && output > 1).then(|| output as f64 / secs)
    });
    Metrics {
        ttft_ms: ttft.map(|d| d.as_secs_f64() * 1000.0),
        tokens_per_sec,
        input_tokens: usage.map(|u| u.input_tokens),
        output_tokens: usage.map(|u| u.output_tokens),
    }
}

/// A session's title: the first line of its first prompt, shortened.
fn title_from(prompt: &str) -> String {
    let line = prompt.lines().next().unwrap_or_default().trim();
    let mut t: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        t.push('…');
    }
    t
}

/// Now, in Unix milliseconds with sub-millisecond precision (what a webview's
/// `performance.timeOrigin + performance.now()` is comparable to).
fn unix_ms_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codex_models_are_asked_for_apply_patch_and_others_for_search_replace() {
        assert!(system_prompt("gpt-5.3-codex-spark").contains("*** Begin Patch"));
        assert!(!system_prompt("gpt-5.3-codex-spark").contains("<<<<<<< SEARCH"));
        assert!(system_prompt("gpt-oss-120b").contains("<<<<<<< SEARCH"));
        assert!(title_from(&"x".repeat(100)).ends_with('…'));
    }
}

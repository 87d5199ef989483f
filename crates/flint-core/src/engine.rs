use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use flint_model::{Message, ModelClient, ModelError, ModelEvent, ModelRequest, Role, Usage};
use flint_project::{ProjectDir, ProjectInfo};
use flint_store::{Item, ItemRole, ItemStatus, Project, Session, Store};

use crate::{CoreError, ErrorInfo, TurnEvent, TurnMetrics};

/// How long deltas are gathered before one batch goes to the front end: about one
/// frame, so the UI does one update per paint however fast tokens arrive.
pub const FRAME: Duration = Duration::from_millis(12);

/// How often a growing answer is written to the store: a crash loses at most this much.
pub const PERSIST_EVERY: Duration = Duration::from_millis(250);

const SYSTEM_PROMPT: &str = "You are Flint, a fast coding assistant working in the user's \
project beside their editor. Answer concisely; use fenced code blocks with a language tag.";

/// The engine: one store, one model client. Cheap to clone and share.
#[derive(Clone)]
pub struct Engine {
    store: Arc<Mutex<Store>>,
    model: Arc<dyn ModelClient>,
    model_name: String,
}

/// An opened project with its latest session (if it has one) and that session's items.
#[derive(Debug, Clone, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Workspace {
    pub info: ProjectInfo,
    pub project: Project,
    pub session: Option<Session>,
    pub items: Vec<Item>,
}

impl Engine {
    pub fn new(store: Store, model: Arc<dyn ModelClient>, model_name: impl Into<String>) -> Self {
        Self {
            store: Arc::new(Mutex::new(store)),
            model,
            model_name: model_name.into(),
        }
    }

    pub fn model_name(&self) -> &str {
        &self.model_name
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
        let dir = tokio::task::spawn_blocking(move || ProjectDir::open(&path))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))??;
        let info = {
            let dir = dir.clone();
            tokio::task::spawn_blocking(move || dir.info())
                .await
                .map_err(|e| CoreError::Internal(e.to_string()))?
        };
        let (root, name) = (info.root.clone(), info.name.clone());
        let (project, session, items) = self
            .db(move |s| {
                let project = s.touch_project(&root, &name)?;
                let session = s.latest_session(project.id)?;
                let items = match &session {
                    Some(sess) => s.items(sess.id)?,
                    None => Vec::new(),
                };
                Ok((project, session, items))
            })
            .await?;
        Ok(Workspace {
            info,
            project,
            session,
            items,
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

    /// Runs one turn in `session_id`: records the prompt, streams the answer from the
    /// model to `sink` in frame-sized batches while writing it to the store, and ends
    /// with `Finished`. Cancelling `cancel` stops the stream and keeps what arrived.
    /// Model failures end the turn normally (a `Finished` with an error, the partial
    /// answer kept); only store failures return `Err`.
    pub async fn run_turn(
        &self,
        session_id: i64,
        prompt: &str,
        mut sink: impl FnMut(TurnEvent) + Send,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let prompt = prompt.trim().to_string();
        if prompt.is_empty() {
            return Err(CoreError::EmptyPrompt);
        }
        let model = self.model_name.clone();
        let (user_item, assistant_item, history) = {
            let prompt = prompt.clone();
            let model = model.clone();
            self.db(move |s| {
                let history = s.items(session_id)?;
                if history.is_empty() {
                    s.set_session_title(session_id, &title_from(&prompt))?;
                }
                let user = s.add_item(
                    session_id,
                    ItemRole::User,
                    &prompt,
                    ItemStatus::Complete,
                    None,
                )?;
                let assistant = s.add_item(
                    session_id,
                    ItemRole::Assistant,
                    "",
                    ItemStatus::Streaming,
                    Some(&model),
                )?;
                Ok((user, assistant, history))
            })
            .await?
        };
        let item_id = assistant_item.id;
        sink(TurnEvent::Started {
            user_item,
            assistant_item,
        });

        let mut messages = vec![Message::new(Role::System, SYSTEM_PROMPT)];
        for item in history.iter().filter(|i| !i.text.is_empty()) {
            let role = match item.role {
                ItemRole::User => Role::User,
                ItemRole::Assistant => Role::Assistant,
            };
            messages.push(Message::new(role, item.text.clone()));
        }
        messages.push(Message::new(Role::User, prompt));

        let sent = Instant::now();
        let mut stream = self.model.stream(ModelRequest { model, messages });
        let mut text = String::new();
        let mut pending = String::new();
        let mut usage: Option<Usage> = None;
        let mut first_token: Option<Instant> = None;
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
                        pending.push_str(&t);
                    }
                    Some(Ok(ModelEvent::Usage(u))) => usage = Some(u),
                    Some(Ok(ModelEvent::Finished { .. })) | None => break Ok(()),
                    Some(Err(e)) => break Err(Some(e)),
                },
                // Wakes the loop while something waits to be sent or saved, so a pause
                // in the stream delays neither.
                _ = tick.tick(), if !pending.is_empty() || persisted_len != text.len() => {}
            }
            if !pending.is_empty() && last_emit.elapsed() >= FRAME {
                sink(TurnEvent::Delta {
                    text: std::mem::take(&mut pending),
                });
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
            sink(TurnEvent::Delta { text: pending });
        }

        let (status, error) = match outcome {
            Ok(()) => (ItemStatus::Complete, None),
            Err(None) => (ItemStatus::Cancelled, None),
            Err(Some(e)) => (ItemStatus::Failed, Some(ErrorInfo::from(&e))),
        };
        let metrics = metrics(sent, first_token, usage, &text);
        let message = error.as_ref().map(|e| e.message.clone());
        let item = self
            .db(move |s| {
                s.update_item(item_id, &text, status, message.as_deref())?;
                s.item(item_id)
            })
            .await?;
        sink(TurnEvent::Finished {
            item_id,
            status,
            error,
            metrics,
        });
        Ok(item)
    }
}

fn metrics(sent: Instant, first: Option<Instant>, usage: Option<Usage>, text: &str) -> TurnMetrics {
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
    TurnMetrics {
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

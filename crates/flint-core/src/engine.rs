//! The engine's facade: what it holds (the store, the models, what it knows of each
//! open project) and the project and session operations. Turns live in `turn`, what is
//! said to the model in `prompts`, the model slots in `slots`, edits and undo in
//! `review`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use flint_model::RetryPolicy;
use flint_project::{ProjectDir, ProjectInfo};
use flint_store::{Item, ModelSlot, Project, Session, Store};

use crate::activity::Activity;
use crate::slots::Models;
use crate::{CoreError, SlotClient};

/// How long deltas are gathered before one batch goes to the front end: about one
/// frame, so the UI does one update per paint however fast tokens arrive.
pub const FRAME: Duration = Duration::from_millis(8);

/// How often a growing answer is written to the store: a crash loses at most this much.
pub const PERSIST_EVERY: Duration = Duration::from_millis(250);

/// The engine: one store, a fast and a deep model. Cheap to clone and share.
#[derive(Clone)]
pub struct Engine {
    store: Arc<Mutex<Store>>,
    models: Arc<RwLock<Models>>,
    pub(crate) retry: RetryPolicy,
    /// The user's own AGENTS.md, read before the project's.
    pub(crate) global_agents: Option<PathBuf>,
    /// What the user did in each open project since its previous turn, by root.
    pub(crate) activity: Arc<Mutex<HashMap<PathBuf, Activity>>>,
    /// The git summary per project, kept until the watcher (or Flint) reports a change:
    /// a full status of a large tree costs hundreds of milliseconds, a turn should not.
    git_summaries: Arc<Mutex<HashMap<PathBuf, Option<String>>>>,
    /// A front end shows turns as they stream: render markdown blocks and plan edit
    /// reviews on the way. Off for the command line, which prints the text only.
    pub(crate) live_view: bool,
    /// What the model may call; none: it answers in text, one request a turn.
    pub(crate) tools: Option<crate::turn::tools::Runner>,
    /// The model acts: the agent's tools (`turn::agent`) instead of `tools`.
    pub(crate) agent: bool,
    /// Requests one turn may make (`turn::MAX_STEPS` unless raised).
    pub(crate) max_steps: u32,
    /// The warm file index of each open project (kept by `OpenProjects`), for the
    /// agent's `find_files`; gone when the project closes.
    pub(crate) indexes:
        Arc<Mutex<HashMap<PathBuf, std::sync::Weak<RwLock<flint_project::FileIndex>>>>>,
    /// The turns running now (`start_turn`), to stop them by id.
    pub(crate) running: Arc<crate::turn::Running>,
    /// MCP servers handed to agents at the start of their sessions (ACP's shape).
    pub(crate) mcp_servers: Arc<RwLock<Vec<serde_json::Value>>>,
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
            tools: None,
            agent: false,
            max_steps: crate::turn::MAX_STEPS,
            indexes: Arc::default(),
            running: Arc::default(),
            mcp_servers: Arc::default(),
        }
    }

    /// The MCP servers agents are given from their next session on (the settings'
    /// `[mcp_servers]`, as `Settings::acp_mcp_servers` makes them).
    pub fn set_mcp_servers(&self, servers: Vec<serde_json::Value>) {
        if let Ok(mut m) = self.mcp_servers.write() {
            *m = servers;
        }
    }

    /// Lends the engine an open project's warm file index (held weakly).
    pub fn lend_index(&self, root: &Path, index: &Arc<RwLock<flint_project::FileIndex>>) {
        if let Ok(mut i) = self.indexes.lock() {
            i.retain(|_, w| w.strong_count() > 0);
            i.insert(root.to_path_buf(), Arc::downgrade(index));
        }
    }

    /// For a front end that prints the answer's text only (`flint ask`): no markdown
    /// rendering or edit reviews while a turn streams (the text and history are the same).
    pub fn text_only(mut self) -> Self {
        self.live_view = false;
        self
    }

    /// The project's git summary, from the cache while nothing changed (blocking).
    pub(crate) fn git_summary(&self, root: &Path) -> Option<String> {
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

    pub(crate) fn recent_edits(&self, root: &Path) -> Option<String> {
        let dir = ProjectDir::open(root).ok()?;
        self.activity.lock().ok()?.get(root)?.recent_edits(&dir)
    }

    /// Reads `path` (the user's global AGENTS.md) into every turn's instructions.
    pub fn with_global_agents(mut self, path: PathBuf) -> Self {
        self.global_agents = Some(path);
        self
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

    pub(crate) fn slot(&self, slot: ModelSlot) -> Option<SlotClient> {
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
                let settled = crate::undo::reconcile(s, project.id, &dir)?;
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
}

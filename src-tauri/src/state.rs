use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use ts_rs::TS;

use flint_core::config::{self, process_env, SettingsView};
use flint_core::keys::{KeyStore, Keychain};
use flint_core::projects::{OpenProjectInfo, OpenProjects, ProjectEvent};
use flint_core::store::Store;
use flint_core::{
    CoreError, Engine, ErrorInfo, ModelInfo, Paths, ResolvedSlot, Settings, Workspace,
};
use tauri::{AppHandle, Emitter};

/// Everything the UI needs to draw the window.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct Snapshot {
    pub workspace: Option<Workspace>,
    /// The fast model; none until a provider is connected (the welcome view shows then).
    pub fast: Option<ModelInfo>,
    /// The model "Escalate" moves a session to, if one is chosen.
    pub deep: Option<ModelInfo>,
    /// Something the user should read (a settings problem, a project that no longer opens).
    pub notice: Option<ErrorInfo>,
}

/// Emitted (app-wide, not to the page) when the list of recent projects changed.
pub const PROJECTS_CHANGED: &str = "flint://projects-changed";

/// How many projects may be open at once (each has a watcher and a file index).
const MAX_OPEN: usize = 6;

/// The project switcher's lists.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct ProjectList {
    /// Open projects, the shown one first.
    pub open: Vec<OpenProjectInfo>,
    /// Recently opened projects that are not open now, newest first.
    pub recent: Vec<flint_core::store::Project>,
}

/// Paths dropped on the window, at a point in CSS pixels.
#[derive(Debug, Clone, Serialize, TS)]
#[ts(export)]
pub struct Dropped {
    pub paths: Vec<String>,
    pub x: f64,
    pub y: f64,
}

pub struct AppState {
    pub engine: Engine,
    pub paths: Paths,
    pub keys: Arc<dyn KeyStore>,
    slots: Mutex<(Option<ResolvedSlot>, Option<ResolvedSlot>)>,
    initial: Mutex<Option<PathBuf>>,
    restored: tokio::sync::Mutex<bool>,
    notice: Mutex<Option<ErrorInfo>>,
    /// The projects open: the one shown (`projects.current`) and those kept in the
    /// background, with their file indexes and watchers.
    pub projects: OpenProjects,
    last_drop: Mutex<Option<(Vec<PathBuf>, Instant)>>,
    app: Arc<Mutex<Option<AppHandle>>>,
    /// The session the quick prompt asked in last ("Continue in Flint" opens it).
    quick_session: Mutex<Option<i64>>,
}

impl AppState {
    pub fn init(initial: Option<PathBuf>) -> Result<Self, Box<dyn std::error::Error>> {
        let paths = Paths::from_env()?;
        let store = Store::open(&paths.database())?;
        let engine = Engine::new(store, None, None).with_global_agents(paths.global_agents());
        // What the shown project's watcher sees reaches the window as events.
        let app: Arc<Mutex<Option<AppHandle>>> = Arc::default();
        let to_window = app.clone();
        let projects = OpenProjects::new(engine.clone(), MAX_OPEN, move |event| {
            let Some(app) = to_window.lock().ok().and_then(|a| a.clone()) else {
                return;
            };
            let _ = match event {
                ProjectEvent::FilesChanged { user_changes, git } => {
                    let sent = app.emit("files-changed", user_changes);
                    match git {
                        Some(changes) => app.emit("git-changes", changes),
                        None => sent,
                    }
                }
                ProjectEvent::GitChanged => app.emit("git-refresh", ()),
                ProjectEvent::Notice(info) => app.emit("notice", info),
            };
        });
        let state = Self {
            engine,
            paths,
            keys: Arc::new(Keychain),
            slots: Mutex::new((None, None)),
            initial: Mutex::new(initial),
            restored: tokio::sync::Mutex::new(false),
            notice: Mutex::new(None),
            projects,
            last_drop: Mutex::new(None),
            app,
            quick_session: Mutex::new(None),
        };
        // A broken settings file must not keep the app from starting: run without
        // models and tell the user what to fix.
        if let Err(e) = state.reload_models() {
            state.set_notice(e.info());
        }
        Ok(state)
    }

    /// Re-reads the settings and the keys, and gives the engine the models they name.
    /// Blocking (the keychain): call it off the async executor.
    pub fn reload_models(&self) -> Result<(), CoreError> {
        let (settings, fast, deep) = config::load(&self.paths, self.keys.as_ref())?;
        self.engine.set_mcp_servers(settings.acp_mcp_servers());
        let fast_client = fast.as_ref().map(ResolvedSlot::connect).transpose()?;
        let deep_client = deep.as_ref().map(ResolvedSlot::connect).transpose()?;
        self.engine.set_models(fast_client, deep_client);
        if let Ok(mut s) = self.slots.lock() {
            *s = (fast, deep);
        }
        Ok(())
    }

    pub fn settings_view(&self) -> Result<SettingsView, CoreError> {
        let settings = Settings::read(&self.paths.settings_file())?;
        Ok(SettingsView::build(
            &self.paths,
            &settings,
            &process_env,
            self.keys.as_ref(),
        ))
    }

    /// On the first call, opens the project from the command line or else the one used
    /// last; then reports the current state.
    pub async fn snapshot(&self) -> Snapshot {
        let mut restored = self.restored.lock().await;
        if !*restored {
            *restored = true;
            // The path given on the command line first; if it does not open, say why
            // and fall back to the project used last, as if nothing had been asked.
            let initial = self.initial.lock().ok().and_then(|mut i| i.take());
            let mut opened = false;
            if let Some(path) = initial {
                match self.open_only(&path).await {
                    Ok(settled) => {
                        opened = true;
                        if let Some(n) = settled {
                            self.set_notice(n);
                        }
                    }
                    Err(e) => self.set_notice(e),
                }
            }
            if !opened {
                match self.engine.last_project().await {
                    Ok(Some(p)) => match self.open_only(Path::new(&p.path)).await {
                        // Why the path asked for did not open is said first.
                        Ok(settled) => {
                            let free = self.notice.lock().is_ok_and(|n| n.is_none());
                            if let (Some(n), true) = (settled, free) {
                                self.set_notice(n);
                            }
                        }
                        Err(e) => self.set_notice(e),
                    },
                    Ok(None) => {}
                    Err(e) => self.set_notice(e.info()),
                }
            }
        }
        drop(restored);
        self.current_snapshot().await
    }

    /// The current state, handing over any pending notice.
    pub async fn current_snapshot(&self) -> Snapshot {
        let mut s = self.state_now().await;
        s.notice = self.notice.lock().ok().and_then(|mut n| n.take());
        s
    }

    /// The fast and deep models as the settings name them.
    pub fn models(&self) -> (Option<ModelInfo>, Option<ModelInfo>) {
        self.slots
            .lock()
            .map(|s| {
                (
                    s.0.as_ref().map(ResolvedSlot::info),
                    s.1.as_ref().map(ResolvedSlot::info),
                )
            })
            .unwrap_or_default()
    }

    pub fn set_quick_session(&self, id: i64) {
        if let Ok(mut q) = self.quick_session.lock() {
            *q = Some(id);
        }
    }

    pub fn quick_session(&self) -> Option<i64> {
        self.quick_session.lock().ok().and_then(|q| *q)
    }

    /// The state as the window shows it. The transcript is read from the store, which
    /// has every turn as it was saved (the shell keeps no copy of its own to go stale).
    async fn state_now(&self) -> Snapshot {
        let workspace = self
            .projects
            .current
            .lock()
            .await
            .as_ref()
            .map(|c| c.workspace.clone());
        let workspace = match workspace {
            Some(mut ws) => {
                if let Some(id) = ws.session.as_ref().map(|s| s.id) {
                    let read = self
                        .engine
                        .db(move |s| Ok((s.session(id)?, s.items(id)?)))
                        .await;
                    match read {
                        Ok((session, items)) => {
                            ws.session = Some(session);
                            ws.items = items;
                        }
                        // Deleted meanwhile (another Flint, the CLI): no session shown.
                        Err(_) => ws.session = None,
                    }
                }
                Some(ws)
            }
            None => None,
        };
        let (fast, deep) = self.models();
        Snapshot {
            workspace,
            fast,
            deep,
            notice: None,
        }
    }

    /// Opens `path` as the current project. The project shown before stays open in the
    /// background (its watcher runs, its files stay indexed) so switching back is
    /// instant; at most `MAX_OPEN` projects are open. On failure nothing changes.
    pub async fn open(&self, path: &Path) -> Result<Snapshot, ErrorInfo> {
        let settled = self.open_only(path).await?;
        let mut snapshot = self.state_now().await;
        snapshot.notice = settled;
        Ok(snapshot)
    }

    /// Opens `path` as `open` does, without building a snapshot (start-up builds one
    /// after it decides what to show); returns what opening settled, to be said.
    async fn open_only(&self, path: &Path) -> Result<Option<ErrorInfo>, ErrorInfo> {
        let (workspace, watch_failed) = self.projects.open(path).await.map_err(|e| e.info())?;
        if let Some(e) = watch_failed {
            self.set_notice(e.info());
        }
        // The tray's recent projects follow (it listens; the state knows no menus).
        if let Some(app) = self.app.lock().ok().and_then(|a| a.clone()) {
            let _ = app.emit_to(tauri::EventTarget::App, PROJECTS_CHANGED, ());
        }
        Ok((!workspace.settled.is_empty()).then(|| ErrorInfo {
            code: flint_core::ErrorCode::Settled,
            message: format!(
                "Flint stopped while writing files last time: {}. Undo takes back what was finished.",
                workspace.settled.join("; ")
            ),
        }))
    }

    /// The projects open now (the shown one first) and the recently opened ones.
    pub async fn projects(&self) -> Result<ProjectList, ErrorInfo> {
        let open = self.projects.list().await;
        let recent = self
            .engine
            .db(|s| s.recent_projects(12))
            .await
            .map_err(|e| e.info())?
            .into_iter()
            .filter(|p| !open.iter().any(|o| o.root == p.path))
            .collect();
        Ok(ProjectList { open, recent })
    }

    /// Opens what was dropped on the window: a folder, or the folder of a dropped file.
    /// Returns `None` for a repeat of the same drop (some platforms deliver it twice).
    pub async fn open_dropped(&self, paths: &[PathBuf]) -> Option<Result<Snapshot, ErrorInfo>> {
        {
            let mut last = self.last_drop.lock().ok()?;
            if let Some((prev, at)) = last.as_ref() {
                if prev == paths && at.elapsed() < Duration::from_millis(500) {
                    return None;
                }
            }
            *last = Some((paths.to_vec(), Instant::now()));
        }
        let first = paths.first()?;
        let folder = if first.is_file() {
            first
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| first.clone())
        } else {
            first.clone()
        };
        Some(self.open(&folder).await)
    }

    pub fn set_app(&self, app: AppHandle) {
        if let Ok(mut a) = self.app.lock() {
            *a = Some(app);
        }
    }

    pub fn set_notice(&self, e: ErrorInfo) {
        if let Ok(mut n) = self.notice.lock() {
            *n = Some(e);
        }
    }
}

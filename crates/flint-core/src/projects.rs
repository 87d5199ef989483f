//! The projects a front end has open: the one shown and up to `max_open - 1` kept in
//! the background, each with its file index (built on open, kept current by its
//! watcher) and its watcher. Switching back to a background project is instant; the
//! longest unused one closes past the limit. What the watchers see goes to the
//! engine (the user's edits, the git summary) for every open project, and to the front
//! end's sink only for the shown one: headless, so the app and tests drive it alike.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use serde::Serialize;
use ts_rs::TS;

use flint_project::{FileIndex, GitChange, ProjectDir, ProjectWatcher, StatusReader, WatchEvent};

use crate::{CoreError, Engine, ErrorCode, ErrorInfo, Workspace};

/// What the shown project's watcher tells the front end.
#[derive(Debug, Clone, PartialEq)]
pub enum ProjectEvent {
    /// Files changed: the user's changes since the last turn (the context meter), and
    /// the git status of just these paths (the git panel).
    FilesChanged {
        user_changes: Vec<String>,
        git: Option<Vec<(String, Option<GitChange>)>>,
    },
    /// Git's own state changed (commit, checkout, staging by anyone).
    GitChanged,
    /// Something the user should read (watching fell back to polling, or failed).
    Notice(ErrorInfo),
}

/// A project that is open.
pub struct OpenProject {
    pub dir: ProjectDir,
    /// The project and its current session; `items` and `settled` are left empty.
    pub workspace: Workspace,
    /// Every file of the project, for @-mentions; filled in the background on open
    /// and kept current by the watcher.
    pub index: Arc<RwLock<FileIndex>>,
    /// Reads its git status (the git panel, and the paths the watcher reports), keeping
    /// the repository's handles between reads.
    pub git: Arc<StatusReader>,
    /// Watches the project while it is open (dropped with it).
    _watcher: Option<ProjectWatcher>,
}

/// One entry of the project switcher.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, TS)]
#[ts(export)]
pub struct OpenProjectInfo {
    pub root: String,
    pub name: String,
    /// The one the window shows.
    pub shown: bool,
}

type Sink = Arc<dyn Fn(ProjectEvent) + Send + Sync>;

pub struct OpenProjects {
    engine: Engine,
    max_open: usize,
    /// The project shown.
    pub current: tokio::sync::Mutex<Option<OpenProject>>,
    /// Open in the background, longest unused first.
    background: Mutex<Vec<OpenProject>>,
    /// The root shown: other projects' watcher events stay off the front end.
    shown_root: Arc<RwLock<Option<PathBuf>>>,
    sink: Sink,
}

impl OpenProjects {
    /// At most `max_open` projects open at once (at least one); the shown project's
    /// watcher events go to `sink`.
    pub fn new(
        engine: Engine,
        max_open: usize,
        sink: impl Fn(ProjectEvent) + Send + Sync + 'static,
    ) -> Self {
        Self {
            engine,
            max_open: max_open.max(1),
            current: tokio::sync::Mutex::new(None),
            background: Mutex::new(Vec::new()),
            shown_root: Arc::default(),
            sink: Arc::new(sink),
        }
    }

    /// Opens `path` and shows it: the project shown before stays open in the
    /// background. On failure nothing changes. Returns the workspace (with what opening
    /// settled) and an error if watching could not start (the project is open anyway).
    pub async fn open(&self, path: &Path) -> Result<(Workspace, Option<CoreError>), CoreError> {
        let workspace = self.engine.open_project(path).await?;
        let root = PathBuf::from(&workspace.info.root);
        // Checked before anything changes (it may have gone since it was last open).
        let dir = ProjectDir::open(&root)?;
        let mut current = self.current.lock().await;
        let kept = match current.take() {
            Some(c) if c.dir.root() == root => Some(c),
            Some(c) => {
                // Taken out of the background before the one shown goes there, so a
                // full background never closes the very project being switched to.
                let back = self.unstash(&root);
                self.stash(c);
                back
            }
            None => self.unstash(&root),
        };
        // What is kept names the project and its session; the transcript stays in the
        // store (a front end reads it when it shows it: no copy to go stale).
        let kept_workspace = Workspace {
            items: Vec::new(),
            settled: Vec::new(),
            ..workspace.clone()
        };
        let mut watch_failed = None;
        let next = match kept {
            Some(mut c) => {
                c.workspace = kept_workspace;
                c
            }
            None => {
                let index = Arc::new(RwLock::new(FileIndex::default()));
                {
                    let (index, root) = (index.clone(), dir.root().to_path_buf());
                    tokio::task::spawn_blocking(move || {
                        let built = FileIndex::build(&root);
                        if let Ok(mut i) = index.write() {
                            *i = built;
                        }
                    });
                }
                self.engine.lend_index(dir.root(), &index);
                let git = Arc::new(StatusReader::new(dir.root()));
                let watcher = match self.watch(dir.root(), index.clone(), git.clone()) {
                    Ok(w) => Some(w),
                    Err(e) => {
                        watch_failed = Some(e);
                        None
                    }
                };
                OpenProject {
                    dir,
                    workspace: kept_workspace,
                    index,
                    git,
                    _watcher: watcher,
                }
            }
        };
        if let Ok(mut shown) = self.shown_root.write() {
            *shown = Some(root);
        }
        *current = Some(next);
        Ok((workspace, watch_failed))
    }

    /// Keeps a project open in the background, closing the longest unused one past
    /// the limit.
    fn stash(&self, project: OpenProject) {
        // Its git status is read again only once it is shown again.
        project.git.release();
        if let Ok(mut open) = self.background.lock() {
            open.push(project);
            while open.len() >= self.max_open {
                open.remove(0);
            }
        }
    }

    fn unstash(&self, root: &Path) -> Option<OpenProject> {
        let mut open = self.background.lock().ok()?;
        let at = open.iter().position(|c| c.dir.root() == root)?;
        Some(open.remove(at))
    }

    /// The projects open now, the shown one first, then the most recently used.
    pub async fn list(&self) -> Vec<OpenProjectInfo> {
        let mut open = Vec::new();
        if let Some(c) = self.current.lock().await.as_ref() {
            open.push(OpenProjectInfo {
                root: c.workspace.info.root.clone(),
                name: c.workspace.info.name.clone(),
                shown: true,
            });
        }
        if let Ok(background) = self.background.lock() {
            open.extend(background.iter().rev().map(|c| OpenProjectInfo {
                root: c.workspace.info.root.clone(),
                name: c.workspace.info.name.clone(),
                shown: false,
            }));
        }
        open
    }

    /// Starts watching `root`: changes keep the file index current and tell the engine
    /// what the user did, for every open project; the shown one's reach the sink.
    fn watch(
        &self,
        root: &Path,
        index: Arc<RwLock<FileIndex>>,
        git: Arc<StatusReader>,
    ) -> Result<ProjectWatcher, CoreError> {
        let engine = self.engine.clone();
        let root_owned = root.to_path_buf();
        let shown_root = self.shown_root.clone();
        let shown = move |root: &Path| shown_root.read().is_ok_and(|s| s.as_deref() == Some(root));
        let sink = self.sink.clone();
        let watcher = ProjectWatcher::start(root, move |event| match event {
            WatchEvent::Changed(paths) => {
                if let Ok(mut i) = index.write() {
                    for p in &paths {
                        i.update(p, root_owned.join(p).is_file());
                    }
                }
                engine.note_changes(&root_owned, &paths);
                if shown(&root_owned) {
                    sink(ProjectEvent::FilesChanged {
                        user_changes: engine.user_changes(&root_owned),
                        // The git panel refreshes just these paths, not the whole tree.
                        git: git.read_paths(&paths).ok(),
                    });
                }
            }
            WatchEvent::Git => {
                engine.invalidate_git(&root_owned);
                if shown(&root_owned) {
                    sink(ProjectEvent::GitChanged);
                }
            }
            WatchEvent::Polling { reason } => sink(ProjectEvent::Notice(ErrorInfo {
                code: ErrorCode::WatchLimit,
                message: format!("Flint is polling this project for changes every 2 s: {reason}."),
            })),
            WatchEvent::Error(e) => sink(ProjectEvent::Notice(ErrorInfo {
                code: ErrorCode::WatchError,
                message: e,
            })),
        })?;
        Ok(watcher)
    }
}

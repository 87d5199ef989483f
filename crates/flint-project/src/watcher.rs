//! Watching the project: notify's events, debounced (notify-debouncer-full), filtered
//! by the project's ignore rules, and handed over as one batch of relative paths. A burst
//! such as a branch checkout touching 10k files arrives as a few batches, never one
//! event each. Where the OS refuses more watches (Linux's inotify limit), the watcher
//! falls back to polling the tree and says so, rather than silently going stale.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use ignore::gitignore::{Gitignore, GitignoreBuilder};
use notify::{ErrorKind, RecommendedWatcher, RecursiveMode};
use notify_debouncer_full::{new_debouncer_opt, DebounceEventResult, Debouncer, RecommendedCache};

use crate::index::to_slash;
use crate::ProjectError;

/// How long changes are gathered before a batch goes out.
pub const DEBOUNCE: Duration = Duration::from_millis(50);
const POLL_EVERY: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// Files created, changed or removed (relative paths; existence is checked by the
    /// receiver, since a batch can hold both the creation and the removal).
    Changed(Vec<String>),
    /// The repository's state changed (HEAD, the index, a ref): a commit, checkout,
    /// stage or fetch, by Flint or by anyone.
    Git,
    /// The OS could not watch the whole tree; Flint polls it instead.
    Polling {
        reason: String,
    },
    Error(String),
}

/// The project's ignore rules for single paths, compiled per folder as needed.
pub struct IgnoreRules {
    root: PathBuf,
    exclude: Option<Gitignore>,
    per_dir: Mutex<HashMap<PathBuf, Option<Gitignore>>>,
}

impl IgnoreRules {
    pub fn new(root: &Path) -> Self {
        let exclude = {
            let mut b = GitignoreBuilder::new(root);
            b.add(root.join(".git/info/exclude"));
            b.build().ok()
        };
        Self {
            root: root.to_path_buf(),
            exclude,
            per_dir: Mutex::new(HashMap::new()),
        }
    }

    fn rules_of(&self, dir: &Path) -> Option<Gitignore> {
        let mut cache = self.per_dir.lock().ok()?;
        cache
            .entry(dir.to_path_buf())
            .or_insert_with(|| {
                let mut b = GitignoreBuilder::new(dir);
                let mut any = false;
                for name in [".gitignore", ".ignore"] {
                    let p = dir.join(name);
                    if p.is_file() {
                        b.add(p);
                        any = true;
                    }
                }
                any.then(|| b.build().ok()).flatten()
            })
            .clone()
    }

    /// Whether `abs` (a path under the root) is ignored, by any folder's rules on the
    /// way down from the root, or lies under `.git`.
    pub fn is_ignored(&self, abs: &Path, is_dir: bool) -> bool {
        let Ok(rel) = abs.strip_prefix(&self.root) else {
            return true;
        };
        if rel.components().any(|c| c.as_os_str() == ".git") {
            return true;
        }
        if let Some(ex) = &self.exclude {
            if ex.matched_path_or_any_parents(abs, is_dir).is_ignore() {
                return true;
            }
        }
        let mut dir = self.root.clone();
        let parts: Vec<_> = rel.components().collect();
        for (i, part) in parts.iter().enumerate() {
            if let Some(rules) = self.rules_of(&dir) {
                let m = rules.matched_path_or_any_parents(abs, is_dir);
                if m.is_ignore() {
                    return true;
                }
            }
            if i + 1 < parts.len() {
                dir.push(part.as_os_str());
            }
        }
        false
    }

    /// Forgets compiled rules (after a .gitignore changed).
    pub fn reset(&self) {
        if let Ok(mut c) = self.per_dir.lock() {
            c.clear();
        }
    }
}

// Held only to keep the watch alive until the watcher is dropped.
#[allow(dead_code)]
enum Inner {
    Native(Debouncer<RecommendedWatcher, RecommendedCache>),
    Poll(Debouncer<notify::PollWatcher, RecommendedCache>),
}

/// Watches a project until dropped.
pub struct ProjectWatcher {
    _inner: Inner,
    polling: bool,
}

impl ProjectWatcher {
    pub fn start(
        root: &Path,
        sink: impl Fn(WatchEvent) + Send + Sync + 'static,
    ) -> Result<Self, ProjectError> {
        let root = root.to_path_buf();
        let rules = std::sync::Arc::new(IgnoreRules::new(&root));
        let sink = std::sync::Arc::new(sink);
        let handler = {
            let (root, rules, sink) = (root.clone(), rules.clone(), sink.clone());
            move |result: DebounceEventResult| match result {
                Ok(events) => {
                    let mut paths = BTreeSet::new();
                    let mut git = false;
                    for e in events {
                        // Reads (open/close) and metadata-only changes are not edits;
                        // counting them would make Flint's own reads look like changes.
                        use notify::event::{EventKind, ModifyKind};
                        if matches!(
                            e.event.kind,
                            EventKind::Access(_) | EventKind::Modify(ModifyKind::Metadata(_))
                        ) {
                            continue;
                        }
                        for p in &e.event.paths {
                            if let Ok(rel) = p.strip_prefix(root.join(".git")) {
                                let top = rel
                                    .components()
                                    .next()
                                    .map(|c| c.as_os_str().to_string_lossy().into_owned());
                                git |= matches!(
                                    top.as_deref(),
                                    Some("HEAD" | "index" | "refs" | "packed-refs" | "FETCH_HEAD")
                                );
                                continue;
                            }
                            if p.file_name()
                                .is_some_and(|n| n == ".gitignore" || n == ".ignore")
                            {
                                rules.reset();
                            }
                            if p.is_dir() {
                                // Files created in a new folder before its watch was set
                                // up send no events of their own: list the folder.
                                if !rules.is_ignored(p, true) {
                                    for e in crate::index::walker(p).build().flatten() {
                                        if e.file_type().is_some_and(|t| t.is_file()) {
                                            if let Ok(rel) = e.path().strip_prefix(&root) {
                                                paths.insert(to_slash(rel));
                                            }
                                        }
                                    }
                                }
                                continue;
                            }
                            if rules.is_ignored(p, false) {
                                continue;
                            }
                            if let Ok(rel) = p.strip_prefix(&root) {
                                paths.insert(to_slash(rel));
                            }
                        }
                    }
                    if !paths.is_empty() {
                        sink(WatchEvent::Changed(paths.into_iter().collect()));
                    }
                    if git {
                        sink(WatchEvent::Git);
                    }
                }
                Err(errors) => {
                    for e in errors {
                        sink(WatchEvent::Error(e.to_string()));
                    }
                }
            }
        };
        let native = new_debouncer_opt::<_, RecommendedWatcher, RecommendedCache>(
            DEBOUNCE,
            None,
            handler.clone(),
            RecommendedCache::new(),
            notify::Config::default(),
        )
        .and_then(|mut d| d.watch(&root, RecursiveMode::Recursive).map(|()| d));
        match native {
            Ok(d) => Ok(Self {
                _inner: Inner::Native(d),
                polling: false,
            }),
            Err(e) => {
                let reason = match e.kind {
                    ErrorKind::MaxFilesWatch => "the system's limit on watched folders was reached (raise fs.inotify.max_user_watches)".to_string(),
                    _ => format!("the system could not watch the folder: {e}"),
                };
                let poll = new_debouncer_opt::<_, notify::PollWatcher, RecommendedCache>(
                    DEBOUNCE,
                    None,
                    handler,
                    RecommendedCache::new(),
                    notify::Config::default().with_poll_interval(POLL_EVERY),
                )
                .and_then(|mut d| d.watch(&root, RecursiveMode::Recursive).map(|()| d))
                .map_err(|e| ProjectError::Unreadable {
                    path: root.clone(),
                    source: std::io::Error::other(e.to_string()),
                })?;
                sink(WatchEvent::Polling { reason });
                Ok(Self {
                    _inner: Inner::Poll(poll),
                    polling: true,
                })
            }
        }
    }

    pub fn polling(&self) -> bool {
        self.polling
    }
}

//! The project's file index: every file the ignore rules let through, listed once with a
//! parallel walk and searched fuzzily (nucleo, the matcher of the Helix editor) for
//! @-mentions. Built off the UI thread; a search over 100k paths takes milliseconds.

use std::path::Path;

use ignore::{WalkBuilder, WalkState};
use nucleo_matcher::pattern::{AtomKind, CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher, Utf32Str};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, Default)]
pub struct FileIndex {
    /// Project-relative paths with `/` separators, sorted.
    files: Vec<String>,
}

/// A search hit: the path and which of its characters matched (for highlighting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FileMatch {
    pub path: String,
    pub indices: Vec<u32>,
}

/// The walker Flint uses everywhere: .gitignore (also outside a repository), .ignore,
/// git's exclude files; hidden files shown; `.git` never.
pub(crate) fn walker(dir: &Path) -> WalkBuilder {
    let mut b = WalkBuilder::new(dir);
    b.hidden(false)
        .parents(true)
        .require_git(false)
        .filter_entry(|e| e.file_name() != ".git");
    b
}

impl FileIndex {
    /// Lists every file under `root`, in parallel.
    pub fn build(root: &Path) -> Self {
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        walker(root).build_parallel().run(|| {
            let tx = tx.clone();
            Box::new(move |entry| {
                if let Ok(e) = entry {
                    if e.file_type().is_some_and(|t| t.is_file()) {
                        if let Ok(rel) = e.path().strip_prefix(root) {
                            let _ = tx.send(to_slash(rel));
                        }
                    }
                }
                WalkState::Continue
            })
        });
        drop(tx);
        let mut files: Vec<String> = rx.into_iter().collect();
        files.sort_unstable();
        Self { files }
    }

    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    pub fn contains(&self, path: &str) -> bool {
        self.files
            .binary_search_by(|p| p.as_str().cmp(path))
            .is_ok()
    }

    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Adds or removes one path (the watcher keeps the index current this way).
    pub fn update(&mut self, path: &str, exists: bool) {
        match (
            self.files.binary_search_by(|p| p.as_str().cmp(path)),
            exists,
        ) {
            (Err(i), true) => self.files.insert(i, path.to_string()),
            (Ok(i), false) => {
                self.files.remove(i);
            }
            _ => {}
        }
    }

    /// The best `limit` fuzzy matches for `query` (path-aware scoring: a match in the
    /// file name beats one spread across folders).
    pub fn search(&self, query: &str, limit: usize) -> Vec<FileMatch> {
        let query = query.trim();
        if query.is_empty() {
            return self
                .files
                .iter()
                .take(limit)
                .map(|p| FileMatch {
                    path: p.clone(),
                    indices: Vec::new(),
                })
                .collect();
        }
        let mut matcher = Matcher::new(Config::DEFAULT.match_paths());
        let pattern = Pattern::new(
            query,
            CaseMatching::Smart,
            Normalization::Smart,
            AtomKind::Fuzzy,
        );
        let mut buf = Vec::new();
        let mut scored: Vec<(u32, usize, &String)> = self
            .files
            .iter()
            .filter_map(|p| {
                let hay = Utf32Str::new(p, &mut buf);
                pattern.score(hay, &mut matcher).map(|s| (s, p.len(), p))
            })
            .collect();
        // Best score first; among equals the shorter path.
        scored.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(b.2)));
        scored
            .into_iter()
            .take(limit)
            .map(|(_, _, p)| {
                let mut indices = Vec::new();
                let hay = Utf32Str::new(p, &mut buf);
                pattern.indices(hay, &mut matcher, &mut indices);
                indices.sort_unstable();
                indices.dedup();
                FileMatch {
                    path: p.clone(),
                    indices,
                }
            })
            .collect()
    }
}

pub(crate) fn to_slash(rel: &Path) -> String {
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

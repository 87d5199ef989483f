use std::path::Path;

use git2::{ErrorCode, Repository};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The git state the sidebar shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct GitState {
    /// The branch name; for a detached HEAD, the short commit id.
    pub branch: String,
    pub detached: bool,
    /// True in a repository with no commits yet.
    pub unborn: bool,
}

/// Reads the git state of the repository containing `root`, if any. A folder that is
/// not in a repository, or one git cannot read, has none.
pub fn state(root: &Path) -> Option<GitState> {
    let repo = Repository::discover(root).ok()?;
    let head = repo.head();
    let state = match head {
        Ok(head) => {
            if head.is_branch() {
                Some(GitState {
                    branch: head.shorthand().unwrap_or("HEAD").to_string(),
                    detached: false,
                    unborn: false,
                })
            } else {
                let id = head.target().map(|o| o.to_string()).unwrap_or_default();
                Some(GitState {
                    branch: id.chars().take(7).collect(),
                    detached: true,
                    unborn: false,
                })
            }
        }
        Err(e) if e.code() == ErrorCode::UnbornBranch => {
            // HEAD points at a branch that has no commit yet; its name is still known.
            let name = repo
                .find_reference("HEAD")
                .ok()
                .and_then(|r| r.symbolic_target().map(str::to_owned))
                .map(|t| t.trim_start_matches("refs/heads/").to_string())
                .unwrap_or_else(|| "main".into());
            Some(GitState {
                branch: name,
                detached: false,
                unborn: true,
            })
        }
        Err(_) => None,
    };
    state
}

/// A compact summary of the repository's state for the model: branch, upstream
/// distance, and the changed files (at most `max`), as `git status --short` shows them.
pub fn status_summary(root: &Path, max: usize) -> Option<String> {
    let repo = Repository::discover(root).ok()?;
    let st = state(root)?;
    let mut out = format!("Branch: {}", st.branch);
    if st.detached {
        out.push_str(" (detached HEAD)");
    }
    if st.unborn {
        out.push_str(" (no commits yet)");
    }
    if let Ok(head) = repo.head() {
        if let (Some(local), Ok(name)) = (
            head.target(),
            repo.branch_upstream_name(head.name().unwrap_or("")),
        ) {
            if let Some(up) = name.as_str().and_then(|n| repo.refname_to_id(n).ok()) {
                if let Ok((ahead, behind)) = repo.graph_ahead_behind(local, up) {
                    out.push_str(&format!(" ({ahead} ahead, {behind} behind upstream)"));
                }
            }
        }
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .exclude_submodules(false);
    let statuses = repo.statuses(Some(&mut opts)).ok()?;
    let mut lines = Vec::new();
    for e in statuses.iter() {
        let s = e.status();
        let code = |index: bool| -> char {
            let (new, modified, deleted, renamed) = if index {
                (
                    git2::Status::INDEX_NEW,
                    git2::Status::INDEX_MODIFIED,
                    git2::Status::INDEX_DELETED,
                    git2::Status::INDEX_RENAMED,
                )
            } else {
                (
                    git2::Status::WT_NEW,
                    git2::Status::WT_MODIFIED,
                    git2::Status::WT_DELETED,
                    git2::Status::WT_RENAMED,
                )
            };
            if s.intersects(modified) {
                'M'
            } else if s.intersects(new) {
                if index {
                    'A'
                } else {
                    '?'
                }
            } else if s.intersects(deleted) {
                'D'
            } else if s.intersects(renamed) {
                'R'
            } else {
                ' '
            }
        };
        let (x, y) = (code(true), code(false));
        if x == ' ' && y == ' ' {
            continue;
        }
        let (x, y) = if y == '?' { ('?', '?') } else { (x, y) };
        lines.push(format!("{x}{y} {}", e.path().unwrap_or("?")));
    }
    if lines.is_empty() {
        out.push_str("\nNo uncommitted changes.");
    } else {
        let n = lines.len();
        out.push_str(&format!("\n{n} changed file(s):"));
        for l in lines.iter().take(max) {
            out.push('\n');
            out.push_str(l);
        }
        if n > max {
            out.push_str(&format!("\n... and {} more", n - max));
        }
    }
    Some(out)
}

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

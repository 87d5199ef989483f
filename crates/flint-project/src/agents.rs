//! AGENTS.md instructions, found as Codex finds them: the user's global file first, then
//! one per folder from the repository's root down to the project folder, so the most
//! specific instructions come last and win.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct AgentsFile {
    /// Where it was read from, for display.
    pub path: String,
    pub text: String,
}

/// Larger files are cut (and say so): instructions should be short.
const MAX_BYTES: usize = 64 * 1024;

fn read(path: &Path) -> Option<AgentsFile> {
    let bytes = std::fs::read(path).ok()?;
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BYTES)]).into_owned();
    if bytes.len() > MAX_BYTES {
        text.push_str("\n[... cut: the file is over 64 KiB]");
    }
    (!text.trim().is_empty()).then(|| AgentsFile {
        path: path.display().to_string(),
        text,
    })
}

/// The AGENTS.md files that apply to `project`: `global` (if it exists), then each folder
/// from the enclosing git repository's root (or the project itself outside git) down to
/// the project folder.
pub fn agents_files(project: &Path, global: Option<&Path>) -> Vec<AgentsFile> {
    let mut out: Vec<AgentsFile> = global.and_then(read).into_iter().collect();
    let top = git2::Repository::discover(project)
        .ok()
        .and_then(|r| r.workdir().map(Path::to_path_buf))
        .and_then(|w| std::fs::canonicalize(w).ok())
        .filter(|w| project.starts_with(w))
        .unwrap_or_else(|| project.to_path_buf());
    let mut dirs: Vec<PathBuf> = project
        .ancestors()
        .take_while(|d| d.starts_with(&top))
        .map(Path::to_path_buf)
        .collect();
    dirs.reverse();
    out.extend(dirs.iter().filter_map(|d| read(&d.join("AGENTS.md"))));
    out
}

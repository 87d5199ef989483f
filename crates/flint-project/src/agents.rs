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

/// Reads an instructions file, at most `MAX_BYTES` of it, and only a regular file: a
/// repository's AGENTS.md is the repository's content, so with `inside` it must be a
/// regular file (not a link) whose real path is inside that folder. A cloned
/// repository's `AGENTS.md -> ~/.ssh/id_rsa` would otherwise send the key to the
/// provider, and `-> /dev/zero` would never end.
fn read(path: &Path, inside: Option<&Path>) -> Option<AgentsFile> {
    if let Some(top) = inside {
        if !std::fs::canonicalize(path).ok()?.starts_with(top) {
            return None;
        }
    }
    let bytes = crate::read_regular(path, MAX_BYTES, inside.is_none())?;
    let cut = bytes.len() > MAX_BYTES;
    let mut text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_BYTES)]).into_owned();
    if cut {
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
    // The user's own global file may be a link (dotfile managers); it is still read only
    // if it is a regular file, and bounded.
    let mut out: Vec<AgentsFile> = global.and_then(|g| read(g, None)).into_iter().collect();
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
    out.extend(
        dirs.iter()
            .filter_map(|d| read(&d.join("AGENTS.md"), Some(&top))),
    );
    out
}

use std::path::Path;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::ProjectError;

/// One file or folder in the sidebar's tree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Entry {
    pub name: String,
    /// Relative to the project root, with `/` separators on every platform.
    pub path: String,
    pub is_dir: bool,
}

/// Lists `dir` one level deep with the project's ignore rules applied, including those
/// of parent folders up to the root (the walker reads them as it would for a deep walk).
pub(crate) fn list(root: &Path, dir: &Path) -> Result<Vec<Entry>, ProjectError> {
    let meta = std::fs::metadata(dir).map_err(|source| ProjectError::Unreadable {
        path: dir.to_path_buf(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(ProjectError::NotAFolder(dir.to_path_buf()));
    }
    let walker = crate::index::walker(dir).max_depth(Some(1)).build();
    let mut entries = Vec::new();
    for result in walker {
        let Ok(e) = result else { continue };
        if e.depth() == 0 {
            continue;
        }
        let Ok(rel) = e.path().strip_prefix(root) else {
            continue;
        };
        let path = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        entries.push(Entry {
            name: e.file_name().to_string_lossy().into_owned(),
            path,
            is_dir: e.file_type().is_some_and(|t| t.is_dir()),
        });
    }
    entries.sort_by(|a, b| {
        b.is_dir
            .cmp(&a.is_dir)
            .then_with(|| a.name.to_lowercase().cmp(&b.name.to_lowercase()))
    });
    Ok(entries)
}

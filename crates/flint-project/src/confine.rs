//! Confining paths from outside (the model, the UI) to the project, and out of git's own
//! files. A path is refused when any part of it names git's folder as git itself would
//! read the name on a case-insensitive or NTFS/HFS file system (`.GIT`, `.git.`, `git~1`,
//! `.git::$INDEX_ALLOCATION`, `.g\u{200c}it`), when it holds control or bidi characters,
//! and when its real path (links followed, as far as it exists) leaves the root or lands
//! in the repository's git dir (a link `g -> .git` inside the project, a worktree's or a
//! submodule's git dir). Writing there is code execution: `core.fsmonitor`, hooks.

use std::path::{Component, Path, PathBuf};

/// Code points HFS+ ignores in names (git's `is_hfs_dotgit`): a name holding them is the
/// same file as the name without them.
fn hfs_ignorable(c: char) -> bool {
    matches!(c,
        '\u{200C}' | '\u{200D}' | '\u{200E}' | '\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{206A}'..='\u{206F}'
        | '\u{FEFF}')
}

/// Characters no path Flint writes may hold, and that a terminal is never sent raw:
/// control characters (an escape sequence in a file name reaches the user's terminal)
/// and bidi controls (a name that reads as something else).
pub fn unsafe_char(c: char) -> bool {
    c.is_control()
        || matches!(c,
            '\u{061C}' | '\u{200E}' | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2066}'..='\u{2069}')
}

/// Reads a file a repository may have planted, safely: only a regular file (a link is
/// refused unless `follow_links`, a device or fifo always: `-> /dev/zero` never ends,
/// `-> ~/.ssh/id_rsa` is not the repository's), and at most `limit` bytes plus one, so
/// the caller can tell a file that was cut.
pub fn read_regular(path: &Path, limit: usize, follow_links: bool) -> Option<Vec<u8>> {
    use std::io::Read as _;
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        // Opening is the check: a link swapped in after a look would be followed, and
        // a fifo would hold the open forever.
        let nofollow = if follow_links { 0 } else { libc::O_NOFOLLOW };
        options.custom_flags(nofollow | libc::O_NONBLOCK);
    }
    #[cfg(not(unix))]
    if !follow_links && !std::fs::symlink_metadata(path).ok()?.file_type().is_file() {
        return None;
    }
    let file = options.open(path).ok()?;
    if !file.metadata().ok()?.is_file() {
        return None;
    }
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut bytes).ok()?;
    Some(bytes)
}

/// Whether a file name is git's folder as some file system reads it.
pub(crate) fn is_git_name(name: &str) -> bool {
    let folded: String = name
        .chars()
        .filter(|&c| !hfs_ignorable(c))
        .collect::<String>()
        .to_lowercase();
    // NTFS: trailing dots and spaces are dropped; `name::$STREAM` is the file `name`.
    let ntfs = folded
        .split("::")
        .next()
        .unwrap_or_default()
        .trim_end_matches(['.', ' ']);
    ntfs == ".git" || ntfs == "git~1"
}

/// The git dirs a write must never reach: the repository's own (for a worktree, its
/// private one) and the common one shared with other worktrees (submodules' git dirs
/// live under it, in `modules/`), as real paths and (unix) as device and inode.
#[derive(Debug, Default)]
pub(crate) struct GitDirs {
    pub paths: Vec<PathBuf>,
    pub ids: Vec<(u64, u64)>,
}

pub(crate) fn git_dirs(root: &Path) -> GitDirs {
    let mut dirs = GitDirs::default();
    if let Ok(repo) = git2::Repository::discover(root) {
        for d in [repo.path(), repo.commondir()] {
            if let Ok(real) = std::fs::canonicalize(d) {
                if !dirs.paths.contains(&real) {
                    #[cfg(unix)]
                    if let Ok(m) = std::fs::metadata(&real) {
                        use std::os::unix::fs::MetadataExt as _;
                        dirs.ids.push((m.dev(), m.ino()));
                    }
                    dirs.paths.push(real);
                }
            }
        }
    }
    dirs
}

/// `rel` under `root`, or why not (the reason is only for tests; callers say "outside
/// the project").
pub(crate) fn resolve(root: &Path, git_dirs: &[PathBuf], rel: &str) -> Option<PathBuf> {
    let mut out = root.to_path_buf();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(part) => {
                let name = part.to_string_lossy();
                if is_git_name(&name) || name.contains(':') || name.chars().any(unsafe_char) {
                    return None;
                }
                out.push(part);
            }
            Component::CurDir => {}
            _ => return None,
        }
    }
    // Links inside the project may lead anywhere: the nearest part of the path that
    // exists must really be inside the root, and not in git's folder by another name.
    let mut existing = out.as_path();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            let inside = real.strip_prefix(root).ok()?;
            if inside
                .components()
                .any(|c| is_git_name(&c.as_os_str().to_string_lossy()))
                || git_dirs.iter().any(|g| real.starts_with(g))
            {
                return None;
            }
            break;
        }
        existing = existing.parent()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn git_names_are_read_as_file_systems_read_them() {
        for name in [
            ".git",
            ".GIT",
            ".Git",
            ".git.",
            ".git . ",
            "git~1",
            "GIT~1",
            ".git::$INDEX_ALLOCATION",
            ".g\u{200C}it",
            "\u{FEFF}.git",
        ] {
            assert!(is_git_name(name), "{name:?}");
        }
        for name in [".github", ".gitignore", "git", ".gitx", "a.git"] {
            assert!(!is_git_name(name), "{name:?}");
        }
    }

    #[cfg(unix)]
    #[test]
    fn only_regular_files_are_read_and_never_block() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("AGENTS.md");
        std::fs::write(&file, "x".repeat(100)).unwrap();
        assert_eq!(read_regular(&file, 10, false).map(|b| b.len()), Some(11));
        let link = dir.path().join("link.md");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_regular(&link, 1000, false), None);
        assert_eq!(read_regular(&link, 1000, true).map(|b| b.len()), Some(100));
        // A fifo nobody writes to: opening it blocking would hang here.
        let fifo = dir.path().join("fifo.md");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if made.is_ok_and(|s| s.success()) {
            assert_eq!(read_regular(&fifo, 1000, true), None);
        }
        assert_eq!(read_regular(Path::new("/dev/zero"), 1000, true), None);
    }

    #[test]
    fn control_and_bidi_characters_are_unsafe() {
        for c in ['\u{1b}', '\n', '\u{7}', '\u{202E}', '\u{2066}'] {
            assert!(unsafe_char(c), "{c:?}");
        }
        assert!(!unsafe_char('é') && !unsafe_char('-'));
    }
}

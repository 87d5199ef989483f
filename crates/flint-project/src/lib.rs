//! The project on disk. Opening a folder validates it and reads its git state; the file
//! tree is listed one directory at a time (what the sidebar expands), respecting
//! .gitignore, .ignore and git's exclude files, so a 100k-file tree costs no more to show
//! than the folders the user actually opens. Paths from outside (the UI, the model) are
//! always relative to the root and confined to it.

mod agents;
mod confine;
mod git;
mod index;
mod tree;
mod watcher;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

pub use agents::{agents_files, AgentsFile};
pub use confine::{read_regular, unsafe_char};
pub use git::{
    commit, diff_file, stage, staged_diff, status, status_libgit2, status_of, status_of_gitoxide,
    status_summary, unstage, ChangeCode, GitChange, GitState, GitStatus, StatusReader,
};
pub use index::{FileIndex, FileMatch};
pub use tree::Entry;
pub use watcher::{IgnoreRules, ProjectWatcher, WatchEvent, DEBOUNCE};

#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{} does not exist", .0.display())]
    Missing(PathBuf),
    #[error("{} is not a folder", .0.display())]
    NotAFolder(PathBuf),
    #[error("{} cannot be read: {source}", .path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("`{0}` is outside the project")]
    OutsideProject(String),
    #[error("git could not read the repository: {0}")]
    Git(#[from] git2::Error),
}

impl ProjectError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Missing(_) => "not_found",
            Self::NotAFolder(_) => "not_a_folder",
            Self::Unreadable { .. } => "unreadable",
            Self::OutsideProject(_) => "outside_project",
            Self::Git(_) => "git",
        }
    }
}

/// An opened project folder.
#[derive(Debug, Clone)]
pub struct ProjectDir {
    root: PathBuf,
    /// The repository's git dirs (see `confine`), found by the first `resolve` (opening
    /// a project, as every turn does, need not ask git) and shared by clones.
    git_dirs: std::sync::Arc<std::sync::OnceLock<confine::GitDirs>>,
}

/// What the UI shows about a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ProjectInfo {
    pub root: String,
    pub name: String,
    pub git: Option<GitState>,
}

impl ProjectDir {
    /// Opens `path` as a project: it must be a readable folder. Symlinks are resolved so
    /// the same folder is one project however it was reached.
    pub fn open(path: &Path) -> Result<Self, ProjectError> {
        let meta = std::fs::metadata(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                ProjectError::Missing(path.to_path_buf())
            } else {
                ProjectError::Unreadable {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        if !meta.is_dir() {
            return Err(ProjectError::NotAFolder(path.to_path_buf()));
        }
        let root = std::fs::canonicalize(path).map_err(|source| ProjectError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        // Reading one entry proves the folder is listable (permissions, network mounts).
        std::fs::read_dir(&root)
            .and_then(|mut d| d.next().transpose())
            .map_err(|source| ProjectError::Unreadable {
                path: root.clone(),
                source,
            })?;
        Ok(Self {
            root,
            git_dirs: Default::default(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn name(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.root.display().to_string())
    }

    pub fn info(&self) -> ProjectInfo {
        ProjectInfo {
            root: self.root.display().to_string(),
            name: self.name(),
            git: git::state(&self.root),
        }
    }

    /// Resolves a project-relative path, refusing absolute paths, `..`, git's folder by
    /// any name a file system reads as it, names with control or bidi characters, and
    /// anything whose real path (links followed) leaves the root or reaches a git dir.
    pub fn resolve(&self, rel: &str) -> Result<PathBuf, ProjectError> {
        let git_dirs = self.git_dirs.get_or_init(|| confine::git_dirs(&self.root));
        confine::resolve(&self.root, &git_dirs.paths, rel)
            .ok_or_else(|| ProjectError::OutsideProject(rel.to_string()))
    }

    /// The repository's git dirs (its `.git`, and any found by git's own rules): what
    /// a sandboxed command may not write.
    pub fn git_dirs(&self) -> Vec<PathBuf> {
        let git_dirs = self.git_dirs.get_or_init(|| confine::git_dirs(&self.root));
        git_dirs.paths.clone()
    }

    /// Whether a folder, by its device and inode (unix), is one of the repository's git
    /// dirs: how a write through a folder handle is checked, whatever the folder's name
    /// is now (a git dir renamed to `sub` is still refused).
    pub fn is_git_dir(&self, dev: u64, ino: u64) -> bool {
        let git_dirs = self.git_dirs.get_or_init(|| confine::git_dirs(&self.root));
        git_dirs.ids.contains(&(dev, ino))
    }

    /// The entries of one directory (`""` for the root), folders first.
    pub fn list_dir(&self, rel: &str) -> Result<Vec<Entry>, ProjectError> {
        let dir = self.resolve(rel)?;
        tree::list(&self.root, &dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opening_rejects_files_and_missing_paths() {
        let tmp = tempfile::tempdir().unwrap();
        let file = tmp.path().join("f.txt");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(ProjectDir::open(&file).unwrap_err().code(), "not_a_folder");
        assert_eq!(
            ProjectDir::open(&tmp.path().join("nope"))
                .unwrap_err()
                .code(),
            "not_found"
        );
        assert!(ProjectDir::open(tmp.path()).is_ok());
    }

    #[test]
    fn paths_are_confined() {
        let tmp = tempfile::tempdir().unwrap();
        let p = ProjectDir::open(tmp.path()).unwrap();
        for bad in ["../x", "/etc", "a/../../x", ".git/config", "a/.git"] {
            assert_eq!(
                p.resolve(bad).unwrap_err().code(),
                "outside_project",
                "{bad}"
            );
        }
        assert!(p.resolve("src/main.rs").is_ok());
        for bad in [
            ".GIT/config",
            ".git./config",
            "GIT~1/config",
            ".git::$INDEX_ALLOCATION/config",
            "sub/.Git/hooks/pre-commit",
            "evil\u{1b}]0;title\u{7}.rs",
            "a\u{202E}txt.rs",
        ] {
            assert_eq!(
                p.resolve(bad).unwrap_err().code(),
                "outside_project",
                "{bad:?}"
            );
        }
        #[cfg(unix)]
        {
            // A link inside the project to git's folder: its files are git's files.
            git2::Repository::init(tmp.path()).unwrap();
            let p = ProjectDir::open(tmp.path()).unwrap();
            std::os::unix::fs::symlink(".git", tmp.path().join("g")).unwrap();
            std::os::unix::fs::symlink(".git/hooks", tmp.path().join("h")).unwrap();
            for bad in ["g/config", "g", "h/pre-commit", "g/new/file"] {
                assert_eq!(
                    p.resolve(bad).unwrap_err().code(),
                    "outside_project",
                    "{bad}"
                );
            }
        }
        {
            // A git dir inside the project under another name (a separate git dir, as
            // `git init --separate-git-dir` or a worktree's makes): its files are git's.
            let tmp = tempfile::tempdir().unwrap();
            let mut opts = git2::RepositoryInitOptions::new();
            opts.workdir_path(tmp.path()).no_dotgit_dir(true);
            git2::Repository::init_opts(tmp.path().join("gitdata"), &opts).unwrap();
            let p = ProjectDir::open(tmp.path()).unwrap();
            assert!(p.resolve("src/ok.rs").is_ok());
            assert!(p.git_dirs.get().is_some_and(|d| !d.paths.is_empty()));
            for bad in ["gitdata/config", "gitdata/hooks/pre-commit"] {
                assert_eq!(
                    p.resolve(bad).unwrap_err().code(),
                    "outside_project",
                    "{bad}"
                );
            }
            assert!(p.resolve("src/ok.rs").is_ok());
        }
        #[cfg(unix)]
        {
            let outside = tempfile::tempdir().unwrap();
            std::os::unix::fs::symlink(outside.path(), tmp.path().join("link")).unwrap();
            assert_eq!(p.resolve("link").unwrap_err().code(), "outside_project");
            // A file that does not exist yet, under a link that leads out.
            assert_eq!(
                p.resolve("link/new/file.rs").unwrap_err().code(),
                "outside_project"
            );
        }
    }
}

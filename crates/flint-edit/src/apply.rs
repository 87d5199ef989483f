//! Writing a change set all-or-nothing. Every new file is written to a temporary file
//! beside its target first; only when all are written are they renamed into place (a
//! rename within a folder is atomic). If anything fails, whatever was already renamed
//! or deleted is put back from the bytes held in memory, so the project is left as it
//! was. Before anything is written, each file's current bytes are checked against the
//! hash the caller expects: a file the user changed meanwhile is never overwritten.

use std::fs;
use std::path::PathBuf;

use flint_project::ProjectDir;
use sha2::{Digest, Sha256};

use crate::EditError;

/// One file to write: what it must hold now (`None`: must not exist) and what it
/// becomes (`None`: deleted).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    pub path: String,
    pub expected: Option<String>,
    pub content: Option<Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedFile {
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
}

/// What was written: enough to undo it exactly.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Applied {
    pub files: Vec<AppliedFile>,
}

/// The content address Flint uses for file versions (SHA-256, hex).
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

struct Target {
    write: Write,
    abs: PathBuf,
    before: Option<Vec<u8>>,
    temp: Option<PathBuf>,
    #[cfg(unix)]
    mode: Option<u32>,
}

fn io(path: &str, e: impl std::fmt::Display) -> EditError {
    EditError::Io {
        path: path.into(),
        detail: e.to_string(),
    }
}

#[cfg(test)]
thread_local! {
    /// Tests make the commit of the n-th file fail, to prove the rollback.
    pub(crate) static FAIL_COMMIT_AT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
}

/// Applies `writes` to the project all-or-nothing.
pub fn apply(project: &ProjectDir, writes: &[Write]) -> Result<Applied, EditError> {
    // 1. Check: every path inside the project, every file as the caller expects it.
    let mut targets = Vec::new();
    for w in writes {
        let abs = project
            .resolve(&w.path)
            .map_err(|_| EditError::OutsideProject {
                path: w.path.clone(),
            })?;
        let before = match fs::symlink_metadata(&abs) {
            Ok(m) if m.is_dir() => {
                return Err(EditError::IsFolder {
                    path: w.path.clone(),
                })
            }
            Ok(_) => Some(fs::read(&abs).map_err(|e| io(&w.path, e))?),
            Err(_) => None,
        };
        let actual = before.as_deref().map(content_hash);
        if actual != w.expected {
            return Err(EditError::Conflict {
                path: w.path.clone(),
            });
        }
        #[cfg(unix)]
        let mode = {
            use std::os::unix::fs::PermissionsExt;
            fs::metadata(&abs).ok().map(|m| m.permissions().mode())
        };
        targets.push(Target {
            write: w.clone(),
            abs,
            before,
            temp: None,
            #[cfg(unix)]
            mode,
        });
    }

    // 2. Stage: write every new version beside its target.
    let mut created_dirs: Vec<PathBuf> = Vec::new();
    for (i, t) in targets.iter_mut().enumerate() {
        let Some(content) = t.write.content.clone() else {
            continue;
        };
        let staged = stage(t, i, &content, &mut created_dirs);
        if let Err(e) = staged {
            cleanup(&targets, &created_dirs);
            return Err(e);
        }
    }

    // 3. Commit: rename into place, delete what goes; undo it all on any failure.
    for i in 0..targets.len() {
        if let Err(e) = commit(&targets[i], i) {
            for done in targets[..i].iter().rev() {
                restore(done);
            }
            cleanup(&targets, &created_dirs);
            return Err(e);
        }
    }
    Ok(Applied {
        files: targets
            .into_iter()
            .map(|t| AppliedFile {
                path: t.write.path,
                before: t.before,
                after: t.write.content,
            })
            .collect(),
    })
}

fn stage(
    t: &mut Target,
    i: usize,
    content: &[u8],
    created: &mut Vec<PathBuf>,
) -> Result<(), EditError> {
    let path = t.write.path.clone();
    let parent = t
        .abs
        .parent()
        .ok_or_else(|| io(&path, "no parent folder"))?;
    // Create missing folders one by one, remembering them for a rollback.
    let mut missing = Vec::new();
    let mut p = parent;
    while !p.exists() {
        missing.push(p.to_path_buf());
        match p.parent() {
            Some(up) => p = up,
            None => break,
        }
    }
    for dir in missing.into_iter().rev() {
        fs::create_dir(&dir).map_err(|e| io(&path, e))?;
        created.push(dir);
    }
    let name = t
        .abs
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = parent.join(format!(".{name}.flint-{}-{i}.tmp", std::process::id()));
    fs::write(&temp, content).map_err(|e| io(&path, e))?;
    t.temp = Some(temp.clone());
    #[cfg(unix)]
    if let Some(mode) = t.mode {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(&temp, fs::Permissions::from_mode(mode)).map_err(|e| io(&path, e))?;
    }
    Ok(())
}

fn commit(t: &Target, _i: usize) -> Result<(), EditError> {
    #[cfg(test)]
    if FAIL_COMMIT_AT.with(|f| f.get()) == Some(_i) {
        return Err(io(&t.write.path, "injected failure"));
    }
    match (&t.temp, &t.write.content) {
        (Some(temp), Some(_)) => fs::rename(temp, &t.abs).map_err(|e| io(&t.write.path, e)),
        (_, None) => match fs::remove_file(&t.abs) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&t.write.path, e)),
        },
        (None, Some(_)) => Err(io(&t.write.path, "not staged")),
    }
}

/// Puts a committed file back as it was.
fn restore(t: &Target) {
    match &t.before {
        Some(bytes) => {
            let _ = fs::write(&t.abs, bytes);
        }
        None => {
            let _ = fs::remove_file(&t.abs);
        }
    }
}

fn cleanup(targets: &[Target], created_dirs: &[PathBuf]) {
    for t in targets {
        if let Some(temp) = &t.temp {
            let _ = fs::remove_file(temp);
        }
    }
    for dir in created_dirs.iter().rev() {
        let _ = fs::remove_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup() -> (tempfile::TempDir, ProjectDir) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.txt"), "a\n").unwrap();
        fs::write(dir.path().join("b.txt"), "b\n").unwrap();
        let p = ProjectDir::open(dir.path()).unwrap();
        (dir, p)
    }

    fn w(path: &str, expected: Option<&[u8]>, content: Option<&[u8]>) -> Write {
        Write {
            path: path.into(),
            expected: expected.map(content_hash),
            content: content.map(<[u8]>::to_vec),
        }
    }

    #[test]
    fn a_failed_commit_puts_everything_back() {
        let (dir, p) = setup();
        let writes = [
            w("a.txt", Some(b"a\n"), Some(b"A\n")),
            w("b.txt", Some(b"b\n"), None),
            w("new/deep/c.txt", None, Some(b"c\n")),
        ];
        FAIL_COMMIT_AT.with(|f| f.set(Some(2)));
        let err = apply(&p, &writes).unwrap_err();
        FAIL_COMMIT_AT.with(|f| f.set(None));
        assert_eq!(err.code(), "io");
        assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
        assert_eq!(fs::read_to_string(dir.path().join("b.txt")).unwrap(), "b\n");
        assert!(!dir.path().join("new").exists());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");

        let done = apply(&p, &writes).unwrap();
        assert_eq!(done.files.len(), 3);
        assert_eq!(
            fs::read_to_string(dir.path().join("new/deep/c.txt")).unwrap(),
            "c\n"
        );
        assert!(!dir.path().join("b.txt").exists());
    }

    #[test]
    fn a_file_changed_meanwhile_is_a_conflict_and_nothing_is_written() {
        let (dir, p) = setup();
        fs::write(dir.path().join("b.txt"), "user edit\n").unwrap();
        let err = apply(
            &p,
            &[
                w("a.txt", Some(b"a\n"), Some(b"A\n")),
                w("b.txt", Some(b"b\n"), Some(b"B\n")),
            ],
        )
        .unwrap_err();
        assert_eq!(
            err,
            EditError::Conflict {
                path: "b.txt".into()
            }
        );
        assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
    }

    #[cfg(unix)]
    #[test]
    fn permissions_are_kept() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, p) = setup();
        let path = dir.path().join("a.txt");
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        apply(&p, &[w("a.txt", Some(b"a\n"), Some(b"#!/bin/sh\n"))]).unwrap();
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }
}

//! Writing a change set all-or-nothing. Every new file is written to a staging file
//! beside its target first (created exclusively, under a random name, and synced with
//! its folder); only when all are staged does the caller get to record the way back
//! (`apply_with`: the write-ahead checkpoint), and only then are they renamed into place
//! (a rename within a folder is atomic), each target's confinement checked again just
//! before. If anything fails, whatever was already renamed or deleted is put back from
//! the bytes held in memory, so the project is left as it was. Before anything is
//! written, each file's current bytes are checked against the hash the caller expects:
//! a file the user changed meanwhile is never overwritten.

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
    /// Tests make putting a file back fail too, to prove the error says so.
    pub(crate) static FAIL_RESTORE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Applies `writes` to the project all-or-nothing.
pub fn apply(project: &ProjectDir, writes: &[Write]) -> Result<Applied, EditError> {
    apply_with(project, writes, &mut |_| Ok(()))
}

/// Applies `writes` all-or-nothing, calling `before_commit` with what is about to be
/// written once everything is staged and before the first file changes: the caller
/// records its checkpoint there, so a crash between renames leaves the way back kept.
/// If it fails, nothing is written and its error is returned.
pub fn apply_with(
    project: &ProjectDir,
    writes: &[Write],
    before_commit: &mut dyn FnMut(&Applied) -> Result<(), EditError>,
) -> Result<Applied, EditError> {
    // 1. Check: every path inside the project, every file as the caller expects it.
    let mut targets = Vec::new();
    for w in writes {
        let mut abs = project
            .resolve(&w.path)
            .map_err(|_| EditError::OutsideProject {
                path: w.path.clone(),
            })?;
        // A link inside the project (its real path confined like any other) is edited
        // where it points, so it stays a link; deleting it removes the link itself.
        if w.content.is_some()
            && fs::symlink_metadata(&abs).is_ok_and(|m| m.file_type().is_symlink())
        {
            let real = fs::canonicalize(&abs).map_err(|e| io(&w.path, e))?;
            // Confined again as a path of its own: the link may have changed since.
            let confined = real
                .strip_prefix(project.root())
                .ok()
                .and_then(|rel| project.resolve(&rel.to_string_lossy()).ok());
            if confined.as_ref() != Some(&real) {
                return Err(EditError::OutsideProject {
                    path: w.path.clone(),
                });
            }
            abs = real;
        }
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

    // 2. Stage: write every new version beside its target, durably.
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
    sync_folders(&targets);

    // 3. The way back is recorded before anything changes.
    let applied = Applied {
        files: targets
            .iter()
            .map(|t| AppliedFile {
                path: t.write.path.clone(),
                before: t.before.clone(),
                after: t.write.content.clone(),
            })
            .collect(),
    };
    if let Err(e) = before_commit(&applied) {
        cleanup(&targets, &created_dirs);
        return Err(e);
    }

    // 4. Commit: rename into place, delete what goes; undo it all on any failure.
    for i in 0..targets.len() {
        if let Err(e) = commit(project, &targets[i], i) {
            let unrestored: Vec<String> = targets[..i]
                .iter()
                .rev()
                .filter_map(|done| restore(done).err())
                .collect();
            cleanup(&targets, &created_dirs);
            if !unrestored.is_empty() {
                // Never say nothing changed when something could not be put back.
                let detail = match e {
                    EditError::Io { detail, .. } => detail,
                    other => other.to_string(),
                };
                return Err(EditError::PartlyWritten {
                    path: targets[i].write.path.clone(),
                    detail,
                    unrestored: unrestored.join(", "),
                });
            }
            return Err(e);
        }
    }
    sync_folders(&targets);
    Ok(applied)
}

/// Syncs the folders of the targets, so renames and staged files survive a power loss.
fn sync_folders(targets: &[Target]) {
    #[cfg(unix)]
    {
        let mut done: Vec<&std::path::Path> = Vec::new();
        for t in targets {
            if let Some(parent) = t.abs.parent() {
                if !done.contains(&parent) {
                    done.push(parent);
                    if let Ok(dir) = fs::File::open(parent) {
                        let _ = dir.sync_all();
                    }
                }
            }
        }
    }
    #[cfg(not(unix))]
    let _ = targets; // Windows cannot open a folder as a file to sync it.
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
    // Created exclusively (O_EXCL) under a random name: a link planted at a predictable
    // staging name cannot redirect the write.
    let prefix = format!(".{name}.flint-{i}-");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    // tempfile creates 0600; a file keeps its mode, a new one gets 0666 less the umask,
    // as any editor would create it.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(t.mode.unwrap_or(0o666)));
    }
    let mut file = builder.tempfile_in(parent).map_err(|e| io(&path, e))?;
    // Known before the first byte: a failed write (a full disk) is cleaned up too.
    t.temp = Some(file.path().to_path_buf());
    use std::io::Write as _;
    file.write_all(content)
        .and_then(|()| file.as_file().sync_all())
        .map_err(|e| io(&path, e))?;
    #[cfg(unix)]
    if let Some(mode) = t.mode {
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(file.path(), fs::Permissions::from_mode(mode))
            .map_err(|e| io(&path, e))?;
    }
    // Kept past this scope; `cleanup` removes it if the apply does not complete.
    file.keep().map_err(|e| io(&path, e.error))?;
    Ok(())
}

fn commit(project: &ProjectDir, t: &Target, _i: usize) -> Result<(), EditError> {
    #[cfg(test)]
    if FAIL_COMMIT_AT.with(|f| f.get()) == Some(_i) {
        return Err(io(&t.write.path, "injected failure"));
    }
    // Checked again just before: a folder swapped for a link since the check in step 1
    // must not carry the rename out of the project.
    let now = project.resolve(&t.write.path).ok();
    let same =
        now.is_some_and(|p| p == t.abs || fs::canonicalize(&p).ok().as_ref() == Some(&t.abs));
    if !same {
        return Err(EditError::OutsideProject {
            path: t.write.path.clone(),
        });
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

/// Puts a committed file back as it was, mode included; the file's path if it could
/// not be.
fn restore(t: &Target) -> Result<(), String> {
    #[cfg(test)]
    if FAIL_RESTORE.with(|f| f.get()) {
        return Err(format!("{} (injected failure)", t.write.path));
    }
    let done = match &t.before {
        Some(bytes) => fs::write(&t.abs, bytes).and_then(|()| {
            #[cfg(unix)]
            if let Some(mode) = t.mode {
                use std::os::unix::fs::PermissionsExt;
                fs::set_permissions(&t.abs, fs::Permissions::from_mode(mode))?;
            }
            Ok(())
        }),
        None => match fs::remove_file(&t.abs) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    };
    done.map_err(|e| format!("{} ({e})", t.write.path))
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
    fn when_the_way_back_cannot_be_recorded_nothing_is_written() {
        let (dir, p) = setup();
        let writes = [
            w("a.txt", Some(b"a\n"), Some(b"A\n")),
            w("b.txt", Some(b"b\n"), None),
            w("new/c.txt", None, Some(b"c\n")),
        ];
        let mut seen = 0;
        let err = apply_with(&p, &writes, &mut |applied| {
            seen = applied.files.len();
            // Everything is staged, nothing renamed yet.
            assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
            Err(io("history", "disk full"))
        })
        .unwrap_err();
        assert_eq!((seen, err.code()), (3, "io"));
        assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "a\n");
        assert_eq!(fs::read_to_string(dir.path().join("b.txt")).unwrap(), "b\n");
        assert!(!dir.path().join("new").exists());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".tmp")), "{names:?}");
    }

    #[cfg(unix)]
    #[test]
    fn a_link_planted_at_a_staging_name_is_never_written_through() {
        let (dir, p) = setup();
        let outside = tempfile::tempdir().unwrap();
        let victim = outside.path().join("victim");
        fs::write(&victim, "precious").unwrap();
        // Where the old predictable staging names were, and a few guesses more.
        for n in 0..4 {
            let name = format!(".a.txt.flint-{}-{n}.tmp", std::process::id());
            std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
            let name = format!(".a.txt.flint-{n}-.tmp");
            let _ = std::os::unix::fs::symlink(&victim, dir.path().join(name));
        }
        apply(&p, &[w("a.txt", Some(b"a\n"), Some(b"A\n"))]).unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
        assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "A\n");
    }

    #[test]
    fn a_rollback_that_cannot_put_a_file_back_says_the_files_are_changed() {
        let (dir, p) = setup();
        FAIL_COMMIT_AT.with(|f| f.set(Some(1)));
        FAIL_RESTORE.with(|f| f.set(true));
        let err = apply(
            &p,
            &[
                w("a.txt", Some(b"a\n"), Some(b"A\n")),
                w("b.txt", Some(b"b\n"), Some(b"B\n")),
            ],
        )
        .unwrap_err();
        FAIL_COMMIT_AT.with(|f| f.set(None));
        FAIL_RESTORE.with(|f| f.set(false));
        assert_eq!(err.code(), "partly_written");
        let message = err.to_string();
        assert!(
            message.contains("a.txt") && !message.contains("nothing was changed"),
            "{message}"
        );
        assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "A\n");
    }

    #[cfg(unix)]
    #[test]
    fn new_files_get_the_usual_mode() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, p) = setup();
        apply(&p, &[w("new.txt", None, Some(b"n\n"))]).unwrap();
        fs::write(dir.path().join("by-hand.txt"), "h\n").unwrap();
        let mode = |n: &str| {
            fs::metadata(dir.path().join(n))
                .unwrap()
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("new.txt"), mode("by-hand.txt"));
    }

    #[cfg(unix)]
    #[test]
    fn a_link_stays_a_link_and_a_rolled_back_delete_keeps_its_mode() {
        use std::os::unix::fs::PermissionsExt;
        let (dir, p) = setup();
        std::os::unix::fs::symlink("a.txt", dir.path().join("cur.txt")).unwrap();
        apply(&p, &[w("cur.txt", Some(b"a\n"), Some(b"A\n"))]).unwrap();
        assert!(fs::symlink_metadata(dir.path().join("cur.txt"))
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(fs::read_to_string(dir.path().join("a.txt")).unwrap(), "A\n");

        fs::set_permissions(dir.path().join("b.txt"), fs::Permissions::from_mode(0o755)).unwrap();
        FAIL_COMMIT_AT.with(|f| f.set(Some(1)));
        let err = apply(
            &p,
            &[
                w("b.txt", Some(b"b\n"), None),
                w("a.txt", Some(b"A\n"), Some(b"x\n")),
            ],
        )
        .unwrap_err();
        FAIL_COMMIT_AT.with(|f| f.set(None));
        assert_eq!(err.code(), "io");
        let mode = fs::metadata(dir.path().join("b.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
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

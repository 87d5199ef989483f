//! Snapshots of a project's files, taken around whatever a model's turn does that Flint
//! cannot see write by write (a command: a formatter, `git checkout`, `sed -i`, a code
//! generator). They live in a private git object store in Flint's data folder - never
//! in the user's own `.git` - one per project, with its own index as a stat cache: a
//! snapshot rehashes only files whose size or time changed since the last, and files
//! the project's ignore rules leave out, or larger than [`MAX_SNAPSHOT_FILE`], are not
//! kept. What changed between two snapshots becomes a checkpoint's files (each one's
//! exact bytes, mode and link before and after), so undo restores it like any edit.

use std::path::{Path, PathBuf};

use git2::{Delta, IndexAddOption, ObjectType, Oid, Repository};

use crate::{CheckpointFile, Result, StoreError};

/// Files larger than this are left out of snapshots (and so cannot be undone when a
/// command changes them; the turn's note says which).
pub const MAX_SNAPSHOT_FILE: u64 = 16 * 1024 * 1024;

/// One project's snapshot store.
pub struct Snapshots {
    repo: Repository,
    root: PathBuf,
}

/// A snapshot: the tree of the project's files at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot(Oid);

fn git(e: git2::Error) -> StoreError {
    StoreError::Snapshot(e.message().to_string())
}

impl Snapshots {
    /// Opens (creating it the first time) the store for the project at `root`, in
    /// `data_dir/snapshots`.
    pub fn open(data_dir: &Path, root: &Path) -> Result<Self> {
        let key: String = crate::blob_hash(root.to_string_lossy().as_bytes())
            .chars()
            .take(24)
            .collect();
        let dir = data_dir.join("snapshots").join(format!("{key}.git"));
        let repo = match Repository::open_bare(&dir) {
            Ok(r) => r,
            Err(_) => {
                std::fs::create_dir_all(&dir)?;
                let repo = Repository::init_bare(&dir).map_err(git)?;
                let mut config = repo.config().map_err(git)?;
                for (k, v) in [
                    ("core.filemode", true),
                    ("core.symlinks", true),
                    ("core.autocrlf", false),
                ] {
                    config.set_bool(k, v).map_err(git)?;
                }
                repo
            }
        };
        repo.set_workdir(root, false).map_err(git)?;
        Ok(Self {
            repo,
            root: root.to_path_buf(),
        })
    }

    /// Takes a snapshot of the project as it is now.
    pub fn take(&self) -> Result<Snapshot> {
        let mut index = self.repo.index().map_err(git)?;
        let root = self.root.clone();
        let mut too_big = |path: &Path, _: &[u8]| -> i32 {
            match std::fs::symlink_metadata(root.join(path)) {
                Ok(m) if m.is_file() && m.len() > MAX_SNAPSHOT_FILE => 1,
                _ => 0,
            }
        };
        // Drops what was deleted, then adds what is new or changed (the index's stat
        // data tells which files need reading again).
        index
            .update_all(["*"], Some(&mut |_: &Path, _: &[u8]| 0))
            .map_err(git)?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, Some(&mut too_big))
            .map_err(git)?;
        // A file that grew past the cap since the last snapshot leaves it.
        let big: Vec<PathBuf> = index
            .iter()
            .filter(|e| e.file_size as u64 > MAX_SNAPSHOT_FILE)
            .filter_map(|e| String::from_utf8(e.path).ok().map(PathBuf::from))
            .collect();
        for p in big {
            let _ = index.remove_path(&p);
        }
        index.write().map_err(git)?;
        Ok(Snapshot(index.write_tree().map_err(git)?))
    }

    /// What changed from `before` to `after`: each file's bytes (and mode, and link)
    /// at both ends, as a checkpoint records them.
    pub fn changes(&self, before: Snapshot, after: Snapshot) -> Result<Vec<CheckpointFile>> {
        if before == after {
            return Ok(Vec::new());
        }
        let a = self.repo.find_tree(before.0).map_err(git)?;
        let b = self.repo.find_tree(after.0).map_err(git)?;
        let diff = self
            .repo
            .diff_tree_to_tree(Some(&a), Some(&b), None)
            .map_err(git)?;
        let mut files = Vec::new();
        for delta in diff.deltas() {
            let (old, new) = (delta.old_file(), delta.new_file());
            let path = new
                .path()
                .or(old.path())
                .map(|p| p.to_string_lossy().replace('\\', "/"))
                .unwrap_or_default();
            let read = |f: &git2::DiffFile| -> Result<Option<(Vec<u8>, u32)>> {
                if f.id().is_zero() || !f.exists() {
                    return Ok(None);
                }
                let blob = self.repo.find_blob(f.id()).map_err(git)?;
                Ok(Some((blob.content().to_vec(), u32::from(f.mode()))))
            };
            let (before, after) = match delta.status() {
                Delta::Added | Delta::Deleted | Delta::Modified | Delta::Typechange => {
                    (read(&old)?, read(&new)?)
                }
                _ => continue,
            };
            let is_link = |m: u32| m & 0o170000 == 0o120000;
            let before_link = before
                .as_ref()
                .filter(|(_, m)| is_link(*m))
                .map(|(b, _)| String::from_utf8_lossy(b).into_owned());
            files.push(CheckpointFile {
                path,
                before_mode: before.as_ref().map(|(_, m)| m & 0o777),
                before_link,
                before: before.map(|(b, _)| b),
                after: after.map(|(b, _)| b),
            });
        }
        Ok(files)
    }

    /// The bytes of `path` in `snapshot`, if it was kept.
    pub fn file(&self, snapshot: Snapshot, path: &str) -> Result<Option<Vec<u8>>> {
        let tree = self.repo.find_tree(snapshot.0).map_err(git)?;
        let Ok(entry) = tree.get_path(Path::new(path)) else {
            return Ok(None);
        };
        if entry.kind() != Some(ObjectType::Blob) {
            return Ok(None);
        }
        let blob = self.repo.find_blob(entry.id()).map_err(git)?;
        Ok(Some(blob.content().to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_s_changes_come_back_as_exact_files() {
        let data = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        std::fs::write(root.join(".gitignore"), "target/\n").unwrap();
        std::fs::write(root.join("keep.txt"), "same\n").unwrap();
        std::fs::write(root.join("edit.txt"), b"crlf\r\nline\r\n").unwrap();
        std::fs::write(root.join("gone.sh"), "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(root.join("gone.sh"), std::fs::Permissions::from_mode(0o755))
                .unwrap();
            std::os::unix::fs::symlink("keep.txt", root.join("link")).unwrap();
        }
        std::fs::create_dir(root.join("target")).unwrap();
        std::fs::write(root.join("target/out"), "ignored").unwrap();
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(root.join(".git/config"), "never read").unwrap();

        let snaps = Snapshots::open(data.path(), root).unwrap();
        let before = snaps.take().unwrap();
        assert_eq!(snaps.take().unwrap(), before, "nothing changed, same tree");
        std::fs::write(root.join("edit.txt"), b"crlf\r\nchanged\r\n").unwrap();
        std::fs::remove_file(root.join("gone.sh")).unwrap();
        std::fs::write(root.join("new.txt"), "new").unwrap();
        std::fs::write(root.join("target/out"), "changed but ignored").unwrap();
        #[cfg(unix)]
        std::fs::remove_file(root.join("link")).unwrap();
        let after = snaps.take().unwrap();
        let mut files = snaps.changes(before, after).unwrap();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let paths: Vec<&str> = files.iter().map(|f| f.path.as_str()).collect();
        #[cfg(unix)]
        assert_eq!(paths, ["edit.txt", "gone.sh", "link", "new.txt"]);
        let edit = &files[0];
        assert_eq!(edit.before.as_deref(), Some(&b"crlf\r\nline\r\n"[..]));
        assert_eq!(edit.after.as_deref(), Some(&b"crlf\r\nchanged\r\n"[..]));
        #[cfg(unix)]
        {
            assert_eq!(files[1].before_mode, Some(0o755));
            assert_eq!(files[1].after, None);
            assert_eq!(files[2].before_link.as_deref(), Some("keep.txt"));
        }
        assert_eq!(files[3].before, None);
        assert_eq!(
            snaps.file(before, "keep.txt").unwrap().as_deref(),
            Some(&b"same\n"[..])
        );
        assert_eq!(snaps.file(before, ".git/config").unwrap(), None);
        // The project's own git folder was never written.
        assert_eq!(std::fs::read_dir(root.join(".git")).unwrap().count(), 1);
        // Reopened (a restart), the store still has both.
        let again = Snapshots::open(data.path(), root).unwrap();
        assert_eq!(again.changes(before, after).unwrap().len(), files.len());
    }

    #[test]
    fn files_past_the_cap_are_left_out() {
        let data = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let big = project.path().join("big.bin");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_SNAPSHOT_FILE + 1).unwrap();
        std::fs::write(project.path().join("small"), "x").unwrap();
        let snaps = Snapshots::open(data.path(), project.path()).unwrap();
        let s = snaps.take().unwrap();
        assert_eq!(snaps.file(s, "big.bin").unwrap(), None);
        assert!(snaps.file(s, "small").unwrap().is_some());
    }
}

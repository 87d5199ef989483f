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
/// What one change between two snapshots may hold, to be kept for undo: past either,
/// `changes` refuses (the command's result says its changes were not recorded).
pub const MAX_CHANGE_FILES: usize = 20_000;
pub const MAX_CHANGE_BYTES: u64 = 512 * 1024 * 1024;

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
                Repository::init_bare(&dir).map_err(git)?
            }
        };
        // Exact bytes: no line-ending or keyword filter from the project's
        // .gitattributes (the store's own attributes come first), and neither the
        // user's global attributes nor their global excludes apply.
        let info = dir.join("info");
        std::fs::create_dir_all(&info)?;
        std::fs::write(
            info.join("attributes"),
            "* -text -ident -filter -eol -diff -crlf\n",
        )?;
        let empty = info.join("empty");
        std::fs::write(&empty, "")?;
        let mut config = repo.config().map_err(git)?;
        for (k, v) in [
            ("core.filemode", true),
            ("core.symlinks", true),
            ("core.autocrlf", false),
        ] {
            config.set_bool(k, v).map_err(git)?;
        }
        let empty = empty.to_string_lossy().into_owned();
        config.set_str("core.attributesFile", &empty).map_err(git)?;
        config.set_str("core.excludesFile", &empty).map_err(git)?;
        repo.set_workdir(root, false).map_err(git)?;
        Ok(Self {
            repo,
            root: root.to_path_buf(),
        })
    }

    /// Takes a snapshot of the project as it is now. Nested repositories (a folder
    /// holding its own `.git`) and files over the cap are left out.
    pub fn take(&self) -> Result<Snapshot> {
        let mut index = self.repo.index().map_err(git)?;
        let root = self.root.clone();
        let left_out = std::cell::RefCell::new(Vec::<PathBuf>::new());
        // 0 adds (or updates) a path, 1 skips it: a file past the cap (its real size,
        // not the index's 32-bit one) is skipped and then dropped from the index; a
        // nested repository (libgit2 would add it as a submodule link, or fail on it)
        // is skipped.
        let mut keep = |path: &Path, _: &[u8]| -> i32 {
            let abs = root.join(path);
            let nested = path.to_string_lossy().ends_with('/') || abs.join(".git").exists();
            match std::fs::symlink_metadata(&abs) {
                Ok(m) if m.is_dir() && nested => 1,
                Ok(m) if m.is_file() && m.len() > MAX_SNAPSHOT_FILE => {
                    left_out.borrow_mut().push(path.to_path_buf());
                    1
                }
                _ if nested && !abs.is_file() => 1,
                _ => 0,
            }
        };
        // Drops what was deleted and rehashes what changed (the index's stat data
        // tells which), then adds what is new.
        index.update_all(["*"], Some(&mut keep)).map_err(git)?;
        index
            .add_all(["*"], IndexAddOption::DEFAULT, Some(&mut keep))
            .map_err(git)?;
        for p in left_out.into_inner() {
            let _ = index.remove_path(&p);
        }
        // Whatever a nested repository left as a link to another repository's commit.
        let links: Vec<PathBuf> = index
            .iter()
            .filter(|e| e.mode == 0o160000)
            .filter_map(|e| String::from_utf8(e.path).ok().map(PathBuf::from))
            .collect();
        for p in links {
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
        let mut bytes = 0u64;
        if diff.deltas().len() > MAX_CHANGE_FILES {
            return Err(StoreError::Snapshot(format!(
                "{} files changed, more than the {MAX_CHANGE_FILES} kept for undo",
                diff.deltas().len()
            )));
        }
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
            bytes += [&before, &after]
                .iter()
                .filter_map(|b| b.as_ref().map(|(b, _)| b.len() as u64))
                .sum::<u64>();
            if bytes > MAX_CHANGE_BYTES {
                return Err(StoreError::Snapshot(format!(
                    "the change is larger than the {} MiB kept for undo",
                    MAX_CHANGE_BYTES >> 20
                )));
            }
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
    fn snapshots_are_exact_bytes_whatever_the_project_s_attributes_and_nested_repos() {
        let data = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        let root = project.path();
        std::fs::write(root.join(".gitattributes"), "* text=auto ident\n").unwrap();
        std::fs::write(root.join("crlf.txt"), b"one\r\ntwo\r\n").unwrap();
        std::fs::write(root.join("id.txt"), "$Id: kept as written $\n").unwrap();
        // A nested repository with a commit (what a `git clone` into the project makes).
        let nested = root.join("vendor/lib");
        std::fs::create_dir_all(&nested).unwrap();
        let git = |args: &[&str]| {
            assert!(std::process::Command::new("git")
                .args(args)
                .current_dir(&nested)
                .output()
                .unwrap()
                .status
                .success());
        };
        git(&["init", "-q"]);
        std::fs::write(nested.join("f"), "x").unwrap();
        git(&["add", "f"]);
        git(&[
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "x",
        ]);
        let snaps = Snapshots::open(data.path(), root).unwrap();
        let before = snaps.take().unwrap();
        assert_eq!(
            snaps.file(before, "crlf.txt").unwrap().as_deref(),
            Some(&b"one\r\ntwo\r\n"[..])
        );
        assert_eq!(
            snaps.file(before, "id.txt").unwrap().as_deref(),
            Some(&b"$Id: kept as written $\n"[..])
        );
        assert_eq!(snaps.file(before, "vendor/lib/f").unwrap(), None);
        // A command that only changes line endings is a change.
        std::fs::write(root.join("crlf.txt"), b"one\ntwo\n").unwrap();
        let after = snaps.take().unwrap();
        let files = snaps.changes(before, after).unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].before.as_deref(), Some(&b"one\r\ntwo\r\n"[..]));
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
        // A kept file that grows past the cap (4 GiB + 4 bytes reads as 4 in the
        // index's 32-bit size) leaves the snapshot without being read.
        let small = std::fs::OpenOptions::new()
            .write(true)
            .open(project.path().join("small"))
            .unwrap();
        small.set_len((4 << 30) + 4).unwrap();
        let t = std::time::Instant::now();
        let s = snaps.take().unwrap();
        assert!(
            t.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            t.elapsed()
        );
        assert_eq!(snaps.file(s, "small").unwrap(), None);
    }
}

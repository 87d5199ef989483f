//! "What you just did": the edits the user made in their own editor since the previous
//! turn, as diffs, offered to the model as context. The watcher reports changed paths;
//! a change whose bytes are exactly what Flint itself last wrote there is Flint's own
//! (an applied edit, an undo) and is not reported as the user's.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use flint_project::ProjectDir;

/// Diffs larger than this (in all) are cut, and say so.
const MAX_DIFF_BYTES: usize = 24 * 1024;

#[derive(Default)]
pub struct Activity {
    /// Hash of the bytes Flint wrote last, by path (`None`: Flint deleted the file).
    own_writes: HashMap<String, Option<String>>,
    /// Each file's text as of the previous turn (`None`: it did not exist); files not
    /// here are compared with git's HEAD, or count as new.
    baselines: HashMap<String, Option<String>>,
    /// Files the user changed since the previous turn.
    changed: BTreeSet<String>,
}

fn hash_of(bytes: &[u8]) -> String {
    flint_edit::content_hash(bytes)
}

/// The project's git HEAD, opened once per batch of changes (a checkout can report
/// thousands of paths; discovering the repository for each would dominate).
struct Head {
    repo: git2::Repository,
    workdir: std::path::PathBuf,
}

impl Head {
    fn open(root: &Path) -> Option<Self> {
        let repo = git2::Repository::discover(root).ok()?;
        let workdir = repo.workdir()?.canonicalize().ok()?;
        Some(Self { repo, workdir })
    }

    /// The file's text at HEAD, if it is committed there.
    fn text(&self, root: &Path, rel: &str) -> Option<String> {
        let in_repo = root
            .join(rel)
            .strip_prefix(&self.workdir)
            .ok()?
            .to_path_buf();
        let tree = self.repo.head().ok()?.peel_to_tree().ok()?;
        let entry = tree.get_path(&in_repo).ok()?;
        let blob = self.repo.find_blob(entry.id()).ok()?;
        std::str::from_utf8(blob.content()).ok().map(str::to_owned)
    }
}

impl Activity {
    /// Records bytes Flint is about to write (or delete), so the watcher's report of
    /// them is recognised.
    pub fn flint_wrote(&mut self, path: &str, after: Option<&[u8]>) {
        self.own_writes.insert(path.to_string(), after.map(hash_of));
        // Flint's own change moves the baseline: it is not the user's edit.
        self.baselines.insert(
            path.to_string(),
            after.map(|b| String::from_utf8_lossy(b).into_owned()),
        );
        self.changed.remove(path);
    }

    /// Takes a batch of changed paths from the watcher.
    pub fn saw(&mut self, root: &Path, paths: &[String]) {
        let mut head: Option<Option<Head>> = None;
        for path in paths {
            let now = read_bounded(&root.join(path));
            let now_hash = now.as_deref().map(hash_of);
            if self.own_writes.get(path) == Some(&now_hash) {
                continue; // Flint's own write, seen again
            }
            self.own_writes.remove(path);
            if !self.baselines.contains_key(path) {
                let base = head
                    .get_or_insert_with(|| Head::open(root))
                    .as_ref()
                    .and_then(|h| h.text(root, path));
                self.baselines.insert(path.clone(), base);
            }
            let same = match (&self.baselines[path], &now) {
                (Some(b), Some(n)) => b.as_bytes() == n.as_slice(),
                (None, None) => true,
                _ => false,
            };
            if same {
                self.changed.remove(path);
            } else {
                self.changed.insert(path.clone());
            }
        }
    }

    /// The files the user changed since the previous turn.
    pub fn changed(&self) -> Vec<String> {
        self.changed.iter().cloned().collect()
    }

    /// Unified diffs of the user's changes since the previous turn.
    pub fn recent_edits(&self, dir: &ProjectDir) -> Option<String> {
        if self.changed.is_empty() {
            return None;
        }
        let mut out = String::new();
        for path in &self.changed {
            let Ok(abs) = dir.resolve(path) else { continue };
            let now = read_bounded(&abs).map(|b| String::from_utf8_lossy(&b).into_owned());
            let base = self.baselines.get(path).cloned().flatten();
            let (old, new) = (base.as_deref().unwrap_or(""), now.as_deref().unwrap_or(""));
            let diff = similar::TextDiff::from_lines(old, new);
            // Without git or an earlier turn, the old version is unknown: say so.
            let label_old = if base.is_some() {
                format!("a/{path}")
            } else {
                "/dev/null (no earlier version known)".into()
            };
            let label_new = if now.is_some() {
                format!("b/{path}")
            } else {
                "/dev/null".into()
            };
            let text = diff
                .unified_diff()
                .context_radius(2)
                .header(&label_old, &label_new)
                .to_string();
            if out.len() + text.len() > MAX_DIFF_BYTES {
                out.push_str(&format!(
                    "[... more changes cut; files changed: {}]\n",
                    self.changed.len()
                ));
                break;
            }
            out.push_str(&text);
        }
        Some(out)
    }

    /// A turn was sent with the recent edits: they become the new baseline.
    pub fn turn_taken(&mut self, root: &Path) {
        for path in std::mem::take(&mut self.changed) {
            let now =
                read_bounded(&root.join(&path)).map(|b| String::from_utf8_lossy(&b).into_owned());
            self.baselines.insert(path, now);
        }
    }
}

/// A file the watcher saw change, read as the user's edit: a regular file (a link, a
/// device or a fifo a cloned repository put there is not followed: `-> /dev/zero` never
/// ends, `-> ~/.ssh/id_rsa` is not the user's edit) and at most the size Flint edits.
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    let limit = flint_edit::MAX_FILE_BYTES;
    flint_project::read_regular(path, limit, false).filter(|b| b.len() <= limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_edits_are_diffed_and_flints_own_writes_are_not() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::write(root.join("a.txt"), "one\ntwo\n").unwrap();
        let dir = ProjectDir::open(&root).unwrap();
        let mut act = Activity::default();
        // Baseline: the file as it was at the previous turn.
        act.saw(&root, &[]);
        act.baselines
            .insert("a.txt".into(), Some("one\ntwo\n".into()));

        // Flint writes b.txt: the watcher sees it, but it is not the user's.
        act.flint_wrote("b.txt", Some(b"flint\n"));
        std::fs::write(root.join("b.txt"), "flint\n").unwrap();
        act.saw(&root, &["b.txt".into()]);
        assert!(act.changed().is_empty());

        // The user edits a.txt in their editor.
        std::fs::write(root.join("a.txt"), "one\nTWO\n").unwrap();
        act.saw(&root, &["a.txt".into()]);
        assert_eq!(act.changed(), ["a.txt"]);
        let diff = act.recent_edits(&dir).unwrap();
        assert!(
            diff.contains("--- a/a.txt\n+++ b/a.txt\n") && diff.contains("-two\n+TWO\n"),
            "{diff}"
        );

        // The user then edits Flint's file: now it is theirs.
        std::fs::write(root.join("b.txt"), "flint\nmine\n").unwrap();
        act.saw(&root, &["b.txt".into()]);
        assert_eq!(act.changed(), ["a.txt", "b.txt"]);

        // After a turn, the edits are the new baseline; undoing one is a change again.
        act.turn_taken(&root);
        assert!(act.changed().is_empty());
        std::fs::write(root.join("a.txt"), "one\ntwo\n").unwrap();
        act.saw(&root, &["a.txt".into()]);
        assert_eq!(act.changed(), ["a.txt"]);
    }

    #[test]
    fn a_change_back_to_the_baseline_is_no_change() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().canonicalize().unwrap();
        std::fs::write(root.join("a.txt"), "x\n").unwrap();
        let mut act = Activity::default();
        act.baselines.insert("a.txt".into(), Some("x\n".into()));
        std::fs::write(root.join("a.txt"), "y\n").unwrap();
        act.saw(&root, &["a.txt".into()]);
        std::fs::write(root.join("a.txt"), "x\n").unwrap();
        act.saw(&root, &["a.txt".into()]);
        assert!(act.changed().is_empty());
    }

    /// A link to a device or a secret that a cloned repository put in the project is
    /// not read as the user's edit.
    #[cfg(unix)]
    #[test]
    fn links_and_devices_are_not_read_as_edits() {
        let dir = tempfile::tempdir().unwrap();
        let secret = tempfile::tempdir().unwrap();
        std::fs::write(secret.path().join("id_rsa"), "KEY").unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.path().join("zero")).unwrap();
        std::os::unix::fs::symlink(secret.path().join("id_rsa"), dir.path().join("key")).unwrap();
        std::fs::write(dir.path().join("ok.txt"), "mine").unwrap();
        assert_eq!(read_bounded(&dir.path().join("zero")), None);
        assert_eq!(read_bounded(&dir.path().join("key")), None);
        assert_eq!(
            read_bounded(&dir.path().join("ok.txt")).as_deref(),
            Some(&b"mine"[..])
        );
    }
}

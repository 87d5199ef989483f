//! Snapshots of a project's files, taken around whatever a model's turn does that Flint
//! cannot see write by write (a command: a formatter, `git checkout`, `sed -i`, a code
//! generator). They live in a private store in Flint's data folder - never in the
//! user's own `.git` - one SQLite file per project: the bytes of every file kept, by
//! content hash, and a stat cache (size, modification time, inode, mode of each file
//! when it was last read), so a snapshot reads only files that changed since the last.
//! Files the project's ignore rules leave out, nested repositories, and files larger
//! than [`MAX_SNAPSHOT_FILE`] are not kept. What changed between two snapshots becomes
//! a checkpoint's files (each one's exact bytes, mode and link before and after), so
//! undo restores it like any edit.
//!
//! Written here rather than on libgit2's index: its `add_all` over a 20,000-file
//! project took 540 ms a snapshot on this project's machines (a parallel walk with
//! ripgrep's `ignore` and a stat compare: docs/benchmarks.md), and the first snapshot
//! wrote a loose object file per source file (8.6 s for 20,000).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};

use crate::{blob_hash, CheckpointFile, Result, StoreError};

/// Files larger than this are left out of snapshots (and so cannot be undone when a
/// command changes them; the command's result says its changes were not all kept).
pub const MAX_SNAPSHOT_FILE: u64 = 16 * 1024 * 1024;
/// What one change between two snapshots may hold, to be kept for undo: past either,
/// `changes` refuses (the command's result says its changes were not recorded).
pub const MAX_CHANGE_FILES: usize = 20_000;
pub const MAX_CHANGE_BYTES: u64 = 512 * 1024 * 1024;
/// At most this much is read into the store by one snapshot (sparse files cost no disk
/// but every byte read); past it the files not read are not kept this time.
pub const MAX_SNAPSHOT_READ: u64 = 2 * 1024 * 1024 * 1024;
/// A file modified this recently (ns) is read again next time whatever its stat says:
/// a write in the same tick as the read would not show in its time.
const RACY_NS: i128 = 2_000_000_000;
/// How far behind `since` a file's birth time may read and still count as made after it.
const BORN_SLACK: std::time::Duration = std::time::Duration::from_secs(1);

/// The kinds a snapshot keeps, as git writes them in a mode.
const FILE: u32 = 0o100000;
const LINK: u32 = 0o120000;

/// One file as a snapshot keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Kept {
    hash: String,
    /// Its kind (`FILE` or `LINK`, a link's bytes being its target) and permissions.
    mode: u32,
}

/// What a file's metadata said when it was last read.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stat {
    size: i64,
    mtime_ns: i128,
    ctime_ns: i128,
    ino: i64,
    mode: u32,
}

/// A snapshot: every kept file of the project at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    files: Arc<BTreeMap<String, Kept>>,
}

impl Snapshot {
    pub fn len(&self) -> usize {
        self.files.len()
    }

    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

/// One project's snapshot store.
pub struct Snapshots {
    db: Connection,
    root: PathBuf,
    /// The stat cache, in memory (the table is its copy across restarts).
    stats: HashMap<String, (Stat, String)>,
}

fn sql(e: rusqlite::Error) -> StoreError {
    StoreError::Snapshot(e.to_string())
}

fn now_ns() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

fn stat_of(meta: &std::fs::Metadata) -> Stat {
    let ns = |t: std::io::Result<SystemTime>| {
        t.ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as i128)
    };
    #[cfg(unix)]
    let (ino, ctime_ns, perms) = {
        use std::os::unix::fs::MetadataExt;
        (
            meta.ino() as i64,
            meta.ctime() as i128 * 1_000_000_000 + meta.ctime_nsec() as i128,
            meta.mode() & 0o7777,
        )
    };
    #[cfg(not(unix))]
    let (ino, ctime_ns, perms) = (0i64, 0i128, 0o644);
    // The kind as git writes it, and the permission bits as they are (a 0600 file
    // comes back 0600).
    let mode = if meta.file_type().is_symlink() {
        LINK
    } else {
        FILE | perms
    };
    Stat {
        size: meta.len() as i64,
        mtime_ns: ns(meta.modified()),
        ctime_ns,
        ino,
        mode,
    }
}

impl Snapshots {
    /// Opens (creating it the first time) the store for the project at `root`, in
    /// `data_dir/snapshots`.
    pub fn open(data_dir: &Path, root: &Path) -> Result<Self> {
        let key: String = blob_hash(root.to_string_lossy().as_bytes())
            .chars()
            .take(24)
            .collect();
        let dir = data_dir.join("snapshots");
        std::fs::create_dir_all(&dir)?;
        let db = Connection::open(dir.join(format!("{key}.db"))).map_err(sql)?;
        db.pragma_update(None, "journal_mode", "WAL").map_err(sql)?;
        db.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        db.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        db.execute_batch(
            "CREATE TABLE IF NOT EXISTS blobs (hash TEXT PRIMARY KEY, bytes BLOB NOT NULL,
                added_at INTEGER NOT NULL DEFAULT 0);
             CREATE TABLE IF NOT EXISTS stats (path TEXT PRIMARY KEY, size INTEGER NOT NULL,
                mtime_ns TEXT NOT NULL, ctime_ns TEXT NOT NULL, ino INTEGER NOT NULL,
                mode INTEGER NOT NULL, hash TEXT NOT NULL);",
        )
        .map_err(sql)?;
        // A store made before blobs carried the time they were stored.
        let has_age: bool = db
            .query_row(
                "SELECT COUNT(*) FROM pragma_table_info('blobs') WHERE name = 'added_at'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .map_err(sql)?
            > 0;
        if !has_age {
            db.execute_batch("ALTER TABLE blobs ADD COLUMN added_at INTEGER NOT NULL DEFAULT 0;")
                .map_err(sql)?;
        }
        let mut stats = HashMap::new();
        {
            let mut q = db
                .prepare("SELECT path, size, mtime_ns, ctime_ns, ino, mode, hash FROM stats")
                .map_err(sql)?;
            let rows = q
                .query_map([], |r| {
                    let num = |s: String| s.parse::<i128>().unwrap_or(-1);
                    Ok((
                        r.get::<_, String>(0)?,
                        Stat {
                            size: r.get(1)?,
                            mtime_ns: num(r.get(2)?),
                            ctime_ns: num(r.get(3)?),
                            ino: r.get(4)?,
                            mode: r.get(5)?,
                        },
                        r.get::<_, String>(6)?,
                    ))
                })
                .map_err(sql)?;
            for row in rows {
                let (path, stat, hash) = row.map_err(sql)?;
                stats.insert(path, (stat, hash));
            }
        }
        Ok(Self {
            db,
            root: root.to_path_buf(),
            stats,
        })
    }

    /// Every file a snapshot would keep, with its metadata: a parallel walk with the
    /// project's ignore rules (not the user's global ones), never into a `.git` or a
    /// nested repository, never following a link.
    fn walk(&self) -> Vec<(String, PathBuf, Stat)> {
        let found: Mutex<Vec<(String, PathBuf, Stat)>> = Mutex::default();
        let root = self.root.clone();
        ignore::WalkBuilder::new(&root)
            .hidden(false)
            .git_global(false)
            .require_git(false)
            .follow_links(false)
            .filter_entry(|e| {
                if e.file_name().eq_ignore_ascii_case(".git") {
                    return false;
                }
                let nested = e.depth() > 0
                    && e.file_type().is_some_and(|t| t.is_dir())
                    && e.path().join(".git").exists();
                !nested
            })
            .build_parallel()
            .run(|| {
                let (found, root) = (&found, &root);
                Box::new(move |entry| {
                    let Ok(entry) = entry else {
                        return ignore::WalkState::Continue;
                    };
                    let is_file = entry
                        .file_type()
                        .is_some_and(|t| t.is_file() || t.is_symlink());
                    if !is_file {
                        return ignore::WalkState::Continue;
                    }
                    let Ok(meta) = std::fs::symlink_metadata(entry.path()) else {
                        return ignore::WalkState::Continue;
                    };
                    if meta.is_file() && meta.len() > MAX_SNAPSHOT_FILE {
                        return ignore::WalkState::Continue;
                    }
                    let Ok(rel) = entry.path().strip_prefix(root) else {
                        return ignore::WalkState::Continue;
                    };
                    let Some(rel) = rel.to_str().map(|r| r.replace('\\', "/")) else {
                        return ignore::WalkState::Continue; // not UTF-8: Flint never writes it
                    };
                    if let Ok(mut f) = found.lock() {
                        f.push((rel, entry.into_path(), stat_of(&meta)));
                    }
                    ignore::WalkState::Continue
                })
            });
        found.into_inner().unwrap_or_default()
    }

    /// Takes a snapshot of the project as it is now. Only files whose metadata changed
    /// since they were last read are read again.
    pub fn take(&mut self) -> Result<Snapshot> {
        let walked = self.walk();
        let now = now_ns();
        let mut files = BTreeMap::new();
        let mut fresh: Vec<(String, Stat, String)> = Vec::new();
        let mut read = 0u64;
        // Each file read goes into the store at once (memory holds one file at a time),
        // in one transaction: a snapshot that fails leaves the store as it was.
        let tx = self.db.transaction().map_err(sql)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO blobs (hash, bytes, added_at) VALUES (?1, ?2, ?3)
                     ON CONFLICT(hash) DO UPDATE SET added_at = excluded.added_at",
                )
                .map_err(sql)?;
            for (rel, abs, stat) in walked {
                let cached = self
                    .stats
                    .get(&rel)
                    .filter(|(s, _)| *s == stat)
                    .map(|(_, h)| h.clone());
                let hash = match cached {
                    Some(h) => h,
                    None => {
                        let bytes = if stat.mode == LINK {
                            match std::fs::read_link(&abs) {
                                Ok(t) => t.to_string_lossy().into_owned().into_bytes(),
                                Err(_) => continue,
                            }
                        } else {
                            match read_bounded(&abs) {
                                Some(b) => b,
                                None => continue,
                            }
                        };
                        read += bytes.len() as u64;
                        if read > MAX_SNAPSHOT_READ {
                            // Past the budget a file is not kept, like one past the
                            // size cap (the read ones are, so the next snapshot goes on
                            // from there instead of failing the same way).
                            continue;
                        }
                        let hash = blob_hash(&bytes);
                        put.execute(params![hash, bytes, (now / 1_000_000_000) as i64])
                            .map_err(sql)?;
                        // A file changed this close to its read may change again within
                        // the same time stamp: its stat is not trusted next time.
                        let mut cached = stat.clone();
                        if now - stat.mtime_ns.max(stat.ctime_ns) <= RACY_NS {
                            cached.size = -1;
                        }
                        fresh.push((rel.clone(), cached, hash.clone()));
                        hash
                    }
                };
                files.insert(
                    rel,
                    Kept {
                        hash,
                        mode: stat.mode,
                    },
                );
            }
        }
        let gone: Vec<String> = self
            .stats
            .keys()
            .filter(|p| !files.contains_key(*p))
            .cloned()
            .collect();
        {
            let mut stat = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO stats (path, size, mtime_ns, ctime_ns, ino, mode, hash)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(sql)?;
            for (path, s, hash) in &fresh {
                stat.execute(params![
                    path,
                    s.size,
                    s.mtime_ns.to_string(),
                    s.ctime_ns.to_string(),
                    s.ino,
                    s.mode,
                    hash
                ])
                .map_err(sql)?;
            }
            let mut drop = tx
                .prepare_cached("DELETE FROM stats WHERE path = ?1")
                .map_err(sql)?;
            for p in &gone {
                drop.execute([p]).map_err(sql)?;
            }
        }
        tx.commit().map_err(sql)?;
        for p in gone {
            self.stats.remove(&p);
        }
        for (path, stat, hash) in fresh {
            self.stats.insert(path, (stat, hash));
        }
        Ok(Snapshot {
            files: Arc::new(files),
        })
    }

    fn bytes(&self, hash: &str) -> Result<Vec<u8>> {
        self.db
            .query_row("SELECT bytes FROM blobs WHERE hash = ?1", [hash], |r| {
                r.get(0)
            })
            .optional()
            .map_err(sql)?
            .ok_or_else(|| StoreError::Snapshot(format!("the snapshot store lost {hash}")))
    }

    /// What changed from `before` to `after`: each file's bytes (and mode, and link)
    /// at both ends, as a checkpoint records them.
    pub fn changes(&self, before: &Snapshot, after: &Snapshot) -> Result<Vec<CheckpointFile>> {
        Ok(self.changes_since(before, after, None)?.0)
    }

    /// The changes a command made that started at `since`, as undo can take them back,
    /// and the paths it changed that cannot be (named, not kept): a path that entered
    /// or left the snapshot without being created or deleted (an ignore rule, the size
    /// cap), a link made or retargeted, a file where a folder was or the other way.
    pub fn changes_since(
        &self,
        before: &Snapshot,
        after: &Snapshot,
        since: Option<SystemTime>,
    ) -> Result<(Vec<CheckpointFile>, Vec<String>)> {
        let mut changed: Vec<(&String, Option<&Kept>, Option<&Kept>)> = Vec::new();
        for (path, b) in before.files.iter() {
            match after.files.get(path) {
                Some(a) if a == b => {}
                a => changed.push((path, Some(b), a)),
            }
        }
        for (path, a) in after.files.iter() {
            if !before.files.contains_key(path) {
                changed.push((path, None, Some(a)));
            }
        }
        if changed.len() > MAX_CHANGE_FILES {
            return Err(StoreError::Snapshot(format!(
                "{} files changed, more than the {MAX_CHANGE_FILES} kept for undo",
                changed.len()
            )));
        }
        changed.sort_by(|x, y| x.0.cmp(y.0));
        let mut unrecorded = Vec::new();
        let mut kept: Vec<(&String, Option<&Kept>, Option<&Kept>)> = Vec::new();
        for (path, b, a) in changed {
            let abs = self.root.join(path);
            let now = std::fs::symlink_metadata(&abs);
            let odd = match (b, a) {
                // Left the snapshot but still there: not deleted.
                (Some(_), None) => now.is_ok(),
                // Entered it: made by the command only if born (or, where the file system
                // keeps no birth time, changed) after it started.
                (None, Some(_)) => match (since, &now) {
                    (Some(since), Ok(m)) => {
                        let born = m.created().ok().or_else(|| {
                            stat_of(m)
                                .ctime_ns
                                .try_into()
                                .ok()
                                .map(|ns: u64| UNIX_EPOCH + std::time::Duration::from_nanos(ns))
                        });
                        // File times come from a coarse clock (a tick behind the
                        // fine one `since` was read from): a second of slack.
                        born.is_none_or(|t| t + BORN_SLACK < since)
                    }
                    _ => false,
                },
                _ => false,
            };
            // Links are restored only where one was deleted.
            let link = a.is_some_and(|k| k.mode == LINK)
                || (b.is_some_and(|k| k.mode == LINK) && a.is_some());
            if odd || link {
                unrecorded.push(path.clone());
            } else {
                kept.push((path, b, a));
            }
        }
        // A file where a folder was (or the other way): neither end can be written back
        // while the other is there, so neither is kept. Each path's folders are looked
        // up among the kept paths (depth, not all pairs).
        let all: std::collections::HashSet<&str> = kept.iter().map(|(p, ..)| p.as_str()).collect();
        let mut parents: std::collections::HashSet<&str> = std::collections::HashSet::new();
        for p in &all {
            for (i, _) in p.match_indices('/') {
                if all.contains(&p[..i]) {
                    parents.insert(&p[..i]);
                    parents.insert(p);
                }
            }
        }
        let (clash, kept): (Vec<_>, Vec<_>) = kept
            .into_iter()
            .partition(|(p, ..)| parents.contains(p.as_str()));
        unrecorded.extend(clash.into_iter().map(|(p, ..)| p.clone()));
        let mut total = 0u64;
        let mut files = Vec::new();
        for (path, b, a) in kept {
            let read = |k: Option<&Kept>| k.map(|k| self.bytes(&k.hash)).transpose();
            let (before_bytes, after_bytes) = (read(b)?, read(a)?);
            total += [&before_bytes, &after_bytes]
                .iter()
                .filter_map(|x| x.as_ref().map(|x| x.len() as u64))
                .sum::<u64>();
            if total > MAX_CHANGE_BYTES {
                return Err(StoreError::Snapshot(format!(
                    "the change is larger than the {} MiB kept for undo",
                    MAX_CHANGE_BYTES >> 20
                )));
            }
            let link = b.filter(|k| k.mode == LINK).and(before_bytes.as_ref());
            files.push(CheckpointFile {
                path: path.clone(),
                before_mode: b.map(|k| k.mode & 0o7777),
                before_link: link.map(|l| String::from_utf8_lossy(l).into_owned()),
                before: before_bytes,
                after: after_bytes,
            });
        }
        unrecorded.sort();
        Ok((files, unrecorded))
    }

    /// Forgets the bytes no file of the latest snapshot has (what changed is kept by
    /// the checkpoints in the history, not here), once they are more than a fifth of
    /// the store; returns how many blobs went. Call it after recording what changed
    /// (the previous snapshot's bytes are not needed after that).
    pub fn collect_garbage(&mut self) -> Result<usize> {
        self.collect_garbage_before((now_ns() / 1_000_000_000) as i64 - 3600)
    }

    /// `collect_garbage`, forgetting only bytes stored before `cutoff` (Unix seconds).
    pub(crate) fn collect_garbage_before(&mut self, cutoff: i64) -> Result<usize> {
        let blobs: i64 = self
            .db
            .query_row("SELECT COUNT(*) FROM blobs", [], |r| r.get(0))
            .map_err(sql)?;
        let live = self.stats.len() as i64;
        if blobs <= live + live / 5 + 100 {
            return Ok(0);
        }
        // Only bytes stored before the cutoff (an hour ago): another Flint (the app
        // beside `flint ask`) may hold a snapshot taken before its command that still
        // needs them.
        let gone = self
            .db
            .execute(
                "DELETE FROM blobs WHERE added_at < ?1 AND hash NOT IN (SELECT hash FROM stats)",
                [cutoff],
            )
            .map_err(sql)?;
        Ok(gone)
    }

    /// The bytes of `path` in `snapshot`, if it was kept.
    pub fn file(&self, snapshot: &Snapshot, path: &str) -> Result<Option<Vec<u8>>> {
        snapshot
            .files
            .get(path)
            .map(|k| self.bytes(&k.hash))
            .transpose()
    }
}

/// A regular file's bytes if it is at most the cap (one that grew past it meanwhile is
/// not kept): flint-project's read, which never follows a link nor blocks on a fifo.
fn read_bounded(path: &Path) -> Option<Vec<u8>> {
    flint_project::read_regular(path, MAX_SNAPSHOT_FILE as usize, false)
        .filter(|b| b.len() as u64 <= MAX_SNAPSHOT_FILE)
}

#[cfg(test)]
mod tests;

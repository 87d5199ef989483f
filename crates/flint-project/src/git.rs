use std::path::Path;
use std::time::{Duration, Instant};

use git2::{ErrorCode, Repository};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

/// The git state the sidebar shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct GitState {
    /// The branch name; for a detached HEAD, the short commit id.
    pub branch: String,
    pub detached: bool,
    /// True in a repository with no commits yet.
    pub unborn: bool,
}

/// Reads the git state of the repository containing `root`, if any. A folder that is
/// not in a repository, or one git cannot read, has none.
pub fn state(root: &Path) -> Option<GitState> {
    state_of(&Repository::discover(root).ok()?)
}

fn state_of(repo: &Repository) -> Option<GitState> {
    let head = repo.head();
    let state = match head {
        Ok(head) => {
            if head.is_branch() {
                Some(GitState {
                    branch: head.shorthand().unwrap_or("HEAD").to_string(),
                    detached: false,
                    unborn: false,
                })
            } else {
                let id = head.target().map(|o| o.to_string()).unwrap_or_default();
                Some(GitState {
                    branch: id.chars().take(7).collect(),
                    detached: true,
                    unborn: false,
                })
            }
        }
        Err(e) if e.code() == ErrorCode::UnbornBranch => {
            // HEAD points at a branch that has no commit yet; its name is still known.
            let name = repo
                .find_reference("HEAD")
                .ok()
                .and_then(|r| r.symbolic_target().map(str::to_owned))
                .map(|t| t.trim_start_matches("refs/heads/").to_string())
                .unwrap_or_else(|| "main".into());
            Some(GitState {
                branch: name,
                detached: false,
                unborn: true,
            })
        }
        Err(_) => None,
    };
    state
}

/// A compact summary of the repository's state for the model: branch, upstream
/// distance, and the changed files (at most `max`), as `git status --short` shows them.
pub fn status_summary(root: &Path, max: usize) -> Option<String> {
    let repo = Repository::discover(root).ok()?;
    let st = state(root)?;
    let mut out = format!("Branch: {}", st.branch);
    if st.detached {
        out.push_str(" (detached HEAD)");
    }
    if st.unborn {
        out.push_str(" (no commits yet)");
    }
    if let Ok(head) = repo.head() {
        if let (Some(local), Ok(name)) = (
            head.target(),
            repo.branch_upstream_name(head.name().unwrap_or("")),
        ) {
            if let Some(up) = name.as_str().and_then(|n| repo.refname_to_id(n).ok()) {
                if let Ok((ahead, behind)) = repo.graph_ahead_behind(local, up) {
                    out.push_str(&format!(" ({ahead} ahead, {behind} behind upstream)"));
                }
            }
        }
    }
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(false)
        .exclude_submodules(false);
    let statuses = repo.statuses(Some(&mut opts)).ok()?;
    let mut lines = Vec::new();
    for e in statuses.iter() {
        let s = e.status();
        let code = |index: bool| -> char {
            let (new, modified, deleted, renamed) = if index {
                (
                    git2::Status::INDEX_NEW,
                    git2::Status::INDEX_MODIFIED,
                    git2::Status::INDEX_DELETED,
                    git2::Status::INDEX_RENAMED,
                )
            } else {
                (
                    git2::Status::WT_NEW,
                    git2::Status::WT_MODIFIED,
                    git2::Status::WT_DELETED,
                    git2::Status::WT_RENAMED,
                )
            };
            if s.intersects(modified) {
                'M'
            } else if s.intersects(new) {
                if index {
                    'A'
                } else {
                    '?'
                }
            } else if s.intersects(deleted) {
                'D'
            } else if s.intersects(renamed) {
                'R'
            } else {
                ' '
            }
        };
        let (x, y) = (code(true), code(false));
        if x == ' ' && y == ' ' {
            continue;
        }
        let (x, y) = if y == '?' { ('?', '?') } else { (x, y) };
        lines.push(format!("{x}{y} {}", e.path().unwrap_or("?")));
    }
    if lines.is_empty() {
        out.push_str("\nNo uncommitted changes.");
    } else {
        let n = lines.len();
        out.push_str(&format!("\n{n} changed file(s):"));
        for l in lines.iter().take(max) {
            out.push('\n');
            out.push_str(l);
        }
        if n > max {
            out.push_str(&format!("\n... and {} more", n - max));
        }
    }
    Some(out)
}

/// How a file differs, on one side (staged: index vs HEAD; unstaged: worktree vs index).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum ChangeCode {
    Added,
    Modified,
    Deleted,
    Renamed,
    Typechange,
    Conflicted,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct GitChange {
    /// Relative to the repository's root.
    pub path: String,
    pub staged: Option<ChangeCode>,
    pub unstaged: Option<ChangeCode>,
    pub untracked: bool,
}

/// What the git panel shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct GitStatus {
    pub state: GitState,
    pub upstream: Option<String>,
    pub ahead: u32,
    pub behind: u32,
    pub changes: Vec<GitChange>,
}

fn change_of(s: git2::Status) -> Option<GitChange> {
    use git2::Status as S;
    let side = |new: S, modified: S, deleted: S, renamed: S, typechange: S| {
        if s.contains(S::CONFLICTED) {
            Some(ChangeCode::Conflicted)
        } else if s.intersects(new) {
            Some(ChangeCode::Added)
        } else if s.intersects(modified) {
            Some(ChangeCode::Modified)
        } else if s.intersects(deleted) {
            Some(ChangeCode::Deleted)
        } else if s.intersects(renamed) {
            Some(ChangeCode::Renamed)
        } else if s.intersects(typechange) {
            Some(ChangeCode::Typechange)
        } else {
            None
        }
    };
    let untracked = s.contains(S::WT_NEW);
    let staged = side(
        S::INDEX_NEW,
        S::INDEX_MODIFIED,
        S::INDEX_DELETED,
        S::INDEX_RENAMED,
        S::INDEX_TYPECHANGE,
    );
    let unstaged = if untracked {
        None
    } else {
        side(
            S::empty(),
            S::WT_MODIFIED,
            S::WT_DELETED,
            S::WT_RENAMED,
            S::WT_TYPECHANGE,
        )
    };
    (staged.is_some() || unstaged.is_some() || untracked).then(|| GitChange {
        path: String::new(),
        staged,
        unstaged,
        untracked,
    })
}

/// Opens the repository holding `root` with gitoxide, for the status read. Its
/// configuration is changed in memory, since the repository's may come from anyone:
/// every filter driver taken out (a read never runs a clean filter that a configuration
/// names, a cloned repository's or git-lfs's, as libgit2's status never did; gitoxide
/// runs no `core.fsmonitor` either); files over `BIG_FILE` never compared for renames;
/// the index read on at most four threads whatever `index.threads` says.
fn gix_open(root: &Path) -> Result<gix::Repository, git2::Error> {
    use gix::config::tree::{Core, Index};
    let mut repo = gix::discover(root).map_err(gix_error)?;
    let mut config = repo.config_snapshot_mut();
    let drivers: Vec<_> = config
        .sections_and_ids_by_name("filter")
        .map(|sections| sections.map(|(_, id)| id).collect())
        .unwrap_or_default();
    for id in drivers {
        config.remove_section_by_id(id);
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    config
        .set_value(&Core::BIG_FILE_THRESHOLD, BIG_FILE.to_string().as_str())
        .map_err(gix_error)?;
    config
        .set_value(&Index::THREADS, threads.to_string().as_str())
        .map_err(gix_error)?;
    config.commit().map_err(gix_error)?;
    Ok(repo)
}

/// Files larger than this are not compared for a rename (bytes).
const BIG_FILE: u64 = 4 << 20;

/// At most this many added and deleted files are compared for renames that are not
/// exact (each pair is a diff): with more, only exact renames are found.
const RENAME_CANDIDATES: usize = 100;

/// The files gitoxide reads whole that the repository may name or plant: its exclude and
/// attribute files (a link to `/dev/zero` would be read for ever) and `.gitmodules`
/// (a named pipe there would block the read). Each must be absent or a regular file of
/// at most `MAX_RULES_FILE` bytes; otherwise the read is libgit2's, which reads only a
/// file's stated length and skips what is not a regular file.
fn plain_rule_files(repo: &gix::Repository) -> bool {
    const MAX_RULES_FILE: u64 = 16 << 20;
    let config = repo.config_snapshot();
    let mut followed = vec![
        repo.common_dir().join("info").join("exclude"),
        repo.common_dir().join("info").join("attributes"),
    ];
    for key in ["core.excludesFile", "core.attributesFile"] {
        match config.trusted_path(key) {
            // A relative path as gitoxide may take it (from the process's folder) and as
            // git takes it (from the working tree).
            Ok(Some(p)) => {
                followed.push(repo.workdir().unwrap_or(repo.git_dir()).join(&p));
                followed.push(p);
            }
            Ok(None) => {}
            Err(_) => return false,
        }
    }
    let plain = |m: std::io::Result<std::fs::Metadata>| match m {
        Ok(m) => m.is_file() && m.len() <= MAX_RULES_FILE,
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    };
    followed.iter().all(|p| plain(std::fs::metadata(p)))
        && repo
            .workdir()
            .is_none_or(|w| plain(std::fs::symlink_metadata(w.join(".gitmodules"))))
}

fn gix_error(e: impl std::fmt::Display) -> git2::Error {
    git2::Error::from_str(&e.to_string())
}

/// The index as it is on disk. gitoxide reads the file again when its time changed; one
/// rewritten within the file system's time resolution is caught by its checksum (as
/// libgit2 catches it), and read again here.
fn fresh_gix_index(
    repo: &gix::Repository,
) -> Result<gix::worktree::IndexPersistedOrInMemory, git2::Error> {
    use std::io::{Read, Seek, SeekFrom};
    let kept = repo.index_or_empty().map_err(gix_error)?;
    let path = repo.index_path();
    let on_disk = std::fs::File::open(&path).ok().and_then(|mut f| {
        let mut sum = [0u8; 20];
        f.seek(SeekFrom::End(-20)).ok()?;
        f.read_exact(&mut sum).ok()?;
        Some(sum)
    });
    let same = match (&on_disk, kept.checksum()) {
        // An index written without its checksum (`index.skipHash`) is all zeros there.
        (Some(sum), Some(id)) => sum.iter().any(|b| *b != 0) && id.as_bytes() == sum.as_slice(),
        (None, _) => !path.exists(),
        (Some(_), None) => false,
    };
    Ok(if same {
        gix::worktree::IndexPersistedOrInMemory::Persisted(kept)
    } else {
        gix::worktree::IndexPersistedOrInMemory::InMemory(repo.open_index().map_err(gix_error)?)
    })
}

/// Every changed path's status flags, in libgit2's terms (untracked files listed one by
/// one, a nested repository as `name/`, renames in the index found and named by their
/// old path, as libgit2 names them), in index-path order, each as (the name libgit2
/// gives it, its path in the index, its flags); with `only`, just those paths (a read
/// after a save: no renames, since a path alone cannot be paired). Read with gitoxide: HEAD ->
/// index, the tracked files' stat and the untracked walk run on threads at once, the index
/// memory-mapped: ~1x `git status` on 100k files where libgit2 took 1.25-1.8x
/// (docs/benchmarks.md, git status). A submodule is looked at no further than its HEAD.
fn statuses_gix(
    repo: &gix::Repository,
    only: Option<&[String]>,
) -> Result<Vec<(String, String, git2::Status)>, git2::Error> {
    use git2::Status as S;
    use gix::diff::index::Change as Staged;
    use gix::status::index_worktree::Item as Worktree;
    use gix::status::plumbing::index_as_worktree::{Change, EntryStatus};
    if !plain_rule_files(repo) {
        return Err(git2::Error::from_str(
            "an exclude, attribute or submodule file is not a plain file",
        ));
    }
    let index = fresh_gix_index(repo)?;
    // libgit2's: renames (not copies), 50% alike.
    let renames = gix::diff::Rewrites {
        copies: None,
        limit: RENAME_CANDIDATES,
        ..Default::default()
    };
    // Just some paths (after a save): their HEAD -> index side looked up one by one
    // (HEAD's whole tree against the whole index is ~30 ms on 100k files), the working
    // tree's read for them alone, each a literal path.
    let staged = match only {
        Some([]) => return Ok(Vec::new()),
        // A sparse index's folder entries stand for files the lookup cannot see.
        Some(_) if index.is_sparse() => {
            return Err(git2::Error::from_str("a sparse index"));
        }
        // With every pathspec taken as a plain name, `:(top,literal)` would be one.
        Some(_)
            if std::env::var_os("GIT_LITERAL_PATHSPECS")
                .is_some_and(|v| !v.is_empty() && v != "0") =>
        {
            return Err(git2::Error::from_str("GIT_LITERAL_PATHSPECS"));
        }
        Some(paths) => staged_by_lookup(repo, &index, paths)?,
        None => Vec::new(),
    };
    let platform = repo
        .status(gix::progress::Discard)
        .map_err(gix_error)?
        .index(index)
        .untracked_files(gix::status::UntrackedFiles::Files)
        .tree_index_track_renames(gix::status::tree_index::TrackRenames::Given(renames))
        .index_worktree_rewrites(None)
        .index_worktree_submodules(gix::status::Submodule::Given {
            ignore: gix::submodule::config::Ignore::Dirty,
            check_dirty: false,
        });
    let items: Box<dyn Iterator<Item = Result<gix::status::Item, git2::Error>>> = match only {
        None => Box::new(
            platform
                .into_iter(None)
                .map_err(gix_error)?
                .map(|r| r.map_err(gix_error)),
        ),
        Some(paths) => Box::new(
            platform
                .into_index_worktree_iter(
                    paths
                        .iter()
                        // From the top of the working tree (gitoxide would put the
                        // process's folder in front otherwise), each name as it is.
                        .map(|p| gix::bstr::BString::from(format!(":(top,literal){p}"))),
                )
                .map_err(gix_error)?
                .map(|r| r.map(gix::status::Item::IndexWorktree).map_err(gix_error)),
        ),
    };
    // A path that is not UTF-8 is left out, as libgit2's read leaves it out (no lossy
    // name that could be another file's).
    let text = |b: &gix::bstr::BStr| std::str::from_utf8(b).ok().map(str::to_owned);
    // (the name libgit2 gives the entry - a rename's old path -, its path in the index,
    // its flags), and where each index path is: both sides of a path are one entry.
    let mut entries = Vec::<(String, String, S)>::new();
    let mut at = std::collections::HashMap::<String, usize>::new();
    let mut add = |name: Option<String>, path: Option<String>, s: S| {
        let (Some(name), Some(path)) = (name, path) else {
            return;
        };
        match at.get(&path) {
            Some(&i) => {
                entries[i].2 |= s;
                if name != path {
                    entries[i].0 = name;
                }
            }
            None => {
                at.insert(path.clone(), entries.len());
                entries.push((name, path, s));
            }
        }
    };
    for (path, s) in staged {
        add(Some(path.clone()), Some(path), s);
    }
    for item in items {
        match item? {
            gix::status::Item::TreeIndex(change) => match change {
                Staged::Addition { location, .. } => {
                    add(text(&location), text(&location), S::INDEX_NEW)
                }
                Staged::Deletion { location, .. } => {
                    add(text(&location), text(&location), S::INDEX_DELETED)
                }
                Staged::Modification {
                    location,
                    previous_entry_mode,
                    entry_mode,
                    ..
                } => {
                    let s = if kind_of(previous_entry_mode) == kind_of(entry_mode) {
                        S::INDEX_MODIFIED
                    } else {
                        S::INDEX_TYPECHANGE
                    };
                    add(text(&location), text(&location), s)
                }
                Staged::Rewrite {
                    source_location,
                    location,
                    copy,
                    ..
                } => {
                    if copy {
                        add(text(&location), text(&location), S::INDEX_NEW)
                    } else {
                        add(text(&source_location), text(&location), S::INDEX_RENAMED)
                    }
                }
            },
            gix::status::Item::IndexWorktree(Worktree::Modification {
                rela_path, status, ..
            }) => {
                let s = match status {
                    EntryStatus::Conflict { .. } => S::CONFLICTED,
                    EntryStatus::Change(Change::Removed) => S::WT_DELETED,
                    EntryStatus::Change(Change::Type { .. }) => S::WT_TYPECHANGE,
                    EntryStatus::Change(Change::Modification { .. }) => S::WT_MODIFIED,
                    EntryStatus::Change(Change::SubmoduleModification(sub)) => {
                        if sub.is_dirty() != Some(true) {
                            continue;
                        }
                        S::WT_MODIFIED
                    }
                    // `git add -N`: libgit2 calls it added, with its content not staged.
                    EntryStatus::IntentToAdd => S::INDEX_NEW | S::WT_MODIFIED,
                    EntryStatus::NeedsUpdate(_) => continue,
                };
                add(text(rela_path.as_ref()), text(rela_path.as_ref()), s)
            }
            gix::status::Item::IndexWorktree(Worktree::DirectoryContents { entry, .. }) => {
                if entry.status != gix::dir::entry::Status::Untracked {
                    continue;
                }
                let Some(mut path) = text(entry.rela_path.as_ref()) else {
                    continue;
                };
                if entry.disk_kind == Some(gix::dir::entry::Kind::Repository) {
                    path.push('/');
                }
                add(Some(path.clone()), Some(path), S::WT_NEW)
            }
            // Not asked for: no renames between the index and the working tree.
            gix::status::Item::IndexWorktree(Worktree::Rewrite { .. }) => {}
        }
    }
    // In libgit2's order: by index path, without case where git ignores it.
    let icase = repo
        .config_snapshot()
        .boolean("core.ignorecase")
        .unwrap_or(false);
    entries.sort_by(|a, b| {
        if icase {
            a.1.to_lowercase()
                .cmp(&b.1.to_lowercase())
                .then_with(|| a.1.cmp(&b.1))
        } else {
            a.1.cmp(&b.1)
        }
    });
    Ok(entries)
}

/// HEAD -> index for these paths alone, in libgit2's terms (no renames: a path alone
/// cannot be paired): added, deleted, modified or a change of kind. Paths in conflict or
/// added with `git add -N` are the working tree's side to report, as in the whole read.
fn staged_by_lookup(
    repo: &gix::Repository,
    index: &gix::index::File,
    paths: &[String],
) -> Result<Vec<(String, git2::Status)>, git2::Error> {
    use git2::Status as S;
    use gix::bstr::ByteSlice;
    use gix::index::entry::{Flags, Mode, Stage};
    let tree_id = repo.head_tree_id_or_empty().map_err(gix_error)?;
    let tree = repo.find_tree(tree_id).map_err(gix_error)?;
    let mut out = Vec::new();
    for path in paths {
        let head = tree
            .lookup_entry_by_path(path)
            .map_err(gix_error)?
            .and_then(|e| {
                // By kind, as git reads a tree (an old `100664` blob is a file).
                use gix::object::tree::EntryKind;
                let mode = match e.mode().kind() {
                    EntryKind::Blob => Mode::FILE,
                    EntryKind::BlobExecutable => Mode::FILE_EXECUTABLE,
                    EntryKind::Link => Mode::SYMLINK,
                    EntryKind::Commit => Mode::COMMIT,
                    EntryKind::Tree => return None,
                };
                Some((mode, e.object_id()))
            });
        let bpath = path.as_bytes().as_bstr();
        let staged = index.entry_by_path_and_stage(bpath, Stage::Unconflicted);
        if staged.is_none() && index.entry_index_by_path(bpath).is_ok() {
            continue; // in conflict
        }
        let s = match (head, staged) {
            (_, Some(e)) if e.flags.contains(Flags::INTENT_TO_ADD) => continue, // git add -N
            (None, None) => continue,
            (None, Some(_)) => S::INDEX_NEW,
            (Some(_), None) => S::INDEX_DELETED,
            (Some((mode, id)), Some(e)) => {
                if kind_of(mode) != kind_of(e.mode) {
                    S::INDEX_TYPECHANGE
                } else if id != e.id || mode != e.mode {
                    S::INDEX_MODIFIED
                } else {
                    continue;
                }
            }
        };
        out.push((path.clone(), s));
    }
    Ok(out)
}

/// What a change of mode means to libgit2: a file, executable or not, is one kind; a
/// link and a submodule are others (a change between kinds is a type change).
fn kind_of(mode: gix::index::entry::Mode) -> gix::index::entry::Mode {
    use gix::index::entry::Mode;
    if mode == Mode::FILE_EXECUTABLE {
        Mode::FILE
    } else {
        mode
    }
}

/// Submodules with changed or untracked files inside marked modified, as libgit2's
/// status marks them: gitoxide is asked no further than a submodule's HEAD, since it
/// would read the submodule's files through the submodule's own filters. Read by
/// libgit2 (which runs no filter program), only where `.gitmodules` is a regular file.
fn dirty_submodules(
    repo: &Repository,
    changes: &mut Vec<(String, String, git2::Status)>,
    only: Option<&std::collections::HashSet<&str>>,
) {
    use git2::SubmoduleStatus as M;
    let listed = repo
        .workdir()
        .and_then(|w| std::fs::symlink_metadata(w.join(".gitmodules")).ok())
        .is_some_and(|m| m.is_file());
    if !listed {
        return;
    }
    let Ok(submodules) = repo.submodules() else {
        return;
    };
    for sm in submodules {
        let (Some(name), Some(path)) = (sm.name(), sm.path().to_str()) else {
            continue;
        };
        let path = crate::index::to_slash(Path::new(path));
        if only.is_some_and(|only| !only.contains(path.as_str())) {
            continue;
        }
        let Ok(st) = repo.submodule_status(name, git2::SubmoduleIgnore::Unspecified) else {
            continue;
        };
        if !st.intersects(M::WD_INDEX_MODIFIED | M::WD_WD_MODIFIED | M::WD_UNTRACKED) {
            continue;
        }
        match changes.iter_mut().find(|(_, p, _)| *p == path) {
            Some((_, _, s)) => *s |= git2::Status::WT_MODIFIED,
            None => {
                let at = changes.partition_point(|(_, p, _)| *p < path);
                changes.insert(at, (path.clone(), path, git2::Status::WT_MODIFIED));
            }
        }
    }
}

/// The same list read by libgit2 in one pass: what the tests and the benchmark compare
/// the gitoxide read with.
fn statuses_libgit2(repo: &Repository) -> Result<Vec<(String, git2::Status)>, git2::Error> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true)
        .recurse_untracked_dirs(true)
        .renames_head_to_index(true);
    let statuses = repo.statuses(Some(&mut opts))?;
    Ok(statuses
        .iter()
        .filter_map(|e| Some((e.path()?.to_string(), e.status())))
        .collect())
}

fn repo_of(root: &Path) -> Result<Repository, crate::ProjectError> {
    Ok(Repository::discover(root)?)
}

/// The repository's status; `None` outside git. Reads it once: a project whose status is
/// read again and again keeps a `StatusReader`.
pub fn status(root: &Path) -> Result<Option<GitStatus>, crate::ProjectError> {
    StatusReader::new(root).keeping_for(Duration::ZERO).read()
}

/// `status` as libgit2 reads it in one pass (slower: 1.25-1.8x `git status` on 100k
/// files): the reference the tests and the benchmark compare the gitoxide read with.
#[doc(hidden)]
pub fn status_libgit2(root: &Path) -> Result<Option<GitStatus>, crate::ProjectError> {
    let Ok(repo) = Repository::discover(root) else {
        return Ok(None);
    };
    status_with(&repo, || statuses_libgit2(&repo))
}

/// The status of one project, read each time it may have changed. The repository handles
/// of the last read (gitoxide's for the changes, libgit2's for the branch and upstream and
/// for what gitoxide would not read) are kept for a while: a kept handle reads the index again
/// only when the file changed and keeps the objects it read. Measured in
/// docs/benchmarks.md (git status). Not kept on Windows, where an open handle's pack
/// files cannot be deleted (`git gc` would fail while Flint shows the project).
pub struct StatusReader {
    root: std::path::PathBuf,
    state: std::sync::Arc<std::sync::Mutex<ReaderState>>,
    /// `release` found a read running: that read lets go of the handles as it ends.
    release_asked: std::sync::atomic::AtomicBool,
    keep_for: Duration,
}

/// How long kept handles outlive their last read. They hold the index in memory (each
/// handle its own copy, ~10-15 MiB for 100k tracked files) and keep the pack files they read open
/// (a repack's old packs stay on disk while they are).
const KEEP_FOR: Duration = Duration::from_secs(30);

#[derive(Default)]
struct ReaderState {
    kept: Option<Kept>,
    /// A thread lets the handles go `KEEP_FOR` after the last read (one at a time).
    reaper: bool,
}

struct Kept {
    /// What the handles were opened on: anything different now (another git folder at
    /// the root, the repository made again, its or the user's configuration changed,
    /// which libgit2 caches per handle) means new handles.
    identity: Identity,
    repo: Repository,
    gix: gix::Repository,
    last_read: Instant,
}

/// A file's length, time of change and inode, as far as the platform tells them.
type Stamp = Option<(u64, Option<std::time::SystemTime>, u64)>;

#[derive(PartialEq)]
struct Identity {
    git_dir: std::path::PathBuf,
    stamps: Vec<Stamp>,
}

fn stamp(path: &Path) -> Stamp {
    let m = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&m);
    #[cfg(not(unix))]
    let inode = 0;
    Some((m.len(), m.modified().ok(), inode))
}

impl Identity {
    /// The root's repository as it is now (a few `stat`s); `None` outside git.
    fn of(root: &Path) -> Option<Self> {
        let git_dir = Repository::discover_path(root, None::<&str>).ok()?;
        // The git folder by its inode only (made again, or another one linked in): its
        // time changes with every lock file git writes in it.
        let mut stamps = vec![stamp(&git_dir).map(|(_, _, inode)| (0, None, inode))];
        let mut files = vec![git_dir.join("config")];
        files.extend(
            [
                git2::Config::find_global(),
                git2::Config::find_xdg(),
                git2::Config::find_system(),
            ]
            .into_iter()
            .flatten(),
        );
        stamps.extend(files.iter().map(|f| stamp(f)));
        Some(Self { git_dir, stamps })
    }
}

impl StatusReader {
    pub fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
            state: Default::default(),
            release_asked: Default::default(),
            keep_for: KEEP_FOR,
        }
    }

    /// Keeps handles this long after a read instead of `KEEP_FOR`; zero: not at all (a
    /// status read once).
    pub fn keeping_for(mut self, keep_for: Duration) -> Self {
        self.keep_for = keep_for;
        self
    }

    /// Whether handles are kept now (for the tests).
    #[doc(hidden)]
    pub fn holds_handles(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.kept.is_some()
    }

    /// The repository's status now; `None` outside git.
    pub fn read(&self) -> Result<Option<GitStatus>, crate::ProjectError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let read = self.with_kept(&mut state, |k| {
            status_with(&k.repo, || match statuses_gix(&k.gix, None) {
                Ok(mut changes) => {
                    dirty_submodules(&k.repo, &mut changes, None);
                    Ok(changes.into_iter().map(|(name, _, s)| (name, s)).collect())
                }
                // What gitoxide would not or could not read (a planted rules file, a
                // submodule it cannot open), libgit2 reads.
                Err(_) => {
                    fresh_index(&k.repo)?;
                    statuses_libgit2(&k.repo)
                }
            })
        });
        read.map(Option::flatten)
    }

    /// The status of just these paths (after a save), on the kept handles, as the whole
    /// read reports them (no renames: a path alone cannot be paired). While a full read
    /// runs, libgit2 reads them on a handle of its own (`status_of`) rather than wait.
    pub fn read_paths(
        &self,
        paths: &[String],
    ) -> Result<Vec<(String, Option<GitChange>)>, crate::ProjectError> {
        let Some(mut state) = self.try_state() else {
            return status_of(&self.root, paths);
        };
        self.with_kept(&mut state, |k| {
            match paths_status_gix(&k.gix, &k.repo, &self.root, paths) {
                Ok(out) => Ok(out),
                // As for a whole read: what gitoxide would not read, libgit2 reads.
                Err(_) => paths_status(&k.repo, &self.root, paths),
            }
        })?
        .ok_or_else(|| git2::Error::from_str("not in a git repository").into())
    }

    /// Lets the kept handles go now (for a project no longer shown): the next read opens
    /// new ones. Never waits: a read running lets go as it ends.
    pub fn release(&self) {
        use std::sync::atomic::Ordering;
        self.release_asked.store(true, Ordering::SeqCst);
        let Some(mut state) = self.try_state() else {
            return;
        };
        state.kept = None;
        self.release_asked.store(false, Ordering::SeqCst);
    }

    /// The reader's state unless a read holds it now.
    fn try_state(&self) -> Option<std::sync::MutexGuard<'_, ReaderState>> {
        match self.state.try_lock() {
            Ok(s) => Some(s),
            Err(std::sync::TryLockError::Poisoned(e)) => Some(e.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }

    /// Runs `f` on the kept handles (opened first if there are none, or what they were
    /// opened on changed); `None` outside git.
    fn with_kept<T>(
        &self,
        state: &mut ReaderState,
        f: impl FnOnce(&mut Kept) -> Result<T, crate::ProjectError>,
    ) -> Result<Option<T>, crate::ProjectError> {
        let Some(identity) = Identity::of(&self.root) else {
            state.kept = None;
            return Ok(None);
        };
        if state.kept.as_ref().is_none_or(|k| k.identity != identity) {
            state.kept = None;
            let Ok(repo) = Repository::discover(&self.root) else {
                return Ok(None);
            };
            // Both libraries must have found the same git folder (gitoxide is not asked
            // to follow the environment's GIT_DIR; neither is libgit2).
            let gix = gix_open(&self.root)?;
            if gix.git_dir().canonicalize().ok() != repo.path().canonicalize().ok() {
                return Err(git2::Error::from_str("the repository could not be read").into());
            }
            state.kept = Some(Kept {
                identity,
                repo,
                gix,
                last_read: Instant::now(),
            });
        }
        let Some(k) = state.kept.as_mut() else {
            return Ok(None);
        };
        let out = f(k);
        k.last_read = Instant::now();
        let released = self
            .release_asked
            .swap(false, std::sync::atomic::Ordering::SeqCst);
        // Nothing half-read is kept: the next read starts from fresh handles.
        if out.is_err() || released || cfg!(windows) || self.keep_for.is_zero() {
            state.kept = None;
        } else if !state.reaper {
            state.reaper = true;
            let (weak, keep_for) = (std::sync::Arc::downgrade(&self.state), self.keep_for);
            let spawned = std::thread::Builder::new()
                .name("git-status-reaper".into())
                .spawn(move || reap(weak, keep_for));
            if spawned.is_err() {
                state.reaper = false;
                state.kept = None;
            }
        }
        out.map(Some)
    }
}

/// Lets a reader's handles go once `keep_for` has passed since its last read.
fn reap(state: std::sync::Weak<std::sync::Mutex<ReaderState>>, keep_for: Duration) {
    let mut wait = keep_for;
    loop {
        std::thread::sleep(wait);
        let Some(state) = state.upgrade() else {
            return;
        };
        let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
        let idle = state.kept.as_ref().map(|k| k.last_read.elapsed());
        match idle {
            Some(idle) if idle < keep_for => wait = keep_for - idle,
            _ => {
                state.kept = None;
                state.reaper = false;
                return;
            }
        }
    }
}

/// Makes sure `repo`'s index is the one on disk: read again if it changed, emptied if
/// the file is gone (libgit2 keeps the entries it had when the file disappears).
fn fresh_index(repo: &Repository) -> Result<(), git2::Error> {
    let mut index = repo.index()?;
    let on_disk = index.path().is_some_and(Path::exists);
    index.read(!on_disk)
}

/// The status: the branch and its upstream from libgit2's `repo`, the changes from
/// `changes`.
fn status_with(
    repo: &Repository,
    changes: impl FnOnce() -> Result<Vec<(String, git2::Status)>, git2::Error>,
) -> Result<Option<GitStatus>, crate::ProjectError> {
    let Some(st) = state_of(repo) else {
        return Ok(None);
    };
    let (mut upstream, mut ahead, mut behind) = (None, 0, 0);
    if let Ok(head) = repo.head() {
        if let (Some(local), Some(name)) = (head.target(), head.name()) {
            if let Ok(up) = repo.branch_upstream_name(name) {
                if let Some(up) = up.as_str() {
                    upstream = Some(up.trim_start_matches("refs/remotes/").to_string());
                    if let Ok(id) = repo.refname_to_id(up) {
                        if let Ok((a, b)) = repo.graph_ahead_behind(local, id) {
                            (ahead, behind) = (a as u32, b as u32);
                        }
                    }
                }
            }
        }
    }
    let changes = changes()?
        .into_iter()
        .filter_map(|(path, s)| {
            let mut c = change_of(s)?;
            c.path = path;
            Some(c)
        })
        .collect();
    Ok(Some(GitStatus {
        state: st,
        upstream,
        ahead,
        behind,
        changes,
    }))
}

/// Past this many paths at once, the read after a save reads the whole tree.
const MANY_PATHS: usize = 200;

/// The status of just these paths (after a save) as the whole read reports them, read
/// by gitoxide limited to them (each a literal path): one pass for all of them where
/// libgit2 reads each on its own (docs/benchmarks.md, git status).
fn paths_status_gix(
    repo: &gix::Repository,
    libgit2: &Repository,
    root: &Path,
    paths: &[String],
) -> Result<Vec<(String, Option<GitChange>)>, crate::ProjectError> {
    let workdir = repo
        .workdir()
        .and_then(|w| w.canonicalize().ok())
        .ok_or_else(|| git2::Error::from_str("no working tree"))?;
    let rels = paths
        .iter()
        .map(|p| {
            let full = root.join(p);
            let rel = full
                .strip_prefix(&workdir)
                .map_err(|_| git2::Error::from_str("the project is outside the working tree"))?;
            Ok(crate::index::to_slash(rel))
        })
        .collect::<Result<Vec<String>, git2::Error>>()?;
    let asked: Vec<String> = rels.iter().filter(|r| !r.is_empty()).cloned().collect();
    // Each index entry is matched against every path: past a few hundred (a folder of
    // new files), the whole read costs less.
    let mut changes = if asked.len() > MANY_PATHS {
        statuses_gix(repo, None)?
    } else {
        statuses_gix(repo, Some(&asked))?
    };
    let wanted: std::collections::HashSet<&str> = asked.iter().map(String::as_str).collect();
    dirty_submodules(libgit2, &mut changes, Some(&wanted));
    // By index path, and by the name the whole read gives a rename (its old path).
    let mut by_path = std::collections::HashMap::<&str, git2::Status>::new();
    for (name, path, s) in &changes {
        *by_path
            .entry(path.as_str())
            .or_insert(git2::Status::empty()) |= *s;
        if name != path {
            *by_path
                .entry(name.as_str())
                .or_insert(git2::Status::empty()) |= *s;
        }
    }
    Ok(rels
        .into_iter()
        .map(|rel| {
            let change = by_path.get(rel.as_str()).and_then(|s| {
                let mut c = change_of(*s)?;
                c.path = rel.clone();
                Some(c)
            });
            (rel, change)
        })
        .collect())
}

/// `read_paths` by gitoxide alone, no libgit2 to fall back on: what the tests check.
#[doc(hidden)]
pub fn status_of_gitoxide(
    root: &Path,
    paths: &[String],
) -> Result<Vec<(String, Option<GitChange>)>, crate::ProjectError> {
    paths_status_gix(&gix_open(root)?, &repo_of(root)?, root, paths)
}

/// The status of just these paths (after a save), without scanning the whole tree.
pub fn status_of(
    root: &Path,
    paths: &[String],
) -> Result<Vec<(String, Option<GitChange>)>, crate::ProjectError> {
    paths_status(&repo_of(root)?, root, paths)
}

fn paths_status(
    repo: &Repository,
    root: &Path,
    paths: &[String],
) -> Result<Vec<(String, Option<GitChange>)>, crate::ProjectError> {
    // libgit2's own refresh hides a failure and goes on with what it had.
    fresh_index(repo)?;
    let workdir = repo
        .workdir()
        .and_then(|w| w.canonicalize().ok())
        .unwrap_or_else(|| root.to_path_buf());
    let mut out = Vec::new();
    for p in paths {
        let rel = root.join(p);
        let rel = rel
            .strip_prefix(&workdir)
            .unwrap_or(Path::new(p))
            .to_path_buf();
        let s = repo.status_file(&rel).unwrap_or(git2::Status::CURRENT);
        let change = change_of(s).map(|mut c| {
            c.path = crate::index::to_slash(&rel);
            c
        });
        out.push((crate::index::to_slash(&rel), change));
    }
    Ok(out)
}

/// A file's diff as a unified patch: staged (index vs HEAD) or unstaged (worktree vs
/// index, untracked files shown whole).
pub fn diff_file(root: &Path, path: &str, staged: bool) -> Result<String, crate::ProjectError> {
    let repo = repo_of(root)?;
    let mut opts = git2::DiffOptions::new();
    opts.pathspec(path)
        .include_untracked(true)
        .show_untracked_content(true)
        .recurse_untracked_dirs(true);
    let diff = if staged {
        let head = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
        repo.diff_tree_to_index(head.as_ref(), None, Some(&mut opts))?
    } else {
        repo.diff_index_to_workdir(None, Some(&mut opts))?
    };
    patch_text(&diff, usize::MAX)
}

/// A diff as unified patch text, cut at about `max_bytes`.
fn patch_text(diff: &git2::Diff<'_>, max_bytes: usize) -> Result<String, crate::ProjectError> {
    let mut out = String::new();
    diff.print(git2::DiffFormat::Patch, |_, _, line| {
        if out.len() < max_bytes {
            let origin = line.origin();
            if matches!(origin, '+' | '-' | ' ') {
                out.push(origin);
            }
            out.push_str(&String::from_utf8_lossy(line.content()));
        }
        true
    })?;
    Ok(out)
}

/// Stages the paths (a deleted file is staged as deleted).
pub fn stage(root: &Path, paths: &[String]) -> Result<(), crate::ProjectError> {
    let repo = repo_of(root)?;
    let workdir = repo.workdir().map(Path::to_path_buf).unwrap_or_default();
    let mut index = repo.index()?;
    for p in paths {
        if workdir.join(p).exists() {
            index.add_path(Path::new(p))?;
        } else {
            index.remove_path(Path::new(p))?;
        }
    }
    index.write()?;
    Ok(())
}

/// Unstages the paths (back to HEAD's version, or out of the index without commits).
pub fn unstage(root: &Path, paths: &[String]) -> Result<(), crate::ProjectError> {
    let repo = repo_of(root)?;
    match repo
        .head()
        .ok()
        .and_then(|h| h.peel(git2::ObjectType::Commit).ok())
    {
        Some(head) => repo.reset_default(Some(&head), paths.iter().map(Path::new))?,
        None => {
            let mut index = repo.index()?;
            for p in paths {
                index.remove_path(Path::new(p))?;
            }
            index.write()?;
        }
    }
    Ok(())
}

/// The staged changes as one patch (for the commit message suggestion).
pub fn staged_diff(root: &Path, max_bytes: usize) -> Result<String, crate::ProjectError> {
    let repo = repo_of(root)?;
    let head = repo.head().ok().and_then(|h| h.peel_to_tree().ok());
    let diff = repo.diff_tree_to_index(head.as_ref(), None, None)?;
    patch_text(&diff, max_bytes)
}

/// Commits what is staged, with git's configured identity. Returns the short id.
pub fn commit(root: &Path, message: &str) -> Result<String, crate::ProjectError> {
    let repo = repo_of(root)?;
    if message.trim().is_empty() {
        return Err(crate::ProjectError::Git(git2::Error::from_str(
            "the commit message is empty",
        )));
    }
    let sig = repo.signature().map_err(|_| {
        crate::ProjectError::Git(git2::Error::from_str(
            "git has no identity here: set user.name and user.email (git config --global user.name ...)",
        ))
    })?;
    let mut index = repo.index()?;
    let tree = repo.find_tree(index.write_tree()?)?;
    let parent = repo.head().ok().and_then(|h| h.peel_to_commit().ok());
    if let Some(p) = &parent {
        if p.tree_id() == tree.id() {
            return Err(crate::ProjectError::Git(git2::Error::from_str(
                "nothing is staged to commit",
            )));
        }
    }
    let parents: Vec<&git2::Commit> = parent.iter().collect();
    let id = repo.commit(Some("HEAD"), &sig, &sig, message.trim(), &tree, &parents)?;
    Ok(id.to_string().chars().take(7).collect())
}

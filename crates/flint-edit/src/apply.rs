//! Writing a change set all-or-nothing, through directory handles. Every path is
//! confined first (`ProjectDir::resolve`: inside the root, never git's folder); then
//! the folder each file lives in is opened from the root's handle one component at a
//! time along its real path, never following a link (cap-std), each folder on the way
//! checked not to be a git dir by device and inode (a git dir renamed to `sub` is still
//! one), missing folders created in their parent's handle. Every later step - staging,
//! renaming, deleting, putting back - is relative to that handle: a folder swapped for
//! a link after the check cannot carry a write anywhere else, and a name is never
//! written through (a new file is always created exclusively, then renamed over it).
//!
//! Every new file is written to a staging file beside its target first (created
//! exclusively, under a random name, and synced with its folder); only when all are
//! staged does the caller get to record the way back (`apply_with`: the write-ahead
//! checkpoint), and only then are they renamed into place (a rename within a folder is
//! atomic). If anything fails, whatever was already renamed or deleted is put back
//! from the bytes held in memory - mode and link included, the same way: staged, then
//! renamed - so the project is left as it was. Before anything is written, each file's
//! current bytes are checked against the hash the caller expects: a file the user
//! changed meanwhile is never overwritten.

use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use cap_fs_ext::DirExt as _;
use cap_std::fs::{Dir, OpenOptions};
use flint_project::ProjectDir;
use sha2::{Digest, Sha256};

use crate::EditError;

/// One file to write: what it must hold now (`None`: must not exist) and what it
/// becomes (`None`: deleted).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Write {
    pub path: String,
    pub expected: Option<String>,
    pub content: Option<Vec<u8>>,
    /// The permission bits it gets (unix); `None`: an existing file keeps its own, a
    /// new one gets the usual 0666 less the umask. Undo passes what a deleted file had.
    pub mode: Option<u32>,
    /// Created as a link to this (unix), where the file does not exist: undo puts a
    /// deleted link back as a link. `content` is then what the link leads to.
    pub link: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppliedFile {
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
    /// The permission bits the file had (unix), when it existed.
    pub before_mode: Option<u32>,
    /// Where it led, when it was a link that was deleted.
    pub before_link: Option<String>,
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
    /// Where the bytes go, relative to the root: a link's real path when a link is
    /// edited (it stays a link), the link itself when it is deleted.
    rel: PathBuf,
    name: OsString,
    before: Option<Vec<u8>>,
    before_mode: Option<u32>,
    before_link: Option<String>,
    /// The folder it lives in, opened beneath the root and checked.
    dir: Option<Dir>,
    /// The existing file's device and inode (unix), to tell two names of one file.
    id: Option<(u64, u64)>,
    /// The staging file's name in `dir`.
    temp: Option<OsString>,
}

fn io(path: &str, e: impl std::fmt::Display) -> EditError {
    EditError::Io {
        path: path.into(),
        detail: e.to_string(),
    }
}

fn outside(path: &str) -> EditError {
    EditError::OutsideProject { path: path.into() }
}

#[cfg(test)]
thread_local! {
    /// Tests make the commit of the n-th file fail, to prove the rollback.
    pub(crate) static FAIL_COMMIT_AT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    /// Tests make putting a file back fail too, to prove the error says so.
    pub(crate) static FAIL_RESTORE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// Tests run this once every folder is opened and checked, before anything is
    /// staged: where an attacker would swap a folder for a link.
    pub(crate) static AFTER_CHECK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> = const { std::cell::RefCell::new(None) };
    /// Tests make the n-th staging write (counting from 0) fail halfway (a full disk).
    pub(crate) static FAIL_STAGE_AT: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) };
    /// Tests run this when a commit failed, before anything is put back.
    pub(crate) static BEFORE_ROLLBACK: std::cell::RefCell<Option<Box<dyn FnOnce()>>> = const { std::cell::RefCell::new(None) };
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
    let root = Dir::open_ambient_dir(project.root(), cap_std::ambient_authority())
        .map_err(|e| io(".", e))?;

    // 1. Check: every path inside the project, every file as the caller expects it.
    let mut targets: Vec<Target> = Vec::new();
    for w in writes {
        let t = check(project, &root, w)?;
        // Two writes to one file (a link and its target, two spellings of one name on
        // a case-insensitive disk) would each pass the check and the last would win.
        if let Some(first) = targets
            .iter()
            .find(|o| o.rel == t.rel || (o.id.is_some() && o.id == t.id))
        {
            return Err(EditError::Io {
                path: w.path.clone(),
                detail: format!("it is the same file as {}, changed twice", first.write.path),
            });
        }
        targets.push(t);
    }

    // 2. Stage: create missing folders, open each target's folder, write every new
    //    version beside its target, durably.
    let mut created_dirs: Vec<(Dir, OsString)> = Vec::new();
    let opened = targets
        .iter_mut()
        .try_for_each(|t| open_folder(project, &root, t, &mut created_dirs));
    if let Err(e) = opened {
        cleanup(&targets, &created_dirs);
        return Err(e);
    }
    #[cfg(test)]
    if let Some(hook) = AFTER_CHECK.with(|h| h.borrow_mut().take()) {
        hook();
    }
    for t in targets.iter_mut() {
        if let Err(e) = stage(t) {
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
                before_mode: t.before_mode,
                before_link: t.before_link.clone(),
            })
            .collect(),
    };
    if let Err(e) = before_commit(&applied) {
        cleanup(&targets, &created_dirs);
        return Err(e);
    }

    // 4. Commit: rename into place, delete what goes; undo it all on any failure.
    for i in 0..targets.len() {
        if let Err(e) = commit(&targets[i], i) {
            #[cfg(test)]
            if let Some(hook) = BEFORE_ROLLBACK.with(|h| h.borrow_mut().take()) {
                hook();
            }
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

/// Step 1 for one write: confined, and the file as the caller expects it.
fn check(project: &ProjectDir, root: &Dir, w: &Write) -> Result<Target, EditError> {
    let abs = project.resolve(&w.path).map_err(|_| outside(&w.path))?;
    let mut rel = abs
        .strip_prefix(project.root())
        .map_err(|_| outside(&w.path))?
        .to_path_buf();
    let name = rel
        .file_name()
        .map(OsString::from)
        .ok_or_else(|| EditError::IsFolder {
            path: w.path.clone(),
        })?;
    let mut target = Target {
        write: w.clone(),
        rel: rel.clone(),
        name,
        before: None,
        before_mode: None,
        before_link: None,
        dir: None,
        id: None,
        temp: None,
    };
    let link = root
        .symlink_metadata(&rel)
        .is_ok_and(|m| m.file_type().is_symlink());
    if link && w.content.is_some() {
        // A link inside the project (its real path confined like any other) is edited
        // where it points, so it stays a link.
        let real = std::fs::canonicalize(&abs).map_err(|e| io(&w.path, e))?;
        let real_rel = real
            .strip_prefix(project.root())
            .map_err(|_| outside(&w.path))?;
        // Confined again as a path of its own: not into git's folder by a link.
        if project.resolve(&real_rel.to_string_lossy()).ok().as_ref() != Some(&real) {
            return Err(outside(&w.path));
        }
        rel = real_rel.to_path_buf();
        target.name = rel.file_name().map(OsString::from).unwrap_or_default();
        target.rel = rel.clone();
    } else if link {
        // Deleting a link removes the link itself; undo puts the link back.
        let to = root.read_link_contents(&rel).map_err(|e| io(&w.path, e))?;
        target.before_link = Some(to.to_string_lossy().into_owned());
    }
    match root.symlink_metadata(&rel) {
        Ok(m) if m.is_dir() => {
            return Err(EditError::IsFolder {
                path: w.path.clone(),
            })
        }
        Ok(_) => {
            target.before = Some(root.read(&rel).map_err(|e| io(&w.path, e))?);
            #[cfg(unix)]
            {
                use cap_std::fs::MetadataExt as _;
                let m = root.metadata(&rel).map_err(|e| io(&w.path, e))?;
                target.before_mode = Some(m.mode() & 0o7777);
                target.id = Some((m.dev(), m.ino()));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&w.path, e)),
    }
    if target.before.as_deref().map(content_hash) != w.expected {
        return Err(EditError::Conflict {
            path: w.path.clone(),
        });
    }
    Ok(target)
}

/// Step 2 for one target: its folder opened from the root along its real path, one
/// component at a time, never through a link, none of them a git dir; folders that do
/// not exist yet created in their parent's handle (remembered for a rollback).
fn open_folder(
    project: &ProjectDir,
    root: &Dir,
    t: &mut Target,
    created: &mut Vec<(Dir, OsString)>,
) -> Result<(), EditError> {
    let path = t.write.path.clone();
    let changed = |e: std::io::Error| EditError::Io {
        path: path.clone(),
        detail: format!("a folder on its way changed meanwhile ({e})"),
    };
    // The nearest folder on the way that exists, by its real path; the rest is made.
    let mut existing = t.rel.parent().unwrap_or(Path::new("")).to_path_buf();
    let mut missing: Vec<OsString> = Vec::new();
    while !existing.as_os_str().is_empty() {
        match root.symlink_metadata(&existing) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.extend(existing.file_name().map(OsString::from));
                existing.pop();
            }
            _ => break,
        }
    }
    let real = std::fs::canonicalize(project.root().join(&existing)).map_err(|e| io(&path, e))?;
    let real_rel = real
        .strip_prefix(project.root())
        .map_err(|_| outside(&path))?;
    let mut dir = root.try_clone().map_err(|e| io(&path, e))?;
    not_git(project, &dir, &path)?;
    for part in real_rel.components() {
        let std::path::Component::Normal(name) = part else {
            return Err(outside(&path));
        };
        dir = dir.open_dir_nofollow(name).map_err(changed)?;
        not_git(project, &dir, &path)?;
    }
    for name in missing.into_iter().rev() {
        match dir.create_dir(&name) {
            Ok(()) => created.push((dir.try_clone().map_err(|e| io(&path, e))?, name.clone())),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(io(&path, e)),
        }
        dir = dir.open_dir_nofollow(&name).map_err(changed)?;
        not_git(project, &dir, &path)?;
    }
    t.dir = Some(dir);
    Ok(())
}

/// Refuses a folder handle that is one of the repository's git dirs, whatever its name.
fn not_git(project: &ProjectDir, dir: &Dir, path: &str) -> Result<(), EditError> {
    #[cfg(unix)]
    {
        use cap_std::fs::MetadataExt as _;
        let m = dir.dir_metadata().map_err(|e| io(path, e))?;
        if project.is_git_dir(m.dev(), m.ino()) {
            return Err(outside(path));
        }
    }
    #[cfg(not(unix))]
    let _ = (project, dir, path); // the names were checked; no inode to compare
    Ok(())
}

/// Syncs the folders of the targets, so renames and staged files survive a power loss.
fn sync_folders(targets: &[Target]) {
    #[cfg(unix)]
    {
        let mut done: Vec<&Path> = Vec::new();
        for t in targets {
            let parent = t.rel.parent().unwrap_or(Path::new(""));
            if done.contains(&parent) {
                continue;
            }
            done.push(parent);
            if let Some(dir) = t.dir.as_ref().and_then(|d| d.try_clone().ok()) {
                let _ = dir.into_std_file().sync_all();
            }
        }
    }
    #[cfg(not(unix))]
    let _ = targets; // Windows cannot open a folder as a file to sync it.
}

fn stage(t: &mut Target) -> Result<(), EditError> {
    let Some(content) = t.write.content.as_deref() else {
        return Ok(());
    };
    let path = t.write.path.clone();
    let dir = t.dir.as_ref().ok_or_else(|| io(&path, "folder not open"))?;
    let link = t.write.link.as_deref().filter(|_| t.before.is_none());
    let mode = t.write.mode.or(t.before_mode);
    // Known before the first byte: a failed write (a full disk) is cleaned up too.
    let temp = &mut t.temp;
    write_new(dir, &t.name, content, mode, link, temp).map_err(|e| io(&path, e))
}

/// Writes a new file (or, unix, a link) beside `name` in `dir`, for a rename over it:
/// created exclusively (O_EXCL; a link there is not followed) under a random name, so
/// a link planted at a staging name cannot redirect the write; synced; with `mode`
/// exactly (else 0666 less the umask, as any editor would create it). Its name goes to
/// `temp` as soon as it exists.
fn write_new(
    dir: &Dir,
    name: &OsString,
    content: &[u8],
    mode: Option<u32>,
    link: Option<&str>,
    temp: &mut Option<OsString>,
) -> std::io::Result<()> {
    #[cfg(not(unix))]
    let _ = (&link, &mode);
    let shown = name.to_string_lossy();
    let mut tries = 0;
    let file = loop {
        let candidate = OsString::from(format!(".{shown}.flint-{:016x}.tmp", fastrand::u64(..)));
        let made = match link {
            // Relative targets only: a link that leads out of the project is never made.
            #[cfg(unix)]
            Some(to) => dir.symlink(to, &candidate).map(|()| None),
            _ => {
                let mut options = OpenOptions::new();
                options.write(true).create_new(true);
                #[cfg(unix)]
                {
                    use cap_std::fs::OpenOptionsExt as _;
                    options.mode(0o666);
                }
                dir.open_with(&candidate, &options).map(Some)
            }
        };
        match made {
            Ok(file) => {
                *temp = Some(candidate);
                break file;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && tries < 8 => tries += 1,
            Err(e) => return Err(e),
        }
    };
    let Some(file) = file else {
        return Ok(()); // a link: nothing to write
    };
    let mut file = file.into_std();
    #[cfg(test)]
    {
        let n = FAIL_STAGE_AT.with(|f| f.get());
        if n == Some(0) {
            file.write_all(&content[..content.len() / 2])?;
            return Err(std::io::Error::other("No space left on device (injected)"));
        }
        FAIL_STAGE_AT.with(|f| f.set(n.map(|n| n - 1)));
    }
    file.write_all(content)?;
    #[cfg(unix)]
    if let Some(mode) = mode {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    file.sync_all()
}

fn commit(t: &Target, _i: usize) -> Result<(), EditError> {
    #[cfg(test)]
    if FAIL_COMMIT_AT.with(|f| f.get()) == Some(_i) {
        return Err(io(&t.write.path, "injected failure"));
    }
    let dir = t
        .dir
        .as_ref()
        .ok_or_else(|| io(&t.write.path, "folder not open"))?;
    match (&t.temp, &t.write.content) {
        (Some(temp), Some(_)) => dir
            .rename(temp, dir, &t.name)
            .map_err(|e| io(&t.write.path, e)),
        (_, None) => match dir.remove_file(&t.name) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&t.write.path, e)),
        },
        (None, Some(_)) => Err(io(&t.write.path, "not staged")),
    }
}

/// Puts a committed file back as it was, mode and link included - written new and
/// renamed over the name, never through it (whatever was put there meanwhile, a hard
/// link to git's config, is replaced, not written into); the file's path if it could
/// not be.
fn restore(t: &Target) -> Result<(), String> {
    #[cfg(test)]
    if FAIL_RESTORE.with(|f| f.get()) {
        return Err(format!("{} (injected failure)", t.write.path));
    }
    let Some(dir) = t.dir.as_ref() else {
        return Err(format!("{} (folder not open)", t.write.path));
    };
    let done = match &t.before {
        Some(bytes) => {
            let mut temp = None;
            let written = write_new(
                dir,
                &t.name,
                bytes,
                t.before_mode,
                t.before_link.as_deref(),
                &mut temp,
            )
            .and_then(|()| match &temp {
                Some(temp) => dir.rename(temp, dir, &t.name),
                None => Ok(()),
            });
            if written.is_err() {
                if let Some(temp) = &temp {
                    let _ = dir.remove_file(temp);
                }
            }
            written
        }
        None => match dir.remove_file(&t.name) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            other => other,
        },
    };
    done.map_err(|e| format!("{} ({e})", t.write.path))
}

fn cleanup(targets: &[Target], created_dirs: &[(Dir, OsString)]) {
    for t in targets {
        if let (Some(dir), Some(temp)) = (&t.dir, &t.temp) {
            let _ = dir.remove_file(temp);
        }
    }
    for (parent, name) in created_dirs.iter().rev() {
        let _ = parent.remove_dir(name);
    }
}

#[cfg(test)]
mod tests;

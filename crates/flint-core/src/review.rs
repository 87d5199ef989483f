//! Review of the edits an answer proposes: what each file would become, as hunks; the
//! user's per-hunk decisions applied all-or-nothing as a checkpoint; undo and redo of
//! checkpoints that never overwrite what the user changed since.

use std::path::Path;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use flint_edit::{AnswerParser, ChangeSet, Edit, EditError, Hunk, TextFile, Write};
use flint_project::ProjectDir;
use flint_store::{Checkpoint, CheckpointFile, Direction, Store};

use crate::{CoreError, Engine};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum ChangeKind {
    Added,
    Modified,
    Deleted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum ReviewStatus {
    Pending,
    Applied,
    Rejected,
    /// The file changed since the answer was reviewed: review it again.
    Conflicted,
}

/// One file's proposed change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FileReview {
    pub path: String,
    pub moved_from: Option<String>,
    pub change: ChangeKind,
    pub hunks: Vec<Hunk>,
    /// The hash of the file as reviewed; decisions are only applied to those bytes.
    pub base_hash: Option<String>,
    pub status: ReviewStatus,
    pub detail: Option<String>,
}

/// An edit that could not be planned, with what to tell the model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct EditFailure {
    pub path: String,
    pub code: String,
    pub message: String,
    pub feedback: String,
}

/// All the edits of one answer, as review shows them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Review {
    #[ts(type = "number")]
    pub item_id: i64,
    pub files: Vec<FileReview>,
    pub failures: Vec<EditFailure>,
}

/// The user's decision on one file: which of its hunks to apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct FileDecision {
    pub path: String,
    pub base_hash: Option<String>,
    pub accept: Vec<bool>,
}

/// Edits found in a whole answer text.
pub fn edits_in(text: &str) -> (Vec<Edit>, Vec<String>) {
    let mut parser = AnswerParser::new();
    let mut edits = parser.push(text);
    edits.extend(parser.finish());
    (edits, parser.errors().to_vec())
}

fn text_of(path: &str, bytes: &Option<Vec<u8>>) -> String {
    bytes
        .as_deref()
        .and_then(|b| TextFile::decode(path, b).ok())
        .map(|f| f.text)
        .unwrap_or_default()
}

/// Fills in each hunk line's highlighted HTML, highlighting the whole versions of the
/// file (so a line inside a block comment is shown as comment).
fn highlight_hunks(path: &str, before: &str, after: &str, hunks: &mut [Hunk]) {
    if hunks.is_empty() {
        return;
    }
    let old = flint_render::highlight_lines(path, before);
    let new = flint_render::highlight_lines(path, after);
    for h in hunks.iter_mut() {
        let mut o = (h.old_start as usize).saturating_sub(1);
        let mut n = (h.new_start as usize).saturating_sub(1);
        for line in &mut h.lines {
            line.html = match line.kind {
                flint_edit::LineKind::Context => {
                    o += 1;
                    n += 1;
                    new.get(n - 1).cloned()
                }
                flint_edit::LineKind::Removed => {
                    o += 1;
                    old.get(o - 1).cloned()
                }
                flint_edit::LineKind::Added => {
                    n += 1;
                    new.get(n - 1).cloned()
                }
            };
        }
    }
}

/// Plans `edits` against the project as it is now, as review shows them (hunks
/// highlighted).
pub fn review_of(
    item_id: i64,
    dir: &ProjectDir,
    edits: &[Edit],
    parse_errors: &[String],
) -> (ChangeSet, Review) {
    let (set, mut review) = plan_review(item_id, dir, edits, parse_errors);
    // `plan_review` lists the files in the change set's order.
    for (f, r) in set.files.iter().zip(review.files.iter_mut()) {
        let (before, after) = (text_of(&f.path, &f.before), text_of(&f.path, &f.after));
        highlight_hunks(&f.path, &before, &after, &mut r.hunks);
    }
    (set, review)
}

/// Plans `edits` against the project as it is now: the change set and its plain hunks
/// (for the command line, which prints text and has no use for highlighting).
fn plan_review(
    item_id: i64,
    dir: &ProjectDir,
    edits: &[Edit],
    parse_errors: &[String],
) -> (ChangeSet, Review) {
    let (set, failed) = flint_edit::plan_lenient(dir, edits);
    let files = set
        .files
        .iter()
        .map(|f| FileReview {
            path: f.path.clone(),
            moved_from: f.moved_from.clone(),
            change: match (&f.before, &f.after) {
                (None, _) => ChangeKind::Added,
                (_, None) => ChangeKind::Deleted,
                _ => ChangeKind::Modified,
            },
            hunks: flint_edit::hunks(&text_of(&f.path, &f.before), &text_of(&f.path, &f.after)),
            base_hash: f.before.as_deref().map(flint_edit::content_hash),
            status: ReviewStatus::Pending,
            detail: None,
        })
        .collect();
    let mut failures: Vec<EditFailure> = failed
        .into_iter()
        .map(|(i, e)| EditFailure {
            path: edits
                .get(i)
                .map(|e| e.path().to_string())
                .unwrap_or_default(),
            code: e.code().into(),
            message: e.to_string(),
            feedback: e.feedback(),
        })
        .collect();
    failures.extend(parse_errors.iter().map(|m| EditFailure {
        path: String::new(),
        code: "invalid_patch".into(),
        message: m.clone(),
        feedback: format!("The edit could not be read: {m}"),
    }));
    (
        set,
        Review {
            item_id,
            files,
            failures,
        },
    )
}

/// The bytes a file gets when only the `accept`ed hunks are applied.
fn decided_bytes(
    f: &flint_edit::FileChange,
    accept: &[bool],
) -> Result<Option<Option<Vec<u8>>>, EditError> {
    let n = flint_edit::hunks(&text_of(&f.path, &f.before), &text_of(&f.path, &f.after)).len();
    let all = accept.len() >= n && accept.iter().take(n).all(|a| *a);
    let none = accept.iter().take(n).all(|a| !*a);
    if none {
        return Ok(None);
    }
    if all || f.before.is_none() || f.after.is_none() {
        // Creating or deleting a file is all or nothing.
        return Ok(Some(f.after.clone()));
    }
    let (Some(before), Some(after)) = (&f.before, &f.after) else {
        return Ok(Some(f.after.clone()));
    };
    let b = TextFile::decode(&f.path, before)?;
    let a = TextFile::decode(&f.path, after)?;
    let merged = flint_edit::merge(&b.text, &a.text, accept);
    // Encoded as the file was: lines a rejected hunk keeps are the file's own, with
    // their own line endings (a mixed file keeps each).
    Ok(Some(Some(b.encode(&merged))))
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ApplyOutcome {
    pub review: Review,
    pub checkpoint: Option<Checkpoint>,
}

fn edit_err(e: EditError) -> CoreError {
    CoreError::Edit(e)
}

impl Engine {
    fn project_dir_of_item(
        store: &Store,
        item_id: i64,
    ) -> Result<(i64, ProjectDir, String), CoreError> {
        let item = store.item(item_id)?;
        let session = store.session(item.session_id)?;
        let project = store.project(session.project_id)?;
        let dir = ProjectDir::open(Path::new(&project.path))?;
        Ok((project.id, dir, item.text))
    }

    /// The review of an answer's edits against the files as they are now, with the
    /// decisions already recorded.
    pub async fn review(&self, item_id: i64) -> Result<Review, CoreError> {
        let store = self.store_handle();
        tokio::task::spawn_blocking(move || {
            let s = store
                .lock()
                .map_err(|_| CoreError::Internal("store lock".into()))?;
            let (_, dir, text) = Self::project_dir_of_item(&s, item_id)?;
            let (edits, errors) = edits_in(&text);
            let (_, mut review) = review_of(item_id, &dir, &edits, &errors);
            let recorded = s.reviews(item_id)?;
            // Applied or rejected files no longer differ (or are no longer wanted): show
            // what was decided instead of a fresh proposal.
            for (path, status, detail) in recorded {
                let status = match status.as_str() {
                    "applied" => ReviewStatus::Applied,
                    "rejected" => ReviewStatus::Rejected,
                    _ => continue,
                };
                match review.files.iter_mut().find(|f| f.path == path) {
                    Some(f) if status == ReviewStatus::Rejected => {
                        f.status = status;
                        f.detail = detail;
                    }
                    Some(_) => {}
                    None => review.files.push(FileReview {
                        path,
                        moved_from: None,
                        change: ChangeKind::Modified,
                        hunks: Vec::new(),
                        base_hash: None,
                        status,
                        detail,
                    }),
                }
            }
            Ok(review)
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?
    }

    /// Applies the user's decisions on an answer's edits as one checkpoint, all or
    /// nothing. A file that changed since it was reviewed is marked conflicted and left
    /// alone (its fresh review comes back to be looked at again).
    pub async fn apply_review(
        &self,
        item_id: i64,
        decisions: Vec<FileDecision>,
    ) -> Result<ApplyOutcome, CoreError> {
        let store = self.store_handle();
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let s = store.lock().map_err(|_| CoreError::Internal("store lock".into()))?;
            let (project_id, dir, text) = Self::project_dir_of_item(&s, item_id)?;
            let (edits, errors) = edits_in(&text);
            let (set, mut review) = review_of(item_id, &dir, &edits, &errors);
            let mut writes = Vec::new();
            let mut rejected = Vec::new();
            let mut conflicted = Vec::new();
            for d in &decisions {
                let Some(change) = set.files.iter().find(|f| f.path == d.path) else { continue };
                let base = change.before.as_deref().map(flint_edit::content_hash);
                if base != d.base_hash {
                    conflicted.push(d.path.clone());
                    continue;
                }
                match decided_bytes(change, &d.accept).map_err(edit_err)? {
                    None => rejected.push(d.path.clone()),
                    Some(content) => writes.push(Write { path: d.path.clone(), expected: base, content, ..Default::default() }),
                }
            }
            engine.flint_writes(dir.root(), &writes);
            let (applied, checkpoint) = apply_recorded(&s, &dir, project_id, Some(item_id), &writes)?;
            for f in &applied.files {
                s.set_review(item_id, &f.path, "applied", None)?;
            }
            for p in &rejected {
                s.set_review(item_id, p, "rejected", None)?;
            }
            for f in review.files.iter_mut() {
                if applied.files.iter().any(|a| a.path == f.path) {
                    f.status = ReviewStatus::Applied;
                } else if rejected.contains(&f.path) {
                    f.status = ReviewStatus::Rejected;
                } else if conflicted.contains(&f.path) {
                    f.status = ReviewStatus::Conflicted;
                    f.detail = Some("The file changed since you reviewed it; these hunks are against its current content.".into());
                }
            }
            Ok(ApplyOutcome { review, checkpoint })
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?
    }

    /// Plans the edits in an answer `text` for the project at `root`; unless `check`,
    /// applies them all as one checkpoint, but only if every edit can be applied (all
    /// or nothing). The review lists what would change and what failed.
    pub async fn apply_text(
        &self,
        root: &Path,
        text: &str,
        check: bool,
    ) -> Result<(Review, Option<Checkpoint>), CoreError> {
        let store = self.store_handle();
        let engine = self.clone();
        let (root, text) = (root.to_path_buf(), text.to_string());
        tokio::task::spawn_blocking(move || {
            let dir = ProjectDir::open(&root)?;
            let (edits, errors) = edits_in(&text);
            let (set, review) = plan_review(0, &dir, &edits, &errors);
            if check || !review.failures.is_empty() || set.files.is_empty() {
                return Ok((review, None));
            }
            let writes = set.writes();
            engine.flint_writes(dir.root(), &writes);
            let s = store
                .lock()
                .map_err(|_| CoreError::Internal("store lock".into()))?;
            let project = s.touch_project(&dir.root().display().to_string(), &dir.name())?;
            let (_, checkpoint) = apply_recorded(&s, &dir, project.id, None, &writes)?;
            Ok((review, checkpoint))
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?
    }

    /// Reverts the project's newest applied checkpoint, restoring the exact bytes.
    /// Refuses, naming the file, if anything in it changed since Flint wrote it.
    pub async fn undo(&self, project_id: i64) -> Result<Checkpoint, CoreError> {
        self.step(project_id, true).await
    }

    /// Re-applies the checkpoint undone most recently, with the same care.
    pub async fn redo(&self, project_id: i64) -> Result<Checkpoint, CoreError> {
        self.step(project_id, false).await
    }

    async fn step(&self, project_id: i64, undo: bool) -> Result<Checkpoint, CoreError> {
        let store = self.store_handle();
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let s = store
                .lock()
                .map_err(|_| CoreError::Internal("store lock".into()))?;
            let target = if undo {
                s.undo_target(project_id)?
            } else {
                s.redo_target(project_id)?
            };
            let Some(cp) = target else {
                return Err(CoreError::NothingTo(if undo { "undo" } else { "redo" }));
            };
            let project = s.project(project_id)?;
            let dir = ProjectDir::open(Path::new(&project.path))?;
            let files = s.checkpoint_files(cp.id)?;
            let direction = if undo {
                Direction::Undo
            } else {
                Direction::Redo
            };
            let writes: Vec<Write> = files.iter().map(|f| toward(f, direction)).collect();
            engine.flint_writes(dir.root(), &writes);
            // Written ahead like an apply: a process stopped between renames leaves a
            // trace the next open settles, instead of half an undo nobody knows about.
            let mut begun = false;
            let written = flint_edit::apply_with(&dir, &writes, &mut |_| {
                s.begin_step(cp.id, direction).map_err(|e| EditError::Io {
                    path: cp.summary.clone(),
                    detail: format!(
                        "the {} could not be recorded ({e})",
                        if undo { "undo" } else { "redo" }
                    ),
                })?;
                begun = true;
                Ok(())
            });
            if let Err(e) = written {
                if begun && !matches!(e, EditError::PartlyWritten { .. }) {
                    let _ = s.abandon_step(cp.id);
                }
                return Err(match e {
                    EditError::Conflict { path } => CoreError::ChangedSince { path, undo },
                    other => CoreError::Edit(other),
                });
            }
            s.finish_step(cp.id, direction)?;
            Ok(s.checkpoint(cp.id)?)
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?
    }
}

/// Applies `writes` with the way back written ahead: the checkpoint (every file's bytes
/// before and after) is committed to the store after the files are staged and before
/// the first one changes; marked applied once all are written, forgotten if none was.
/// If it cannot be recorded (a full disk, the database locked), nothing is written. A
/// process that dies between renames leaves it pending: `reconcile` finds it on the
/// next open.
fn apply_recorded(
    s: &Store,
    dir: &ProjectDir,
    project_id: i64,
    item_id: Option<i64>,
    writes: &[Write],
) -> Result<(flint_edit::Applied, Option<Checkpoint>), CoreError> {
    let mut pending = None;
    let mut record = |applied: &flint_edit::Applied| {
        if applied.files.is_empty() {
            return Ok(());
        }
        let files = checkpoint_files(applied);
        let id = s
            .begin_checkpoint(project_id, item_id, &summary(&files), &files)
            .map_err(|e| EditError::Io {
                path: summary(&files),
                detail: format!("its checkpoint could not be recorded ({e})"),
            })?;
        pending = Some(id);
        Ok(())
    };
    match flint_edit::apply_with(dir, writes, &mut record) {
        Ok(applied) => {
            let checkpoint = pending.map(|id| s.commit_checkpoint(id)).transpose()?;
            Ok((applied, checkpoint))
        }
        Err(e) => {
            match (pending, &e) {
                // Partly written and not all put back: the user was told it failed, so
                // the checkpoint is the way back to how the files were; the next open
                // finishes putting them back.
                (Some(id), EditError::PartlyWritten { .. }) => {
                    let _ = s.begin_step(id, Direction::Rollback);
                }
                // Rolled back: the files are as they were.
                (Some(id), _) => {
                    let _ = s.drop_checkpoint(id);
                }
                (None, _) => {}
            }
            Err(edit_err(e))
        }
    }
}

fn checkpoint_files(applied: &flint_edit::Applied) -> Vec<CheckpointFile> {
    applied
        .files
        .iter()
        .map(|f| CheckpointFile {
            path: f.path.clone(),
            before: f.before.clone(),
            after: f.after.clone(),
            before_mode: f.before_mode,
            before_link: f.before_link.clone(),
        })
        .collect()
}

/// The write that takes a checkpoint's file from where `direction` starts to where it
/// ends: undo brings back the bytes, mode and link it had.
fn toward(f: &CheckpointFile, direction: Direction) -> Write {
    let hash = |b: &Option<Vec<u8>>| b.as_deref().map(flint_edit::content_hash);
    match direction {
        Direction::Undo | Direction::Rollback => Write {
            path: f.path.clone(),
            expected: hash(&f.after),
            content: f.before.clone(),
            mode: f.before_mode,
            link: f.before_link.clone(),
        },
        Direction::Apply | Direction::Redo => Write {
            path: f.path.clone(),
            expected: hash(&f.before),
            content: f.after.clone(),
            ..Default::default()
        },
    }
}

/// Where a file of a pending checkpoint is now: at the start of the write that was
/// under way, at its end, or neither (changed by someone else, or unreadable).
#[derive(PartialEq)]
enum Seen {
    Source,
    Target,
    Neither,
}

/// Looks at one file without trusting it: a link is compared by where it leads when a
/// link is what the write makes, its bytes are read only if it is a regular file
/// (a fifo planted at the path never blocks the open), and anything unreadable is
/// neither end.
fn seen(dir: &ProjectDir, w: &Write) -> Seen {
    let hash = |b: &[u8]| flint_edit::content_hash(b);
    let target_hash = w.content.as_deref().map(hash);
    let Ok(abs) = dir.resolve(&w.path) else {
        return Seen::Neither;
    };
    let meta = match std::fs::symlink_metadata(&abs) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return match (target_hash.is_none(), w.expected.is_none()) {
                (true, _) => Seen::Target,
                (false, true) => Seen::Source,
                (false, false) => Seen::Neither,
            };
        }
        Err(_) => return Seen::Neither,
        Ok(m) => m,
    };
    if let (Some(to), true) = (&w.link, meta.file_type().is_symlink()) {
        if std::fs::read_link(&abs).is_ok_and(|now| now.to_string_lossy() == to.as_str()) {
            return Seen::Target;
        }
    }
    const LIMIT: usize = 1 << 30;
    let now = flint_project::read_regular(&abs, LIMIT, true)
        .filter(|b| b.len() <= LIMIT)
        .map(|b| hash(&b));
    match now {
        Some(h) if w.link.is_none() && Some(&h) == target_hash.as_ref() => Seen::Target,
        Some(h) if Some(&h) == w.expected.as_ref() => Seen::Source,
        _ => Seen::Neither,
    }
}

/// Settles the checkpoints a process left pending when it stopped while writing them -
/// applying, undoing, redoing, or putting back a failed apply. With every file where
/// that was going, it is done; with every file where it started, it never happened;
/// otherwise the files still at the start are taken to the end (the user asked for it,
/// and every byte is in the store), so one undo or redo still moves all of it. A file
/// changed since by someone else is left alone (undo will name it), and a first apply
/// is then kept, never forgotten: its checkpoint holds the only way back. If finishing
/// fails, the checkpoint stays pending and the next open tries again. Returns what the
/// user should be told.
pub(crate) fn reconcile(
    s: &Store,
    project_id: i64,
    dir: &ProjectDir,
) -> Result<Vec<String>, flint_store::StoreError> {
    let mut told = Vec::new();
    // An apply takes milliseconds; one begun a minute ago is not running any more.
    for (id, direction) in s.pending_checkpoints(project_id, 60_000)? {
        let files = s.checkpoint_files(id)?;
        let writes: Vec<Write> = files.iter().map(|f| toward(f, direction)).collect();
        let now: Vec<Seen> = writes.iter().map(|w| seen(dir, w)).collect();
        let what = || {
            let summary = s.checkpoint(id).map(|c| c.summary).unwrap_or_default();
            match direction {
                Direction::Apply => format!("applying {summary}"),
                Direction::Undo => format!("undoing {summary}"),
                Direction::Redo => format!("redoing {summary}"),
                Direction::Rollback => format!("putting back {summary} after a failed apply"),
            }
        };
        let arrived = now.contains(&Seen::Target);
        let all_source = now.iter().all(|n| *n == Seen::Source);
        match direction {
            // Nothing of it was written: it never happened.
            Direction::Apply if all_source => {
                s.drop_checkpoint(id)?;
                continue;
            }
            Direction::Undo | Direction::Redo if all_source => {
                s.abandon_step(id)?;
                continue;
            }
            // Nothing of it shows, but files changed since: whether Flint wrote them
            // first cannot be told, so nothing is written and the way back is kept.
            Direction::Apply if !arrived => {
                s.commit_checkpoint(id)?;
                continue;
            }
            Direction::Undo | Direction::Redo if !arrived => {
                s.abandon_step(id)?;
                continue;
            }
            // A rollback goes on from wherever it stopped.
            _ => {}
        }
        let rest: Vec<Write> = writes
            .into_iter()
            .zip(&now)
            .filter(|(_, n)| **n == Seen::Source)
            .map(|(w, _)| w)
            .collect();
        if !rest.is_empty() {
            if let Err(e) = flint_edit::apply(dir, &rest) {
                told.push(format!(
                    "could not finish {} ({e}); Flint will try again",
                    what()
                ));
                continue;
            }
            told.push(format!("finished {}", what()));
        }
        match direction {
            Direction::Apply => {
                s.commit_checkpoint(id)?;
            }
            other => s.finish_step(id, other)?,
        }
    }
    Ok(told)
}

fn summary(files: &[CheckpointFile]) -> String {
    let names: Vec<&str> = files.iter().map(|f| f.path.as_str()).take(3).collect();
    let more = files.len().saturating_sub(3);
    if more > 0 {
        format!("{} and {more} more", names.join(", "))
    } else {
        names.join(", ")
    }
}

//! Checkpoints on disk: applying a change set with its way back written ahead, undo
//! and redo of checkpoints (never overwriting what the user changed since, written
//! ahead too), and `reconcile`, which settles what a stopped process left half-written
//! by what the files show.

use std::path::Path;

use flint_edit::{EditError, Write};
use flint_project::ProjectDir;
use flint_store::{Checkpoint, CheckpointFile, Direction, Store};

use crate::review::edit_err;
use crate::{CoreError, Engine};

impl Engine {
    /// Reverts the project's newest applied checkpoint, restoring the exact bytes.
    /// Refuses, naming the file, if anything in it changed since Flint wrote it.
    pub async fn undo(&self, project_id: i64) -> Result<Checkpoint, CoreError> {
        self.step(project_id, true).await
    }

    /// Undoes everything the session's latest turn changed - its edits and what its
    /// commands changed, each a checkpoint of its tool call - newest first, to the
    /// exact bytes. Stops at the first file the user changed since (naming it), the
    /// checkpoints after it already undone. Returns what was undone.
    pub async fn undo_turn(&self, session_id: i64) -> Result<Vec<Checkpoint>, CoreError> {
        let (project_id, first) = self
            .db(move |s| {
                let session = s.session(session_id)?;
                let items = s.items(session_id)?;
                let prompt = items
                    .iter()
                    .rev()
                    .find(|i| i.kind == flint_store::ItemKind::Prompt)
                    .map(|i| i.id);
                Ok((session.project_id, prompt))
            })
            .await?;
        let Some(first) = first else {
            return Err(CoreError::NothingTo("undo"));
        };
        let mut undone = Vec::new();
        loop {
            let ours = self
                .db(move |s| {
                    let Some(cp) = s.undo_target(project_id)? else {
                        return Ok(false);
                    };
                    let Some(item) = cp.item_id else {
                        return Ok(false);
                    };
                    Ok(item > first && s.item(item)?.session_id == session_id)
                })
                .await?;
            if !ours {
                break;
            }
            undone.push(self.undo(project_id).await?);
        }
        if undone.is_empty() {
            return Err(CoreError::NothingTo("undo"));
        }
        Ok(undone)
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
pub(crate) fn apply_recorded(
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

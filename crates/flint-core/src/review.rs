//! Review of the edits an answer proposes: what each file would become, as hunks; the
//! user's per-hunk decisions applied all-or-nothing as a checkpoint (written ahead:
//! `undo.rs`, which also holds undo and redo).

use std::path::Path;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use flint_edit::{AnswerParser, ChangeSet, Edit, EditError, Hunk, TextFile, Write};
use flint_project::ProjectDir;
use flint_store::{Checkpoint, Store};

use crate::undo::apply_recorded;
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
    pub code: crate::ErrorCode,
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

/// The edits an item proposes: those in an answer's text, or those of an edit tool
/// call (`apply_patch`, `edit_file`).
pub fn edits_of_item(item: &flint_store::Item) -> (Vec<Edit>, Vec<String>) {
    // An agent's answer (over ACP) is shown, never proposed: what it changed is its
    // `acp.changes` item's review.
    if item
        .provider
        .as_deref()
        .is_some_and(|p| p.starts_with("agent:"))
    {
        return (Vec::new(), Vec::new());
    }
    match (&item.kind, item.tool_name.as_deref()) {
        (flint_store::ItemKind::ToolCall, Some(name)) => {
            match crate::turn::agent::edits_of_call(name, &item.text) {
                Ok(edits) => (edits, Vec::new()),
                Err(e) if matches!(name, "apply_patch" | "edit_file") => (Vec::new(), vec![e]),
                Err(_) => (Vec::new(), Vec::new()),
            }
        }
        (flint_store::ItemKind::ToolCall | flint_store::ItemKind::ToolResult, _) => {
            (Vec::new(), Vec::new())
        }
        _ => edits_in(&item.text),
    }
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
            code: crate::ErrorCode::of(e.code()),
            message: e.to_string(),
            feedback: e.feedback(),
        })
        .collect();
    failures.extend(parse_errors.iter().map(|m| EditFailure {
        path: String::new(),
        code: crate::ErrorCode::InvalidPatch,
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
    if n == 0 {
        // No text hunks (binary, empty, only line endings): one decision for the file.
        return Ok(accept
            .first()
            .copied()
            .unwrap_or(true)
            .then(|| f.after.clone()));
    }
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

fn is_changes(item: &flint_store::Item) -> bool {
    item.tool_name.as_deref() == Some(crate::turn::acp::ACP_CHANGES)
}

/// The review of what an agent changed by itself (an `acp.changes` item, whose first
/// checkpoint holds each file's bytes before): every file from what it is now back to
/// those bytes, as a change set whose `before` is now and `after` the bytes before;
/// the hunks shown the other way round (before the agent to now), with the decisions
/// already recorded. Deciding keeps accepted hunks and reverts the others.
fn changes_review(
    s: &Store,
    dir: &ProjectDir,
    item_id: i64,
) -> Result<(ChangeSet, Review), CoreError> {
    changes_review_with_modes(s, dir, item_id).map(|(set, review, _)| (set, review))
}

/// What a file was before the agent, beyond its bytes: its mode and, for a link, where
/// it led (a reverted file gets them back).
type Before = std::collections::HashMap<String, (Option<u32>, Option<String>)>;

/// Files are read whole up to the snapshots' own bound, so a file over flint-edit's
/// text bound still compares by its bytes (decided whole).
const CHANGES_READ_LIMIT: usize = 16 * 1024 * 1024;

fn changes_review_with_modes(
    s: &Store,
    dir: &ProjectDir,
    item_id: i64,
) -> Result<(ChangeSet, Review, Before), CoreError> {
    let mut modes = Before::new();
    let mut set = ChangeSet::default();
    let mut review = Review {
        item_id,
        files: Vec::new(),
        failures: Vec::new(),
    };
    let Some(first) = s.item_checkpoints(item_id)?.first().copied() else {
        return Ok((set, review, modes));
    };
    let recorded = s.reviews(item_id)?;
    for f in s.checkpoint_files(first)? {
        let now = dir
            .resolve(&f.path)
            .ok()
            .and_then(|abs| flint_project::read_regular(&abs, CHANGES_READ_LIMIT, false))
            .filter(|b| b.len() <= CHANGES_READ_LIMIT);
        let status = recorded
            .iter()
            .find(|(p, _, _)| *p == f.path)
            .map(|(_, st, _)| match st.as_str() {
                "rejected" => ReviewStatus::Rejected,
                _ => ReviewStatus::Applied,
            });
        if now == f.before && status.is_none() {
            // Back as it was (undone, or changed and changed back): nothing to review.
            continue;
        }
        let (before_text, now_text) = (text_of(&f.path, &f.before), text_of(&f.path, &now));
        let mut hunks = flint_edit::hunks(&before_text, &now_text);
        highlight_hunks(&f.path, &before_text, &now_text, &mut hunks);
        review.files.push(FileReview {
            path: f.path.clone(),
            moved_from: None,
            change: match (&f.before, &now) {
                (None, _) => ChangeKind::Added,
                (_, None) => ChangeKind::Deleted,
                _ => ChangeKind::Modified,
            },
            hunks,
            base_hash: now.as_deref().map(flint_edit::content_hash),
            status: status.unwrap_or(ReviewStatus::Pending),
            detail: Some(match status {
                Some(ReviewStatus::Rejected) => "Reverted to what it was before the agent.".into(),
                Some(_) => "Kept.".into(),
                None => "Written by the agent. Untick a hunk to revert it.".into(),
            }),
        });
        modes.insert(f.path.clone(), (f.before_mode, f.before_link.clone()));
        set.files.push(flint_edit::FileChange {
            path: f.path,
            before: now,
            after: f.before,
            moved_from: None,
        });
    }
    Ok((set, review, modes))
}

/// What an apply did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ApplyOutcome {
    pub review: Review,
    pub checkpoint: Option<Checkpoint>,
}

pub(crate) fn edit_err(e: EditError) -> CoreError {
    CoreError::Edit(e)
}

impl Engine {
    fn project_dir_of_item(
        store: &Store,
        item_id: i64,
    ) -> Result<(i64, ProjectDir, flint_store::Item), CoreError> {
        let item = store.item(item_id)?;
        let session = store.session(item.session_id)?;
        let project = store.project(session.project_id)?;
        let dir = ProjectDir::open(Path::new(&project.path))?;
        Ok((project.id, dir, item))
    }

    /// The review of an answer's edits against the files as they are now, with the
    /// decisions already recorded.
    pub async fn review(&self, item_id: i64) -> Result<Review, CoreError> {
        let store = self.store_handle();
        tokio::task::spawn_blocking(move || {
            let s = store
                .lock()
                .map_err(|_| CoreError::Internal("store lock".into()))?;
            let (_, dir, item) = Self::project_dir_of_item(&s, item_id)?;
            if is_changes(&item) {
                return changes_review(&s, &dir, item_id).map(|(_, r)| r);
            }
            let (edits, errors) = edits_of_item(&item);
            let (_, mut review) = review_of(item_id, &dir, &edits, &errors);
            let recorded = s.reviews(item_id)?;
            // An edit already decided no longer plans against the file it changed (its
            // old lines are gone): that is no failure.
            review
                .failures
                .retain(|f| !recorded.iter().any(|(path, _, _)| *path == f.path));
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
            let (project_id, dir, item) = Self::project_dir_of_item(&s, item_id)?;
            let changes = is_changes(&item);
            let mut modes = Before::new();
            let (set, mut review) = if changes {
                let (set, review, m) = changes_review_with_modes(&s, &dir, item_id)?;
                modes = m;
                (set, review)
            } else {
                let (edits, errors) = edits_of_item(&item);
                review_of(item_id, &dir, &edits, &errors)
            };
            let mut writes = Vec::new();
            let mut rejected = Vec::new();
            let mut conflicted = Vec::new();
            // An agent's change kept whole (nothing written).
            let mut kept: Vec<String> = Vec::new();
            for d in &decisions {
                let Some(change) = set.files.iter().find(|f| f.path == d.path) else { continue };
                let base = change.before.as_deref().map(flint_edit::content_hash);
                if changes {
                    // Already written by the agent: `before` is the file now, `after`
                    // what it was before the agent. Kept hunks stay; the others are
                    // reverted (all of them: the bytes it had, exactly).
                    let now = change.before.as_deref().map(flint_edit::content_hash);
                    if now != d.base_hash {
                        conflicted.push(d.path.clone());
                        continue;
                    }
                    // The hunks as shown: from before the agent to now.
                    let forward = flint_edit::FileChange {
                        path: change.path.clone(),
                        before: change.after.clone(),
                        after: change.before.clone(),
                        moved_from: None,
                    };
                    match decided_bytes(&forward, &d.accept).map_err(edit_err)? {
                        None => {
                            // Back to exactly what it was: its bytes, mode and link.
                            rejected.push(d.path.clone());
                            let (mode, link) = modes.get(&d.path).cloned().unwrap_or_default();
                            writes.push(Write { path: d.path.clone(), expected: now, content: forward.before.clone(), mode, link });
                        }
                        // Every hunk kept: nothing to write.
                        Some(content) if content == forward.after => kept.push(d.path.clone()),
                        Some(content) => writes.push(Write { path: d.path.clone(), expected: now, content, ..Default::default() }),
                    }
                    continue;
                }
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
                if !rejected.contains(&f.path) {
                    s.set_review(item_id, &f.path, "applied", None)?;
                }
            }
            for p in &kept {
                s.set_review(item_id, p, "applied", None)?;
            }
            for p in &rejected {
                s.set_review(item_id, p, "rejected", None)?;
            }
            for f in review.files.iter_mut() {
                if rejected.contains(&f.path) && changes && applied.files.iter().any(|a| a.path == f.path) {
                    f.status = ReviewStatus::Rejected;
                    f.detail = Some("Reverted: the file is as it was before the agent changed it.".into());
                } else if kept.contains(&f.path) || applied.files.iter().any(|a| a.path == f.path) {
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
}

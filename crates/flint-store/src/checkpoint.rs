//! Checkpoints: each applied change set, with every file's bytes before and after, kept
//! as content-addressed blobs so undo and redo restore the exact bytes, across restarts.
//! Undo walks back from the newest applied checkpoint; redo replays the most recently
//! undone one; a new checkpoint discards what could have been redone.

use rusqlite::{params, OptionalExtension};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{now_ms, Result, Store, StoreError};

/// One file in a checkpoint. `None` is "did not exist".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointFile {
    pub path: String,
    pub before: Option<Vec<u8>>,
    pub after: Option<Vec<u8>>,
    /// The permission bits it had before (unix), when it existed.
    pub before_mode: Option<u32>,
    /// Where it led, when it was a link the checkpoint deleted.
    pub before_link: Option<String>,
}

/// Which way a checkpoint's files were being written when a process stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Being applied the first time (`begin_checkpoint`).
    Apply,
    /// Being undone (`begin_step`).
    Undo,
    /// Being redone (`begin_step`).
    Redo,
    /// A first apply that failed and could not put everything back: still to be taken
    /// back to how the files were, then forgotten (`begin_step`).
    Rollback,
}

impl Direction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Apply => "apply",
            Self::Undo => "undo",
            Self::Redo => "redo",
            Self::Rollback => "rollback",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum CheckpointState {
    Applied,
    Undone,
    /// Undone, then superseded by a newer checkpoint: no longer redoable.
    Discarded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Checkpoint {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub project_id: i64,
    #[ts(type = "number | null")]
    pub item_id: Option<i64>,
    pub summary: String,
    pub state: CheckpointState,
    pub paths: Vec<String>,
    #[ts(type = "number")]
    pub created_at: i64,
}

fn state_str(s: CheckpointState) -> &'static str {
    match s {
        CheckpointState::Applied => "applied",
        CheckpointState::Undone => "undone",
        CheckpointState::Discarded => "discarded",
    }
}

/// The hash a blob is stored under: the same SHA-256 hex flint-edit guards writes with.
pub fn blob_hash(bytes: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Store {
    /// Records an applied change set (written already; see `begin_checkpoint` for the
    /// write-ahead way).
    pub fn add_checkpoint(
        &self,
        project_id: i64,
        item_id: Option<i64>,
        summary: &str,
        files: &[CheckpointFile],
    ) -> Result<Checkpoint> {
        let id = self.begin_checkpoint(project_id, item_id, summary, files)?;
        self.commit_checkpoint(id)
    }

    /// Records a change set about to be written, with every file's bytes before and
    /// after, before anything is written: if the writing is cut short (a crash between
    /// renames), the way back is already kept. Inert until `commit_checkpoint` (neither
    /// undone nor redone); `drop_checkpoint` forgets it when nothing was written.
    pub fn begin_checkpoint(
        &self,
        project_id: i64,
        item_id: Option<i64>,
        summary: &str,
        files: &[CheckpointFile],
    ) -> Result<i64> {
        let tx = self.write_tx()?;
        tx.execute(
            "INSERT INTO checkpoints (project_id, item_id, summary, state, created_at) VALUES (?1, ?2, ?3, 'discarded', ?4)",
            params![project_id, item_id, summary, now_ms()],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO write_ahead (checkpoint_id, created_at) VALUES (?1, ?2)",
            params![id, now_ms()],
        )?;
        {
            let mut blob =
                tx.prepare_cached("INSERT OR IGNORE INTO blobs (hash, data) VALUES (?1, ?2)")?;
            let mut file = tx.prepare_cached(
                "INSERT INTO checkpoint_files (checkpoint_id, path, before_hash, after_hash, before_mode, before_link)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for f in files {
                let mut hash = |b: &Option<Vec<u8>>| -> Result<Option<String>> {
                    match b {
                        Some(bytes) => {
                            let h = blob_hash(bytes);
                            blob.execute(params![h, bytes])?;
                            Ok(Some(h))
                        }
                        None => Ok(None),
                    }
                };
                let (before, after) = (hash(&f.before)?, hash(&f.after)?);
                file.execute(params![
                    id,
                    f.path,
                    before,
                    after,
                    f.before_mode,
                    f.before_link
                ])?;
            }
        }
        tx.commit()?;
        Ok(id)
    }

    /// The files of a begun checkpoint are written: it becomes the newest applied one
    /// (and what could have been redone no longer can).
    pub fn commit_checkpoint(&self, id: i64) -> Result<Checkpoint> {
        let tx = self.write_tx()?;
        tx.execute(
            "UPDATE checkpoints SET state = 'discarded'
             WHERE project_id = (SELECT project_id FROM checkpoints WHERE id = ?1) AND state = 'undone'",
            [id],
        )?;
        tx.execute(
            "UPDATE checkpoints SET state = 'applied' WHERE id = ?1",
            [id],
        )?;
        tx.execute("DELETE FROM write_ahead WHERE checkpoint_id = ?1", [id])?;
        tx.commit()?;
        self.checkpoint(id)
    }

    /// Forgets a begun checkpoint none of whose files were written.
    pub fn drop_checkpoint(&self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM checkpoints WHERE id = ?1", [id])?;
        Ok(())
    }

    /// An undo or redo of checkpoint `id` is about to write its files: recorded first,
    /// so a process stopped between renames leaves a trace `reconcile` can settle.
    pub fn begin_step(&self, id: i64, direction: Direction) -> Result<()> {
        self.conn.execute(
            "INSERT INTO write_ahead (checkpoint_id, created_at, direction) VALUES (?1, ?2, ?3)
             ON CONFLICT(checkpoint_id) DO UPDATE SET created_at = excluded.created_at, direction = excluded.direction",
            params![id, now_ms(), direction.as_str()],
        )?;
        Ok(())
    }

    /// The undo or redo begun with `begin_step` wrote every file: the checkpoint is now
    /// undone (or applied again), in one transaction with forgetting the trace; a
    /// rollback is forgotten with its checkpoint.
    pub fn finish_step(&self, id: i64, direction: Direction) -> Result<()> {
        let state = match direction {
            Direction::Undo => CheckpointState::Undone,
            Direction::Apply | Direction::Redo => CheckpointState::Applied,
            // Taken back: nothing of it stands, nothing to redo.
            Direction::Rollback => return self.drop_checkpoint(id),
        };
        let tx = self.write_tx()?;
        tx.execute(
            "UPDATE checkpoints SET state = ?2 WHERE id = ?1",
            params![id, state_str(state)],
        )?;
        tx.execute("DELETE FROM write_ahead WHERE checkpoint_id = ?1", [id])?;
        tx.commit()?;
        Ok(())
    }

    /// The undo or redo begun with `begin_step` wrote nothing (or put everything
    /// back): the checkpoint stays as it was.
    pub fn abandon_step(&self, id: i64) -> Result<()> {
        self.conn
            .execute("DELETE FROM write_ahead WHERE checkpoint_id = ?1", [id])?;
        Ok(())
    }

    /// The project's checkpoints whose files were being written (applied, undone or
    /// redone) and not yet settled, begun more than `settled_ms` ago: left by a process
    /// that stopped while writing, for the engine to reconcile with the files. A younger
    /// one may belong to an apply still running in another process (the app and the CLI
    /// share the store): it is left to finish.
    pub fn pending_checkpoints(
        &self,
        project_id: i64,
        settled_ms: i64,
    ) -> Result<Vec<(i64, Direction)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT w.checkpoint_id, w.direction FROM write_ahead w JOIN checkpoints c ON c.id = w.checkpoint_id
             WHERE c.project_id = ?1 AND w.created_at <= ?2 ORDER BY w.checkpoint_id",
        )?;
        let rows = stmt.query_map(params![project_id, now_ms() - settled_ms], |r| {
            let direction: String = r.get(1)?;
            Ok((
                r.get(0)?,
                match direction.as_str() {
                    "undo" => Direction::Undo,
                    "redo" => Direction::Redo,
                    "rollback" => Direction::Rollback,
                    _ => Direction::Apply,
                },
            ))
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    pub fn checkpoint(&self, id: i64) -> Result<Checkpoint> {
        let (project_id, item_id, summary, state, created_at): (i64, Option<i64>, String, String, i64) = self
            .conn
            .query_row(
                "SELECT project_id, item_id, summary, state, created_at FROM checkpoints WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?
            .ok_or(StoreError::NotFound { what: "checkpoint", id })?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT path FROM checkpoint_files WHERE checkpoint_id = ?1 ORDER BY path",
        )?;
        let paths = stmt
            .query_map([id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<String>>>()?;
        Ok(Checkpoint {
            id,
            project_id,
            item_id,
            summary,
            state: match state.as_str() {
                "applied" => CheckpointState::Applied,
                "undone" => CheckpointState::Undone,
                _ => CheckpointState::Discarded,
            },
            paths,
            created_at,
        })
    }

    /// Every file of a checkpoint with its bytes before and after.
    /// The checkpoints of an item, oldest first.
    pub fn item_checkpoints(&self, item_id: i64) -> Result<Vec<i64>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id FROM checkpoints WHERE item_id = ?1 ORDER BY id")?;
        let ids = stmt
            .query_map([item_id], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<i64>>>()?;
        Ok(ids)
    }

    pub fn checkpoint_files(&self, id: i64) -> Result<Vec<CheckpointFile>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT f.path, b.data, a.data, f.before_mode, f.before_link FROM checkpoint_files f
             LEFT JOIN blobs b ON b.hash = f.before_hash
             LEFT JOIN blobs a ON a.hash = f.after_hash
             WHERE f.checkpoint_id = ?1 ORDER BY f.path",
        )?;
        let rows = stmt.query_map([id], |r| {
            Ok(CheckpointFile {
                path: r.get(0)?,
                before: r.get(1)?,
                after: r.get(2)?,
                before_mode: r.get(3)?,
                before_link: r.get(4)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The checkpoint an undo would revert: the newest still applied.
    pub fn undo_target(&self, project_id: i64) -> Result<Option<Checkpoint>> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM checkpoints WHERE project_id = ?1 AND state = 'applied' ORDER BY id DESC LIMIT 1",
                [project_id],
                |r| r.get(0),
            )
            .optional()?;
        id.map(|id| self.checkpoint(id)).transpose()
    }

    /// The checkpoint a redo would re-apply: the one undone most recently.
    pub fn redo_target(&self, project_id: i64) -> Result<Option<Checkpoint>> {
        let id: Option<i64> = self
            .conn
            .query_row(
                "SELECT id FROM checkpoints WHERE project_id = ?1 AND state = 'undone' ORDER BY id ASC LIMIT 1",
                [project_id],
                |r| r.get(0),
            )
            .optional()?;
        id.map(|id| self.checkpoint(id)).transpose()
    }

    pub fn set_checkpoint_state(&self, id: i64, state: CheckpointState) -> Result<()> {
        self.conn.execute(
            "UPDATE checkpoints SET state = ?2 WHERE id = ?1",
            params![id, state_str(state)],
        )?;
        Ok(())
    }

    /// Records the review outcome of one file of an answer's proposals.
    pub fn set_review(
        &self,
        item_id: i64,
        path: &str,
        status: &str,
        detail: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "INSERT INTO reviews (item_id, path, status, detail) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(item_id, path) DO UPDATE SET status = excluded.status, detail = excluded.detail",
            params![item_id, path, status, detail],
        )?;
        Ok(())
    }

    /// The recorded review outcomes of an answer: (path, status, detail).
    pub fn reviews(&self, item_id: i64) -> Result<Vec<(String, String, Option<String>)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT path, status, detail FROM reviews WHERE item_id = ?1 ORDER BY path",
        )?;
        let rows = stmt.query_map([item_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Command prefixes the user always allows in a project, oldest first.
    pub fn allowed_commands(&self, project_id: i64) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT prefix FROM allowed_commands WHERE project_id = ?1 ORDER BY created_at, prefix",
        )?;
        let rows = stmt.query_map([project_id], |r| r.get(0))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Always allows commands starting with `prefix` in a project (again: no change).
    pub fn allow_command(&self, project_id: i64, prefix: &str) -> Result<()> {
        self.conn.execute(
            "INSERT OR IGNORE INTO allowed_commands (project_id, prefix, created_at) VALUES (?1, ?2, ?3)",
            params![project_id, prefix, now_ms()],
        )?;
        Ok(())
    }

    /// Stops always allowing `prefix` in a project.
    pub fn forget_command(&self, project_id: i64, prefix: &str) -> Result<()> {
        self.conn.execute(
            "DELETE FROM allowed_commands WHERE project_id = ?1 AND prefix = ?2",
            params![project_id, prefix],
        )?;
        Ok(())
    }

    pub fn project(&self, id: i64) -> Result<crate::Project> {
        self.conn
            .query_row(
                "SELECT id, path, name, opened_at FROM projects WHERE id = ?1",
                [id],
                crate::project_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "project",
                id,
            })
    }
}

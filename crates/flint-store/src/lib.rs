//! Flint's history, kept in one SQLite file: the projects the user opened, their
//! sessions, and every item said in them. Streaming answers are written as they grow,
//! so a crash loses at most the last write interval; items that were still streaming
//! when the process died are marked interrupted on the next open.
//!
//! The store is synchronous (rusqlite); async callers run it on a blocking thread.

mod checkpoint;
pub mod history;
mod items;
mod schema;
pub mod snapshot;

pub use checkpoint::{blob_hash, Checkpoint, CheckpointFile, CheckpointState, Direction};
pub use snapshot::{Snapshot, Snapshots, MAX_SNAPSHOT_FILE};

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the history database failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the history database could not be upgraded: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("cannot create the data directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no {what} with id {id}")]
    NotFound { what: &'static str, id: i64 },
    #[error("the project's snapshot failed: {0}")]
    Snapshot(String),
    #[error("the snapshot store could not be written: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotFound { .. } => "not_found",
            _ => "store",
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Project {
    #[ts(type = "number")]
    pub id: i64,
    pub path: String,
    pub name: String,
    #[ts(type = "number")]
    pub opened_at: i64,
}

/// Which of a session's two models it talks to: the fast one (the default), or the
/// deep one it was escalated to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum ModelSlot {
    Fast,
    Deep,
}

impl ModelSlot {
    fn as_str(self) -> &'static str {
        match self {
            Self::Fast => "fast",
            Self::Deep => "deep",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Session {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub project_id: i64,
    pub title: String,
    pub slot: ModelSlot,
    /// The agent the session talks to over ACP (`codex`, `claude`, `gemini`, or a
    /// command line), instead of its model slot.
    pub agent: Option<String>,
    #[ts(type = "number")]
    pub created_at: i64,
    #[ts(type = "number")]
    pub updated_at: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum ItemRole {
    User,
    Assistant,
    /// What Flint ran for the model (a tool result): sent back as the tool's answer.
    Tool,
}

/// What an item is. A turn is a prompt, then what the model made of it: an answer,
/// tool calls and their results, more answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ItemKind {
    Prompt,
    Answer,
    /// A call the model made: `text` is its input, `tool_name` and `call_id` name it.
    ToolCall,
    /// What running a call gave: `text` is its output, `call_id` names the call.
    ToolResult,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Prompt => "prompt",
            Self::Answer => "answer",
            Self::ToolCall => "tool_call",
            Self::ToolResult => "tool_result",
        }
    }

    /// Who it comes from, as the conversation sent to a model has it.
    pub fn role(self) -> ItemRole {
        match self {
            Self::Prompt => ItemRole::User,
            Self::Answer | Self::ToolCall => ItemRole::Assistant,
            Self::ToolResult => ItemRole::Tool,
        }
    }
}

/// Where an item is in its life. Only assistant items are ever anything but `Complete`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum ItemStatus {
    Streaming,
    Complete,
    /// Stopped by the user; the text is what arrived.
    Cancelled,
    /// The provider failed mid-answer; the text is what arrived.
    Failed,
    /// The process ended while it streamed (crash, kill); found on the next open.
    Interrupted,
    /// The provider cut the answer off at its length limit (`length`, `max_tokens`,
    /// an incomplete response): the text is what it sent.
    Truncated,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Item {
    #[ts(type = "number")]
    pub id: i64,
    #[ts(type = "number")]
    pub session_id: i64,
    pub kind: ItemKind,
    pub role: ItemRole,
    pub text: String,
    pub status: ItemStatus,
    pub model: Option<String>,
    pub provider: Option<String>,
    /// The error shown to the user when the item failed.
    pub error: Option<String>,
    /// Measured while an answer streamed.
    pub metrics: Option<Metrics>,
    /// The model's reasoning summary, where the provider sent one.
    pub reasoning: Option<String>,
    /// Tool calls recorded with an answer before calls became items of their own, as
    /// JSON (`[{"id","name","arguments"}]`); new answers leave it empty.
    pub tool_calls: Option<String>,
    /// The call a tool-call or tool-result item belongs to.
    pub call_id: Option<String>,
    /// The tool a tool-call item calls.
    pub tool_name: Option<String>,
    #[ts(type = "number")]
    pub created_at: i64,
}

/// How an answer streamed, measured on Flint's side of the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Metrics {
    /// From sending the request to the first text arriving.
    pub ttft_ms: Option<f64>,
    /// Output tokens per second after the first token (provider-reported count when
    /// known, else an estimate of 4 bytes a token).
    pub tokens_per_sec: Option<f64>,
    #[ts(type = "number | null")]
    pub input_tokens: Option<u64>,
    #[ts(type = "number | null")]
    pub output_tokens: Option<u64>,
}

pub struct Store {
    pub(crate) conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path`, upgrades its schema, and marks
    /// items a previous process left streaming as interrupted.
    pub fn open(path: &Path) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Dir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        private(path);
        let mut conn = Connection::open(path)?;
        schema::prepare(&mut conn)?;
        let store = Self {
            conn,
            path: path.to_path_buf(),
        };
        store.recover_interrupted()?;
        Ok(store)
    }

    /// The default database: `flint.db` in the given data directory.
    /// (Whole conversations and the files attached to them live here: see `private`.)
    pub fn open_in(data_dir: &Path) -> Result<Self> {
        Self::open(&data_dir.join("flint.db"))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A write transaction that takes the write lock at once (`BEGIN IMMEDIATE`). A
    /// deferred one that reads first and writes later cannot wait for another writer:
    /// SQLite fails it with "database is locked" instead of using the busy timeout.
    pub(crate) fn write_tx(&self) -> rusqlite::Result<rusqlite::Transaction<'_>> {
        rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
    }

    fn recover_interrupted(&self) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE items SET status = 'interrupted' WHERE status = 'streaming'",
            [],
        )?)
    }

    /// Records that the project at `path` was opened now, creating it on first open.
    pub fn touch_project(&self, path: &str, name: &str) -> Result<Project> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO projects (path, name, opened_at) VALUES (?1, ?2, ?3)
             ON CONFLICT(path) DO UPDATE SET name = excluded.name, opened_at = excluded.opened_at",
            params![path, name, now],
        )?;
        Ok(self.conn.query_row(
            "SELECT id, path, name, opened_at FROM projects WHERE path = ?1",
            [path],
            project_row,
        )?)
    }

    /// Projects by when they were last opened, newest first.
    pub fn recent_projects(&self, limit: usize) -> Result<Vec<Project>> {
        let mut stmt = self.conn.prepare(
            "SELECT id, path, name, opened_at FROM projects ORDER BY opened_at DESC, id DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit as i64], project_row)?;
        Ok(rows.collect::<std::result::Result<_, _>>()?)
    }

    /// The most recently opened project.
    pub fn last_project(&self) -> Result<Option<Project>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, path, name, opened_at FROM projects ORDER BY opened_at DESC, id DESC LIMIT 1",
                [],
                project_row,
            )
            .optional()?)
    }

    pub fn create_session(&self, project_id: i64, title: &str) -> Result<Session> {
        let now = now_ms();
        self.conn.execute(
            "INSERT INTO sessions (project_id, title, created_at, updated_at) VALUES (?1, ?2, ?3, ?3)",
            params![project_id, title, now],
        )?;
        self.session(self.conn.last_insert_rowid())
    }

    pub fn session(&self, id: i64) -> Result<Session> {
        self.conn
            .query_row(
                "SELECT id, project_id, title, created_at, updated_at, slot, agent FROM sessions WHERE id = ?1",
                [id],
                session_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound {
                what: "session",
                id,
            })
    }

    /// The project's most recently active session.
    pub fn latest_session(&self, project_id: i64) -> Result<Option<Session>> {
        Ok(self
            .conn
            .query_row(
                "SELECT id, project_id, title, created_at, updated_at, slot, agent FROM sessions
                 WHERE project_id = ?1 ORDER BY updated_at DESC, id DESC LIMIT 1",
                [project_id],
                session_row,
            )
            .optional()?)
    }

    pub fn set_session_title(&self, id: i64, title: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE sessions SET title = ?2 WHERE id = ?1",
            params![id, title],
        )?;
        Ok(())
    }

    /// Makes the session talk to an agent (or, with none, to its model again). The
    /// agent's own session id is forgotten: a new agent starts fresh.
    pub fn set_session_agent(&self, id: i64, agent: Option<&str>) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE sessions SET agent = ?2, agent_session = NULL WHERE id = ?1",
            params![id, agent],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "session",
                id,
            });
        }
        Ok(())
    }

    /// The agent's own id for the session (to load it again), once it has one.
    pub fn set_agent_session(&self, id: i64, agent_session: Option<&str>) -> Result<()> {
        self.conn.execute(
            "UPDATE sessions SET agent_session = ?2 WHERE id = ?1",
            params![id, agent_session],
        )?;
        Ok(())
    }

    pub fn agent_session(&self, id: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT agent_session FROM sessions WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .optional()?
            .flatten())
    }

    /// Moves a session to its fast or deep model.
    pub fn set_session_slot(&self, id: i64, slot: ModelSlot) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE sessions SET slot = ?2 WHERE id = ?1",
            params![id, slot.as_str()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "session",
                id,
            });
        }
        Ok(())
    }

    /// Checks the file's integrity (`PRAGMA integrity_check`); `Ok(())` when sound.
    pub fn integrity_check(&self) -> Result<std::result::Result<(), String>> {
        let verdict: String = self
            .conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        Ok(if verdict == "ok" {
            Ok(())
        } else {
            Err(verdict)
        })
    }
}

pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as i64
}

pub(crate) fn project_row(r: &Row<'_>) -> rusqlite::Result<Project> {
    Ok(Project {
        id: r.get(0)?,
        path: r.get(1)?,
        name: r.get(2)?,
        opened_at: r.get(3)?,
    })
}

pub(crate) fn session_row(r: &Row<'_>) -> rusqlite::Result<Session> {
    Ok(Session {
        id: r.get(0)?,
        project_id: r.get(1)?,
        title: r.get(2)?,
        created_at: r.get(3)?,
        updated_at: r.get(4)?,
        slot: if r.get::<_, String>(5)? == "deep" {
            ModelSlot::Deep
        } else {
            ModelSlot::Fast
        },
        agent: r.get("agent")?,
    })
}

/// Makes the database and its folder the user's alone (0600, 0700 on Unix): they hold
/// whole conversations and the files attached to them. A new database is created with
/// that mode, so there is no moment another user could open it; SQLite gives its WAL
/// and shared-memory files the database's mode. Best effort: a folder the user chose
/// and cannot chmod is left as it is.
fn private(db: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        if let Some(dir) = db.parent() {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
        let _ = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o600)
            .open(db);
        for f in [
            db.to_path_buf(),
            db.with_extension("db-wal"),
            db.with_extension("db-shm"),
        ] {
            if f.exists() {
                let _ = std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600));
            }
        }
    }
    #[cfg(not(unix))]
    let _ = db; // Windows: the profile's folders are the user's already.
}

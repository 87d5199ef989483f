//! Flint's history, kept in one SQLite file: the projects the user opened, their
//! sessions, and every item said in them. Streaming answers are written as they grow,
//! so a crash loses at most the last write interval; items that were still streaming
//! when the process died are marked interrupted on the next open.
//!
//! The store is synchronous (rusqlite); async callers run it on a blocking thread.

mod checkpoint;
pub mod history;
mod schema;

pub use checkpoint::{blob_hash, Checkpoint, CheckpointFile, CheckpointState, Direction};

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
                "SELECT id, project_id, title, created_at, updated_at, slot FROM sessions WHERE id = ?1",
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
                "SELECT id, project_id, title, created_at, updated_at, slot FROM sessions
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

    /// Adds an item to a session and marks the session active.
    pub fn add_item(
        &self,
        session_id: i64,
        role: ItemRole,
        text: &str,
        status: ItemStatus,
        model: Option<&str>,
    ) -> Result<Item> {
        self.add_item_from(session_id, role, text, status, model, None)
    }

    /// Like `add_item`, naming the provider that serves `model`.
    pub fn add_item_from(
        &self,
        session_id: i64,
        role: ItemRole,
        text: &str,
        status: ItemStatus,
        model: Option<&str>,
        provider: Option<&str>,
    ) -> Result<Item> {
        let kind = match role {
            ItemRole::User => ItemKind::Prompt,
            ItemRole::Assistant => ItemKind::Answer,
            ItemRole::Tool => ItemKind::ToolResult,
        };
        self.insert_item(session_id, kind, text, status, model, provider, None)
    }

    /// Adds a tool call (`text`: its input) or a tool result (`text`: its output) to a
    /// session, naming its call (and, for a call, the tool).
    pub fn add_tool_item(
        &self,
        session_id: i64,
        kind: ItemKind,
        call_id: &str,
        tool_name: Option<&str>,
        text: &str,
        status: ItemStatus,
    ) -> Result<Item> {
        self.insert_item(
            session_id,
            kind,
            text,
            status,
            None,
            None,
            Some((call_id, tool_name)),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_item(
        &self,
        session_id: i64,
        kind: ItemKind,
        text: &str,
        status: ItemStatus,
        model: Option<&str>,
        provider: Option<&str>,
        call: Option<(&str, Option<&str>)>,
    ) -> Result<Item> {
        let now = now_ms();
        let (call_id, tool_name) = call.map_or((None, None), |(c, t)| (Some(c), t));
        let tx = self.write_tx()?;
        tx.execute(
            "INSERT INTO items (session_id, kind, role, text, status, model, provider, created_at, updated_at, call_id, tool_name)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?9, ?10)",
            params![
                session_id,
                kind.as_str(),
                role_str(kind.role()),
                text,
                status_str(status),
                model,
                provider,
                now,
                call_id,
                tool_name
            ],
        )?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE sessions SET updated_at = ?2 WHERE id = ?1",
            params![session_id, now],
        )?;
        tx.commit()?;
        self.item(id)
    }

    /// Rewrites an item's text and status: called as an answer grows and when it ends.
    pub fn update_item(
        &self,
        id: i64,
        text: &str,
        status: ItemStatus,
        error: Option<&str>,
    ) -> Result<()> {
        let n = self.conn.execute(
            "UPDATE items SET text = ?2, status = ?3, error = ?4, updated_at = ?5 WHERE id = ?1",
            params![id, text, status_str(status), error, now_ms()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound { what: "item", id });
        }
        Ok(())
    }

    /// Records how an answer streamed.
    pub fn set_metrics(&self, id: i64, m: &Metrics) -> Result<()> {
        self.conn.execute(
            "UPDATE items SET ttft_ms = ?2, tokens_per_sec = ?3, input_tokens = ?4, output_tokens = ?5
             WHERE id = ?1",
            params![
                id,
                m.ttft_ms,
                m.tokens_per_sec,
                m.input_tokens.map(|n| n as i64),
                m.output_tokens.map(|n| n as i64)
            ],
        )?;
        Ok(())
    }

    /// Keeps an answer's reasoning summary and tool calls (JSON) with it.
    pub fn set_extras(
        &self,
        id: i64,
        reasoning: Option<&str>,
        tool_calls: Option<&str>,
    ) -> Result<()> {
        self.conn.execute(
            "UPDATE items SET reasoning = ?2, tool_calls = ?3 WHERE id = ?1",
            params![id, reasoning, tool_calls],
        )?;
        Ok(())
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

    pub fn item(&self, id: i64) -> Result<Item> {
        self.conn
            .query_row(
                &format!("SELECT {ITEM_COLUMNS} FROM items WHERE id = ?1"),
                [id],
                item_row,
            )
            .optional()?
            .ok_or(StoreError::NotFound { what: "item", id })
    }

    /// A session's items in the order they were said.
    pub fn items(&self, session_id: i64) -> Result<Vec<Item>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {ITEM_COLUMNS} FROM items WHERE session_id = ?1 ORDER BY id"
        ))?;
        let rows = stmt.query_map([session_id], item_row)?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
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

fn role_str(r: ItemRole) -> &'static str {
    match r {
        ItemRole::User => "user",
        ItemRole::Assistant => "assistant",
        ItemRole::Tool => "tool",
    }
}

pub(crate) fn role_from(s: &str) -> ItemRole {
    match s {
        "user" => ItemRole::User,
        "tool" => ItemRole::Tool,
        _ => ItemRole::Assistant,
    }
}

fn status_str(s: ItemStatus) -> &'static str {
    match s {
        ItemStatus::Streaming => "streaming",
        ItemStatus::Complete => "complete",
        ItemStatus::Cancelled => "cancelled",
        ItemStatus::Failed => "failed",
        ItemStatus::Interrupted => "interrupted",
        ItemStatus::Truncated => "truncated",
    }
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
    })
}

const ITEM_COLUMNS: &str = "id, session_id, role, text, status, model, error, created_at, \
    provider, ttft_ms, tokens_per_sec, input_tokens, output_tokens, reasoning, tool_calls, \
    kind, call_id, tool_name";

fn item_row(r: &Row<'_>) -> rusqlite::Result<Item> {
    let role = role_from(&r.get::<_, String>(2)?);
    let status: String = r.get(4)?;
    let kind: String = r.get(15)?;
    Ok(Item {
        id: r.get(0)?,
        session_id: r.get(1)?,
        kind: match kind.as_str() {
            "prompt" => ItemKind::Prompt,
            "tool_call" => ItemKind::ToolCall,
            "tool_result" => ItemKind::ToolResult,
            "answer" => ItemKind::Answer,
            // A kind this version does not know, read as what its role says.
            _ => match role {
                ItemRole::User => ItemKind::Prompt,
                ItemRole::Tool => ItemKind::ToolResult,
                ItemRole::Assistant => ItemKind::Answer,
            },
        },
        role,
        text: r.get(3)?,
        status: match status.as_str() {
            "streaming" => ItemStatus::Streaming,
            "complete" => ItemStatus::Complete,
            "cancelled" => ItemStatus::Cancelled,
            "failed" => ItemStatus::Failed,
            "truncated" => ItemStatus::Truncated,
            _ => ItemStatus::Interrupted,
        },
        model: r.get(5)?,
        error: r.get(6)?,
        created_at: r.get(7)?,
        provider: r.get(8)?,
        metrics: {
            let m = Metrics {
                ttft_ms: r.get(9)?,
                tokens_per_sec: r.get(10)?,
                input_tokens: r.get::<_, Option<i64>>(11)?.map(|n| n.max(0) as u64),
                output_tokens: r.get::<_, Option<i64>>(12)?.map(|n| n.max(0) as u64),
            };
            (m != Metrics::default()).then_some(m)
        },
        reasoning: r.get(13)?,
        tool_calls: r.get(14)?,
        call_id: r.get(16)?,
        tool_name: r.get(17)?,
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

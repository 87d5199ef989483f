//! Items: what a session holds, in order - prompts, answers, tool calls and their
//! results - added, grown while an answer streams, and read back.

use rusqlite::{params, OptionalExtension, Row};

use crate::{now_ms, Item, ItemKind, ItemRole, ItemStatus, Metrics, Result, Store, StoreError};

impl Store {
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

    /// Adds what running a call gave (`output`), marked failed when `failed`.
    pub fn add_tool_result(
        &self,
        session_id: i64,
        call_id: &str,
        output: &str,
        failed: bool,
    ) -> Result<Item> {
        let item = self.add_tool_item(
            session_id,
            ItemKind::ToolResult,
            call_id,
            None,
            output,
            ItemStatus::Complete,
        )?;
        if failed {
            self.update_item(
                item.id,
                output,
                ItemStatus::Complete,
                Some("the call failed"),
            )?;
            return self.item(item.id);
        }
        Ok(item)
    }

    /// Removes an item nothing refers to yet (one just added that was not needed).
    pub fn delete_item(&self, id: i64) -> Result<()> {
        self.conn.execute("DELETE FROM items WHERE id = ?1", [id])?;
        Ok(())
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

pub(crate) fn status_str(s: ItemStatus) -> &'static str {
    match s {
        ItemStatus::Streaming => "streaming",
        ItemStatus::Complete => "complete",
        ItemStatus::Cancelled => "cancelled",
        ItemStatus::Failed => "failed",
        ItemStatus::Interrupted => "interrupted",
        ItemStatus::Truncated => "truncated",
    }
}

pub(crate) const ITEM_COLUMNS: &str =
    "id, session_id, role, text, status, model, error, created_at, \
    provider, ttft_ms, tokens_per_sec, input_tokens, output_tokens, reasoning, tool_calls, \
    kind, call_id, tool_name";

pub(crate) fn item_row(r: &Row<'_>) -> rusqlite::Result<Item> {
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

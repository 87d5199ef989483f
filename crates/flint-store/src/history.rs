//! Finding and managing past sessions: lists newest first, full-text search (FTS5)
//! with highlighted snippets and filters, fork, delete, export.
//!
//! Search orders by recency and stops at a cap, so a common word costs no more than a
//! rare one: FTS5 walks its index in rowid order (items are numbered as they are said),
//! and `LIMIT` ends the walk early.

use rusqlite::{params, params_from_iter, OptionalExtension, ToSql};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::{Item, ItemRole, Result, Session, Store, StoreError};

/// A session as the sessions view lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SessionSummary {
    pub session: Session,
    pub project_name: String,
    pub project_path: String,
    /// The model of the latest answer.
    pub model: Option<String>,
    #[ts(type = "number")]
    pub items: i64,
}

/// A piece of a snippet; `hit` pieces are the matched words.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SnippetPart {
    pub text: String,
    pub hit: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SearchHit {
    #[ts(type = "number")]
    pub item_id: i64,
    pub session: Session,
    pub project_name: String,
    pub role: ItemRole,
    pub model: Option<String>,
    #[ts(type = "number")]
    pub created_at: i64,
    pub snippet: Vec<SnippetPart>,
}

/// What to search within.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SearchFilter {
    #[ts(type = "number | null")]
    pub project_id: Option<i64>,
    /// Unix milliseconds, inclusive.
    #[ts(type = "number | null")]
    pub from: Option<i64>,
    #[ts(type = "number | null")]
    pub to: Option<i64>,
    pub model: Option<String>,
}

/// Turns what a person types into an FTS5 query: words must all appear, `"a b"` is a
/// phrase, `word*` a prefix; anything else is quoted, so no input is a syntax error.
pub fn fts_query(input: &str) -> Option<String> {
    let mut terms = Vec::new();
    let mut rest = input.trim();
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('"') {
            let (phrase, tail) = after.split_once('"').unwrap_or((after, ""));
            if !phrase.trim().is_empty() {
                terms.push(format!("\"{}\"", phrase.replace('"', "")));
            }
            rest = tail.trim_start();
            continue;
        }
        let (word, tail) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        let prefix = word.ends_with('*');
        let bare: String = word.trim_end_matches('*').replace('"', "");
        if !bare.is_empty() {
            terms.push(format!("\"{bare}\"{}", if prefix { "*" } else { "" }));
        }
        rest = tail.trim_start();
    }
    (!terms.is_empty()).then(|| terms.join(" "))
}

fn parts(snippet: &str) -> Vec<SnippetPart> {
    let mut out = Vec::new();
    let mut hit = false;
    let mut buf = String::new();
    for c in snippet.chars() {
        match c {
            '\u{2}' | '\u{3}' => {
                if !buf.is_empty() {
                    out.push(SnippetPart {
                        text: std::mem::take(&mut buf),
                        hit,
                    });
                }
                hit = c == '\u{2}';
            }
            c => buf.push(c),
        }
    }
    if !buf.is_empty() {
        out.push(SnippetPart { text: buf, hit });
    }
    out
}

impl Store {
    /// Sessions newest first, of one project or all.
    pub fn list_sessions(
        &self,
        project_id: Option<i64>,
        limit: u32,
    ) -> Result<Vec<SessionSummary>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.id, s.project_id, s.title, s.created_at, s.updated_at, s.slot,
                    p.name, p.path,
                    (SELECT model FROM items WHERE session_id = s.id AND kind = 'answer' ORDER BY id DESC LIMIT 1),
                    (SELECT count(*) FROM items WHERE session_id = s.id), s.agent
             FROM sessions s JOIN projects p ON p.id = s.project_id
             WHERE (?1 IS NULL OR s.project_id = ?1)
             ORDER BY s.updated_at DESC, s.id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![project_id, limit], |r| {
            Ok(SessionSummary {
                session: crate::session_row(r)?,
                project_name: r.get(6)?,
                project_path: r.get(7)?,
                model: r.get(8)?,
                items: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Items matching `query`, newest first, at most `limit`.
    pub fn search(&self, query: &str, filter: &SearchFilter, limit: u32) -> Result<Vec<SearchHit>> {
        let Some(q) = fts_query(query) else {
            return Ok(Vec::new());
        };
        let mut sql = String::from(
            "SELECT i.id, i.role, i.model, i.created_at,
                    snippet(items_fts, 0, char(2), char(3), '…', 16),
                    s.id, s.project_id, s.title, s.created_at, s.updated_at, s.slot, p.name, s.agent
             FROM items_fts
             JOIN items i ON i.id = items_fts.rowid
             JOIN sessions s ON s.id = i.session_id
             JOIN projects p ON p.id = s.project_id
             WHERE items_fts MATCH ?1",
        );
        let mut args: Vec<Box<dyn ToSql>> = vec![Box::new(q)];
        if let Some(p) = filter.project_id {
            args.push(Box::new(p));
            sql.push_str(&format!(" AND s.project_id = ?{}", args.len()));
        }
        if let Some(from) = filter.from {
            args.push(Box::new(from));
            sql.push_str(&format!(" AND i.created_at >= ?{}", args.len()));
        }
        if let Some(to) = filter.to {
            args.push(Box::new(to));
            sql.push_str(&format!(" AND i.created_at <= ?{}", args.len()));
        }
        if let Some(m) = &filter.model {
            args.push(Box::new(m.clone()));
            sql.push_str(&format!(" AND i.model = ?{}", args.len()));
        }
        args.push(Box::new(limit));
        sql.push_str(&format!(
            " ORDER BY items_fts.rowid DESC LIMIT ?{}",
            args.len()
        ));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(params_from_iter(args.iter().map(|a| a.as_ref())), |r| {
            let role: String = r.get(1)?;
            let snippet: String = r.get(4)?;
            Ok(SearchHit {
                item_id: r.get(0)?,
                role: crate::items::role_from(&role),
                model: r.get(2)?,
                created_at: r.get(3)?,
                snippet: parts(&snippet),
                session: Session {
                    id: r.get(5)?,
                    project_id: r.get(6)?,
                    title: r.get(7)?,
                    created_at: r.get(8)?,
                    updated_at: r.get(9)?,
                    slot: if r.get::<_, String>(10)? == "deep" {
                        crate::ModelSlot::Deep
                    } else {
                        crate::ModelSlot::Fast
                    },
                    agent: r.get(12)?,
                },
                project_name: r.get(11)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// A new session holding the history of `session_id` up to and including `item_id`.
    pub fn fork_session(&self, session_id: i64, item_id: i64) -> Result<Session> {
        let source = self.session(session_id)?;
        let tx = self.write_tx()?;
        let now = crate::now_ms();
        let title = format!("{} (fork)", source.title);
        tx.execute(
            "INSERT INTO sessions (project_id, title, created_at, updated_at, slot, agent, parent_session_id, parent_item_id)
             VALUES (?1, ?2, ?3, ?3, (SELECT slot FROM sessions WHERE id = ?4), (SELECT agent FROM sessions WHERE id = ?4), ?4, ?5)",
            params![source.project_id, title, now, session_id, item_id],
        )?;
        let id = tx.last_insert_rowid();
        let copied = tx.execute(
            "INSERT INTO items (session_id, kind, role, text, status, model, error, created_at, updated_at,
                                provider, ttft_ms, tokens_per_sec, input_tokens, output_tokens, reasoning, tool_calls,
                                call_id, tool_name)
             SELECT ?1, kind, role, text, CASE status WHEN 'streaming' THEN 'interrupted' ELSE status END,
                    model, error, created_at, updated_at, provider, ttft_ms, tokens_per_sec, input_tokens,
                    output_tokens, reasoning, tool_calls, call_id, tool_name
             FROM items WHERE session_id = ?2 AND id <= ?3 ORDER BY id",
            params![id, session_id, item_id],
        )?;
        if copied == 0 {
            return Err(StoreError::NotFound {
                what: "item",
                id: item_id,
            });
        }
        tx.commit()?;
        self.session(id)
    }

    /// Deletes a session and everything said in it.
    pub fn delete_session(&self, id: i64) -> Result<()> {
        let n = self
            .conn
            .execute("DELETE FROM sessions WHERE id = ?1", [id])?;
        if n == 0 {
            return Err(StoreError::NotFound {
                what: "session",
                id,
            });
        }
        Ok(())
    }

    /// A session with its items, for export.
    pub fn session_with_items(&self, id: i64) -> Result<(Session, Vec<Item>)> {
        Ok((self.session(id)?, self.items(id)?))
    }

    /// The project of a session, by name (for export headers).
    pub fn project_name_of(&self, session_id: i64) -> Result<Option<String>> {
        Ok(self
            .conn
            .query_row(
                "SELECT p.name FROM sessions s JOIN projects p ON p.id = s.project_id WHERE s.id = ?1",
                [session_id],
                |r| r.get(0),
            )
            .optional()?)
    }
}

/// A session as Markdown: a heading, then each item under who said it.
pub fn to_markdown(session: &Session, project: &str, items: &[Item]) -> String {
    let mut out = format!(
        "# {}\n\nProject: {project} · session {}\n",
        if session.title.is_empty() {
            "Untitled session"
        } else {
            &session.title
        },
        session.id
    );
    for i in items {
        let fence = |text: &str| {
            // A fence longer than any run of backticks inside, so the text cannot end it.
            let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
            "`".repeat(longest.max(2) + 1)
        };
        match i.kind {
            crate::ItemKind::ToolCall | crate::ItemKind::ToolResult => {
                let what = match (&i.kind, &i.tool_name) {
                    (crate::ItemKind::ToolCall, Some(name)) => format!("Tool call: {name}"),
                    (crate::ItemKind::ToolCall, None) => "Tool call".to_string(),
                    _ => "Tool result".to_string(),
                };
                let f = fence(&i.text);
                out.push_str(&format!("\n### {what}\n\n{f}\n{}\n{f}\n", i.text));
                continue;
            }
            crate::ItemKind::Prompt | crate::ItemKind::Answer => {}
        }
        let who = match i.role {
            ItemRole::User => "You".to_string(),
            ItemRole::Assistant | ItemRole::Tool => {
                i.model.clone().unwrap_or_else(|| "Assistant".into())
            }
        };
        out.push_str(&format!("\n## {who}\n\n{}\n", i.text));
        if !matches!(i.status, crate::ItemStatus::Complete) {
            out.push_str(&format!("\n*({:?})*\n", i.status).to_lowercase());
        }
    }
    out
}

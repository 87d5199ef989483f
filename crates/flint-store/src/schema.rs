//! The schema and its migrations. Each entry is one version, applied in order and never
//! edited once released; `user_version` records where a database stands.

use rusqlite::Connection;
use rusqlite_migration::{Migrations, M};

use crate::Result;

pub(crate) const MIGRATIONS: &[M<'static>] = &[
    // 1: projects, sessions, items
    M::up(
        "CREATE TABLE projects (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        opened_at INTEGER NOT NULL
    );
    CREATE TABLE sessions (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        title TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX sessions_by_project ON sessions(project_id, updated_at);
    CREATE TABLE items (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        model TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL
    );
    CREATE INDEX items_by_session ON items(session_id, id);",
    ),
    // 2: per-item metrics and provider; the model slot a session is on
    M::up(
        "ALTER TABLE items ADD COLUMN provider TEXT;
    ALTER TABLE items ADD COLUMN ttft_ms REAL;
    ALTER TABLE items ADD COLUMN tokens_per_sec REAL;
    ALTER TABLE items ADD COLUMN input_tokens INTEGER;
    ALTER TABLE items ADD COLUMN output_tokens INTEGER;
    ALTER TABLE sessions ADD COLUMN slot TEXT NOT NULL DEFAULT 'fast';",
    ),
    // 3: checkpoints of applied edits (content-addressed blobs), review decisions
    M::up(
        "CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        data BLOB NOT NULL
    );
    CREATE TABLE checkpoints (
        id INTEGER PRIMARY KEY,
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        item_id INTEGER REFERENCES items(id) ON DELETE SET NULL,
        summary TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'applied' CHECK (state IN ('applied', 'undone', 'discarded')),
        created_at INTEGER NOT NULL
    );
    CREATE INDEX checkpoints_by_project ON checkpoints(project_id, state, id);
    CREATE TABLE checkpoint_files (
        checkpoint_id INTEGER NOT NULL REFERENCES checkpoints(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        before_hash TEXT REFERENCES blobs(hash),
        after_hash TEXT REFERENCES blobs(hash),
        PRIMARY KEY (checkpoint_id, path)
    );
    CREATE TABLE reviews (
        item_id INTEGER NOT NULL REFERENCES items(id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        status TEXT NOT NULL,
        detail TEXT,
        PRIMARY KEY (item_id, path)
    );",
    ),
    // 4: full-text search over everything said; forks
    M::up(
        "CREATE VIRTUAL TABLE items_fts USING fts5(
        text, content='items', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
    );
    INSERT INTO items_fts(items_fts) VALUES ('rebuild');
    CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER items_fts_update AFTER UPDATE OF text ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO items_fts(rowid, text) VALUES (new.id, new.text);
    END;
    ALTER TABLE sessions ADD COLUMN parent_session_id INTEGER REFERENCES sessions(id) ON DELETE SET NULL;
    ALTER TABLE sessions ADD COLUMN parent_item_id INTEGER;
    CREATE INDEX items_by_created ON items(created_at);",
    ),
    // 5: an answer's reasoning summary and tool calls, kept with it
    M::up(
        "ALTER TABLE items ADD COLUMN reasoning TEXT;
    ALTER TABLE items ADD COLUMN tool_calls TEXT;",
    ),
    // 6: write-ahead checkpoints: a checkpoint is recorded before its files are written
    // and stays inert (state 'discarded', a row here) until they are; one left here by a
    // crash is reconciled with the files on the next open.
    M::up(
        "CREATE TABLE write_ahead (
        checkpoint_id INTEGER PRIMARY KEY REFERENCES checkpoints(id) ON DELETE CASCADE,
        created_at INTEGER NOT NULL
    );",
    ),
    // 7: a deleted file comes back with its mode and as the link it was; undo and redo
    // are written ahead too (a pending row says which way the files were going; a
    // failed apply that could not put everything back is a rollback still to finish).
    M::up(
        "ALTER TABLE checkpoint_files ADD COLUMN before_mode INTEGER;
    ALTER TABLE checkpoint_files ADD COLUMN before_link TEXT;
    ALTER TABLE write_ahead ADD COLUMN direction TEXT NOT NULL DEFAULT 'apply'
        CHECK (direction IN ('apply', 'undo', 'redo', 'rollback'));",
    ),
    // 8: items of several kinds - a prompt, an answer, a tool call, a tool result, and
    // room for more (no CHECK on the role or the kind: a new kind needs no rebuild; an
    // empty kind, what a Flint still running from before writes, is read by its role).
    // SQLite cannot drop a CHECK, so the table is rebuilt (ids kept, so the
    // full-text index, checkpoints and reviews still point at the same items; foreign
    // keys are off while migrating and checked before it commits).
    M::up(
        "CREATE TABLE items_v8 (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
        kind TEXT NOT NULL DEFAULT '',
        role TEXT NOT NULL,
        text TEXT NOT NULL,
        status TEXT NOT NULL,
        model TEXT,
        error TEXT,
        created_at INTEGER NOT NULL,
        updated_at INTEGER NOT NULL,
        provider TEXT,
        ttft_ms REAL,
        tokens_per_sec REAL,
        input_tokens INTEGER,
        output_tokens INTEGER,
        reasoning TEXT,
        tool_calls TEXT,
        call_id TEXT,
        tool_name TEXT
    );
    INSERT INTO items_v8 (id, session_id, kind, role, text, status, model, error, created_at,
        updated_at, provider, ttft_ms, tokens_per_sec, input_tokens, output_tokens, reasoning,
        tool_calls)
    SELECT id, session_id, CASE role WHEN 'user' THEN 'prompt' ELSE 'answer' END, role, text,
        status, model, error, created_at, updated_at, provider, ttft_ms, tokens_per_sec,
        input_tokens, output_tokens, reasoning, tool_calls
    FROM items;
    DROP TABLE items;
    ALTER TABLE items_v8 RENAME TO items;
    CREATE INDEX items_by_session ON items(session_id, id);
    CREATE INDEX items_by_created ON items(created_at);
    CREATE TRIGGER items_fts_insert AFTER INSERT ON items BEGIN
        INSERT INTO items_fts(rowid, text) VALUES (new.id, new.text);
    END;
    CREATE TRIGGER items_fts_delete AFTER DELETE ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', old.id, old.text);
    END;
    CREATE TRIGGER items_fts_update AFTER UPDATE OF text ON items BEGIN
        INSERT INTO items_fts(items_fts, rowid, text) VALUES ('delete', old.id, old.text);
        INSERT INTO items_fts(rowid, text) VALUES (new.id, new.text);
    END;",
    )
    .foreign_key_check(),
    // 9: command prefixes the user always allows in a project (the agent's approvals).
    M::up(
        "CREATE TABLE allowed_commands (
        project_id INTEGER NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
        prefix TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        PRIMARY KEY (project_id, prefix)
    );",
    ),
    // 10: sessions with an agent over ACP, and the agent's own id for the session.
    M::up(
        "ALTER TABLE sessions ADD COLUMN agent TEXT;
    ALTER TABLE sessions ADD COLUMN agent_session TEXT;",
    ),
];

pub(crate) fn prepare(conn: &mut Connection) -> Result<()> {
    // WAL lets the app and the CLI read while the other writes; the busy timeout makes a
    // second writer wait its turn instead of failing.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Off while migrating: rebuilding a table (8) must not fire the ON DELETE actions of
    // the tables that point at it. Migrations that rebuild check the keys themselves.
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    Migrations::from_slice(MIGRATIONS).to_latest(conn)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_valid() {
        assert!(Migrations::from_slice(MIGRATIONS).validate().is_ok());
    }

    /// Every earlier version, with data in it, upgrades to the latest without loss.
    #[test]
    fn upgrades_from_every_earlier_version_keep_the_data() {
        for version in 1..MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("flint.db");
            {
                let mut conn = Connection::open(&path).unwrap();
                Migrations::from_slice(&MIGRATIONS[..version])
                    .to_latest(&mut conn)
                    .unwrap();
                conn.execute_batch(
                    "INSERT INTO projects (id, path, name, opened_at) VALUES (1, '/p', 'p', 1);
                     INSERT INTO sessions (id, project_id, title, created_at, updated_at) VALUES (1, 1, 't', 1, 1);
                     INSERT INTO items (session_id, role, text, status, model, created_at, updated_at)
                       VALUES (1, 'user', 'hello', 'complete', NULL, 1, 1),
                              (1, 'assistant', 'partial', 'streaming', 'm', 2, 2);",
                )
                .unwrap();
                // What points at items: a checkpoint and a review (3 on), what an answer
                // kept with it (5 on).
                if version >= 3 {
                    conn.execute_batch(
                        "INSERT INTO checkpoints (id, project_id, item_id, summary, state, created_at)
                           VALUES (1, 1, 2, 'a.txt', 'applied', 3);
                         INSERT INTO reviews (item_id, path, status, detail) VALUES (2, 'a.txt', 'applied', NULL);",
                    )
                    .unwrap();
                }
                if version >= 5 {
                    conn.execute_batch(
                        "UPDATE items SET reasoning = 'thought', tool_calls = '[]' WHERE id = 2;",
                    )
                    .unwrap();
                }
            }
            let store = crate::Store::open(&path).unwrap();
            let items = store.items(1).unwrap();
            assert_eq!(items.len(), 2, "from version {version}");
            assert_eq!(items[0].text, "hello");
            assert_eq!(items[1].status, crate::ItemStatus::Interrupted);
            assert_eq!(items[1].metrics, None);
            assert_eq!(store.session(1).unwrap().slot, crate::ModelSlot::Fast);
            assert_eq!(store.integrity_check().unwrap(), Ok(()));
            // Every item has its kind; nothing that pointed at one lost it.
            let kinds: Vec<crate::ItemKind> = items.iter().map(|i| i.kind).collect();
            assert_eq!(kinds, [crate::ItemKind::Prompt, crate::ItemKind::Answer]);
            if version >= 3 {
                assert_eq!(
                    store.checkpoint(1).unwrap().item_id,
                    Some(2),
                    "from {version}"
                );
                assert_eq!(store.reviews(2).unwrap().len(), 1, "from {version}");
            }
            if version >= 5 {
                assert_eq!(items[1].reasoning.as_deref(), Some("thought"));
            }
            // The full-text index still finds the items, and follows new ones.
            let filter = crate::history::SearchFilter::default();
            assert_eq!(
                store.search("hello", &filter, 10).unwrap().len(),
                1,
                "from {version}"
            );
            store
                .add_tool_item(
                    1,
                    crate::ItemKind::ToolCall,
                    "c1",
                    Some("search"),
                    "needle",
                    crate::ItemStatus::Complete,
                )
                .unwrap();
            assert_eq!(
                store.search("needle", &filter, 10).unwrap().len(),
                1,
                "from {version}"
            );
            let fk: i64 = store
                .conn
                .query_row("SELECT count(*) FROM pragma_foreign_key_check", [], |r| {
                    r.get(0)
                })
                .unwrap();
            assert_eq!(fk, 0);
        }
    }
}

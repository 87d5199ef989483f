//! The store against a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use flint_store::{ItemRole, ItemStatus, Store};

#[test]
fn history_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data/flint.db");
    let (project_id, session_id) = {
        let store = Store::open(&path).unwrap();
        let p = store.touch_project("/code/demo", "demo").unwrap();
        let s = store.create_session(p.id, "first").unwrap();
        store
            .add_item(s.id, ItemRole::User, "hi", ItemStatus::Complete, None)
            .unwrap();
        let a = store
            .add_item(
                s.id,
                ItemRole::Assistant,
                "",
                ItemStatus::Streaming,
                Some("m"),
            )
            .unwrap();
        store
            .update_item(a.id, "hello there", ItemStatus::Complete, None)
            .unwrap();
        (p.id, s.id)
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.last_project().unwrap().unwrap().id, project_id);
    assert_eq!(
        store.latest_session(project_id).unwrap().unwrap().id,
        session_id
    );
    let items = store.items(session_id).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(items[1].text, "hello there");
    assert_eq!(items[1].status, ItemStatus::Complete);
    assert_eq!(items[1].model.as_deref(), Some("m"));
    assert_eq!(store.integrity_check().unwrap(), Ok(()));
}

#[test]
fn an_answer_left_streaming_is_interrupted_on_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flint.db");
    let item_id = {
        let store = Store::open(&path).unwrap();
        let p = store.touch_project("/p", "p").unwrap();
        let s = store.create_session(p.id, "").unwrap();
        let a = store
            .add_item(s.id, ItemRole::Assistant, "", ItemStatus::Streaming, None)
            .unwrap();
        store
            .update_item(a.id, "partial ans", ItemStatus::Streaming, None)
            .unwrap();
        a.id
        // dropped without finishing, as a crash would leave it
    };
    let store = Store::open(&path).unwrap();
    let item = store.item(item_id).unwrap();
    assert_eq!(item.status, ItemStatus::Interrupted);
    assert_eq!(item.text, "partial ans");
}

#[test]
fn reopening_a_project_updates_it_and_the_latest_is_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("flint.db")).unwrap();
    let a = store.touch_project("/a", "a").unwrap();
    let b = store.touch_project("/b", "b").unwrap();
    assert_ne!(a.id, b.id);
    assert_eq!(store.last_project().unwrap().unwrap().path, "/b");
    std::thread::sleep(std::time::Duration::from_millis(3));
    let a2 = store.touch_project("/a", "a").unwrap();
    assert_eq!(a2.id, a.id);
    assert_eq!(store.last_project().unwrap().unwrap().path, "/a");
    let recent: Vec<String> = store
        .recent_projects(10)
        .unwrap()
        .into_iter()
        .map(|p| p.path)
        .collect();
    assert_eq!(recent, ["/a", "/b"]);
    assert_eq!(store.recent_projects(1).unwrap().len(), 1);
    assert_eq!(store.item(999).unwrap_err().code(), "not_found");
}

#[test]
fn two_connections_write_without_corruption() {
    // The app and the CLI share one file: WAL plus a busy timeout serialise writers.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flint.db");
    let setup = Store::open(&path).unwrap();
    let p = setup.touch_project("/p", "p").unwrap();
    let s = setup.create_session(p.id, "").unwrap();
    let handles: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = Store::open(&path).unwrap();
                for i in 0..200 {
                    store
                        .add_item(
                            s.id,
                            ItemRole::User,
                            &format!("{t}-{i}"),
                            ItemStatus::Complete,
                            None,
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(setup.items(s.id).unwrap().len(), 400);
    assert_eq!(setup.integrity_check().unwrap(), Ok(()));
}

#[test]
fn checkpoints_undo_newest_first_and_redo_in_order() {
    use flint_store::{CheckpointFile, CheckpointState};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flint.db");
    let store = Store::open(&path).unwrap();
    let p = store.touch_project("/p", "p").unwrap();
    let file = |before: Option<&str>, after: Option<&str>| CheckpointFile {
        path: "a.txt".into(),
        before: before.map(|s| s.as_bytes().to_vec()),
        after: after.map(|s| s.as_bytes().to_vec()),
        ..Default::default()
    };
    let c1 = store
        .add_checkpoint(p.id, None, "create", &[file(None, Some("one\n"))])
        .unwrap();
    let c2 = store
        .add_checkpoint(p.id, None, "edit", &[file(Some("one\n"), Some("two\n"))])
        .unwrap();
    assert_eq!(store.undo_target(p.id).unwrap().unwrap().id, c2.id);
    store
        .set_checkpoint_state(c2.id, CheckpointState::Undone)
        .unwrap();
    store
        .set_checkpoint_state(c1.id, CheckpointState::Undone)
        .unwrap();
    assert!(store.undo_target(p.id).unwrap().is_none());
    assert_eq!(store.redo_target(p.id).unwrap().unwrap().id, c1.id);

    // Exact bytes come back, also after reopening the database.
    drop(store);
    let store = Store::open(&path).unwrap();
    let files = store.checkpoint_files(c2.id).unwrap();
    assert_eq!(files, vec![file(Some("one\n"), Some("two\n"))]);
    assert_eq!(store.checkpoint_files(c1.id).unwrap()[0].before, None);

    // A deleted file's mode and link come back with it.
    let gone = CheckpointFile {
        path: "run".into(),
        before: Some(b"#!/bin/sh\n".to_vec()),
        after: None,
        before_mode: Some(0o750),
        before_link: Some("bin/run.sh".into()),
    };
    let c3 = store
        .add_checkpoint(p.id, None, "delete", std::slice::from_ref(&gone))
        .unwrap();
    assert_eq!(store.checkpoint_files(c3.id).unwrap(), vec![gone]);
    store
        .set_checkpoint_state(c3.id, CheckpointState::Undone)
        .unwrap();

    // A new checkpoint discards the redo history.
    store
        .set_checkpoint_state(c1.id, CheckpointState::Applied)
        .unwrap();
    store
        .add_checkpoint(p.id, None, "other", &[file(Some("one\n"), Some("three\n"))])
        .unwrap();
    assert!(store.redo_target(p.id).unwrap().is_none());
    assert_eq!(
        store.checkpoint(c2.id).unwrap().state,
        CheckpointState::Discarded
    );
}

mod history {
    use flint_store::history::{fts_query, to_markdown, SearchFilter};
    use flint_store::{ItemRole, ItemStatus, Store};

    fn seeded() -> (tempfile::TempDir, Store, i64, i64) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("flint.db")).unwrap();
        let a = store.touch_project("/code/a", "a").unwrap();
        let b = store.touch_project("/code/b", "b").unwrap();
        let s1 = store.create_session(a.id, "parser work").unwrap();
        store
            .add_item(
                s1.id,
                ItemRole::User,
                "why does the tokenizer panic on emoji?",
                ItemStatus::Complete,
                None,
            )
            .unwrap();
        store
            .add_item(
                s1.id,
                ItemRole::Assistant,
                "The tokenizer slices bytes, not chars; use char_indices.",
                ItemStatus::Complete,
                Some("fast-m"),
            )
            .unwrap();
        let s2 = store.create_session(b.id, "café menu").unwrap();
        store
            .add_item(
                s2.id,
                ItemRole::User,
                "rename the cafe module",
                ItemStatus::Complete,
                None,
            )
            .unwrap();
        store
            .add_item(
                s2.id,
                ItemRole::Assistant,
                "Renamed the café module and its tests.",
                ItemStatus::Complete,
                Some("deep-m"),
            )
            .unwrap();
        (dir, store, a.id, s1.id)
    }

    #[test]
    fn search_finds_words_phrases_and_prefixes_newest_first_with_snippets() {
        let (_d, store, project_a, _) = seeded();
        let hits = store
            .search("tokenizer", &SearchFilter::default(), 50)
            .unwrap();
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].role, ItemRole::Assistant, "newest first");
        assert!(
            hits[0]
                .snippet
                .iter()
                .any(|p| p.hit && p.text == "tokenizer"),
            "{:?}",
            hits[0].snippet
        );
        assert_eq!(
            store
                .search("\"slices bytes\"", &SearchFilter::default(), 50)
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            store
                .search("\"bytes slices\"", &SearchFilter::default(), 50)
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            store
                .search("token*", &SearchFilter::default(), 50)
                .unwrap()
                .len(),
            2
        );
        // Diacritics fold: "cafe" finds "café".
        assert_eq!(
            store
                .search("cafe", &SearchFilter::default(), 50)
                .unwrap()
                .len(),
            2
        );
        // Filters: project, model, dates.
        let f = SearchFilter {
            project_id: Some(project_a),
            ..SearchFilter::default()
        };
        assert_eq!(store.search("the", &f, 50).unwrap().len(), 2);
        let f = SearchFilter {
            model: Some("deep-m".into()),
            ..SearchFilter::default()
        };
        assert_eq!(store.search("the", &f, 50).unwrap().len(), 1);
        let f = SearchFilter {
            from: Some(i64::MAX - 1),
            ..SearchFilter::default()
        };
        assert!(store.search("the", &f, 50).unwrap().is_empty());
        // No input is a syntax error.
        for odd in ["\"", "AND", "(", "*", "a:b", "NEAR("] {
            assert!(
                store.search(odd, &SearchFilter::default(), 50).is_ok(),
                "{odd}"
            );
        }
        assert_eq!(fts_query("  "), None);
        assert_eq!(
            fts_query("foo* \"a b\" c").unwrap(),
            "\"foo\"* \"a b\" \"c\""
        );
        // Results open the session at the matching item.
        assert!(hits.iter().all(|h| h.session.title == "parser work"));
    }

    #[test]
    fn sessions_list_fork_delete_and_export() {
        let (_d, store, project_a, s1) = seeded();
        let all = store.list_sessions(None, 10).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].session.title, "café menu", "newest first");
        assert_eq!(all[0].model.as_deref(), Some("deep-m"));
        let mine = store.list_sessions(Some(project_a), 10).unwrap();
        assert_eq!((mine.len(), mine[0].items), (1, 2));

        let first_item = store.items(s1).unwrap()[0].id;
        let fork = store.fork_session(s1, first_item).unwrap();
        let forked = store.items(fork.id).unwrap();
        assert_eq!(forked.len(), 1);
        assert_eq!(forked[0].text, "why does the tokenizer panic on emoji?");
        assert_eq!(fork.title, "parser work (fork)");
        assert_eq!(
            store.items(s1).unwrap().len(),
            2,
            "the original is untouched"
        );

        let (session, items) = store.session_with_items(s1).unwrap();
        let md = to_markdown(&session, "a", &items);
        assert!(md.starts_with("# parser work\n"));
        assert!(md.contains("## You\n\nwhy does the tokenizer panic on emoji?\n"));
        assert!(md.contains("## fast-m\n"));

        store.delete_session(s1).unwrap();
        assert!(store.items(s1).unwrap().is_empty());
        assert_eq!(
            store
                .search("slices", &SearchFilter::default(), 50)
                .unwrap()
                .len(),
            0,
            "search forgets deleted items"
        );
        assert_eq!(store.delete_session(s1).unwrap_err().code(), "not_found");
    }
}

/// The history holds whole conversations and attached files: the user's alone.
#[cfg(unix)]
#[test]
fn the_database_and_its_folder_are_the_users_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open_in(&data).unwrap();
    store.touch_project("/p", "p").unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    for f in ["flint.db", "flint.db-wal"] {
        let p = data.join(f);
        if p.exists() {
            assert_eq!(mode(&p), 0o600, "{f}");
        }
    }
    assert_eq!(mode(&data.join("flint.db")), 0o600);
}

#[test]
fn always_allowed_commands_are_kept_per_project_and_removable() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("flint.db")).unwrap();
    let a = store.touch_project("/a", "a").unwrap();
    let b = store.touch_project("/b", "b").unwrap();
    store.allow_command(a.id, "cargo test").unwrap();
    store.allow_command(a.id, "cargo test").unwrap();
    store.allow_command(a.id, "ls").unwrap();
    assert_eq!(store.allowed_commands(a.id).unwrap().len(), 2);
    assert!(store.allowed_commands(b.id).unwrap().is_empty());
    store.forget_command(a.id, "cargo test").unwrap();
    drop(store);
    let store = Store::open(&dir.path().join("flint.db")).unwrap();
    assert_eq!(store.allowed_commands(a.id).unwrap(), ["ls"]);
}

use super::*;
use flint_core::review::{FileDecision, ReviewStatus};
use flint_core::store::{CheckpointState, Direction};

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

/// The reviews a turn sent, in order.
fn reviews_in(events: &Events) -> Vec<flint_core::review::Review> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Review { review } => Some((**review).clone()),
            _ => None,
        })
        .collect()
}

const FILE: &str = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n";

#[tokio::test]
async fn streamed_edits_are_reviewed_applied_per_hunk_undone_and_redone() {
    let f = fixture();
    write(f.project.path(), "src/lib.txt", FILE);
    let sid = session(&f).await;
    let answer = "Two changes:\n\n*** Begin Patch\n*** Update File: src/lib.txt\n@@\n a\n-b\n+B\n c\n@@\n j\n-k\n+K\n l\n*** End Patch\n";
    let pieces: Vec<String> = answer
        .chars()
        .collect::<Vec<_>>()
        .chunks(7)
        .map(|c| c.iter().collect())
        .collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    f.fake.push_text(&refs);
    let (events, sink) = recorder();
    let item = f
        .engine
        .run_turn(sid, "change it", sink, CancellationToken::new())
        .await
        .unwrap();

    let reviews = reviews_in(&events);
    let review = reviews.last().expect("a review while streaming");
    assert_eq!(review.files.len(), 1);
    assert_eq!(review.files[0].hunks.len(), 2);
    assert!(review.failures.is_empty());
    // Nothing is written before the user decides.
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("src/lib.txt")).unwrap(),
        FILE
    );

    // Accept the first hunk only.
    let decision = FileDecision {
        path: "src/lib.txt".into(),
        base_hash: review.files[0].base_hash.clone(),
        accept: vec![true, false],
    };
    let out = f
        .engine
        .apply_review(item.id, vec![decision])
        .await
        .unwrap();
    assert_eq!(out.review.files[0].status, ReviewStatus::Applied);
    let partial = FILE.replace("\nb\n", "\nB\n");
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("src/lib.txt")).unwrap(),
        partial
    );
    let project_id = out.checkpoint.unwrap().project_id;

    // Undo restores the exact bytes; redo puts the change back.
    f.engine.undo(project_id).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("src/lib.txt")).unwrap(),
        FILE
    );
    f.engine.redo(project_id).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("src/lib.txt")).unwrap(),
        partial
    );

    // After an edit by the user, undo refuses rather than clobber it.
    write(
        f.project.path(),
        "src/lib.txt",
        &format!("{partial}user line\n"),
    );
    let err = f.engine.undo(project_id).await.unwrap_err();
    assert_eq!(err.code(), "changed_since");
    assert!(
        err.to_string()
            .contains("src/lib.txt was changed after Flint wrote it"),
        "{err}"
    );
    assert!(
        std::fs::read_to_string(f.project.path().join("src/lib.txt"))
            .unwrap()
            .ends_with("user line\n")
    );
    assert_eq!(
        f.engine.redo(project_id).await.unwrap_err().code(),
        "nothing_to_do"
    );
}

#[tokio::test]
async fn a_file_changed_since_review_is_conflicted_and_left_alone() {
    let f = fixture();
    write(f.project.path(), "x.txt", "one\ntwo\n");
    let sid = session(&f).await;
    f.fake
        .push_text(&["x.txt\n```\n<<<<<<< SEARCH\ntwo\n=======\n2\n>>>>>>> REPLACE\n```\n"]);
    let (_, sink) = recorder();
    let item = f
        .engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap();
    let review = f.engine.review(item.id).await.unwrap();
    let base = review.files[0].base_hash.clone();
    write(f.project.path(), "x.txt", "zero\none\ntwo\n");
    let out = f
        .engine
        .apply_review(
            item.id,
            vec![FileDecision {
                path: "x.txt".into(),
                base_hash: base,
                accept: vec![true],
            }],
        )
        .await
        .unwrap();
    assert_eq!(out.review.files[0].status, ReviewStatus::Conflicted);
    assert!(out.checkpoint.is_none());
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("x.txt")).unwrap(),
        "zero\none\ntwo\n"
    );
    // The fresh review is against the current content and applies cleanly.
    let fresh = out.review.files[0].base_hash.clone();
    let out = f
        .engine
        .apply_review(
            item.id,
            vec![FileDecision {
                path: "x.txt".into(),
                base_hash: fresh,
                accept: vec![true],
            }],
        )
        .await
        .unwrap();
    assert_eq!(out.review.files[0].status, ReviewStatus::Applied);
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("x.txt")).unwrap(),
        "zero\none\n2\n"
    );
}

#[tokio::test]
async fn an_edit_that_does_not_match_is_reported_with_feedback() {
    let f = fixture();
    write(f.project.path(), "y.txt", "alpha\nbeta\n");
    let sid = session(&f).await;
    f.fake
        .push_text(&["y.txt\n```\n<<<<<<< SEARCH\ngamma\n=======\ndelta\n>>>>>>> REPLACE\n```\n"]);
    let (_, sink) = recorder();
    let item = f
        .engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap();
    let review = f.engine.review(item.id).await.unwrap();
    assert!(review.files.is_empty());
    assert_eq!(review.failures[0].code, "no_match");
    assert!(review.failures[0]
        .feedback
        .starts_with("The edit could not be applied: y.txt"));
}

#[tokio::test]
async fn a_patch_stream_that_stops_mid_operation_leaves_nothing_to_apply() {
    let f = fixture();
    write(f.project.path(), "src/lib.txt", FILE);
    let sid = session(&f).await;
    // The first chunk finishes (review shows it while the second streams); the stream
    // then drops between the second chunk's `-` line and its `+` line.
    f.fake.push(vec![
        Step::Text("*** Begin Patch\n*** Update File: src/lib.txt\n@@\n a\n-b\n+B\n c\n".into()),
        Step::Text("@@\n j\n-k\n".into()),
        Step::Fail(ModelError::Dropped),
    ]);
    let (events, sink) = recorder();
    let item = f
        .engine
        .run_turn(sid, "change it", sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(item.status, ItemStatus::Failed);
    let reviews = reviews_in(&events);
    assert!(
        reviews.len() >= 2,
        "a provisional review, then the final one"
    );
    assert_eq!(
        reviews[0].files.len(),
        1,
        "the finished chunk was shown while streaming"
    );
    let last = reviews.last().unwrap();
    assert!(
        last.files.is_empty(),
        "the cut-off operation stays unapplicable: {last:?}"
    );
    assert!(
        last.failures
            .iter()
            .any(|f| f.message.contains("End Patch")),
        "{:?}",
        last.failures
    );
    // The stored answer's review agrees, and the file is untouched.
    let review = f.engine.review(item.id).await.unwrap();
    assert!(review.files.is_empty());
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("src/lib.txt")).unwrap(),
        FILE
    );
}

/// The way back is recorded before anything is written: when it cannot be (here the
/// write-ahead table is gone, as a full disk or a locked database would fail it), the
/// files are left exactly as they were, with nothing half-applied and no staging files.
#[tokio::test]
async fn when_the_checkpoint_cannot_be_recorded_nothing_is_written() {
    let f = fixture();
    let big = "x".repeat(600 * 1024);
    write(f.project.path(), "keep.txt", &big);
    write(f.project.path(), "a.txt", "one\n");
    f.engine.open_project(f.project.path()).await.unwrap();
    rusqlite::Connection::open(&f.db)
        .unwrap()
        .execute_batch("DROP TABLE write_ahead")
        .unwrap();
    let answer = "*** Begin Patch\n*** Delete File: keep.txt\n*** Update File: a.txt\n@@\n-one\n+two\n*** End Patch\n";
    let err = f
        .engine
        .apply_text(f.project.path(), answer, false)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("checkpoint could not be recorded"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("keep.txt")).unwrap(),
        big
    );
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("a.txt")).unwrap(),
        "one\n"
    );
    let names: Vec<String> = std::fs::read_dir(f.project.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names.len(), 2, "staging files left: {names:?}");
}

/// A process that stopped between renames left a pending checkpoint: on the next open
/// the apply is finished (every byte is in the store) and undo takes all of it back.
#[tokio::test]
async fn a_checkpoint_left_pending_by_a_crash_is_finished_and_undoable() {
    let f = fixture();
    write(f.project.path(), "a.txt", "a1\n");
    write(f.project.path(), "b.txt", "b1\n");
    write(f.project.path(), "c.txt", "c1\n");
    let ws = f.engine.open_project(f.project.path()).await.unwrap();
    let store = Store::open(&f.db).unwrap();
    let file = |p: &str, b: &str, a: &str| flint_core::store::CheckpointFile {
        path: p.into(),
        before: Some(b.as_bytes().to_vec()),
        after: Some(a.as_bytes().to_vec()),
        ..Default::default()
    };
    let id = store
        .begin_checkpoint(
            ws.project.id,
            None,
            "crashed",
            &[file("a.txt", "a1\n", "a2\n"), file("b.txt", "b1\n", "b2\n")],
        )
        .unwrap();
    // The crash came after the first rename.
    write(f.project.path(), "a.txt", "a2\n");
    // Another pending one wrote nothing before its crash: it is forgotten.
    let untouched = store
        .begin_checkpoint(
            ws.project.id,
            None,
            "never written",
            &[file("c.txt", "c1\n", "yy\n")],
        )
        .unwrap();
    let _ = untouched;
    // A pending checkpoint only a moment old may be an apply still running elsewhere:
    // it is left alone.
    f.engine.open_project(f.project.path()).await.unwrap();
    assert_eq!(
        store.pending_checkpoints(ws.project.id, 0).unwrap().len(),
        2
    );
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("b.txt")).unwrap(),
        "b1\n"
    );
    // Both are from a process that stopped a while ago.
    rusqlite::Connection::open(&f.db)
        .unwrap()
        .execute(
            "UPDATE write_ahead SET created_at = created_at - 120000",
            [],
        )
        .unwrap();
    drop(store);

    let opened = f.engine.open_project(f.project.path()).await.unwrap();
    assert_eq!(
        opened.settled,
        vec!["finished applying crashed".to_string()]
    );
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("b.txt")).unwrap(),
        "b2\n"
    );
    let store = Store::open(&f.db).unwrap();
    assert!(store
        .pending_checkpoints(ws.project.id, 0)
        .unwrap()
        .is_empty());
    assert_eq!(store.undo_target(ws.project.id).unwrap().unwrap().id, id);
    f.engine.undo(ws.project.id).await.unwrap();
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("a.txt")).unwrap(),
        "a1\n"
    );
    assert_eq!(
        std::fs::read_to_string(f.project.path().join("b.txt")).unwrap(),
        "b1\n"
    );

    // An undo (and a redo) is written ahead too: one stopped halfway is finished on
    // the next open, and the checkpoint is where that left it.
    for (direction, was, now, state) in [
        (Direction::Redo, "1", "2", CheckpointState::Applied),
        (Direction::Undo, "2", "1", CheckpointState::Undone),
    ] {
        store.begin_step(id, direction).unwrap();
        write(f.project.path(), "a.txt", &format!("a{now}\n"));
        assert_eq!(
            std::fs::read_to_string(f.project.path().join("b.txt")).unwrap(),
            format!("b{was}\n")
        );
        rusqlite::Connection::open(&f.db)
            .unwrap()
            .execute(
                "UPDATE write_ahead SET created_at = created_at - 120000",
                [],
            )
            .unwrap();
        let opened = f.engine.open_project(f.project.path()).await.unwrap();
        assert_eq!(opened.settled.len(), 1, "{direction:?}");
        assert_eq!(
            std::fs::read_to_string(f.project.path().join("b.txt")).unwrap(),
            format!("b{now}\n")
        );
        assert_eq!(store.checkpoint(id).unwrap().state, state);
    }
    // Settled: the next open has nothing to say.
    let opened = f.engine.open_project(f.project.path()).await.unwrap();
    assert!(opened.settled.is_empty());
}

/// Pending checkpoints are settled by what the files show, never by guessing: a way back
/// is never thrown away, a failed apply that could not put everything back is put back
/// on the next open, and what cannot be finished stays pending and is said.
#[cfg(unix)]
#[tokio::test]
async fn pending_checkpoints_are_settled_by_what_the_files_show() {
    let f = fixture();
    for (name, text) in [("a.txt", "a1\n"), ("b.txt", "b1\n")] {
        write(f.project.path(), name, text);
    }
    // A link to a folder that is gone: a file "in" it does not exist, and cannot be made.
    std::os::unix::fs::symlink("gone", f.project.path().join("block")).unwrap();
    let ws = f.engine.open_project(f.project.path()).await.unwrap();
    let project = ws.project.id;
    let store = Store::open(&f.db).unwrap();
    let file = |p: &str, b: Option<&str>, a: Option<&str>| flint_core::store::CheckpointFile {
        path: p.into(),
        before: b.map(|b| b.as_bytes().to_vec()),
        after: a.map(|a| a.as_bytes().to_vec()),
        ..Default::default()
    };
    let age = || {
        rusqlite::Connection::open(&f.db)
            .unwrap()
            .execute(
                "UPDATE write_ahead SET created_at = created_at - 120000",
                [],
            )
            .unwrap();
    };
    let read = |p: &str| std::fs::read_to_string(f.project.path().join(p)).ok();

    // Written, then changed by the user before the next open: neither end shows, so
    // nothing is written and the checkpoint - the only way back to "a1" - is kept.
    let kept = store
        .begin_checkpoint(
            project,
            None,
            "kept",
            &[file("a.txt", Some("a1\n"), Some("a2\n"))],
        )
        .unwrap();
    write(f.project.path(), "a.txt", "the user's\n");
    age();
    let opened = f.engine.open_project(f.project.path()).await.unwrap();
    assert!(opened.settled.is_empty(), "{:?}", opened.settled);
    assert_eq!(
        store.checkpoint(kept).unwrap().state,
        CheckpointState::Applied
    );
    assert_eq!(
        store.checkpoint_files(kept).unwrap()[0].before.as_deref(),
        Some(&b"a1\n"[..])
    );
    assert_eq!(read("a.txt").as_deref(), Some("the user's\n"));

    // A first apply failed and could not put b.txt back: the next open does.
    let failed = store
        .begin_checkpoint(
            project,
            None,
            "failed",
            &[file("b.txt", Some("b1\n"), Some("b2\n"))],
        )
        .unwrap();
    store.begin_step(failed, Direction::Rollback).unwrap();
    write(f.project.path(), "b.txt", "b2\n");
    age();
    let opened = f.engine.open_project(f.project.path()).await.unwrap();
    assert_eq!(opened.settled.len(), 1, "{:?}", opened.settled);
    assert!(
        opened.settled[0].contains("putting back failed"),
        "{:?}",
        opened.settled
    );
    assert_eq!(read("b.txt").as_deref(), Some("b1\n"));
    assert!(
        store.checkpoint(failed).is_err(),
        "a rolled-back apply is forgotten"
    );

    // Half applied, and the rest cannot be written (its folder is a dangling link):
    // it stays pending, the user is told, and nothing is marked done.
    let stuck = store
        .begin_checkpoint(
            project,
            None,
            "stuck",
            &[
                file("b.txt", Some("b1\n"), Some("b3\n")),
                file("block/new.txt", None, Some("n\n")),
            ],
        )
        .unwrap();
    write(f.project.path(), "b.txt", "b3\n");
    age();
    let opened = f.engine.open_project(f.project.path()).await.unwrap();
    assert!(
        opened
            .settled
            .iter()
            .any(|m| m.starts_with("could not finish applying stuck")),
        "{:?}",
        opened.settled
    );
    let pending: Vec<i64> = store
        .pending_checkpoints(project, 0)
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    assert_eq!(pending, vec![stuck]);
    assert!(!f.project.path().join("gone").exists());
}

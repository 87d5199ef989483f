use super::*;
use flint_core::review::{FileDecision, ReviewStatus};

fn write(root: &std::path::Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
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

    let reviews: Vec<flint_core::review::Review> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Review { review } => Some((**review).clone()),
            _ => None,
        })
        .collect();
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
    let reviews: Vec<flint_core::review::Review> = events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Review { review } => Some((**review).clone()),
            _ => None,
        })
        .collect();
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

use super::*;
use flint_core::review::FileDecision;

#[tokio::test]
async fn the_users_edits_since_the_last_turn_are_sent_once_and_flints_own_are_not() {
    let f = fixture();
    let root = f.project.path().canonicalize().unwrap();
    std::fs::write(root.join("notes.txt"), "alpha\nbeta\n").unwrap();
    // A repository whose HEAD holds the file: the baseline for the first turn.
    let repo = git2::Repository::init(&root).unwrap();
    let mut index = repo.index().unwrap();
    index.add_path(std::path::Path::new("notes.txt")).unwrap();
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    let sig = git2::Signature::now("T", "t@example.com").unwrap();
    repo.commit(Some("HEAD"), &sig, &sig, "init", &tree, &[])
        .unwrap();
    let sid = session(&f).await;

    // The user edits a file in their editor; the watcher reports it.
    std::fs::write(root.join("notes.txt"), "alpha\nBETA\n").unwrap();
    f.engine.note_changes(&root, &["notes.txt".to_string()]);
    assert_eq!(f.engine.user_changes(&root), ["notes.txt"]);

    f.fake
        .push_text(&["x.txt\n```\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n```\n"]);
    std::fs::write(root.join("x.txt"), "old\n").unwrap();
    let (events, sink) = recorder();
    let item = f
        .engine
        .run_turn(sid, "what changed?", sink, CancellationToken::new())
        .await
        .unwrap();
    let sent = f.fake.requests()[0].messages.last().unwrap().text();
    assert!(
        sent.contains("<recent-edits by=\"user\">") && sent.contains("-beta\n+BETA"),
        "{sent}"
    );
    let report = events.lock().unwrap().iter().find_map(|e| match e {
        TurnEvent::Context { report } => Some(report.clone()),
        _ => None,
    });
    assert!(report
        .unwrap()
        .sections
        .iter()
        .any(|s| s.name == "Your recent edits"));
    // Sent once: the next turn does not repeat them.
    assert!(f.engine.user_changes(&root).is_empty());

    // Flint applies its own edit; the watcher's report of it is not the user's.
    let review = f.engine.review(item.id).await.unwrap();
    f.engine
        .apply_review(
            item.id,
            vec![FileDecision {
                path: "x.txt".into(),
                base_hash: review.files[0].base_hash.clone(),
                accept: vec![true],
            }],
        )
        .await
        .unwrap();
    f.engine.note_changes(&root, &["x.txt".to_string()]);
    assert!(f.engine.user_changes(&root).is_empty());
    f.fake.push_text(&["ok"]);
    let (_, sink) = recorder();
    f.engine
        .run_turn(sid, "and now?", sink, CancellationToken::new())
        .await
        .unwrap();
    let sent = f.fake.requests()[1].messages.last().unwrap().text();
    assert!(!sent.contains("<recent-edits"), "{sent}");
}

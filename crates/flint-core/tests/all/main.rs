//! The engine with a scripted model and a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::sync::{Arc, Mutex};
use std::time::Duration;

use flint_core::model::fake::{FakeModel, Step};
use flint_core::model::{ModelError, RetryPolicy, Role, Usage};
use flint_core::store::{ItemStatus, Store};
use flint_core::{Engine, SlotClient, TurnEvent};
use tokio_util::sync::CancellationToken;

struct Fixture {
    _dir: tempfile::TempDir,
    project: tempfile::TempDir,
    db: std::path::PathBuf,
    fake: FakeModel,
    engine: Engine,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let db = dir.path().join("flint.db");
    let fake = FakeModel::new();
    let fast = SlotClient::new(Arc::new(fake.clone()), "fake", "fake-fast");
    let engine = Engine::new(Store::open(&db).unwrap(), Some(fast), None)
        .with_retry_policy(RetryPolicy::none());
    Fixture {
        _dir: dir,
        project,
        db,
        fake,
        engine,
    }
}

async fn session(f: &Fixture) -> i64 {
    let ws = f.engine.open_project(f.project.path()).await.unwrap();
    f.engine.new_session(ws.project.id, "").await.unwrap().id
}

type Events = Arc<Mutex<Vec<TurnEvent>>>;

fn recorder() -> (Events, impl FnMut(TurnEvent) + Send) {
    let events: Events = Arc::default();
    let sink = {
        let events = events.clone();
        move |e| events.lock().unwrap().push(e)
    };
    (events, sink)
}

fn deltas(events: &Events) -> Vec<String> {
    events
        .lock()
        .unwrap()
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Delta { text, .. } => Some(text.clone()),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_fast_stream_arrives_in_frame_batches_and_is_stored() {
    let f = fixture();
    let sid = session(&f).await;
    // 3,000 tokens with no pause: one Channel message per token would be 3,000 messages.
    let tokens: Vec<String> = (0..3000).map(|i| format!("t{i} ")).collect();
    let refs: Vec<&str> = tokens.iter().map(String::as_str).collect();
    f.fake.push_text(&refs);
    let (events, sink) = recorder();
    let item = f
        .engine
        .run_turn(sid, "  go  ", sink, CancellationToken::new())
        .await
        .unwrap();

    let joined: String = tokens.concat();
    assert_eq!(deltas(&events).concat(), joined);
    assert!(
        deltas(&events).len() < 50,
        "{} batches",
        deltas(&events).len()
    );
    assert_eq!(item.text, joined);
    assert_eq!(item.status, ItemStatus::Complete);

    let events = events.lock().unwrap();
    assert!(matches!(events.first(), Some(TurnEvent::Started { .. })));
    let Some(TurnEvent::Finished { status, error, .. }) = events.last() else {
        panic!("no Finished")
    };
    assert_eq!((*status, error.is_none()), (ItemStatus::Complete, true));

    // The prompt was trimmed, stored, and titled the session; metrics were kept.
    let store = Store::open(&f.db).unwrap();
    let items = store.items(sid).unwrap();
    assert_eq!(items[0].text, "go");
    assert_eq!(store.session(sid).unwrap().title, "go");
    assert_eq!(items[1].provider.as_deref(), Some("fake"));
    assert!(items[1].metrics.as_ref().unwrap().ttft_ms.is_some());
}

#[tokio::test]
async fn the_first_token_is_sent_at_once() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Text("first".into()),
        Step::Sleep(Duration::from_millis(300)),
        Step::Text(" second".into()),
        Step::Finish,
    ]);
    let (events, sink) = recorder();
    f.engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(deltas(&events), vec!["first", " second"]);
}

#[tokio::test]
async fn history_is_sent_with_each_turn() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push_text(&["one"]);
    f.fake.push_text(&["two"]);
    let (_, sink) = recorder();
    f.engine
        .run_turn(sid, "first question", sink, CancellationToken::new())
        .await
        .unwrap();
    let (_, sink) = recorder();
    f.engine
        .run_turn(sid, "second question", sink, CancellationToken::new())
        .await
        .unwrap();
    let reqs = f.fake.requests();
    let texts: Vec<(Role, String)> = reqs[1]
        .messages
        .iter()
        .map(|m| (m.role, m.text()))
        .collect();
    let second: Vec<(Role, &str)> = texts.iter().map(|(r, t)| (*r, t.as_str())).collect();
    assert_eq!(second[0].0, Role::System);
    assert!(
        second[0].1.contains("<<<<<<< SEARCH"),
        "non-Codex models are asked for SEARCH/REPLACE"
    );
    assert_eq!(
        &second[1..],
        &[
            (Role::User, "first question"),
            (Role::Assistant, "one"),
            (Role::User, "second question")
        ]
    );
    assert_eq!(reqs[1].model, "fake-fast");
}

#[tokio::test]
async fn stop_keeps_what_arrived() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Text("partial".into()),
        Step::Sleep(Duration::from_secs(30)),
        Step::Text("never".into()),
        Step::Finish,
    ]);
    let cancel = CancellationToken::new();
    let (events, sink) = recorder();
    let stopper = {
        let cancel = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            cancel.cancel();
        })
    };
    let started = std::time::Instant::now();
    let item = f.engine.run_turn(sid, "q", sink, cancel).await.unwrap();
    stopper.await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(
        (item.text.as_str(), item.status),
        ("partial", ItemStatus::Cancelled)
    );
    assert!(matches!(
        events.lock().unwrap().last(),
        Some(TurnEvent::Finished {
            status: ItemStatus::Cancelled,
            ..
        })
    ));
}

#[tokio::test]
async fn a_provider_failure_keeps_the_partial_answer_with_the_reason() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Text("half an ans".into()),
        Step::Fail(ModelError::Dropped),
    ]);
    let (events, sink) = recorder();
    let item = f
        .engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        (item.text.as_str(), item.status),
        ("half an ans", ItemStatus::Failed)
    );
    assert!(item.error.unwrap().contains("connection closed"));
    let events = events.lock().unwrap();
    let Some(TurnEvent::Finished { error: Some(e), .. }) = events.last() else {
        panic!()
    };
    assert_eq!(e.code, "dropped");
}

#[tokio::test]
async fn an_answer_cut_off_at_the_length_limit_is_kept_as_cut_off() {
    let f = fixture();
    let sid = session(&f).await;
    for (reason, status) in [
        ("length", ItemStatus::Truncated),
        ("max_tokens", ItemStatus::Truncated),
        ("max_output_tokens", ItemStatus::Truncated),
        ("stop", ItemStatus::Complete),
        ("end_turn", ItemStatus::Complete),
    ] {
        f.fake.push(vec![
            Step::Text("the first half".into()),
            Step::FinishWith(reason.into()),
        ]);
        let (events, sink) = recorder();
        let item = f
            .engine
            .run_turn(sid, "q", sink, CancellationToken::new())
            .await
            .unwrap();
        assert_eq!(
            (item.text.as_str(), item.status),
            ("the first half", status),
            "{reason}"
        );
        let stored = Store::open(&f.db).unwrap().item(item.id).unwrap();
        assert_eq!(stored.status, status, "{reason}");
        let events = events.lock().unwrap();
        let Some(TurnEvent::Finished {
            status: s, error, ..
        }) = events.last()
        else {
            panic!()
        };
        assert_eq!((*s, error.is_none()), (status, true), "{reason}");
    }
}

#[tokio::test]
async fn a_growing_answer_is_written_while_it_streams() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Text("early text".into()),
        Step::Sleep(Duration::from_millis(900)),
        Step::Text(" late".into()),
        Step::Finish,
    ]);
    let engine = f.engine.clone();
    let turn = tokio::spawn(async move {
        let (_, sink) = recorder();
        engine
            .run_turn(sid, "q", sink, CancellationToken::new())
            .await
            .unwrap()
    });
    // Another connection (as after a crash) sees the partial answer within the
    // persistence interval, still marked streaming.
    tokio::time::sleep(flint_core::PERSIST_EVERY * 3).await;
    let seen = rusqlite_reader(&f.db);
    assert_eq!(seen, ("early text".to_string(), "streaming".to_string()));
    let item = turn.await.unwrap();
    assert_eq!(item.text, "early text late");
}

fn rusqlite_reader(db: &std::path::Path) -> (String, String) {
    // Read without Store::open, which would mark the streaming item interrupted.
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT text, status FROM items WHERE role = 'assistant' ORDER BY id DESC LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .unwrap()
}

#[tokio::test]
async fn usage_and_metrics_are_reported() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Text("a".into()),
        Step::Sleep(Duration::from_millis(20)),
        Step::Text("b".into()),
        Step::Usage(Usage {
            input_tokens: 12,
            output_tokens: 2,
        }),
        Step::Finish,
    ]);
    let (events, sink) = recorder();
    f.engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap();
    let events = events.lock().unwrap();
    let Some(TurnEvent::Finished { metrics, .. }) = events.last() else {
        panic!()
    };
    assert_eq!(
        (metrics.input_tokens, metrics.output_tokens),
        (Some(12), Some(2))
    );
    assert!(metrics.ttft_ms.is_some());
    assert!(metrics.tokens_per_sec.is_some());
}

#[tokio::test]
async fn empty_prompts_and_bad_folders_are_refused() {
    let f = fixture();
    let sid = session(&f).await;
    let (_, sink) = recorder();
    let err = f
        .engine
        .run_turn(sid, "   ", sink, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "empty_prompt");
    let err = f
        .engine
        .open_project(&f.project.path().join("missing"))
        .await
        .unwrap_err();
    assert_eq!(err.code(), "not_found");
    assert!(f.fake.requests().is_empty());
}

#[tokio::test]
async fn escalate_answers_the_latest_prompt_on_the_deep_model_and_stays_there() {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let (fast, deep) = (FakeModel::new(), FakeModel::new());
    let engine = Engine::new(
        Store::open(&dir.path().join("flint.db")).unwrap(),
        Some(SlotClient::new(
            Arc::new(fast.clone()),
            "cerebras",
            "fast-m",
        )),
        Some(SlotClient::new(Arc::new(deep.clone()), "openai", "deep-m")),
    );
    let ws = engine.open_project(project.path()).await.unwrap();
    let sid = engine.new_session(ws.project.id, "").await.unwrap().id;

    let (_, sink) = recorder();
    let err = engine
        .escalate(sid, sink, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no_prompt");

    fast.push_text(&["quick guess"]);
    let (_, sink) = recorder();
    engine
        .run_turn(sid, "hard question", sink, CancellationToken::new())
        .await
        .unwrap();

    deep.push_text(&["careful answer"]);
    let (events, sink) = recorder();
    let item = engine
        .escalate(sid, sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        (item.text.as_str(), item.model.as_deref()),
        ("careful answer", Some("deep-m"))
    );
    assert!(matches!(
        events.lock().unwrap().first(),
        Some(TurnEvent::Started {
            user_item: None,
            ..
        })
    ));
    // The deep model saw the conversation up to the prompt, not the fast answer.
    let sent: Vec<String> = deep.requests()[0]
        .messages
        .iter()
        .map(|m| m.text())
        .collect();
    assert_eq!(sent.last().map(String::as_str), Some("hard question"));
    assert!(!sent.iter().any(|m| m == "quick guess"));

    // The next turn stays on the deep model.
    deep.push_text(&["more"]);
    let (_, sink) = recorder();
    let item = engine
        .run_turn(sid, "follow-up", sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(item.provider.as_deref(), Some("openai"));
    assert_eq!(fast.requests().len(), 1);
}

#[tokio::test]
async fn retries_before_the_first_token_are_announced() {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let fake = FakeModel::new();
    let engine = Engine::new(
        Store::open(&dir.path().join("flint.db")).unwrap(),
        Some(SlotClient::new(Arc::new(fake.clone()), "p", "m")),
        None,
    )
    .with_retry_policy(RetryPolicy {
        attempts: 2,
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_secs(1),
    });
    let ws = engine.open_project(project.path()).await.unwrap();
    let sid = engine.new_session(ws.project.id, "").await.unwrap().id;
    fake.push(vec![Step::Fail(ModelError::Server {
        status: 503,
        detail: String::new(),
    })]);
    fake.push_text(&["ok"]);
    let (events, sink) = recorder();
    let item = engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        (item.text.as_str(), item.status),
        ("ok", ItemStatus::Complete)
    );
    assert!(events
        .lock()
        .unwrap()
        .iter()
        .any(|e| matches!(e, TurnEvent::Retrying { attempt: 2, .. })));
}

#[tokio::test]
async fn no_model_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let project = tempfile::tempdir().unwrap();
    let engine = Engine::new(
        Store::open(&dir.path().join("flint.db")).unwrap(),
        None,
        None,
    );
    let ws = engine.open_project(project.path()).await.unwrap();
    let sid = engine.new_session(ws.project.id, "").await.unwrap().id;
    let (_, sink) = recorder();
    let err = engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap_err();
    assert_eq!(err.code(), "no_model");
    assert!(err.to_string().contains("Settings"));
}

mod acp;
mod agent;
mod connect;
mod projects;
mod turn;

#[tokio::test]
async fn retry_answers_the_latest_prompt_again_and_keeps_the_failed_answer() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Text("half".into()),
        Step::Fail(ModelError::Dropped),
    ]);
    let (_, sink) = recorder();
    f.engine
        .run_turn(sid, "question", sink, CancellationToken::new())
        .await
        .unwrap();
    f.fake.push_text(&["whole answer"]);
    let (_, sink) = recorder();
    let item = f
        .engine
        .retry(sid, sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(
        (item.text.as_str(), item.status),
        ("whole answer", ItemStatus::Complete)
    );
    let reqs = f.fake.requests();
    let last = reqs[1].messages.last().unwrap();
    assert_eq!((last.role, last.text().as_str()), (Role::User, "question"));
    let store = Store::open(&f.db).unwrap();
    let texts: Vec<String> = store
        .items(sid)
        .unwrap()
        .into_iter()
        .map(|i| i.text)
        .collect();
    assert_eq!(texts, ["question", "half", "whole answer"]);
}

mod review;

mod activity;

#[tokio::test]
async fn a_commit_message_is_suggested_from_the_staged_diff() {
    let f = fixture();
    let root = f.project.path().canonicalize().unwrap();
    let repo = git2::Repository::init(&root).unwrap();
    std::fs::write(root.join("a.txt"), "hello\n").unwrap();
    let err = f.engine.suggest_commit_message(&root).await.unwrap_err();
    assert!(err.to_string().contains("nothing is staged"), "{err}");
    let mut index = repo.index().unwrap();
    index.add_path(std::path::Path::new("a.txt")).unwrap();
    index.write().unwrap();
    f.fake
        .push_text(&["```\n", "Add a.txt with a greeting", "\n```"]);
    let msg = f.engine.suggest_commit_message(&root).await.unwrap();
    assert_eq!(msg, "Add a.txt with a greeting");
    let sent = &f.fake.requests()[0].messages[1].text();
    assert!(sent.contains("+hello"), "{sent}");
}

#[tokio::test]
async fn reasoning_and_tool_calls_are_kept_with_the_answer() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Reason("Looking at ".into()),
        Step::Reason("the code.".into()),
        Step::ToolCall {
            id: "call_1".into(),
            name: "read_file".into(),
            arguments: "{\"path\":\"a.rs\"}".into(),
        },
        Step::Text("Done.".into()),
        Step::Finish,
    ]);
    let (events, sink) = recorder();
    let item = f
        .engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap();
    assert_eq!(item.reasoning.as_deref(), Some("Looking at the code."));
    let calls: serde_json::Value =
        serde_json::from_str(item.tool_calls.as_deref().unwrap()).unwrap();
    assert_eq!(calls[0]["name"], "read_file");
    assert_eq!(calls[0]["arguments"], "{\"path\":\"a.rs\"}");
    let Some(TurnEvent::Finished { reasoning, .. }) = events.lock().unwrap().last().cloned() else {
        panic!()
    };
    assert_eq!(reasoning.as_deref(), Some("Looking at the code."));
    // Reopened from the file, it is still there.
    let store = Store::open(&f.db).unwrap();
    assert_eq!(
        store.item(item.id).unwrap().reasoning.as_deref(),
        Some("Looking at the code.")
    );
}

#[tokio::test]
async fn closed_markdown_blocks_are_rendered_once_and_cover_the_whole_answer() {
    let f = fixture();
    let sid = session(&f).await;
    let answer = "First paragraph.\n\n```rust\nfn a() {}\n```\nLast <b>words</b>";
    let pieces: Vec<String> = answer.chars().map(String::from).collect();
    let refs: Vec<&str> = pieces.iter().map(String::as_str).collect();
    f.fake.push_text(&refs);
    let (events, sink) = recorder();
    f.engine
        .run_turn(sid, "q", sink, CancellationToken::new())
        .await
        .unwrap();
    let mut html = Vec::new();
    let mut covered = 0;
    for e in events.lock().unwrap().iter() {
        if let TurnEvent::Blocks {
            html: h,
            closed_utf16,
            ..
        } = e
        {
            html.extend(h.clone());
            covered = *closed_utf16;
        }
    }
    assert_eq!(html.len(), 3, "{html:?}");
    assert_eq!(html[0], "<p>First paragraph.</p>\n");
    assert!(
        html[1].starts_with("<pre class=\"code\" data-lang=\"rust\">") && html[1].contains("hl-")
    );
    assert!(html[2].contains("&lt;b&gt;words&lt;/b&gt;"), "{}", html[2]);
    assert_eq!(covered as usize, answer.encode_utf16().count());
}

//! The turn's room: started as a handle any front end drives the same way, and a loop
//! that sends the model's tool calls' results back and asks again.

use super::*;
use flint_core::model::{Part, ToolCall, ToolInput, ToolSpec};
use flint_core::store::ItemKind;
use flint_core::{ToolOutput, ToolRunner, TurnKind};

/// A tool that reads a file of the project, as a real runner would (bounded).
struct ReadFile;

impl ToolRunner for ReadFile {
    fn specs(&self) -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "read_file".into(),
            description: "Reads a file of the project.".into(),
            input: ToolInput::Json {
                schema: serde_json::json!({"type": "object", "properties": {"path": {"type": "string"}}}),
            },
        }]
    }

    fn run<'a>(
        &'a self,
        root: &'a std::path::Path,
        call: &'a ToolCall,
    ) -> futures_util::future::BoxFuture<'a, ToolOutput> {
        Box::pin(async move {
            let args: serde_json::Value = serde_json::from_str(&call.input).unwrap_or_default();
            let path = args["path"].as_str().unwrap_or_default();
            match std::fs::read_to_string(root.join(path)) {
                Ok(text) => ToolOutput {
                    output: text,
                    is_error: false,
                },
                Err(e) => ToolOutput {
                    output: format!("cannot read {path}: {e}"),
                    is_error: true,
                },
            }
        })
    }
}

async fn all_events(turn: &mut flint_core::TurnHandle) -> Vec<TurnEvent> {
    let mut out = Vec::new();
    while let Some(e) = turn.events.recv().await {
        out.push(e);
    }
    out
}

#[tokio::test]
async fn a_tool_call_is_run_and_its_result_sent_in_a_second_request() {
    let mut f = fixture();
    std::fs::write(f.project.path().join("a.rs"), "fn hi() {}\n").unwrap();
    f.engine = f.engine.clone().with_tools(Arc::new(ReadFile));
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Text("Let me read it.".into()),
        Step::ToolCall {
            id: "c1".into(),
            name: "read_file".into(),
            arguments: r#"{"path":"a.rs"}"#.into(),
        },
        Step::Finish,
    ]);
    f.fake.push_text(&["It defines ", "`hi`."]);

    let mut turn = f
        .engine
        .start_turn(sid, TurnKind::Prompt("what is in a.rs?".into()));
    let events = all_events(&mut turn).await;
    let last = turn.finish().await.unwrap();
    assert_eq!(last.text, "It defines `hi`.");

    // Two requests: the second is the first with the answer, its call and the
    // result appended (a byte-stable prefix), the same tools offered with both.
    let reqs = f.fake.requests();
    assert_eq!(reqs.len(), 2);
    let (first, second) = (&reqs[0], &reqs[1]);
    assert_eq!(first.tools, ReadFile.specs());
    assert_eq!(second.tools, first.tools);
    assert_eq!(
        &second.messages[..first.messages.len()],
        &first.messages[..]
    );
    let added = &second.messages[first.messages.len()..];
    assert_eq!(added.len(), 2);
    assert_eq!(added[0].role, Role::Assistant);
    assert_eq!(added[0].text(), "Let me read it.");
    assert_eq!(
        added[0].tool_calls().next().map(|c| c.name.as_str()),
        Some("read_file")
    );
    let result = added[1].tool_results().next().unwrap();
    assert_eq!(
        (result.call_id.as_str(), result.output.as_str()),
        ("c1", "fn hi() {}\n")
    );
    assert!(matches!(added[1].parts[0], Part::ToolResult(_)));

    // Everything is in the history, in order, of its kind.
    let store = Store::open(&f.db).unwrap();
    let kinds: Vec<ItemKind> = store.items(sid).unwrap().iter().map(|i| i.kind).collect();
    assert_eq!(
        kinds,
        [
            ItemKind::Prompt,
            ItemKind::Answer,
            ItemKind::ToolCall,
            ItemKind::ToolResult,
            ItemKind::Answer
        ]
    );

    // The events name their items: each answer's text goes to that answer; the calls,
    // the result and the second answer are announced; only the last Finished ends it.
    let Some(TurnEvent::Started { assistant_item, .. }) = events.first() else {
        panic!("{events:?}")
    };
    let first_answer = assistant_item.id;
    let mut text_of = std::collections::BTreeMap::<i64, String>::new();
    let mut added_kinds = Vec::new();
    let mut done = Vec::new();
    for e in &events {
        match e {
            TurnEvent::Delta { item_id, text, .. } => {
                text_of.entry(*item_id).or_default().push_str(text)
            }
            TurnEvent::ItemAdded { item } => added_kinds.push(item.kind),
            TurnEvent::Finished { turn_done, .. } => done.push(*turn_done),
            _ => {}
        }
    }
    assert_eq!(text_of[&first_answer], "Let me read it.");
    assert_eq!(text_of[&last.id], "It defines `hi`.");
    assert_eq!(
        added_kinds,
        [ItemKind::ToolCall, ItemKind::ToolResult, ItemKind::Answer]
    );
    assert_eq!(done, [false, true]);

    // The next turn sends the history from the store: the call joined to its answer,
    // its result as a tool message, in the order they were made.
    f.fake.push_text(&["Sure."]);
    let mut next = f
        .engine
        .start_turn(sid, TurnKind::Prompt("and b.rs?".into()));
    all_events(&mut next).await;
    next.finish().await.unwrap();
    let third = &f.fake.requests()[2];
    let roles: Vec<Role> = third.messages.iter().map(|m| m.role).collect();
    let at = roles
        .iter()
        .position(|r| *r == Role::Tool)
        .expect("a tool message");
    let said = &third.messages[at - 1];
    assert_eq!(said.role, Role::Assistant);
    assert_eq!(said.text(), "Let me read it.");
    assert_eq!(
        said.tool_calls().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        ["c1"]
    );
    let result = third.messages[at].tool_results().next().unwrap();
    assert_eq!(
        (result.call_id.as_str(), result.output.as_str()),
        ("c1", "fn hi() {}\n")
    );
    assert_eq!(third.messages[at + 1].text(), "It defines `hi`.");
}

#[tokio::test]
async fn without_a_runner_a_turn_is_one_request_and_calls_are_only_recorded() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::ToolCall {
            id: "c1".into(),
            name: "read_file".into(),
            arguments: "{}".into(),
        },
        Step::Finish,
    ]);
    let mut turn = f.engine.start_turn(sid, TurnKind::Prompt("go".into()));
    let events = all_events(&mut turn).await;
    turn.finish().await.unwrap();
    assert_eq!(f.fake.requests().len(), 1);
    assert!(f.fake.requests()[0].tools.is_empty());
    assert!(matches!(
        events.last(),
        Some(TurnEvent::Finished {
            turn_done: true,
            ..
        })
    ));
}

#[tokio::test]
async fn a_started_turn_stops_by_its_id_and_keeps_what_arrived() {
    let f = fixture();
    let sid = session(&f).await;
    f.fake.push(vec![
        Step::Text("partial".into()),
        Step::Sleep(Duration::from_secs(30)),
        Step::Text(" never".into()),
        Step::Finish,
    ]);
    let mut turn = f.engine.start_turn(sid, TurnKind::Prompt("go".into()));
    // Once the text arrived, stop it the way the app does: by id.
    while let Some(e) = turn.events.recv().await {
        if matches!(e, TurnEvent::Delta { .. }) {
            break;
        }
    }
    let id = turn.id;
    assert!(f.engine.cancel_turn(id));
    let rest = all_events(&mut turn).await;
    let item = turn.finish().await.unwrap();
    assert_eq!(
        (item.text.as_str(), item.status),
        ("partial", ItemStatus::Cancelled)
    );
    assert!(matches!(
        rest.last(),
        Some(TurnEvent::Finished {
            turn_done: true,
            ..
        })
    ));
    // Finished: its id is free, stopping it again does nothing.
    assert!(!f.engine.cancel_turn(id));
}

#[tokio::test]
async fn a_turn_that_cannot_start_says_why_on_its_events() {
    let f = fixture();
    let sid = session(&f).await;
    let mut turn = f.engine.start_turn(sid, TurnKind::Retry);
    let events = all_events(&mut turn).await;
    assert!(turn.finish().await.is_err());
    assert!(
        matches!(events.as_slice(), [TurnEvent::Error { .. }]),
        "{events:?}"
    );
}

/// A tool that records what it was given and takes as long as it is told.
struct Slow {
    seen: Arc<Mutex<Vec<ToolCall>>>,
    takes: Duration,
    free_text: bool,
}

impl ToolRunner for Slow {
    fn specs(&self) -> Vec<ToolSpec> {
        vec![ToolSpec {
            name: "apply_patch".into(),
            description: "Edits files.".into(),
            input: if self.free_text {
                ToolInput::Freeform { grammar: None }
            } else {
                ToolInput::Json {
                    schema: serde_json::json!({"type": "object"}),
                }
            },
        }]
    }

    fn run<'a>(
        &'a self,
        _root: &'a std::path::Path,
        call: &'a ToolCall,
    ) -> futures_util::future::BoxFuture<'a, ToolOutput> {
        self.seen.lock().unwrap().push(call.clone());
        Box::pin(async move {
            tokio::time::sleep(self.takes).await;
            ToolOutput {
                output: "done".into(),
                is_error: false,
            }
        })
    }
}

#[tokio::test]
async fn stop_while_a_tool_runs_ends_the_turn_there() {
    let mut f = fixture();
    let seen = Arc::default();
    f.engine = f.engine.clone().with_tools(Arc::new(Slow {
        seen: Arc::clone(&seen),
        takes: Duration::from_secs(30),
        free_text: false,
    }));
    let sid = session(&f).await;
    let call = |id: &str| Step::ToolCall {
        id: id.into(),
        name: "apply_patch".into(),
        arguments: "{}".into(),
    };
    f.fake.push(vec![call("c1"), call("c2"), Step::Finish]);
    let mut turn = f.engine.start_turn(sid, TurnKind::Prompt("go".into()));
    // Both calls are recorded before the first runs; stop while it runs.
    let mut calls = 0;
    while let Some(e) = turn.events.recv().await {
        if matches!(&e, TurnEvent::ItemAdded { item } if item.kind == ItemKind::ToolCall) {
            calls += 1;
            if calls == 2 {
                break;
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    turn.cancel();
    let rest = tokio::time::timeout(Duration::from_secs(5), all_events(&mut turn))
        .await
        .expect("the stop takes effect at once");
    let last = turn.finish().await.unwrap();
    assert_eq!(last.status, ItemStatus::Cancelled);
    assert_eq!(f.fake.requests().len(), 1, "no request after a stop");
    assert!(matches!(
        rest.last(),
        Some(TurnEvent::Finished {
            status: ItemStatus::Cancelled,
            turn_done: true,
            ..
        })
    ));
    let results: Vec<String> = Store::open(&f.db)
        .unwrap()
        .items(sid)
        .unwrap()
        .into_iter()
        .filter(|i| i.kind == ItemKind::ToolResult)
        .map(|i| i.text)
        .collect();
    assert_eq!(results.len(), 2);
    assert!(results.iter().all(|r| r.contains("stopped")), "{results:?}");
    assert_eq!(seen.lock().unwrap().len(), 1, "the second call never ran");
}

#[tokio::test]
async fn a_free_text_tool_called_as_a_function_gets_its_text() {
    let mut f = fixture();
    let seen: Arc<Mutex<Vec<ToolCall>>> = Arc::default();
    f.engine = f.engine.clone().with_tools(Arc::new(Slow {
        seen: Arc::clone(&seen),
        takes: Duration::ZERO,
        free_text: true,
    }));
    let sid = session(&f).await;
    let patch = "*** Begin Patch\n*** End Patch";
    // Chat Completions and Anthropic models call it as a function taking `input`.
    f.fake.push(vec![
        Step::ToolCall {
            id: "c1".into(),
            name: "apply_patch".into(),
            arguments: serde_json::json!({ "input": patch }).to_string(),
        },
        Step::Finish,
    ]);
    f.fake.push_text(&["Done."]);
    let mut turn = f.engine.start_turn(sid, TurnKind::Prompt("edit".into()));
    all_events(&mut turn).await;
    turn.finish().await.unwrap();
    let got = seen.lock().unwrap().clone();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].input, patch);
    assert_eq!(got[0].kind, flint_core::model::ToolKind::Custom);
    // Recorded as its text, and sent back as the call it was.
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    assert!(items
        .iter()
        .any(|i| i.kind == ItemKind::ToolCall && i.text == patch));
    let second = &f.fake.requests()[1];
    let sent = second
        .messages
        .iter()
        .flat_map(|m| m.tool_calls())
        .next()
        .unwrap();
    assert_eq!(sent.input, patch);
}

mod readers {
    //! The read-only project tools, called as a model would call them.
    use super::*;
    use flint_core::ProjectReaders;

    fn call(name: &str, input: serde_json::Value) -> ToolCall {
        ToolCall {
            id: "c".into(),
            name: name.into(),
            kind: flint_core::model::ToolKind::Function,
            input: input.to_string(),
        }
    }

    async fn run(root: &std::path::Path, name: &str, input: serde_json::Value) -> ToolOutput {
        ProjectReaders.run(root, &call(name, input)).await
    }

    fn project() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        std::fs::create_dir_all(p.join("src")).unwrap();
        std::fs::create_dir_all(p.join(".git")).unwrap();
        std::fs::write(p.join(".git/config"), "[core]\n").unwrap();
        std::fs::write(p.join(".gitignore"), "target/\n").unwrap();
        std::fs::create_dir_all(p.join("target")).unwrap();
        std::fs::write(p.join("target/out.rs"), "fn needle() {}\n").unwrap();
        let long: String = (1..=2500).map(|i| format!("line {i}\n")).collect();
        std::fs::write(p.join("src/long.txt"), long).unwrap();
        std::fs::write(
            p.join("src/lib.rs"),
            "pub fn needle() {}\npub fn other() {}\n",
        )
        .unwrap();
        dir
    }

    #[tokio::test]
    async fn read_file_numbers_lines_reads_ranges_and_stays_in_the_project() {
        let dir = project();
        let root = dir.path();
        let out = run(root, "read_file", serde_json::json!({"path": "src/lib.rs"})).await;
        assert_eq!(out.output, "1: pub fn needle() {}\n2: pub fn other() {}\n");
        assert!(!out.is_error);
        let out = run(
            root,
            "read_file",
            serde_json::json!({"path": "src/long.txt"}),
        )
        .await;
        assert!(out.output.starts_with("1: line 1\n"));
        assert!(
            out.output
                .ends_with("[lines 1-2000 of 2500; read on from start_line 2001]\n"),
            "{}",
            &out.output[out.output.len() - 80..]
        );
        let out = run(
            root,
            "read_file",
            serde_json::json!({"path": "src/long.txt", "start_line": 2499, "end_line": 9999}),
        )
        .await;
        assert_eq!(out.output, "2499: line 2499\n2500: line 2500\n");
        for (path, says) in [
            ("../etc/passwd", "outside the project"),
            (".git/config", "outside the project"),
            ("/etc/passwd", "outside the project"),
            ("src", "is a folder"),
            ("src/nope.rs", "does not exist"),
        ] {
            let out = run(root, "read_file", serde_json::json!({ "path": path })).await;
            assert!(
                out.is_error && out.output.contains(says),
                "{path}: {}",
                out.output
            );
        }
        let out = run(root, "read_file", serde_json::json!({"path": 7})).await;
        assert!(out.is_error);
    }

    #[tokio::test]
    async fn list_dir_and_search_respect_the_ignore_rules() {
        let dir = project();
        let root = dir.path();
        let out = run(root, "list_dir", serde_json::json!({})).await;
        assert!(out.output.contains("src/\n"), "{}", out.output);
        assert!(!out.output.contains("target"), "{}", out.output);
        let out = run(
            root,
            "search",
            serde_json::json!({"pattern": "fn need\\w+"}),
        )
        .await;
        assert_eq!(out.output, "src/lib.rs:1: pub fn needle() {}\n");
        let out = run(
            root,
            "search",
            serde_json::json!({"pattern": "NEEDLE", "case_insensitive": true}),
        )
        .await;
        assert!(out.output.contains("src/lib.rs:1:"), "{}", out.output);
        let out = run(root, "search", serde_json::json!({"pattern": "zzz"})).await;
        assert_eq!(out.output, "no matches\n");
        let out = run(root, "search", serde_json::json!({"pattern": "("})).await;
        assert!(out.is_error && out.output.contains("not a valid regular expression"));
        let out = run(root, "search", serde_json::json!({"pattern": "line \\d+"})).await;
        assert!(
            out.output.ends_with("[stopped at 200 matching lines]\n"),
            "{}",
            &out.output[out.output.len() - 60..]
        );
        let out = run(
            root,
            "search",
            serde_json::json!({"pattern": "x", "path": "../"}),
        )
        .await;
        assert!(out.is_error);
        let out = run(root, "nope", serde_json::json!({})).await;
        assert!(out.is_error && out.output.contains("no tool"));
    }

    #[tokio::test]
    async fn a_model_reads_a_file_through_the_turn() {
        let mut f = fixture();
        std::fs::write(f.project.path().join("a.rs"), "fn hi() {}\n").unwrap();
        f.engine = f.engine.clone().with_tools(Arc::new(ProjectReaders));
        let sid = session(&f).await;
        f.fake.push(vec![
            Step::ToolCall {
                id: "r1".into(),
                name: "read_file".into(),
                arguments: r#"{"path":"a.rs"}"#.into(),
            },
            Step::Finish,
        ]);
        f.fake.push_text(&["It defines hi."]);
        let mut turn = f
            .engine
            .start_turn(sid, TurnKind::Prompt("what is in a.rs?".into()));
        all_events(&mut turn).await;
        turn.finish().await.unwrap();
        let second = &f.fake.requests()[1];
        let result = second
            .messages
            .iter()
            .flat_map(|m| m.tool_results())
            .next()
            .unwrap();
        assert_eq!(result.output, "1: fn hi() {}\n");
        let names: Vec<&str> = second.tools.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["read_file", "list_dir", "search"]);
    }
}

//! Agents over ACP against Flint's own fake agent (flint-replay's `flint-fake-agent`),
//! which plays a script: what an agent says and asks, the changes it makes by itself,
//! and every fault (crash, hang, malformed lines, floods, odd chunking).

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde_json::{json, Value};

use super::*;
use flint_core::store::ItemKind;
use flint_core::{AgentMode, Answer, Ask, TurnKind};
use flint_replay::agents;

/// The fake agent's executable (built if this test run did not build it).
fn fake_agent() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let dir = exe.parent().unwrap().parent().unwrap().to_path_buf();
            let bin = dir.join(format!("flint-fake-agent{}", std::env::consts::EXE_SUFFIX));
            if !bin.exists() {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let ok = std::process::Command::new(cargo)
                    .args([
                        "build",
                        "-q",
                        "-p",
                        "flint-replay",
                        "--bin",
                        "flint-fake-agent",
                    ])
                    .status()
                    .unwrap()
                    .success();
                assert!(ok && bin.exists(), "could not build {}", bin.display());
            }
            bin
        })
        .clone()
}

struct Agent {
    f: Fixture,
    sid: i64,
    scripts: tempfile::TempDir,
    log: PathBuf,
}

impl Agent {
    /// What the agent plays from its next start on.
    fn rescript(&self, mut script: Value) {
        script["log"] = json!(self.log);
        std::fs::write(self.scripts.path().join("script.json"), script.to_string()).unwrap();
    }
}

/// An engine whose session talks to the fake agent playing `script`.
async fn agent_session(mut script: Value) -> Agent {
    let f = fixture();
    std::fs::write(f.project.path().join("a.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::write(
        f.project.path().join("keep.txt"),
        "keep\r\nthese  bytes\r\n",
    )
    .unwrap();
    let sid = session(&f).await;
    let scripts = tempfile::tempdir().unwrap();
    let path = scripts.path().join("script.json");
    let log = scripts.path().join("received.log");
    script["log"] = json!(log);
    std::fs::write(&path, script.to_string()).unwrap();
    let cmd = format!("'{}' '{}'", fake_agent().display(), path.display());
    f.engine.set_session_agent(sid, Some(cmd)).await.unwrap();
    Agent {
        f,
        sid,
        scripts,
        log,
    }
}

/// Runs a turn to its end, answering each question with `answer`.
async fn run(
    a: &Agent,
    mode: AgentMode,
    prompt: &str,
    answer: impl FnMut(&Ask, &Path) -> Answer,
) -> (Vec<TurnEvent>, flint_core::store::Item) {
    run_in(&a.f, a.sid, mode, prompt, answer).await
}

/// `run` in any session; a turn that has not ended within two minutes fails the test
/// (a real agent can hang).
async fn run_in(
    f: &Fixture,
    sid: i64,
    mode: AgentMode,
    prompt: &str,
    mut answer: impl FnMut(&Ask, &Path) -> Answer,
) -> (Vec<TurnEvent>, flint_core::store::Item) {
    let mut turn = f
        .engine
        .start_turn_in(sid, TurnKind::Prompt(prompt.into()), mode);
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let e = tokio::time::timeout_at(deadline, turn.events.recv())
            .await
            .expect("the turn did not end within 2 minutes");
        let Some(e) = e else { break };
        if let TurnEvent::Question { question } = &e {
            assert!(turn.answer(question.id, answer(&question.ask, f.project.path())));
        }
        events.push(e);
    }
    let last = turn.finish().await.unwrap();
    (events, last)
}

fn text_of(events: &[TurnEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::Delta { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect()
}

fn chunk(text: &str) -> Value {
    json!({ "update": { "sessionUpdate": "agent_message_chunk", "content": { "type": "text", "text": text } } })
}

fn read(p: &Path, name: &str) -> Vec<u8> {
    std::fs::read(p.join(name)).unwrap_or_default()
}

#[tokio::test]
async fn an_agent_turn_streams_is_recorded_reviewed_and_undone_to_the_byte() {
    let script = json!({ "prompts": [[
        { "update": { "sessionUpdate": "agent_thought_chunk", "content": { "type": "text", "text": "Thinking it over." } } },
        chunk("I will fix "),
        chunk("a.txt."),
        { "update": { "sessionUpdate": "plan", "entries": [
            { "content": "Edit a.txt", "status": "in_progress", "priority": "high" } ] } },
        { "update": { "sessionUpdate": "tool_call", "toolCallId": "call-1", "title": "Edit $CWD/a.txt",
            "kind": "edit", "status": "in_progress",
            "content": [{ "type": "diff", "path": "$CWD/a.txt", "oldText": "two\n", "newText": "TWO\n" }] } },
        { "disk_write": { "path": "$CWD/a.txt", "content": "one\nTWO\nthree\n4\n5\n6\n7\n8\nnine\nten\n" } },
        { "disk_write": { "path": "$CWD/new.txt", "content": "made\n" } },
        { "disk_delete": "$CWD/keep.txt" },
        { "update": { "sessionUpdate": "tool_call_update", "toolCallId": "call-1", "status": "completed" } },
        { "update": { "sessionUpdate": "tool_call", "toolCallId": "call-2", "title": "cat a.txt",
            "kind": "execute", "status": "in_progress", "rawInput": { "command": ["/bin/bash", "-lc", "cat a.txt"] } } },
        { "update": { "sessionUpdate": "tool_call_update", "toolCallId": "call-2",
            "_meta": { "terminal_output": { "terminal_id": "call-2", "data": "one\nTWO\n" } } } },
        { "update": { "sessionUpdate": "tool_call_update", "toolCallId": "call-2", "status": "completed",
            "rawOutput": { "aggregated_output": "one\nTWO\n", "exit_code": 0 } } },
        { "update": { "sessionUpdate": "usage_update", "used": 1234, "size": 128000 } },
        chunk("Done.")
    ]]});
    let a = agent_session(script).await;
    let root = a.f.project.path().to_path_buf();
    std::fs::write(root.join("a.txt"), "one\ntwo\nthree\n4\n5\n6\n7\n8\nnine\n").unwrap();
    let (events, last) = run(&a, AgentMode::FullAuto, "fix a.txt", |_, _| Answer::Allow).await;
    assert_eq!(text_of(&events), "I will fix a.txt.Done.");
    assert_eq!(last.status, ItemStatus::Complete);
    assert!(matches!(
        events.last(),
        Some(TurnEvent::Finished {
            turn_done: true,
            ..
        })
    ));
    // The live output of the agent's own command reached its call.
    assert!(events
        .iter()
        .any(|e| matches!(e, TurnEvent::ToolOutput { text, .. } if text == "one\nTWO\n")));
    assert!(events.iter().any(|e| matches!(e, TurnEvent::Context { report } if report.used == 1234 && report.window == Some(128000))));

    // Recorded: the prompt, the first answer (with the thought), the plan, both calls
    // with their results, what changed, the last answer.
    let sid = a.sid;
    let items = a.f.engine.db(move |s| s.items(sid)).await.unwrap();
    let kinds: Vec<(ItemKind, Option<String>)> = items
        .iter()
        .map(|i| (i.kind, i.tool_name.clone()))
        .collect();
    assert_eq!(items[1].text, "I will fix a.txt.");
    assert_eq!(items[1].reasoning.as_deref(), Some("Thinking it over."));
    assert_eq!(items[1].model.as_deref(), Some("flint-fake-agent"));
    let results: Vec<&str> = items
        .iter()
        .filter(|i| i.kind == ItemKind::ToolResult)
        .map(|i| i.text.as_str())
        .collect();
    assert!(results.contains(&"one\nTWO\n"), "{results:?}");
    let changes = items
        .iter()
        .find(|i| i.tool_name.as_deref() == Some("acp.changes"))
        .unwrap_or_else(|| panic!("{kinds:?}"));
    let answers: Vec<&str> = items
        .iter()
        .filter(|i| i.kind == ItemKind::Answer)
        .map(|i| i.text.as_str())
        .collect();
    assert_eq!(answers, ["I will fix a.txt.", "Done."]);
    assert_eq!(last.text, "Done.");

    // The review from the snapshot: every file the agent touched, as hunks.
    let review = a.f.engine.review(changes.id).await.unwrap();
    let mut paths: Vec<&str> = review.files.iter().map(|f| f.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["a.txt", "keep.txt", "new.txt"]);
    let a_txt = review.files.iter().find(|f| f.path == "a.txt").unwrap();
    assert_eq!(a_txt.hunks.len(), 2, "{:?}", a_txt.hunks);

    // Reverting one hunk of a.txt (keeping the other) and the deletion of keep.txt.
    let decisions = review
        .files
        .iter()
        .map(|f| flint_core::review::FileDecision {
            path: f.path.clone(),
            base_hash: f.base_hash.clone(),
            accept: match f.path.as_str() {
                "a.txt" => vec![true, false],
                "keep.txt" => vec![false; f.hunks.len().max(1)],
                _ => vec![true; f.hunks.len()],
            },
        })
        .collect();
    a.f.engine
        .apply_review(changes.id, decisions)
        .await
        .unwrap();
    assert_eq!(
        read(&root, "a.txt"),
        b"one\nTWO\nthree\n4\n5\n6\n7\n8\nnine\n"
    );
    assert_eq!(read(&root, "keep.txt"), b"keep\r\nthese  bytes\r\n");
    assert_eq!(read(&root, "new.txt"), b"made\n");
    // Decided: the review says so.
    let decided = a.f.engine.review(changes.id).await.unwrap();
    let status = |p: &str| decided.files.iter().find(|f| f.path == p).map(|f| f.status);
    assert_eq!(
        status("keep.txt"),
        Some(flint_core::review::ReviewStatus::Rejected)
    );
    assert_eq!(
        status("new.txt"),
        Some(flint_core::review::ReviewStatus::Applied)
    );

    // Undoing the turn brings back every byte.
    a.f.engine.undo_turn(a.sid).await.unwrap();
    assert_eq!(
        read(&root, "a.txt"),
        b"one\ntwo\nthree\n4\n5\n6\n7\n8\nnine\n"
    );
    assert_eq!(read(&root, "keep.txt"), b"keep\r\nthese  bytes\r\n");
    assert!(!root.join("new.txt").exists());
}

#[tokio::test]
async fn a_write_through_flint_is_reviewed_before_it_touches_the_disk() {
    let write = |content: &str| {
        json!({ "request": "fs/write_text_file", "say_result": true,
                "params": { "sessionId": "fake-session-1", "path": "$CWD/a.txt", "content": content } })
    };
    let script = json!({ "prompts": [
        [ write("one\nzwei\nthree\n") ],
        [ write("one\nzwei\nthree\n") ],
        [ { "request": "fs/write_text_file", "say_result": true,
            "params": { "sessionId": "fake-session-1", "path": "/etc/flint-owned", "content": "x" } },
          { "request": "fs/read_text_file", "say_result": true,
            "params": { "sessionId": "fake-session-1", "path": "$CWD/a.txt", "line": 2, "limit": 1 } } ]
    ]});
    let a = agent_session(script).await;
    let root = a.f.project.path().to_path_buf();
    // Rejected: nothing written, and the agent is told.
    let (events, _) = run(&a, AgentMode::Ask, "edit", |ask, root| {
        assert!(matches!(ask, Ask::Edit { review } if review.files[0].path == "a.txt"));
        assert_eq!(
            read(root, "a.txt"),
            b"one\ntwo\nthree\n",
            "written before the review"
        );
        Answer::Deny {
            message: Some("not now".into()),
        }
    })
    .await;
    assert_eq!(read(&root, "a.txt"), b"one\ntwo\nthree\n");
    let said = text_of(&events);
    assert!(
        said.starts_with("error:") && said.contains("rejected"),
        "{said}"
    );
    // Accepted: written, the agent gets its answer, and undo takes it back.
    let (events, _) = run(&a, AgentMode::Ask, "edit", |_, _| Answer::Allow).await;
    assert_eq!(read(&root, "a.txt"), b"one\nzwei\nthree\n");
    assert_eq!(text_of(&events), "result: {}");
    a.f.engine.undo_turn(a.sid).await.unwrap();
    assert_eq!(read(&root, "a.txt"), b"one\ntwo\nthree\n");
    // Outside the project: refused; reads are confined and sliced.
    let (events, _) = run(&a, AgentMode::FullAuto, "reach out", |_, _| Answer::Allow).await;
    let said = text_of(&events);
    assert!(said.contains("outside the project"), "{said}");
    assert!(said.contains("\"content\":\"two\\n\""), "{said}");
    assert!(!Path::new("/etc/flint-owned").exists());
}

#[tokio::test]
async fn permissions_are_asked_in_ask_mode_and_edits_pass_in_auto_edit() {
    let ask = json!({ "request": "session/request_permission", "say_result": true, "params": {
        "sessionId": "fake-session-1",
        "toolCall": { "toolCallId": "p1", "title": "Edit $CWD/a.txt", "kind": "edit", "status": "pending",
            "content": [{ "type": "diff", "path": "$CWD/a.txt", "oldText": "two\n", "newText": "2\n" }] },
        "options": [
            { "optionId": "approved", "name": "Yes", "kind": "allow_once" },
            { "optionId": "approved-always", "name": "Always", "kind": "allow_always" },
            { "optionId": "abort", "name": "No", "kind": "reject_once" } ] } });
    let run_cmd = json!({ "request": "session/request_permission", "say_result": true, "params": {
        "sessionId": "fake-session-1",
        "toolCall": { "toolCallId": "p2", "title": "rm -rf build", "kind": "execute", "status": "pending",
            "rawInput": { "command": ["/bin/bash", "-lc", "rm -rf build"] } },
        "options": [
            { "optionId": "approved", "name": "Yes", "kind": "allow_once" },
            { "optionId": "abort", "name": "No", "kind": "reject_once" } ] } });
    // An edit naming a path outside the project: asked even in Auto-edit.
    let outside = json!({ "request": "session/request_permission", "say_result": true, "params": {
        "sessionId": "fake-session-1",
        "toolCall": { "toolCallId": "p3", "title": "Edit ~/.zshrc", "kind": "edit", "status": "pending",
            "content": [{ "type": "diff", "path": "/root/.zshrc", "oldText": "a\n", "newText": "b\n" }] },
        "options": [
            { "optionId": "approved", "name": "Yes", "kind": "allow_once" },
            { "optionId": "abort", "name": "No", "kind": "reject_once" } ] } });
    let script = json!({ "prompts": [[ask], [ask.clone(), run_cmd], [outside]] });
    let a = agent_session(script).await;
    let (events, _) = run(&a, AgentMode::Ask, "go", |q, _| match q {
        Ask::Permission {
            tool_kind,
            options,
            review,
            ..
        } => {
            assert_eq!(tool_kind, "edit");
            assert_eq!(options.len(), 3);
            // The diff, planned against the file: one hunk.
            assert_eq!(review.as_ref().unwrap().files[0].hunks.len(), 1);
            Answer::AllowAlways
        }
        other => panic!("{other:?}"),
    })
    .await;
    assert!(
        text_of(&events).contains("\"optionId\":\"approved-always\""),
        "{}",
        text_of(&events)
    );
    // Auto-edit answers the edit itself; the command is still asked (and denied).
    let mut asked = 0;
    let (events, _) = run(&a, AgentMode::AutoEdit, "go", |q, _| {
        asked += 1;
        assert!(
            matches!(q, Ask::Permission { command: Some(c), .. } if c == "rm -rf build"),
            "{q:?}"
        );
        Answer::Deny { message: None }
    })
    .await;
    assert_eq!(asked, 1);
    let said = text_of(&events);
    assert!(
        said.contains("\"optionId\":\"approved\"") && said.contains("\"optionId\":\"abort\""),
        "{said}"
    );
    let mut outside_asked = Vec::new();
    let (events, _) = run(&a, AgentMode::AutoEdit, "go", |q, _| {
        if let Ask::Permission { outside, .. } = q {
            outside_asked.extend(outside.clone());
        }
        Answer::Choose {
            option_id: "abort".into(),
        }
    })
    .await;
    assert_eq!(outside_asked, ["/root/.zshrc"]);
    assert!(text_of(&events).contains("\"optionId\":\"abort\""));
}

#[tokio::test]
async fn a_crash_mid_stream_keeps_what_arrived_and_says_why() {
    let script =
        json!({ "prompts": [[ chunk("Half an ans"), { "sleep_ms": 50 }, { "crash": 3 } ]] });
    let a = agent_session(script).await;
    let (events, last) = run(&a, AgentMode::Ask, "go", |_, _| Answer::Allow).await;
    assert_eq!(text_of(&events), "Half an ans");
    assert_eq!(last.status, ItemStatus::Failed);
    assert_eq!(last.text, "Half an ans");
    let error = last.error.unwrap();
    assert!(error.contains("crashing on purpose"), "{error}");
    // The next turn starts the agent again: a new process.
    a.rescript(json!({ "prompts": [[ chunk("back") ]] }));
    let (events, last) = run(&a, AgentMode::Ask, "again", |_, _| Answer::Allow).await;
    assert_eq!(last.status, ItemStatus::Complete);
    assert_eq!(text_of(&events), "back");
}

#[tokio::test]
async fn stop_cancels_then_kills_an_agent_that_does_not_stop() {
    for ignore in [false, true] {
        let script = json!({ "ignore_cancel": ignore,
            "prompts": [[ chunk("working"), { "sleep_ms": 30000 }, chunk(" never") ]] });
        let a = agent_session(script).await;
        let mut turn =
            a.f.engine
                .start_turn_in(a.sid, TurnKind::Prompt("go".into()), AgentMode::Ask);
        let mut stopped = None;
        let mut text = String::new();
        while let Some(e) = turn.events.recv().await {
            if let TurnEvent::Delta { text: t, .. } = &e {
                text.push_str(t);
                if stopped.is_none() {
                    turn.cancel();
                    stopped = Some(Instant::now());
                }
            }
        }
        let took = stopped.unwrap().elapsed();
        let last = turn.finish().await.unwrap();
        assert_eq!(last.status, ItemStatus::Cancelled);
        assert_eq!(text, "working");
        eprintln!("ignore_cancel={ignore}: the turn ended {took:?} after Stop");
        assert!(took < std::time::Duration::from_secs(5), "{took:?}");
        let log = std::fs::read_to_string(&a.log).unwrap_or_default();
        assert!(log.contains("session/cancel"), "{log}");
    }
}

#[tokio::test]
async fn malformed_lines_and_floods_end_clearly_and_any_chunking_gives_the_same_transcript() {
    let script =
        json!({ "prompts": [[ chunk("before "), { "raw": "{not json" }, chunk("after") ]] });
    let a = agent_session(script).await;
    let (events, last) = run(&a, AgentMode::Ask, "go", |_, _| Answer::Allow).await;
    assert_eq!(last.status, ItemStatus::Failed);
    assert!(text_of(&events).starts_with("before "));
    assert!(last.error.unwrap().contains("cannot read"));

    let mut transcripts = Vec::new();
    for piece in [0, 1, 7, 64] {
        let script = json!({ "chunk": piece, "prompts": [[
            chunk("héllo, "), { "flood": 500 }, chunk("wörld ✓")
        ]]});
        let a = agent_session(script).await;
        let (events, last) = run(&a, AgentMode::Ask, "go", |_, _| Answer::Allow).await;
        assert_eq!(
            last.status,
            ItemStatus::Complete,
            "chunk {piece}: {:?}",
            last.error
        );
        transcripts.push(text_of(&events));
    }
    assert!(transcripts[0].ends_with("w499 wörld ✓"));
    assert!(transcripts.iter().all(|t| *t == transcripts[0]));
}

#[tokio::test]
async fn terminals_run_in_the_project_asked_first_outside_full_auto() {
    let script = json!({ "prompts": [[
        { "request": "terminal/create", "say_result": true, "params": {
            "sessionId": "fake-session-1", "command": "sh", "args": ["-c", "echo hi from $0; pwd"], "cwd": "$CWD" } },
        { "sleep_ms": 300 },
        { "request": "terminal/output", "say_result": true, "params": {
            "sessionId": "fake-session-1", "terminalId": "flint-term-1" } },
        { "request": "terminal/create", "say_result": true, "params": {
            "sessionId": "fake-session-1", "command": "sh", "args": [], "cwd": "/" } }
    ]]});
    let a = agent_session(script).await;
    let mut asked = Vec::new();
    let (events, _) = run(&a, AgentMode::Ask, "go", |q, _| {
        if let Ask::Command { command, .. } = q {
            asked.push(command.clone());
        }
        Answer::Allow
    })
    .await;
    assert_eq!(asked.len(), 1, "{asked:?}");
    let said = text_of(&events);
    assert!(said.contains("flint-term-1"), "{said}");
    assert!(said.contains("hi from sh"), "{said}");
    assert!(said.contains("outside the project"), "{said}");
}

#[tokio::test]
async fn after_a_restart_the_agent_s_session_is_loaded_again() {
    let script = json!({ "prompts": [[ chunk("first") ], [ chunk("second") ]] });
    let a = agent_session(script).await;
    // Flint's MCP servers (its settings' [mcp_servers]) go to the agent's sessions.
    let settings: flint_core::Settings =
        toml::from_str("[mcp_servers.docs]\ncommand = \"docs-mcp\"\nargs = [\"--stdio\"]\n")
            .unwrap();
    a.f.engine.set_mcp_servers(settings.acp_mcp_servers());
    run(&a, AgentMode::Ask, "one", |_, _| Answer::Allow).await;
    a.f.engine.stop_agents().await;
    let (events, _) = run(&a, AgentMode::Ask, "two", |_, _| Answer::Allow).await;
    // A new process (its script from the top) that was asked to load the session.
    assert_eq!(text_of(&events), "first");
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(
        log.contains("\"session/load\"") && log.contains("fake-session-1"),
        "{log}"
    );
    let with_mcp = log
        .lines()
        .filter(|l| l.contains("\"session/") && l.contains("\"command\":\"docs-mcp\""))
        .count();
    assert_eq!(
        with_mcp, 2,
        "session/new and session/load both get it: {log}"
    );
}

/// Codex's home for a test, its config pointing Codex at the stand-in at `url`.
fn codex_home(url: &str) -> tempfile::TempDir {
    let home = tempfile::tempdir_in(agents::homes_dir()).unwrap();
    agents::write_codex_config(home.path(), url).unwrap();
    home
}

#[tokio::test]
async fn codex_through_codex_acp_patches_with_approval_runs_commands_and_is_undone() {
    let Some(codex) = agents::real_agent("codex-acp") else {
        return;
    };
    let script = flint_replay::script::Script::parse(
        &std::fs::read_to_string(agents::fixture("codex-turn.json")).unwrap(),
    )
    .unwrap();
    let server = flint_replay::StandIn::start(
        flint_replay::Config::default()
            .route("/responses", flint_replay::Reply::Script(script.clone())),
        0,
    )
    .unwrap();
    let home = codex_home(&server.base_url());
    let f = fixture();
    let root = f.project.path().to_path_buf();
    std::fs::write(root.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    let sid = session(&f).await;
    let cmd = format!(
        "env 'CODEX_HOME={}' STANDIN_KEY=stand-in RUST_LOG=error '{}'",
        home.path().display(),
        codex.display()
    );
    f.engine.set_session_agent(sid, Some(cmd)).await.unwrap();
    let mut asked = Vec::new();
    let (events, last) = run_in(
        &f,
        sid,
        AgentMode::Ask,
        "Make two loud in a.txt",
        |ask, _| {
            // Codex in read-only mode asks before it patches: the diff, planned against
            // the file, with the file untouched until allowed.
            if let Ask::Permission {
                tool_kind, review, ..
            } = ask
            {
                assert_eq!(read(&root, "a.txt"), b"one\ntwo\nthree\n");
                let hunks = review.as_ref().map(|r| r.files[0].hunks.len());
                asked.push(format!("{tool_kind} {hunks:?}"));
            }
            Answer::Allow
        },
    )
    .await;
    assert_eq!(last.status, ItemStatus::Complete, "{:?}", last.error);
    assert_eq!(asked, ["edit Some(1)"]);
    assert_eq!(read(&root, "a.txt"), b"one\nTWO\nthree\n");
    let text = text_of(&events);
    assert!(
        text.contains("Reading it first.") && text.ends_with("Done: a.txt now says TWO."),
        "{text}"
    );
    // Each step once: Codex sent each call's result.
    assert_eq!(script.served(), [1, 1, 1, 1]);
    let items = f.engine.db(move |s| s.items(sid)).await.unwrap();
    let results: Vec<&str> = items
        .iter()
        .filter(|i| i.kind == ItemKind::ToolResult)
        .map(|i| i.text.as_str())
        .collect();
    assert!(
        results.iter().any(|r| r.contains("one\nTWO\nthree")),
        "{results:?}"
    );
    // The command's output shows under its call (live where Codex streams it, else
    // when it ends).
    let live: String = events
        .iter()
        .filter_map(|e| match e {
            TurnEvent::ToolOutput { text, .. } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(live.contains("checked:\none\nTWO"), "{live:?}");
    let changes = items
        .iter()
        .find(|i| i.tool_name.as_deref() == Some("acp.changes"))
        .expect("what Codex changed is recorded");
    let review = f.engine.review(changes.id).await.unwrap();
    assert_eq!(review.files.len(), 1);
    assert_eq!(review.files[0].path, "a.txt");
    f.engine.undo_turn(sid).await.unwrap();
    assert_eq!(read(&root, "a.txt"), b"one\ntwo\nthree\n");
    f.engine.stop_agents().await;
}

#[tokio::test]
async fn claude_code_through_claude_agent_acp_writes_with_approval_and_is_undone() {
    let Some(claude) = agents::real_agent("claude-agent-acp") else {
        return;
    };
    let f = fixture();
    let root = f.project.path().canonicalize().unwrap();
    std::fs::write(root.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    let write = json!({ "file_path": root.join("hello.txt"), "content": "hello from claude\n" });
    let script = flint_replay::script::Script::parse(
        &json!({ "steps": [
            { "text": "Writing it.", "calls": [{ "id": "toolu_1", "name": "Write", "input": write.to_string() }] },
            { "text": "Wrote hello.txt.", "calls": [] }
        ]})
        .to_string(),
    )
    .unwrap();
    let server = flint_replay::StandIn::start(
        flint_replay::Config::default().route("/messages", flint_replay::Reply::Script(script)),
        0,
    )
    .unwrap();
    let home = tempfile::tempdir_in(agents::homes_dir()).unwrap();
    let sid = session(&f).await;
    // As root, Claude Code refuses its permission bypass unless told it is sandboxed
    // (ACP-NOTES.md); its home is the test's own.
    let cmd = format!(
        "env 'HOME={}' IS_SANDBOX=1 'ANTHROPIC_BASE_URL=http://{}' ANTHROPIC_API_KEY=stand-in \
         CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 '{}'",
        home.path().display(),
        server.addr(),
        claude.display()
    );
    f.engine.set_session_agent(sid, Some(cmd)).await.unwrap();
    let mut asked = Vec::new();
    let (events, last) = run_in(&f, sid, AgentMode::Ask, "Write hello.txt", |ask, _| {
        assert!(
            !root.join("hello.txt").exists(),
            "written before it was allowed"
        );
        asked.push(format!("{ask:?}").chars().take(300).collect::<String>());
        Answer::Allow
    })
    .await;
    assert_eq!(last.status, ItemStatus::Complete, "{:?}", last.error);
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(read(&root, "hello.txt"), b"hello from claude\n");
    let text = text_of(&events);
    assert!(
        text.contains("Writing it.") && text.contains("Wrote hello.txt."),
        "{text}"
    );
    f.engine.undo_turn(sid).await.unwrap();
    assert!(!root.join("hello.txt").exists());
    assert_eq!(read(&root, "a.txt"), b"one\ntwo\nthree\n");
    f.engine.stop_agents().await;
}

#[tokio::test]
async fn an_agent_s_answer_is_never_taken_for_edits_and_files_without_hunks_are_kept() {
    let script = json!({ "prompts": [[
        chunk("Here is the new file:\n\n```a.txt\nreplaced\n```\n"),
        { "disk_write": { "path": "$CWD/empty.txt", "content": "" } },
        { "disk_write": { "path": "$CWD/blob.bin", "content": "\u{0}\u{1}binary" } }
    ]]});
    let a = agent_session(script).await;
    let root = a.f.project.path().to_path_buf();
    let (_, last) = run(&a, AgentMode::FullAuto, "go", |_, _| Answer::Allow).await;
    // The answer's fenced block is shown, never proposed.
    let review = a.f.engine.review(last.id).await.unwrap();
    assert!(review.files.is_empty(), "{review:?}");
    let sid = a.sid;
    let items = a.f.engine.db(move |s| s.items(sid)).await.unwrap();
    let changes = items
        .iter()
        .find(|i| i.tool_name.as_deref() == Some("acp.changes"))
        .unwrap();
    let review = a.f.engine.review(changes.id).await.unwrap();
    assert_eq!(review.files.len(), 2, "{review:?}");
    // Applying with nothing to tick (no text hunks) keeps both files.
    let decisions = review
        .files
        .iter()
        .map(|f| flint_core::review::FileDecision {
            path: f.path.clone(),
            base_hash: f.base_hash.clone(),
            accept: Vec::new(),
        })
        .collect();
    a.f.engine
        .apply_review(changes.id, decisions)
        .await
        .unwrap();
    assert!(root.join("empty.txt").exists());
    assert_eq!(read(&root, "blob.bin"), b"\x00\x01binary");
    // Reverting one as a whole: it goes (it was new).
    let review = a.f.engine.review(changes.id).await.unwrap();
    let blob = review.files.iter().find(|f| f.path == "blob.bin").unwrap();
    a.f.engine
        .apply_review(
            changes.id,
            vec![flint_core::review::FileDecision {
                path: blob.path.clone(),
                base_hash: blob.base_hash.clone(),
                accept: vec![false],
            }],
        )
        .await
        .unwrap();
    assert!(!root.join("blob.bin").exists());
    assert!(root.join("empty.txt").exists());
}

#[tokio::test]
async fn an_agent_that_needs_a_sign_in_says_so_and_signs_in_with_the_key_given() {
    let dir = tempfile::tempdir().unwrap();
    let auth = dir.path().join("signed-in");
    let script = json!({ "auth_file": auth, "prompts": [[ chunk("signed in and answering") ]] });
    let a = agent_session(script).await;
    let (_, last) = run(&a, AgentMode::Ask, "go", |_, _| Answer::Allow).await;
    assert_eq!(last.status, ItemStatus::Failed);
    assert!(last
        .error
        .as_deref()
        .unwrap()
        .contains("Authentication required"));
    let methods = a.f.engine.agent_sign_in_methods(a.sid).await.unwrap();
    let ids: Vec<&str> = methods.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, ["fake-key", "fake-browser"]);
    assert_eq!(methods[0].vars, ["FAKE_KEY"]);
    // Without the key: a clear error; with it: signed in, and the retry answers.
    let e =
        a.f.engine
            .agent_sign_in(a.sid, "fake-key", Vec::new())
            .await
            .unwrap_err();
    assert!(e.to_string().contains("FAKE_KEY is not set"), "{e}");
    a.f.engine
        .agent_sign_in(a.sid, "fake-key", vec![("FAKE_KEY".into(), "k-123".into())])
        .await
        .unwrap();
    assert_eq!(std::fs::read_to_string(&auth).unwrap(), "k-123");
    let mut turn =
        a.f.engine
            .start_turn_in(a.sid, TurnKind::Retry, AgentMode::Ask);
    let mut events = Vec::new();
    while let Some(e) = turn.events.recv().await {
        events.push(e);
    }
    let last = turn.finish().await.unwrap();
    assert_eq!(last.status, ItemStatus::Complete, "{:?}", last.error);
    assert_eq!(text_of(&events), "signed in and answering");
}

#[tokio::test]
async fn the_agent_s_models_are_offered_and_the_one_picked_is_set() {
    let script = json!({ "prompts": [[ chunk("one") ], [ chunk("two") ]] });
    let a = agent_session(script).await;
    let (events, _) = run(&a, AgentMode::Ask, "go", |_, _| Answer::Allow).await;
    let offered = events.iter().find_map(|e| match e {
        TurnEvent::AgentSession {
            models,
            current_model,
        } => Some((models.clone(), current_model.clone())),
        _ => None,
    });
    let (models, current) = offered.expect("the agent's models are said");
    let names: Vec<&str> = models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["Fake model", "Fake Spark"]);
    assert_eq!(current.as_deref(), Some("fake-model"));
    a.f.engine.set_agent_model(a.sid, "fake-spark".into());
    let (events, _) = run(&a, AgentMode::Ask, "go", |_, _| Answer::Allow).await;
    assert!(events.iter().any(|e| matches!(e,
        TurnEvent::AgentSession { current_model: Some(m), .. } if m == "fake-spark")));
    let log = std::fs::read_to_string(&a.log).unwrap();
    assert!(
        log.contains("\"session/set_config_option\"") && log.contains("\"value\":\"fake-spark\""),
        "{log}"
    );
}

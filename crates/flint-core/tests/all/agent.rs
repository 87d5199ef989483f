//! The agent end to end against the stand-in server playing scripted conversations in
//! all three wire formats: a model that reads, patches, runs the tests, sees them
//! fail, patches again, runs them again, and answers; the user's approvals; the whole
//! turn undone to the byte.

use std::collections::BTreeMap;
use std::path::Path;

use super::*;
use flint_core::model::{Endpoint, Wire};
use flint_core::store::ItemKind;
use flint_core::{AgentMode, Answer, Ask, TurnKind};
use flint_replay::script::{Script, ScriptCall, Step as ScriptStep};
use flint_replay::{Config, Reply, StandIn};

/// Every file of a folder (but .git) with its bytes.
fn files(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if e.file_name() == ".git" {
                continue;
            }
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// A small project whose test fails: `add` subtracts.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("lib.sh"), "add() {\n  echo $(( $1 - $2 ))\n}\n").unwrap();
    std::fs::write(
        p.join("test.sh"),
        ". ./lib.sh\n[ \"$(add 2 3)\" = 5 ] && echo 'ok add' || { echo 'FAIL add'; exit 1; }\n\
         [ \"$(add -1 1)\" = 0 ] && echo 'ok zero' || { echo 'FAIL zero'; exit 1; }\n",
    )
    .unwrap();
    std::fs::write(p.join("notes.txt"), "keep\r\nthese  bytes\r\n").unwrap();
    std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(p)
        .status()
        .unwrap();
    dir
}

fn call(id: &str, name: &str, input: serde_json::Value) -> ScriptCall {
    ScriptCall {
        id: id.into(),
        name: name.into(),
        input: input.to_string(),
        custom: false,
    }
}

fn patch_call(id: &str, patch: &str) -> ScriptCall {
    ScriptCall {
        id: id.into(),
        name: "apply_patch".into(),
        input: patch.into(),
        custom: true,
    }
}

const WRONG_FIX: &str = "*** Begin Patch\n*** Update File: lib.sh\n@@\n add() {\n-  echo $(( $1 - $2 ))\n+  echo $(( $1 + $2 + 0 * 1 ))1\n }\n*** End Patch";
const RIGHT_FIX: &str = "*** Begin Patch\n*** Update File: lib.sh\n@@\n add() {\n-  echo $(( $1 + $2 + 0 * 1 ))1\n+  echo $(( $1 + $2 ))\n }\n*** End Patch";

/// The task, with each family's tool names.
fn task(codex: bool) -> Vec<ScriptStep> {
    let run = |id: &str, cmd: &str| {
        if codex {
            call(
                id,
                "shell",
                serde_json::json!({"command": ["bash", "-lc", cmd], "justification": "run the tests"}),
            )
        } else {
            call(
                id,
                "run_command",
                serde_json::json!({"command": cmd, "why": "run the tests"}),
            )
        }
    };
    let read = if codex {
        call(
            "c1",
            "shell",
            serde_json::json!({"command": ["cat", "lib.sh"]}),
        )
    } else {
        call("c1", "read_file", serde_json::json!({"path": "lib.sh"}))
    };
    vec![
        ScriptStep {
            text: "Let me look at `add`.".into(),
            calls: vec![read],
        },
        ScriptStep {
            text: String::new(),
            calls: vec![patch_call("c2", WRONG_FIX)],
        },
        ScriptStep {
            text: String::new(),
            calls: vec![run("c3", "sh test.sh")],
        },
        ScriptStep {
            text: "Off by a digit.".into(),
            calls: vec![patch_call("c4", RIGHT_FIX)],
        },
        ScriptStep {
            text: String::new(),
            calls: vec![run(
                "c5",
                "sh test.sh && sed -i 's/  / /' notes.txt && touch made.txt && rm -f old.txt",
            )],
        },
        ScriptStep {
            text: "Fixed: `add` adds now, and the tests pass.".into(),
            calls: vec![],
        },
    ]
}

fn engine_on(server: &StandIn, wire: Wire, model: &str) -> Fixture {
    let mut f = fixture();
    let endpoint = Endpoint::new(wire, &server.base_url(), None).unwrap();
    let slot = SlotClient::new(Arc::new(endpoint), "stand-in", model);
    f.engine.set_models(Some(slot), None);
    f.engine = f.engine.clone().with_agent();
    f
}

/// An agent engine on a stand-in playing `steps` (the Responses API with a Codex model
/// when `codex`, else Chat Completions), on a fresh copy of the test project.
fn scripted(steps: Vec<ScriptStep>, codex: bool) -> (Fixture, Arc<Script>, StandIn) {
    let script = Script::new(steps);
    let (route, wire, model) = if codex {
        ("/responses", Wire::Responses, "gpt-5.3-codex-spark")
    } else {
        ("/chat/completions", Wire::ChatCompletions, "qwen3-coder")
    };
    let server = StandIn::start(
        Config::default().route(route, Reply::Script(script.clone())),
        0,
    )
    .unwrap();
    let mut f = engine_on(&server, wire, model);
    f.project = project();
    (f, script, server)
}

/// Runs a turn to its end, answering each question with `answer`.
async fn run_answering(
    f: &Fixture,
    sid: i64,
    mode: AgentMode,
    prompt: &str,
    mut answer: impl FnMut(&Ask) -> Answer,
) -> Vec<TurnEvent> {
    let mut turn = f
        .engine
        .start_turn_in(sid, TurnKind::Prompt(prompt.into()), mode);
    let mut events = Vec::new();
    while let Some(e) = turn.events.recv().await {
        if let TurnEvent::Question { question } = &e {
            assert!(turn.answer(question.id, answer(&question.ask)));
        }
        events.push(e);
    }
    turn.finish().await.unwrap();
    events
}

#[tokio::test]
async fn the_scripted_task_runs_to_green_in_every_wire_format_and_undoes_to_the_byte() {
    for (wire, route, model) in [
        (Wire::Responses, "/responses", "gpt-5.3-codex-spark"),
        (Wire::ChatCompletions, "/chat/completions", "qwen3-coder"),
        (Wire::AnthropicMessages, "/messages", "claude-haiku"),
    ] {
        let codex = model.contains("codex");
        let script = Script::new(task(codex));
        let server = StandIn::start(
            Config::default().route(route, Reply::Script(script.clone())),
            0,
        )
        .unwrap();
        let project = project();
        std::fs::write(project.path().join("old.txt"), "old").unwrap();
        let before = files(project.path());
        let mut f = engine_on(&server, wire, model);
        f.project = project;
        let sid = session(&f).await;

        // Ask mode: every edit and command is asked about; all allowed once.
        let mut asked = Vec::new();
        let events = run_answering(&f, sid, AgentMode::Ask, "make the tests pass", |ask| {
            asked.push(match ask {
                Ask::Command { command, .. } => format!("run {command}"),
                Ask::Edit { review } => format!("edit {}", review.files[0].path),
                Ask::Permission { title, .. } => format!("permission {title}"),
            });
            Answer::Allow
        })
        .await;
        let mut expect = vec!["edit lib.sh", "run sh test.sh", "edit lib.sh"];
        expect.push(
            "run sh test.sh && sed -i 's/  / /' notes.txt && touch made.txt && rm -f old.txt",
        );
        if codex {
            expect.insert(0, "run cat lib.sh");
        }
        assert_eq!(asked, expect, "{wire:?}");
        // Each step served once: every request carried the previous step's results.
        assert_eq!(script.served(), [1, 1, 1, 1, 1, 1], "{wire:?}");

        let items = Store::open(&f.db).unwrap().items(sid).unwrap();
        let last = items.last().unwrap();
        assert_eq!(last.text, "Fixed: `add` adds now, and the tests pass.");
        let results: Vec<&str> = items
            .iter()
            .filter(|i| i.kind == ItemKind::ToolResult)
            .map(|i| i.text.as_str())
            .collect();
        assert_eq!(results.len(), 5);
        assert!(
            results[0].contains("echo $(( $1 - $2 ))"),
            "{wire:?}: {}",
            results[0]
        );
        assert_eq!(results[1], "updated lib.sh");
        assert!(
            results[2].starts_with("exit code 1") && results[2].contains("FAIL add"),
            "{}",
            results[2]
        );
        assert!(
            results[4].starts_with("exit code 0") && results[4].contains("ok zero"),
            "{}",
            results[4]
        );
        assert!(results[4].contains("files changed:"), "{}", results[4]);
        // The command's output streamed while it ran.
        assert!(events
            .iter()
            .any(|e| matches!(e, TurnEvent::ToolOutput { text, .. } if text.contains("ok add"))));
        let now = files(f.project.path());
        assert_eq!(now["lib.sh"], b"add() {\n  echo $(( $1 + $2 ))\n}\n");
        assert_eq!(now["notes.txt"], b"keep\r\nthese bytes\r\n");
        assert!(now.contains_key("made.txt") && !now.contains_key("old.txt"));

        // An applied patch's review, read again, shows it applied - not as a patch that
        // no longer matches the file it changed.
        let patch = items
            .iter()
            .find(|i| i.tool_name.as_deref() == Some("apply_patch"))
            .unwrap();
        let review = f.engine.review(patch.id).await.unwrap();
        assert!(review.failures.is_empty(), "{:?}", review.failures);

        // The whole turn, edits and commands alike, undone to the byte.
        let undone = f.engine.undo_turn(sid).await.unwrap();
        assert_eq!(
            undone.len(),
            3,
            "two patches and one command that changed files"
        );
        assert_eq!(files(f.project.path()), before, "{wire:?}");
    }
}

#[tokio::test]
async fn full_auto_runs_everything_in_the_sandbox_and_auto_edit_asks_for_commands_only() {
    let script = Script::new(task(true));
    let server = StandIn::start(
        Config::default().route("/responses", Reply::Script(script.clone())),
        0,
    )
    .unwrap();
    let mut f = engine_on(&server, Wire::Responses, "gpt-5.3-codex-spark");
    f.project = project();
    std::fs::write(f.project.path().join("old.txt"), "old").unwrap();
    let sid = session(&f).await;
    let sandboxed = flint_exec::sandbox_support().available();
    let mut asked = 0;
    run_answering(&f, sid, AgentMode::FullAuto, "fix it", |_| {
        asked += 1;
        Answer::Allow
    })
    .await;
    assert_eq!(asked, if sandboxed { 0 } else { 3 });
    let now = files(f.project.path());
    assert_eq!(now["lib.sh"], b"add() {\n  echo $(( $1 + $2 ))\n}\n");

    // Auto-edit: the edits apply without asking; the commands are asked about, and
    // "always" remembers the prefix for the project (a plain command only).
    let script = Script::new(task(true));
    let server = StandIn::start(
        Config::default().route("/responses", Reply::Script(script.clone())),
        0,
    )
    .unwrap();
    let mut f = engine_on(&server, Wire::Responses, "gpt-5.3-codex-spark");
    f.project = project();
    let sid = session(&f).await;
    let mut asked = Vec::new();
    run_answering(&f, sid, AgentMode::AutoEdit, "fix it", |ask| {
        let Ask::Command {
            command, prefix, ..
        } = ask
        else {
            panic!("an edit was asked about in auto-edit")
        };
        asked.push((command.clone(), prefix.clone()));
        Answer::AllowAlways
    })
    .await;
    // `cat lib.sh` and the first `sh test.sh` are asked; the second test run is not
    // plain (it chains), so it is asked too.
    let prefixes: Vec<Option<&str>> = asked.iter().map(|(_, p)| p.as_deref()).collect();
    assert_eq!(prefixes, [Some("cat lib.sh"), Some("sh test.sh"), None]);
    let store = Store::open(&f.db).unwrap();
    let project_id = store.session(sid).unwrap().project_id;
    assert_eq!(
        store.allowed_commands(project_id).unwrap(),
        ["cat lib.sh", "sh test.sh"]
    );
}

#[tokio::test]
async fn denials_and_bad_calls_are_told_to_the_model_and_touch_nothing() {
    let steps = vec![
        ScriptStep {
            text: String::new(),
            calls: vec![
                call("b1", "no_such_tool", serde_json::json!({})),
                ScriptCall { id: "b2".into(), name: "run_command".into(), input: "{not json".into(), custom: false },
                call("b3", "read_file", serde_json::json!({"path": "../../etc/passwd"})),
                call("b4", "run_command", serde_json::json!({"command": "ls", "cwd": "../.."})),
                patch_call("b5", "*** Begin Patch\n*** Update File: lib.sh\n@@\n-not in the file\n+x\n*** End Patch"),
                patch_call("b6", "*** Begin Patch\n*** Add File: ../escape.txt\n+x\n*** End Patch"),
                patch_call("b7", "*** Begin Patch\n*** Add File: .git/hooks/pre-commit\n+x\n*** End Patch"),
                call("b8", "run_command", serde_json::json!({"command": "touch denied.txt"})),
                patch_call("b9", "*** Begin Patch\n*** Add File: rejected.txt\n+x\n*** End Patch"),
            ],
        },
        ScriptStep { text: "Understood.".into(), calls: vec![] },
    ];
    let (f, script, _server) = scripted(steps, false);
    let before = files(f.project.path());
    let outside = f.project.path().parent().unwrap().join("escape.txt");
    let sid = session(&f).await;
    run_answering(&f, sid, AgentMode::Ask, "try things", |_| Answer::Deny {
        message: Some("not now".into()),
    })
    .await;
    assert_eq!(script.served(), [1, 1]);
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    let results: Vec<(&str, bool)> = items
        .iter()
        .filter(|i| i.kind == ItemKind::ToolResult)
        .map(|i| (i.text.as_str(), i.error.is_some()))
        .collect();
    assert_eq!(results.len(), 9);
    assert!(results.iter().all(|(_, failed)| *failed), "{results:?}");
    let says = |i: usize, what: &str| assert!(results[i].0.contains(what), "{i}: {}", results[i].0);
    says(0, "no tool named `no_such_tool`");
    says(1, "not valid JSON");
    says(2, "outside the project");
    says(3, "outside the project");
    says(4, "lib.sh");
    says(5, "escape.txt");
    says(6, ".git");
    says(7, "did not allow running `touch denied.txt`: not now");
    says(8, "rejected this edit: not now");
    assert_eq!(files(f.project.path()), before);
    assert!(!outside.exists());
    assert_eq!(items.last().unwrap().text, "Understood.");
}

#[tokio::test]
async fn stop_while_a_command_runs_kills_it_and_keeps_the_turn() {
    let steps = vec![ScriptStep {
        text: "Running.".into(),
        calls: vec![call(
            "s1",
            "run_command",
            serde_json::json!({"command": "echo started; sleep 30; echo never"}),
        )],
    }];
    let (f, _script, _server) = scripted(steps, false);
    let sid = session(&f).await;
    let mut turn = f
        .engine
        .start_turn_in(sid, TurnKind::Prompt("go".into()), AgentMode::Ask);
    let mut stopped_at = None;
    while let Some(e) = turn.events.recv().await {
        match &e {
            TurnEvent::Question { question } => {
                turn.answer(question.id, Answer::Allow);
            }
            TurnEvent::ToolOutput { text, .. } if text.contains("started") => {
                stopped_at = Some(std::time::Instant::now());
                turn.cancel();
            }
            _ => {}
        }
    }
    let took = stopped_at.unwrap().elapsed();
    turn.finish().await.unwrap();
    eprintln!("the turn ended {took:?} after Stop");
    assert!(took < Duration::from_secs(5), "{took:?}");
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    let result = items
        .iter()
        .find(|i| i.kind == ItemKind::ToolResult)
        .unwrap();
    assert!(
        result.text.contains("stopped by the user"),
        "{}",
        result.text
    );
    assert!(!result.text.contains("never"), "{}", result.text);
    assert_eq!(
        items
            .iter()
            .find(|i| i.kind == ItemKind::Answer)
            .unwrap()
            .status,
        ItemStatus::Cancelled
    );
}

#[tokio::test]
async fn a_command_allowed_by_its_prefix_runs_in_the_sandbox_and_nested_repos_do_not_stop_undo() {
    if !flint_exec::sandbox_support().available() {
        eprintln!("no sandbox here: skipped");
        return;
    }
    let home = std::path::PathBuf::from(std::env::var("HOME").unwrap());
    let secret = home.join(format!(".flint-probe-{}", std::process::id()));
    std::fs::write(&secret, "sk-probe").unwrap();
    let probe = format!("cat {} || echo hidden", secret.display());
    let run = |id: &str, cmd: &str| call(id, "run_command", serde_json::json!({ "command": cmd }));
    let steps = vec![
        ScriptStep {
            text: String::new(),
            calls: vec![run("a1", "sh probe.sh")],
        },
        ScriptStep {
            text: String::new(),
            calls: vec![run("a2", "sh probe.sh")],
        },
        ScriptStep {
            text: "Done.".into(),
            calls: vec![],
        },
    ];
    let (f, _script, _server) = scripted(steps, false);
    std::fs::write(f.project.path().join("probe.sh"), &probe).unwrap();
    let sid = session(&f).await;
    let mut asked = 0;
    run_answering(&f, sid, AgentMode::Ask, "probe", |_| {
        asked += 1;
        Answer::AllowForSession
    })
    .await;
    let _ = std::fs::remove_file(&secret);
    assert_eq!(
        asked, 1,
        "the second run is allowed by the session's prefix"
    );
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    let results: Vec<&str> = items
        .iter()
        .filter(|i| i.kind == ItemKind::ToolResult)
        .map(|i| i.text.as_str())
        .collect();
    // Approved by the user: runs as the user. Allowed by a prefix: in the sandbox,
    // where the home's files are not there.
    assert!(results[0].contains("sk-probe"), "{}", results[0]);
    assert!(
        results[1].contains("hidden") && !results[1].contains("sk-probe"),
        "{}",
        results[1]
    );

    // Full auto: a command that makes a nested repository (a clone into the project
    // does) and deletes a file: the deletion is still recorded, and undone.
    let cmd = "git init -q v && echo x > v/f && git -C v add f && \
               git -C v -c user.name=a -c user.email=a@a commit -qm x && rm lib.sh && echo gone";
    let steps = vec![
        ScriptStep {
            text: String::new(),
            calls: vec![run("n1", cmd)],
        },
        ScriptStep {
            text: "Done.".into(),
            calls: vec![],
        },
    ];
    let (f, _script, _server) = scripted(steps, false);
    let lib = std::fs::read(f.project.path().join("lib.sh")).unwrap();
    let sid = session(&f).await;
    run_answering(&f, sid, AgentMode::FullAuto, "clone and clean", |_| {
        Answer::Allow
    })
    .await;
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    let result = items
        .iter()
        .find(|i| i.kind == ItemKind::ToolResult)
        .unwrap();
    assert!(
        result.text.contains("gone") && result.text.contains("files changed: lib.sh"),
        "{}",
        result.text
    );
    assert!(!f.project.path().join("lib.sh").exists());
    // The repository it made is gone (git would run its config), and the model told.
    assert!(
        result
            .text
            .contains("disabled the git repositories made while this command ran (v/.git (now .git.flint-disabled-"),
        "{}",
        result.text
    );
    assert!(!f.project.path().join("v/.git").exists());
    assert!(f.project.path().join("v/f").exists());
    // Nothing deleted: renamed, and git no longer sees a repository in it.
    let kept = std::fs::read_dir(f.project.path().join("v"))
        .unwrap()
        .flatten()
        .find(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(".git.flint-disabled-")
        })
        .unwrap()
        .path();
    assert!(kept.join("config").exists() && !kept.join("HEAD").exists());
    f.engine.undo_turn(sid).await.unwrap();
    assert_eq!(std::fs::read(f.project.path().join("lib.sh")).unwrap(), lib);
}

#[tokio::test]
async fn at_the_step_limit_the_calls_are_recorded_not_run_and_the_next_turn_goes_on() {
    let read = |id: &str| call(id, "read_file", serde_json::json!({"path": "lib.sh"}));
    let steps = vec![
        ScriptStep {
            text: String::new(),
            calls: vec![read("l1")],
        },
        ScriptStep {
            text: "More.".into(),
            calls: vec![read("l2")],
        },
        ScriptStep {
            text: "Done reading.".into(),
            calls: vec![],
        },
    ];
    let (mut f, script, _server) = scripted(steps, false);
    f.engine = f.engine.clone().with_max_steps(2);
    let sid = session(&f).await;
    let events = run_answering(&f, sid, AgentMode::Ask, "read", |_| Answer::Allow).await;
    assert!(events
        .iter()
        .any(|e| matches!(e, TurnEvent::StepLimit { steps: 2 })));
    // The limit's event comes before the turn's last.
    let at = |p: &dyn Fn(&TurnEvent) -> bool| events.iter().position(p).unwrap();
    assert!(
        at(&|e| matches!(e, TurnEvent::StepLimit { .. }))
            < at(&|e| matches!(
                e,
                TurnEvent::Finished {
                    turn_done: true,
                    ..
                }
            ))
    );
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    let last_result = items
        .iter()
        .rev()
        .find(|i| i.kind == ItemKind::ToolResult)
        .unwrap();
    assert!(
        last_result.text.contains("limit of 2 steps"),
        "{}",
        last_result.text
    );
    assert_eq!(script.served(), [1, 1, 0]);
    // Going on: the next turn sends the whole history (each call with its result) and
    // the script, seeing l2's result, answers.
    run_answering(&f, sid, AgentMode::Ask, "go on", |_| Answer::Allow).await;
    assert_eq!(script.served(), [1, 1, 1]);
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    assert_eq!(items.last().unwrap().text, "Done reading.");
}

#[tokio::test]
async fn find_files_answers_from_the_project_s_index() {
    let steps = vec![
        ScriptStep {
            text: String::new(),
            calls: vec![
                call("f1", "find_files", serde_json::json!({"query": "tstsh"})),
                call(
                    "f2",
                    "find_files",
                    serde_json::json!({"query": "zzzz-nothing"}),
                ),
                call("f3", "find_files", serde_json::json!({"limit": 3})),
            ],
        },
        ScriptStep {
            text: "Found.".into(),
            calls: vec![],
        },
    ];
    let (f, _script, _server) = scripted(steps, false);
    let sid = session(&f).await;
    run_answering(&f, sid, AgentMode::Ask, "where are the tests", |_| {
        Answer::Allow
    })
    .await;
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    let results: Vec<&str> = items
        .iter()
        .filter(|i| i.kind == ItemKind::ToolResult)
        .map(|i| i.text.as_str())
        .collect();
    assert_eq!(results[0].lines().next(), Some("test.sh"));
    assert_eq!(results[1], "no files match");
    assert!(results[2].contains("needs `query`"));
}

#[tokio::test]
async fn a_free_text_patch_streams_into_the_review_as_it_is_written() {
    let steps = vec![
        ScriptStep {
            text: "Patching.".into(),
            calls: vec![patch_call("s1", WRONG_FIX)],
        },
        ScriptStep {
            text: "Done.".into(),
            calls: vec![],
        },
    ];
    let (f, _script, _server) = scripted(steps, true);
    let sid = session(&f).await;
    let events = run_answering(&f, sid, AgentMode::Ask, "patch", |_| Answer::Deny {
        message: None,
    })
    .await;
    let answer = match &events[0] {
        TurnEvent::Started { assistant_item, .. } => assistant_item.id,
        e => panic!("{e:?}"),
    };
    let finished = events
        .iter()
        .position(|e| matches!(e, TurnEvent::Finished { item_id, .. } if *item_id == answer))
        .unwrap();
    // Before the answer is final, its patch is already in review, hunk and all.
    let streamed = events[..finished]
        .iter()
        .find_map(|e| match e {
            TurnEvent::Review { review } if review.item_id == answer => Some(review),
            _ => None,
        })
        .expect("a review while the patch streamed");
    assert_eq!(streamed.files[0].path, "lib.sh");
    assert_eq!(streamed.files[0].hunks.len(), 1);
    // Withdrawn once the answer is final (an empty review of the answer), so a call
    // that is denied, not run or cannot be planned leaves no stale preview.
    let withdrawn = events
        .iter()
        .position(|e| matches!(e, TurnEvent::Review { review } if review.item_id == answer && review.files.is_empty()))
        .expect("the preview withdrawn");
    let asked = events
        .iter()
        .position(|e| matches!(e, TurnEvent::Question { .. }))
        .unwrap();
    assert!(withdrawn < asked);
    // Then the call's own review, which the question is about.
    let question = events
        .iter()
        .find_map(|e| match e {
            TurnEvent::Question { question } => Some(question),
            _ => None,
        })
        .unwrap();
    assert!(matches!(&question.ask, Ask::Edit { review } if review.item_id == question.item_id));
}

#[tokio::test]
async fn a_bare_repository_under_any_name_made_in_the_sandbox_is_disabled() {
    if !flint_exec::sandbox_support().available() {
        return;
    }
    let cmd = "mkdir -p evil/objects evil/refs && echo 'ref: refs/heads/main' > evil/HEAD && \
               printf '[core]\\n\\tfsmonitor = touch /tmp/pwned\\n' > evil/config && \
               mkdir -p r/refs && echo 'ref: refs/heads/main' > r/HEAD && ln -s refs r/objects";
    let steps = vec![
        ScriptStep {
            text: String::new(),
            calls: vec![call(
                "b1",
                "run_command",
                serde_json::json!({ "command": cmd }),
            )],
        },
        ScriptStep {
            text: "Done.".into(),
            calls: vec![],
        },
    ];
    let (f, _script, _server) = scripted(steps, false);
    let sid = session(&f).await;
    run_answering(&f, sid, AgentMode::FullAuto, "make it", |_| Answer::Allow).await;
    let items = Store::open(&f.db).unwrap().items(sid).unwrap();
    let result = items
        .iter()
        .find(|i| i.kind == ItemKind::ToolResult)
        .unwrap();
    assert!(
        result.text.contains("evil/HEAD (now HEAD.flint-disabled-"),
        "{}",
        result.text
    );
    assert!(!f.project.path().join("evil/HEAD").exists());
    // Git takes links for objects/ and refs/ too: so does Flint.
    assert!(
        result.text.contains("r/HEAD (now HEAD.flint-disabled-"),
        "{}",
        result.text
    );
    assert!(f.project.path().join("evil/config").exists());
}

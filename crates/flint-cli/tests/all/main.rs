//! `flint ask` as a process, against the stand-in server replaying a recorded transcript.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flint_replay::{Config, Fault, Reply, StandIn, Transcript};
use flint_store::{ItemRole, ItemStatus, Store};

mod acp;
mod agent;
mod first_hour;
mod peer;
mod trust;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sse")
        .join(name)
}

fn serve(reply: Reply) -> StandIn {
    StandIn::start(Config::default().route("/chat/completions", reply), 0).unwrap()
}

fn hello() -> Transcript {
    Transcript::load(&fixture("chat-hello.sse")).unwrap()
}

struct Home {
    dir: tempfile::TempDir,
    project: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
            project: tempfile::tempdir().unwrap(),
        }
    }

    fn flint(&self, base_url: &str, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_flint-cli"))
            .args(args)
            .env("FLINT_DATA_DIR", self.dir.path().join("data"))
            .env("FLINT_CONFIG_DIR", self.dir.path().join("config"))
            .env("OPENAI_BASE_URL", base_url)
            .env("FLINT_MODEL", "fixture-model")
            .env_remove("OPENAI_API_KEY")
            .output()
            .unwrap()
    }

    fn store(&self) -> Store {
        Store::open(&self.dir.path().join("data/flint.db")).unwrap()
    }

    fn project(&self) -> &Path {
        self.project.path()
    }
}

#[test]
fn ask_prints_exactly_what_was_streamed_and_records_it() {
    let home = Home::new();
    let server = serve(Reply::Stream {
        transcript: hello(),
        rate: None,
        chunk: Some(7),
        fault: None,
    });
    let project = home.project().to_str().unwrap().to_owned();
    let out = home.flint(
        &server.base_url(),
        &["ask", "--project", &project, "what", "is", "this?"],
    );
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let expected = std::fs::read_to_string(fixture("chat-hello.txt")).unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), expected);

    let body = server.requests()[0].json().unwrap();
    assert_eq!(body["model"], "fixture-model");
    assert_eq!(
        body["messages"].as_array().unwrap().last().unwrap()["content"],
        "what is this?"
    );

    let store = home.store();
    let p = store.last_project().unwrap().unwrap();
    assert_eq!(Path::new(&p.path), home.project().canonicalize().unwrap());
    let s = store.latest_session(p.id).unwrap().unwrap();
    assert_eq!(s.title, "what is this?");
    let items = store.items(s.id).unwrap();
    assert_eq!(items.len(), 2);
    assert_eq!(
        (items[1].role, items[1].status),
        (ItemRole::Assistant, ItemStatus::Complete)
    );
    assert_eq!(items[1].text, expected);
}

#[test]
fn a_failure_exits_non_zero_with_one_sentence_and_keeps_the_partial_answer() {
    let home = Home::new();
    let server = serve(Reply::Stream {
        transcript: hello(),
        rate: None,
        chunk: None,
        fault: Some((4, Fault::Drop)),
    });
    let project = home.project().to_str().unwrap().to_owned();
    let out = home.flint(&server.base_url(), &["ask", "--project", &project, "q"]);
    assert!(!out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "The project is");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with("flint: The connection closed"), "{err}");

    let store = home.store();
    let p = store.last_project().unwrap().unwrap();
    let items = store
        .items(store.latest_session(p.id).unwrap().unwrap().id)
        .unwrap();
    assert_eq!(
        (items[1].text.as_str(), items[1].status),
        ("The project is", ItemStatus::Failed)
    );
}

#[test]
fn provider_errors_and_bad_input_are_clear() {
    let home = Home::new();
    let server = serve(Reply::Status {
        code: 401,
        body: r#"{"error":{"message":"Incorrect API key"}}"#.into(),
        headers: vec![],
    });
    let project = home.project().to_str().unwrap().to_owned();
    let out = home.flint(&server.base_url(), &["ask", "--project", &project, "q"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rejected the API key"));

    let out = home.flint(
        &server.base_url(),
        &["ask", "--project", "/definitely/not/here", "q"],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not exist"), "{err}");
    assert_eq!(server.requests().len(), 1, "no request for a bad project");
}

#[test]
fn ask_speaks_each_wire_format_chosen_on_the_command_line() {
    for (provider, route, name, key_var) in [
        ("openai", "/responses", "responses-hello", "OPENAI_API_KEY"),
        (
            "openai-chat",
            "/chat/completions",
            "chat-hello",
            "OPENAI_API_KEY",
        ),
        (
            "anthropic",
            "/messages",
            "anthropic-hello",
            "ANTHROPIC_API_KEY",
        ),
    ] {
        let home = Home::new();
        let transcript = Transcript::load(&fixture(&format!("{name}.sse"))).unwrap();
        let server = StandIn::start(
            Config::default().route(
                route,
                Reply::Stream {
                    transcript,
                    rate: None,
                    chunk: Some(3),
                    fault: None,
                },
            ),
            0,
        )
        .unwrap();
        let project = home.project().to_str().unwrap().to_owned();
        let base = server.base_url();
        let out = Command::new(env!("CARGO_BIN_EXE_flint-cli"))
            .args([
                "ask",
                "--project",
                &project,
                "--provider",
                provider,
                "--base-url",
                &base,
                "--model",
                "m-1",
                "hi",
            ])
            .env("FLINT_DATA_DIR", home.dir.path().join("data"))
            .env("FLINT_CONFIG_DIR", home.dir.path().join("config"))
            .env_remove("OPENAI_BASE_URL")
            .env_remove("FLINT_MODEL")
            .env_remove("FLINT_PROVIDER")
            .env(key_var, "sk-from-env")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{provider}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let expected = std::fs::read_to_string(fixture(&format!("{name}.txt"))).unwrap();
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            expected,
            "{provider}"
        );
        let req = &server.requests()[0];
        assert_eq!(req.json().unwrap()["model"], "m-1");
        let key_header = if provider == "anthropic" {
            req.header("x-api-key")
        } else {
            req.header("authorization")
        };
        assert!(key_header.unwrap().ends_with("sk-from-env"), "{provider}");
    }
}

#[test]
fn a_provider_that_needs_a_key_says_where_to_put_it() {
    let home = Home::new();
    let project = home.project().to_str().unwrap().to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_flint-cli"))
        .args([
            "ask",
            "--project",
            &project,
            "--provider",
            "cerebras",
            // Not this machine (a local server needs no key); never reached: the
            // missing key fails the request before it is sent.
            "--base-url",
            "https://cerebras.invalid/v1",
            "q",
        ])
        .env("FLINT_DATA_DIR", home.dir.path().join("data"))
        .env("FLINT_CONFIG_DIR", home.dir.path().join("config"))
        .env_remove("CEREBRAS_API_KEY")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("FLINT_MODEL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("No API key is set for cerebras") && err.contains("CEREBRAS_API_KEY"),
        "{err}"
    );
}

#[test]
fn every_failure_exits_non_zero_with_its_sentence_and_keeps_the_partial_answer() {
    let status = |code: u16, body: &str, headers: Vec<(String, String)>| Reply::Status {
        code,
        body: body.into(),
        headers,
    };
    let faulty = |n: usize, fault: Fault| Reply::Stream {
        transcript: hello(),
        rate: None,
        chunk: None,
        fault: Some((n, fault)),
    };
    let mut garbage = std::fs::read(fixture("chat-hello.sse")).unwrap();
    garbage.splice(600..600, b"data: \x01\x02 not json\n\n".iter().copied());
    let cases: Vec<(&str, Option<Reply>, &str, &str)> = vec![
        (
            "bad key",
            Some(status(401, r#"{"error":{"message":"bad"}}"#, vec![])),
            "rejected the API key",
            "",
        ),
        (
            "unknown model",
            Some(status(
                404,
                r#"{"error":{"message":"no such model"}}"#,
                vec![],
            )),
            "does not serve the model `fixture-model`",
            "",
        ),
        (
            "rate limited",
            Some(status(429, "{}", vec![("Retry-After".into(), "90".into())])),
            "rate limiting requests. Try again in 90 s",
            "",
        ),
        (
            "context too long",
            Some(status(
                400,
                r#"{"error":{"message":"maximum context length exceeded"}}"#,
                vec![],
            )),
            "no longer fits the model's context window",
            "",
        ),
        (
            "server error",
            Some(status(500, "oops", vec![])),
            "server error (HTTP 500)",
            "",
        ),
        ("refused", None, "Could not reach the provider", ""),
        (
            "stall",
            Some(faulty(5, Fault::Stall)),
            "stopped sending",
            "The project is a",
        ),
        (
            "drop",
            Some(faulty(5, Fault::Drop)),
            "connection closed before the answer was complete",
            "The project is a",
        ),
        (
            "garbage",
            Some(Reply::stream(Transcript::from_bytes(garbage))),
            "could not read",
            "",
        ),
    ];
    for (name, reply, sentence, partial) in cases {
        let home = Home::new();
        let (server, url) = match reply {
            Some(r) => {
                let s = serve(r);
                let u = s.base_url();
                (Some(s), u)
            }
            None => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                (None, format!("http://127.0.0.1:{port}/v1"))
            }
        };
        let project = home.project().to_str().unwrap().to_owned();
        let out = Command::new(env!("CARGO_BIN_EXE_flint-cli"))
            .args(["ask", "--project", &project, "q"])
            .env("FLINT_DATA_DIR", home.dir.path().join("data"))
            .env("FLINT_CONFIG_DIR", home.dir.path().join("config"))
            .env("OPENAI_BASE_URL", &url)
            .env("FLINT_MODEL", "fixture-model")
            .env("FLINT_IDLE_TIMEOUT", "0.5")
            .env_remove("OPENAI_API_KEY")
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{name}");
        assert!(err.contains(sentence), "{name}: {err}");
        assert!(
            err.lines().last().unwrap().starts_with("flint: "),
            "{name}: {err}"
        );
        assert!(
            String::from_utf8_lossy(&out.stdout).starts_with(partial),
            "{name}"
        );
        if !partial.is_empty() {
            let store = home.store();
            let p = store.last_project().unwrap().unwrap();
            let items = store
                .items(store.latest_session(p.id).unwrap().unwrap().id)
                .unwrap();
            assert_eq!(
                (items[1].text.as_str(), items[1].status),
                (partial, ItemStatus::Failed),
                "{name}"
            );
        }
        drop(server);
    }
}

fn cli(home: &Home, args: &[&str], stdin: Option<&str>) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_flint-cli"))
        .args(args)
        .env("FLINT_DATA_DIR", home.dir.path().join("data"))
        .env("FLINT_CONFIG_DIR", home.dir.path().join("config"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn apply_check_undo_and_redo_from_the_command_line() {
    let home = Home::new();
    let root = home.project().to_path_buf();
    std::fs::write(root.join("a.txt"), "one\ntwo\n").unwrap();
    let project = root.to_str().unwrap().to_owned();
    let answer = "*** Begin Patch\n*** Update File: a.txt\n@@\n one\n-two\n+2\n*** Add File: b.txt\n+new\n*** End Patch\n";

    let out = cli(
        &home,
        &["apply", "--project", &project, "--check"],
        Some(answer),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let diff = String::from_utf8(out.stdout).unwrap();
    assert!(
        diff.contains("--- a/a.txt\n+++ b/a.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+2\n"),
        "{diff}"
    );
    assert!(diff.contains("--- /dev/null\n+++ b/b.txt\n"), "{diff}");
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "one\ntwo\n"
    );
    assert!(!root.join("b.txt").exists());

    let answer_file = home.dir.path().join("answer.md");
    std::fs::write(&answer_file, answer).unwrap();
    let out = cli(
        &home,
        &[
            "apply",
            "--project",
            &project,
            answer_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "one\n2\n"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("b.txt")).unwrap(),
        "new\n"
    );

    let out = cli(&home, &["undo", "--project", &project], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(root.join("a.txt")).unwrap(),
        "one\ntwo\n"
    );
    assert!(!root.join("b.txt").exists());
    let out = cli(&home, &["redo", "--project", &project], None);
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(root.join("b.txt")).unwrap(),
        "new\n"
    );

    // An edit by the user makes undo refuse, naming the file.
    std::fs::write(root.join("b.txt"), "mine\n").unwrap();
    let out = cli(&home, &["undo", "--project", &project], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("b.txt was changed after Flint wrote it"));
    assert_eq!(
        std::fs::read_to_string(root.join("b.txt")).unwrap(),
        "mine\n"
    );
}

#[test]
fn apply_writes_nothing_when_any_edit_fails() {
    let home = Home::new();
    let root = home.project().to_path_buf();
    std::fs::write(root.join("a.txt"), "one\n").unwrap();
    let project = root.to_str().unwrap().to_owned();
    let answer = "*** Begin Patch\n*** Add File: new.txt\n+x\n*** Update File: a.txt\n@@\n-missing\n+y\n*** End Patch\n";
    let out = cli(&home, &["apply", "--project", &project, "-"], Some(answer));
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("a.txt: the lines starting `missing` are not in the file"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!root.join("new.txt").exists());
}

#[test]
fn context_prints_each_section_with_its_tokens() {
    let home = Home::new();
    let root = home.project().to_path_buf();
    std::fs::write(root.join("AGENTS.md"), "Use tabs.\n").unwrap();
    std::fs::create_dir_all(root.join("src")).unwrap();
    std::fs::write(root.join("src/a.rs"), "fn a() {}\n").unwrap();
    std::fs::write(home.dir.path().join("AGENTS.md"), "global rule\n").unwrap();
    let project = root.to_str().unwrap().to_owned();
    let out = Command::new(env!("CARGO_BIN_EXE_flint-cli"))
        .args([
            "context",
            "--project",
            &project,
            "explain",
            "@src/a.rs",
            "and",
            "@missing.rs",
        ])
        .env("FLINT_DATA_DIR", home.dir.path().join("data"))
        .env("FLINT_CONFIG_DIR", home.dir.path())
        .env("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
        .env("FLINT_MODEL", "gpt-5.3-codex-spark")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("model: gpt-5.3-codex-spark (tokens)\n"),
        "{text}"
    );
    for want in [
        "System prompt",
        "AGENTS.md (",
        "@src/a.rs",
        "Prompt",
        "total of a 128000-token window",
    ] {
        assert!(text.contains(want), "missing {want}: {text}");
    }
    assert_eq!(
        text.matches("AGENTS.md (").count(),
        2,
        "global and project: {text}"
    );
    assert!(!text.contains("@missing.rs"), "{text}");
}

#[test]
fn sessions_can_be_listed_searched_shown_and_exported() {
    let home = Home::new();
    let server = serve(Reply::stream(hello()));
    let project = home.project().to_str().unwrap().to_owned();
    assert!(home
        .flint(
            &server.base_url(),
            &["ask", "--project", &project, "where is the entry point?"]
        )
        .status
        .success());
    let run = |args: &[&str]| {
        let out = home.flint(&server.base_url(), args);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let list = run(&["sessions", "list"]);
    assert!(
        list.contains("where is the entry point?") && list.contains("fixture-model"),
        "{list}"
    );
    let id = list.split_whitespace().next().unwrap().to_string();

    let found = run(&["sessions", "search", "greeting"]);
    assert!(
        found.contains(&format!("session {id} ")) && found.contains("[greeting]"),
        "{found}"
    );
    assert_eq!(run(&["sessions", "search", "nonexistentword"]), "");

    let md = run(&["sessions", "show", &id]);
    assert!(
        md.starts_with("# where is the entry point?\n") && md.contains("## fixture-model"),
        "{md}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run(&["sessions", "export", &id, "--format", "json"])).unwrap();
    assert_eq!(json["items"].as_array().unwrap().len(), 2);
    assert_eq!(json["items"][1]["status"], "complete");
}

#[cfg(unix)]
#[test]
fn a_process_killed_mid_stream_leaves_a_sound_database_with_the_partial_answer() {
    let home = Home::new();
    // 10 events a second: the answer would take about 5 s.
    let server = serve(Reply::Stream {
        transcript: hello(),
        rate: Some(10.0),
        chunk: None,
        fault: None,
    });
    let project = home.project().to_str().unwrap().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_flint-cli"))
        .args(["ask", "--project", &project, "tell me slowly"])
        .env("FLINT_DATA_DIR", home.dir.path().join("data"))
        .env("FLINT_CONFIG_DIR", home.dir.path().join("config"))
        .env("OPENAI_BASE_URL", server.base_url())
        .env("FLINT_MODEL", "fixture-model")
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let db = home.dir.path().join("data/flint.db");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let mut seen = String::new();
    while seen.len() < 12 && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(conn) =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        {
            seen = conn
                .query_row(
                    "SELECT text FROM items WHERE role = 'assistant' ORDER BY id DESC LIMIT 1",
                    [],
                    |r| r.get(0),
                )
                .unwrap_or_default();
        }
    }
    assert!(
        seen.len() >= 12,
        "the growing answer was never written: {seen:?}"
    );
    child.kill().unwrap(); // SIGKILL: no chance to clean up
    child.wait().unwrap();

    let store = Store::open(&db).unwrap();
    assert_eq!(store.integrity_check().unwrap(), Ok(()));
    let p = store.last_project().unwrap().unwrap();
    let items = store
        .items(store.latest_session(p.id).unwrap().unwrap().id)
        .unwrap();
    assert_eq!(items[1].status, ItemStatus::Interrupted);
    let expected = std::fs::read_to_string(fixture("chat-hello.txt")).unwrap();
    assert!(
        items[1].text.len() >= seen.len() && expected.starts_with(&items[1].text),
        "{:?}",
        items[1].text
    );
}

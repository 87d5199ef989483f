//! A new user's first hour at the terminal: a key in the environment is enough to start,
//! messages name command-line remedies, `flint context` works before any model is set
//! up, a wrong base URL is told from an unknown model, and a cut-off answer says so.

use super::*;

/// `flint-cli` with a clean environment: no provider variables but `env`.
fn bare(home: &Home, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flint-cli"));
    cmd.args(args)
        .env("FLINT_DATA_DIR", home.dir.path().join("data"))
        .env("FLINT_CONFIG_DIR", home.dir.path().join("config"));
    for var in [
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "ANTHROPIC_API_KEY",
        "CEREBRAS_API_KEY",
        "GROQ_API_KEY",
        "OPENROUTER_API_KEY",
        "FLINT_PROVIDER",
        "FLINT_MODEL",
        "FLINT_BASE_URL",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied()).output().unwrap()
}

/// A stand-in server that speaks the Responses API only.
fn responses_server() -> StandIn {
    let hello = Transcript::load(&fixture("responses-hello.sse")).unwrap();
    StandIn::start(
        Config::default().route("/responses", Reply::stream(hello)),
        0,
    )
    .unwrap()
}

fn settings(home: &Home, text: &str) {
    let dir = home.dir.path().join("config");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("settings.toml"), text).unwrap();
}

#[test]
fn a_key_in_the_environment_is_enough_to_ask() {
    let home = Home::new();
    let server = responses_server();
    // Only the API's address is moved (to the stand-in); nothing chooses a model.
    settings(
        &home,
        &format!("[providers.openai]\nbase_url = \"{}\"\n", server.base_url()),
    );
    let project = home.project().to_str().unwrap().to_owned();
    let out = bare(
        &home,
        &["ask", "--project", &project, "hi"],
        &[("OPENAI_API_KEY", "sk-test-key-from-env")],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        std::fs::read_to_string(fixture("responses-hello.txt")).unwrap()
    );
    // It says which provider and model, and how to choose another.
    assert!(
        err.contains(&format!(
            "using openai with gpt-5.1-codex-mini at {} (OPENAI_API_KEY is set)",
            server.base_url()
        )) && err.contains("--provider")
            && err.contains("settings.toml"),
        "{err}"
    );
    let req = &server.requests()[0];
    assert_eq!(req.json().unwrap()["model"], "gpt-5.1-codex-mini");
    assert_eq!(
        req.header("authorization"),
        Some("Bearer sk-test-key-from-env")
    );
}

#[test]
fn a_key_is_never_sent_to_a_server_named_without_its_provider() {
    let home = Home::new();
    let server = serve(Reply::stream(hello()));
    let project = home.project().to_str().unwrap().to_owned();
    let base = server.base_url();
    for args in [
        vec!["ask", "--project", &project, "--base-url", &base, "hi"],
        vec!["ask", "--project", &project, "--model", "m", "hi"],
    ] {
        let out = bare(&home, &args, &[("CEREBRAS_API_KEY", "csk-secret-key-1234")]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains("--provider"), "{err}");
    }
    assert!(server.requests().is_empty(), "nothing was sent");
}

#[test]
fn with_no_model_the_terminal_is_told_terminal_remedies() {
    let home = Home::new();
    let project = home.project().to_str().unwrap().to_owned();
    let out = bare(&home, &["ask", "--project", &project, "hi"], &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    for want in ["--provider", "OPENAI_API_KEY", "settings.toml"] {
        assert!(err.contains(want), "{want}: {err}");
    }
    assert!(!err.contains("Open Settings"), "{err}");

    // A provider that needs a key names the variable and the settings file.
    let out = bare(
        &home,
        &["ask", "--project", &project, "--provider", "groq", "hi"],
        &[],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("GROQ_API_KEY")
            && err.contains("[providers.groq]")
            && !err.contains("Add one in Settings"),
        "{err}"
    );
}

#[test]
fn context_runs_before_any_model_is_set_up() {
    let home = Home::new();
    std::fs::write(home.project().join("AGENTS.md"), "Use tabs.\n").unwrap();
    let project = home.project().to_str().unwrap().to_owned();
    let out = bare(&home, &["context", "--project", &project, "explain"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.starts_with("model: none set up; counted against a default 128000-token window"),
        "{text}"
    );
    for want in [
        "System prompt",
        "AGENTS.md (",
        "Prompt",
        "total of a 128000-token window",
    ] {
        assert!(text.contains(want), "missing {want}: {text}");
    }
}

#[test]
fn a_wrong_base_url_is_not_an_unknown_model() {
    let home = Home::new();
    // The server speaks the Responses API only: Chat Completions' route is not there.
    let server = responses_server();
    let project = home.project().to_str().unwrap().to_owned();
    let base = server.base_url();
    let out = bare(
        &home,
        &[
            "ask",
            "--project",
            &project,
            "--provider",
            "openai-chat",
            "--base-url",
            &base,
            "--model",
            "m",
            "hi",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("404") && err.contains("/chat/completions") && err.contains("--base-url"),
        "{err}"
    );
    assert!(!err.contains("does not serve the model"), "{err}");
}

#[test]
fn an_answer_cut_off_at_the_length_limit_warns_and_is_kept_as_cut_off() {
    let home = Home::new();
    let chunk = |content: &str, finish: &str| {
        format!(
            "data: {{\"id\":\"c\",\"object\":\"chat.completion.chunk\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{content}\"}},\"finish_reason\":{finish}}}]}}\n\n"
        )
    };
    let body = chunk("The first half", "null") + &chunk("", "\"length\"") + "data: [DONE]\n\n";
    let server = serve(Reply::stream(Transcript::from_bytes(body.into_bytes())));
    let project = home.project().to_str().unwrap().to_owned();
    let out = home.flint(&server.base_url(), &["ask", "--project", &project, "q"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "The first half");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("warning") && err.contains("cut the answer off"),
        "{err}"
    );
    let store = home.store();
    let p = store.last_project().unwrap().unwrap();
    let items = store
        .items(store.latest_session(p.id).unwrap().unwrap().id)
        .unwrap();
    assert_eq!(items[1].status, ItemStatus::Truncated);
}

//! `flint ask --agent`: Codex itself (its ACP adapter, as `cargo xtask test` installs
//! it) on the stand-in playing a scripted Responses conversation; `flint undo --turn`
//! takes back what it changed; `flint agents list`.

use super::*;

fn codex_acp() -> Option<PathBuf> {
    let found = std::env::var_os("FLINT_TEST_AGENTS")
        .map(|d| PathBuf::from(d).join("codex-acp"))
        .filter(|p| p.exists());
    if found.is_none() {
        assert!(
            std::env::var_os("FLINT_REQUIRE_AGENTS").is_none(),
            "codex-acp is not installed (cargo xtask test installs it into target/agents)"
        );
        eprintln!("skipped: codex-acp is not installed (cargo xtask test installs it)");
    }
    found
}

/// A folder for Codex's home in a test: never under /tmp (Codex refuses to put its
/// sandbox helper there, and then runs no command and writes no file), so under the
/// user's cache folder, whatever the checkout's location.
fn codex_home_dir() -> tempfile::TempDir {
    let base = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache").join("flint-tests"))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")));
    std::fs::create_dir_all(&base).unwrap();
    tempfile::tempdir_in(base).unwrap()
}

fn fixture_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/acp")
        .join(name)
}

#[test]
fn flint_ask_with_codex_over_acp_answers_edits_and_is_undone() {
    let Some(codex) = codex_acp() else { return };
    let script = flint_replay::script::Script::parse(
        &std::fs::read_to_string(fixture_file("codex-turn.json")).unwrap(),
    )
    .unwrap();
    let server = StandIn::start(
        Config::default().route("/responses", Reply::Script(script)),
        0,
    )
    .unwrap();
    let codex_home = codex_home_dir();
    std::fs::write(
        codex_home.path().join("config.toml"),
        format!(
            "model = \"gpt-5.3-codex-spark\"\nmodel_provider = \"standin\"\n\
             model_catalog_json = \"{}\"\n\n[model_providers.standin]\nname = \"Stand-in\"\n\
             base_url = \"{}\"\nwire_api = \"responses\"\nenv_key = \"STANDIN_KEY\"\n",
            fixture_file("codex-catalog.json").display(),
            server.base_url()
        ),
    )
    .unwrap();
    let home = Home::new();
    let root = home.project().to_path_buf();
    std::fs::write(root.join("a.txt"), "one\ntwo\nthree\n").unwrap();
    let project = root.to_str().unwrap().to_owned();
    let agent = format!(
        "env 'CODEX_HOME={}' STANDIN_KEY=stand-in '{}'",
        codex_home.path().display(),
        codex.display()
    );
    let out = cli(
        &home,
        &[
            "ask",
            "--project",
            &project,
            "--agent",
            &agent,
            "--mode",
            "auto-edit",
            "Make two loud in a.txt",
        ],
        None,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("Reading it first."), "{stdout}");
    assert!(
        stdout.trim_end().ends_with("Done: a.txt now says TWO."),
        "{stdout}"
    );
    // Its calls and what it changed, said on stderr.
    assert!(
        stderr.contains("flint: > ") && stderr.contains("changed a.txt"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(root.join("a.txt")).unwrap(),
        b"one\nTWO\nthree\n"
    );

    let out = cli(&home, &["undo", "--project", &project, "--turn"], None);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read(root.join("a.txt")).unwrap(),
        b"one\ntwo\nthree\n"
    );

    // The session is in the history, searchable, with the agent's answer.
    let out = cli(&home, &["sessions", "search", "loud"], None);
    assert!(String::from_utf8_lossy(&out.stdout).contains("loud"));
}

#[test]
fn flint_agents_lists_the_known_agents_and_refuses_an_unknown_one() {
    let home = Home::new();
    let out = cli(&home, &["agents", "list"], None);
    assert!(out.status.success());
    let list = String::from_utf8_lossy(&out.stdout);
    for id in ["codex", "claude", "gemini"] {
        assert!(list.lines().any(|l| l.starts_with(id)), "{list}");
    }
    let out = cli(&home, &["agents", "install", "nonesuch"], None);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("knows no agent `nonesuch`"));
    // A missing agent: a clear error, nothing run.
    let project = home.project().to_str().unwrap().to_owned();
    let out = cli(
        &home,
        &[
            "ask",
            "--project",
            &project,
            "--agent",
            "/nonexistent/agent",
            "hi",
        ],
        None,
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("/nonexistent/agent could not start"), "{err}");
}

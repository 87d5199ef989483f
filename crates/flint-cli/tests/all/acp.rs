//! `flint ask --agent`: Codex itself (its ACP adapter, as `cargo xtask test` installs
//! it) on the stand-in playing a scripted Responses conversation; `flint undo --turn`
//! takes back what it changed; `flint agents list`.

use super::*;
use flint_replay::agents;

#[test]
fn flint_ask_with_codex_over_acp_answers_edits_and_is_undone() {
    let Some(codex) = agents::real_agent("codex-acp") else {
        return;
    };
    let script = flint_replay::script::Script::parse(
        &std::fs::read_to_string(agents::fixture("codex-turn.json")).unwrap(),
    )
    .unwrap();
    let server = StandIn::start(
        Config::default().route("/responses", Reply::Script(script)),
        0,
    )
    .unwrap();
    let codex_home = tempfile::tempdir_in(agents::homes_dir()).unwrap();
    agents::write_codex_config(codex_home.path(), &server.base_url()).unwrap();
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

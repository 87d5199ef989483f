//! `flint ask --mode`: the agent headless, against the stand-in playing a scripted
//! conversation; `flint undo --turn` takes the whole turn back.

use super::*;
use flint_replay::script::{Script, ScriptCall, Step};

fn agent_script() -> std::sync::Arc<Script> {
    let shell = |id: &str, cmd: &str| ScriptCall {
        id: id.into(),
        name: "shell".into(),
        input: serde_json::json!({"command": ["bash", "-lc", cmd]}).to_string(),
        custom: false,
    };
    Script::new(vec![
        Step {
            text: "Adding the greeting.".into(),
            calls: vec![ScriptCall {
                id: "p1".into(),
                name: "apply_patch".into(),
                input: "*** Begin Patch\n*** Update File: greet.sh\n@@\n-echo hi\n+echo hello\n*** End Patch".into(),
                custom: true,
            }],
        },
        Step {
            text: String::new(),
            calls: vec![shell("r1", "sh greet.sh > out.txt && cat out.txt")],
        },
        Step {
            text: "Done: it says hello.".into(),
            calls: vec![],
        },
    ])
}

/// Whether Full auto runs commands here without asking (a sandbox exists); where it
/// does not (Windows; Linux without bubblewrap, which the test command installs) it
/// asks, and the full-auto tests have nothing to check.
fn sandboxed_here() -> bool {
    let here = ["/usr/bin/bwrap", "/bin/bwrap", "/usr/bin/sandbox-exec"]
        .iter()
        .any(|p| std::path::Path::new(p).exists());
    if !here {
        eprintln!("no sandbox on this machine: skipped");
    }
    here
}

fn ask_agent(home: &Home, server: &StandIn, mode: &str) -> Output {
    let project = home.project().to_str().unwrap().to_owned();
    Command::new(env!("CARGO_BIN_EXE_flint-cli"))
        .args([
            "ask",
            "--project",
            &project,
            "--provider",
            "openai",
            "--base-url",
            &server.base_url(),
            "--model",
            "gpt-5.3-codex-spark",
            "--mode",
            mode,
            "greet",
        ])
        .env("FLINT_DATA_DIR", home.dir.path().join("data"))
        .env("FLINT_CONFIG_DIR", home.dir.path().join("config"))
        .env_remove("OPENAI_BASE_URL")
        .env_remove("FLINT_MODEL")
        .env("OPENAI_API_KEY", "sk-stand-in")
        .output()
        .unwrap()
}

#[test]
fn full_auto_acts_headless_and_undo_turn_takes_it_all_back() {
    if !sandboxed_here() {
        return;
    }
    let home = Home::new();
    std::fs::write(home.project().join("greet.sh"), "echo hi\n").unwrap();
    let script = agent_script();
    let server = StandIn::start(
        Config::default().route("/responses", Reply::Script(script.clone())),
        0,
    )
    .unwrap();
    let out = ask_agent(&home, &server, "full-auto");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(script.served(), [1, 1, 1]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    // Each answer with text on a line of its own; the empty one between prints nothing.
    assert_eq!(stdout, "Adding the greeting.\nDone: it says hello.");
    // The command's output is shown live on stderr, with each call.
    assert!(stderr.contains("flint: > apply_patch"), "{stderr}");
    assert!(stderr.contains("hello\n"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(home.project().join("greet.sh")).unwrap(),
        "echo hello\n"
    );
    assert_eq!(
        std::fs::read_to_string(home.project().join("out.txt")).unwrap(),
        "hello\n"
    );

    let undo = home.flint(
        "",
        &[
            "undo",
            "--turn",
            "--project",
            home.project().to_str().unwrap(),
        ],
    );
    assert!(
        undo.status.success(),
        "{}",
        String::from_utf8_lossy(&undo.stderr)
    );
    assert_eq!(String::from_utf8(undo.stdout).unwrap().lines().count(), 2);
    assert_eq!(
        std::fs::read_to_string(home.project().join("greet.sh")).unwrap(),
        "echo hi\n"
    );
    assert!(!home.project().join("out.txt").exists());
}

#[test]
fn ask_mode_without_a_terminal_denies_and_says_how_to_allow() {
    let home = Home::new();
    std::fs::write(home.project().join("greet.sh"), "echo hi\n").unwrap();
    let script = agent_script();
    let server = StandIn::start(
        Config::default().route("/responses", Reply::Script(script.clone())),
        0,
    )
    .unwrap();
    let out = ask_agent(&home, &server, "ask");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no terminal to ask on; pass --mode auto-edit or --mode full-auto"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(home.project().join("greet.sh")).unwrap(),
        "echo hi\n"
    );
    assert!(!home.project().join("out.txt").exists());
    // The model was told each time, and the conversation went on.
    let bodies: Vec<String> = server.requests().iter().map(|r| r.body.clone()).collect();
    assert!(bodies
        .iter()
        .any(|b| b.contains("no terminal to ask the user on")));
}

/// On a terminal (a pty from util-linux's `script`), ask mode asks: the command, why,
/// and y/n/a; `a` runs it and remembers it for the project.
#[cfg(target_os = "linux")]
#[test]
fn ask_mode_asks_on_a_terminal_and_always_remembers() {
    if !std::path::Path::new("/usr/bin/script").exists() {
        eprintln!("no script(1) here: skipped");
        return;
    }
    let home = Home::new();
    std::fs::write(home.project().join("greet.sh"), "echo hi from greet\n").unwrap();
    let script = Script::new(vec![
        Step {
            text: "Running.".into(),
            calls: vec![ScriptCall {
                id: "c1".into(),
                name: "exec_command".into(),
                input: serde_json::json!({"cmd": "sh greet.sh", "justification": "to greet"})
                    .to_string(),
                custom: false,
            }],
        },
        Step {
            text: "Done.".into(),
            calls: vec![],
        },
    ]);
    let server = StandIn::start(
        Config::default().route("/responses", Reply::Script(script)),
        0,
    )
    .unwrap();
    let line = format!(
        "{} ask --project {} --provider openai --base-url {} --model gpt-5.3-codex-spark --mode ask hi",
        env!("CARGO_BIN_EXE_flint-cli"),
        home.project().display(),
        server.base_url()
    );
    let mut child = Command::new("/usr/bin/script")
        .args(["-qec", &line, "/dev/null"])
        .env("FLINT_DATA_DIR", home.dir.path().join("data"))
        .env("FLINT_CONFIG_DIR", home.dir.path().join("config"))
        .env("OPENAI_API_KEY", "sk-stand-in")
        .env_remove("OPENAI_BASE_URL")
        .env_remove("FLINT_MODEL")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The answer typed once the question is up (script forwards it to the pty).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    use std::io::Write;
    child.stdin.as_mut().unwrap().write_all(b"a\n").unwrap();
    let out = child.wait_with_output().unwrap();
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("the model wants to run:"), "{shown}");
    assert!(shown.contains("because: to greet"), "{shown}");
    assert!(
        shown.contains("[a]lways allow `sh greet.sh` here?"),
        "{shown}"
    );
    assert!(shown.contains("hi from greet"), "{shown}");
    assert!(shown.contains("Done."), "{shown}");
    let store = home.store();
    let project = store
        .touch_project(&home.project().display().to_string(), "p")
        .unwrap();
    assert_eq!(store.allowed_commands(project.id).unwrap(), ["sh greet.sh"]);
}

/// The end-to-end journey's task, headless: read, patch, test (fails), patch, test
/// (passes), answer - every command in the sandbox - then `flint undo --turn` brings
/// every file back byte for byte.
#[test]
fn the_scripted_task_headless_in_full_auto_and_undone_to_the_byte() {
    if !sandboxed_here() {
        return;
    }
    let home = Home::new();
    let p = home.project();
    std::fs::write(p.join("calc.sh"), "add() {\n  echo $(( $1 - $2 ))\n}\n").unwrap();
    std::fs::write(
        p.join("test_calc.sh"),
        ". ./calc.sh\nfor t in \"2 3 5\" \"-1 1 0\"; do set -- $t\n  if [ \"$(add $1 $2)\" = \"$3\" ]; \
         then echo \"ok add $1 $2\"; else echo \"FAIL add $1 $2\"; exit 1; fi\ndone\n",
    )
    .unwrap();
    let files = |root: &std::path::Path| {
        let mut out = std::collections::BTreeMap::new();
        for e in std::fs::read_dir(root).unwrap().flatten() {
            out.insert(e.file_name(), std::fs::read(e.path()).unwrap());
        }
        out
    };
    let before = files(p);
    let patch = |from: &str, to: &str| {
        format!("*** Begin Patch\n*** Update File: calc.sh\n@@\n add() {{\n-  echo {from}\n+  echo {to}\n }}\n*** End Patch")
    };
    let exec = |id: &str, cmd: &str| ScriptCall {
        id: id.into(),
        name: "exec_command".into(),
        input: serde_json::json!({ "cmd": cmd }).to_string(),
        custom: false,
    };
    let patch_call = |id: &str, text: String| ScriptCall {
        id: id.into(),
        name: "apply_patch".into(),
        input: text,
        custom: true,
    };
    let step = |text: &str, calls: Vec<ScriptCall>| Step {
        text: text.into(),
        calls,
    };
    let script = Script::new(vec![
        step("Reading.", vec![exec("c1", "cat calc.sh")]),
        step(
            "",
            vec![patch_call("c2", patch("$(( $1 - $2 ))", "$(( $1 + $2 ))1"))],
        ),
        step("", vec![exec("c3", "sh test_calc.sh")]),
        step(
            "",
            vec![patch_call("c4", patch("$(( $1 + $2 ))1", "$(( $1 + $2 ))"))],
        ),
        step("", vec![exec("c5", "sh test_calc.sh")]),
        step("Fixed.", vec![]),
    ]);
    let server = StandIn::start(
        Config::default().route("/responses", Reply::Script(script.clone())),
        0,
    )
    .unwrap();
    let out = ask_agent(&home, &server, "full-auto");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(script.served(), [1, 1, 1, 1, 1, 1]);
    assert!(
        stderr.contains("FAIL add 2 3") && stderr.contains("ok add -1 1"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_to_string(p.join("calc.sh")).unwrap(),
        "add() {\n  echo $(( $1 + $2 ))\n}\n"
    );
    let undo = home.flint("", &["undo", "--turn", "--project", p.to_str().unwrap()]);
    assert!(
        undo.status.success(),
        "{}",
        String::from_utf8_lossy(&undo.stderr)
    );
    assert_eq!(files(p), before);
}

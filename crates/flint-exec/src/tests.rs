use std::time::Duration;

use super::*;

fn shell(s: &str, cwd: &std::path::Path) -> Command {
    Command {
        program: Program::Shell(s.into()),
        cwd: cwd.to_path_buf(),
        timeout: Duration::from_secs(20),
        max_output: 64 * 1024,
        sandbox: None,
    }
}

async fn go(cmd: &Command) -> (Finished, String) {
    let mut streamed = String::new();
    let done = run(
        cmd,
        &mut |s| streamed.push_str(s),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    (done, streamed)
}

#[tokio::test]
async fn output_streams_and_the_exit_code_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (done, streamed) = go(&shell("echo out; echo err >&2; exit 3", dir.path())).await;
    assert_eq!(done.ended, Ended::Exited);
    assert_eq!(done.code, Some(3));
    assert!(!done.success());
    assert!(
        streamed.contains("out\n") && streamed.contains("err\n"),
        "{streamed}"
    );
    assert_eq!(done.output.len(), streamed.len());
}

#[tokio::test]
async fn a_flood_of_output_is_kept_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = shell(
        "head -c 100000000 /dev/zero | tr '\\0' x; echo; echo last",
        dir.path(),
    );
    cmd.max_output = 32 * 1024;
    let mut streamed = 0usize;
    let done = run(
        &cmd,
        &mut |s| streamed += s.len(),
        &CancellationToken::new(),
    )
    .await
    .unwrap();
    assert!(done.success());
    assert_eq!(done.total_bytes, 100_000_006);
    assert_eq!(streamed as u64, done.total_bytes);
    assert!(done.output.len() < 33 * 1024);
    assert!(done.output.ends_with("x\nlast\n"));
    assert!(done.output.contains("bytes of output left out"));
}

/// Every pid in the process group `pgid` still alive (read from /proc).
#[cfg(target_os = "linux")]
fn group_alive(pgid: u32) -> Vec<u32> {
    let mut alive = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid pgrp ...
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split(' ').collect();
        if fields[0] != "Z" && fields[2].parse::<u32>().ok() == Some(pgid) {
            alive.push(pid);
        }
    }
    alive
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn stop_and_timeout_kill_the_whole_group_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    // A child that spawns grandchildren which ignore SIGTERM and never end.
    let script = format!(
        "echo $$ > {p}; (trap '' TERM; sleep 1000) & (trap '' TERM; sleep 1000) & echo started; wait",
        p = pidfile.display()
    );
    let cancel = CancellationToken::new();
    let stopper = cancel.clone();
    let cmd = shell(&script, dir.path());
    let mut started = None;
    let t = std::time::Instant::now();
    let mut on_output = |s: &str| {
        if s.contains("started") {
            started = Some(std::time::Instant::now());
            stopper.cancel();
        }
    };
    let run_it = run(&cmd, &mut on_output, &cancel);
    let done = tokio::time::timeout(Duration::from_secs(10), run_it)
        .await
        .expect("stopped")
        .unwrap();
    assert_eq!(done.ended, Ended::Cancelled);
    let stopped_in = started.unwrap().elapsed();
    let pgid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        group_alive(pgid).is_empty(),
        "left running: {:?}",
        group_alive(pgid)
    );
    eprintln!("stopped in {stopped_in:?} (whole run {:?})", t.elapsed());

    let mut cmd = shell(
        &format!(
            "echo $$ > {p}; sleep 1000 & sleep 1000",
            p = pidfile.display()
        ),
        dir.path(),
    );
    cmd.timeout = Duration::from_millis(300);
    let (done, _) = go(&cmd).await;
    assert_eq!(done.ended, Ended::TimedOut);
    assert_eq!(done.code, None);
    let pgid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(group_alive(pgid).is_empty());
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn what_a_command_leaves_running_dies_with_it() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("pid");
    let cmd = shell(
        &format!(
            "echo $$ > {p}; sleep 1000 >/dev/null 2>&1 & echo done",
            p = pidfile.display()
        ),
        dir.path(),
    );
    let (done, out) = go(&cmd).await;
    assert!(done.success() && out.contains("done"));
    let pgid: u32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(group_alive(pgid).is_empty());
}

#[tokio::test]
async fn a_pipe_held_open_by_an_escaped_process_does_not_hang_the_run() {
    let dir = tempfile::tempdir().unwrap();
    // setsid leaves the group; its sleep keeps stdout open.
    let cmd = shell("setsid sleep 5 & echo bye", dir.path());
    let t = std::time::Instant::now();
    let (done, out) = go(&cmd).await;
    assert!(done.success() && out.contains("bye"));
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
}

#[tokio::test]
async fn secrets_in_the_environment_are_not_passed_on() {
    assert!(is_secret("OPENAI_API_KEY") && is_secret("GITHUB_TOKEN") && is_secret("db_password"));
    assert!(!is_secret("PATH") && !is_secret("HOME") && !is_secret("SSH_AUTH_SOCK"));
    let dir = tempfile::tempdir().unwrap();
    // Set here for the child to inherit (edition 2021: no other test reads it).
    std::env::set_var("FLINT_TEST_API_KEY", "sk-do-not-leak");
    let (done, out) = go(&shell("env", dir.path())).await;
    assert!(!out.contains("sk-do-not-leak"), "{out}");
    assert!(done.success());
    assert!(out.contains("PAGER=cat"));
    for line in out.lines() {
        let name = line.split('=').next().unwrap_or_default();
        assert!(!is_secret(name), "{name} was passed on");
    }
}

#[tokio::test]
async fn bad_commands_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let empty = Command {
        program: Program::Argv(vec![]),
        ..shell("", dir.path())
    };
    assert!(matches!(
        run(&empty, &mut |_| {}, &CancellationToken::new()).await,
        Err(ExecError::Empty)
    ));
    let missing = Command {
        program: Program::Argv(vec!["/no/such/program".into()]),
        ..shell("", dir.path())
    };
    let err = run(&missing, &mut |_| {}, &CancellationToken::new())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("/no/such/program"), "{err}");
    let nowhere = shell("true", &dir.path().join("gone"));
    assert!(matches!(
        run(&nowhere, &mut |_| {}, &CancellationToken::new()).await,
        Err(ExecError::NoFolder(_))
    ));
}

#[test]
fn commands_are_shown_quoted() {
    let p = Program::Argv(vec![
        "grep".into(),
        "-n".into(),
        "a b".into(),
        "it's".into(),
    ]);
    assert_eq!(p.display(), "grep -n 'a b' 'it'\\''s'");
}

#[cfg(target_os = "linux")]
mod sandboxed {
    use super::*;

    fn sandboxed(s: &str, root: &std::path::Path, network: bool) -> Option<Command> {
        if !sandbox_support().available() {
            eprintln!("no sandbox here: {:?}", sandbox_support());
            return None;
        }
        Some(Command {
            sandbox: Some(Sandbox {
                root: root.to_path_buf(),
                read_only: vec![root.join(".git")],
                git_dirs: Vec::new(),
                network,
            }),
            ..shell(s, root)
        })
    }

    #[tokio::test]
    async fn only_the_project_is_writable_and_its_git_folder_is_not() {
        let outside = tempfile::tempdir().unwrap();
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join(".git")).unwrap();
        // A secret in the user's home, and a unix socket outside the project (the
        // session bus, docker's socket, the keyring's are such sockets).
        let home = std::path::PathBuf::from(std::env::var("HOME").unwrap());
        let secret = home.join(format!(".flint-test-secret-{}", std::process::id()));
        std::fs::write(&secret, "sk-in-home").unwrap();
        let socket = outside.path().join("bus");
        let _bus = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let script = format!(
            "echo made > inside.txt && echo tmp > /tmp/scratch && cat /tmp/scratch; \
             echo bad > .git/config; echo bad > {out}/escaped; echo bad > {home}/.flint-escaped; \
             cat {secret}; ls {out}; /usr/bin/python3 -c \"import socket; \
             socket.socket(socket.AF_UNIX).connect('{socket}'); print('connected')\"; true",
            out = outside.path().display(),
            home = home.display(),
            secret = secret.display(),
            socket = socket.display(),
        );
        let Some(cmd) = sandboxed(&script, project.path(), false) else {
            let _ = std::fs::remove_file(&secret);
            return;
        };
        let (done, out) = go(&cmd).await;
        let _ = std::fs::remove_file(&secret);
        assert!(done.sandboxed);
        assert_eq!(
            std::fs::read_to_string(project.path().join("inside.txt")).unwrap(),
            "made\n"
        );
        assert!(out.contains("tmp\n"), "{out}");
        assert!(!project.path().join(".git/config").exists(), "{out}");
        assert!(out.contains("Read-only file system"), "{out}");
        assert!(!outside.path().join("escaped").exists());
        assert!(!home.join(".flint-escaped").exists());
        assert!(!out.contains("sk-in-home"), "{out}");
        assert!(!out.contains("connected"), "{out}");

        // A command that fails on it is reported as denied by the sandbox.
        let cmd = sandboxed("echo x > .git/HEAD", project.path(), false).unwrap();
        let (done, _) = go(&cmd).await;
        assert!(!done.success());
        assert_eq!(
            done.denied,
            Some("a write outside the project's writable files")
        );
    }

    #[tokio::test]
    async fn a_read_only_place_that_is_a_link_brings_nothing_in() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("id_ed25519"), "private key").unwrap();
        let project = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join("d")).unwrap();
        std::os::unix::fs::symlink(outside.path(), project.path().join("d/.git")).unwrap();
        let home = std::path::PathBuf::from(std::env::var("HOME").unwrap());
        // Cargo's folder is seen for its toolchain, not for its credentials.
        let cargo_secret = home
            .join(".cargo")
            .join(format!("flint-test-{}", std::process::id()));
        let has_cargo = home.join(".cargo").is_dir();
        if has_cargo {
            std::fs::write(&cargo_secret, "cargo-token").unwrap();
        }
        let script = format!(
            "cat {}/id_ed25519; cat {}; true",
            outside.path().display(),
            cargo_secret.display()
        );
        let Some(mut cmd) = sandboxed(&script, project.path(), false) else {
            let _ = std::fs::remove_file(&cargo_secret);
            return;
        };
        if let Some(s) = cmd.sandbox.as_mut() {
            s.read_only.push(project.path().join("d/.git"));
        }
        let (done, out) = go(&cmd).await;
        let _ = std::fs::remove_file(&cargo_secret);
        assert!(done.success(), "{out}");
        assert!(!out.contains("private key"), "{out}");
        assert!(!out.contains("cargo-token"), "{out}");
    }

    #[tokio::test]
    async fn only_a_short_list_of_variables_enters_the_sandbox() {
        let project = tempfile::tempdir().unwrap();
        let Some(cmd) = sandboxed("env", project.path(), false) else {
            return;
        };
        let (done, out) = go(&cmd).await;
        assert!(done.success(), "{out}");
        let names: Vec<&str> = out.lines().filter_map(|l| l.split('=').next()).collect();
        assert!(names.contains(&"PATH") && names.contains(&"PAGER"), "{out}");
        for name in names {
            assert!(
                super::super::sandbox::KEPT_VARS.contains(&name)
                    || [
                        "PAGER",
                        "GIT_PAGER",
                        "GIT_TERMINAL_PROMPT",
                        "NO_COLOR",
                        "TMPDIR",
                        "PWD",
                        "SHLVL",
                        "_",
                        "OLDPWD"
                    ]
                    .contains(&name),
                "{name} entered the sandbox"
            );
        }
    }

    #[tokio::test]
    async fn no_network_unless_allowed() {
        let project = tempfile::tempdir().unwrap();
        // A server on this machine's loopback: outside the sandbox's network namespace.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let probe = format!("exec 3<>/dev/tcp/127.0.0.1/{port} && echo reached");
        let Some(cmd) = sandboxed(&probe, project.path(), false) else {
            return;
        };
        let (done, out) = go(&cmd).await;
        assert!(!done.success(), "{out}");
        assert!(!out.contains("reached"));
        let cmd = sandboxed(&probe, project.path(), true).unwrap();
        let (done, out) = go(&cmd).await;
        assert!(done.success() && out.contains("reached"), "{out}");
    }

    #[tokio::test]
    async fn a_fork_storm_in_the_sandbox_is_stopped_whole() {
        let project = tempfile::tempdir().unwrap();
        // Bounded (this machine is shared), but nothing in it ends by itself.
        let storm =
            "for i in $(seq 1 40); do (sleep 1234 & sleep 1234 & wait) & done; echo spawned; wait";
        let Some(mut cmd) = sandboxed(storm, project.path(), false) else {
            return;
        };
        cmd.timeout = Duration::from_millis(1500);
        let before = count_sleepers();
        let (done, out) = go(&cmd).await;
        assert_eq!(done.ended, Ended::TimedOut, "{out}");
        std::thread::sleep(Duration::from_millis(200));
        assert!(count_sleepers() <= before, "sleepers left behind");
    }

    fn count_sleepers() -> usize {
        std::fs::read_dir("/proc")
            .unwrap()
            .flatten()
            .filter(|e| {
                std::fs::read_to_string(e.path().join("cmdline"))
                    .map(|c| c == "sleep\x001234\x00")
                    .unwrap_or(false)
            })
            .count()
    }
}

//! Runs the commands a model asks for, so that none of them can hang a turn, flood
//! memory or outlive a Stop: each runs in a process group of its own (a Stop or a
//! timeout kills the whole group, children and grandchildren too, and whatever it
//! left running in the background when it exits), with stdin closed, a deadline, and
//! its output streamed to the caller as it comes while only a bounded head and tail
//! are kept. Variables that look like secrets are not passed on.
//!
//! With a [`Sandbox`] the command sees the file system read-only except the project
//! (its git folders stay read-only) and a private /tmp, and no network unless allowed:
//! on Linux through bubblewrap (a new mount, pid and network namespace), on macOS
//! through Seatbelt (`sandbox-exec` with a generated profile). Where neither exists
//! [`sandbox_support`] says so and a sandboxed run is refused, never run bare.

mod output;
mod sandbox;
mod service;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

pub use output::Capture;
pub use sandbox::{sandbox_support, usable_for, Sandbox, SandboxSupport};
pub use service::{kill_all_services, Service, ServiceSpec};

/// What to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// A command line for the shell (`bash -c` where bash exists, else `sh -c`; `cmd /C`
    /// on Windows).
    Shell(String),
    /// A program and its arguments, run as they are.
    Argv(Vec<String>),
}

impl Program {
    /// The command as a person reads it.
    pub fn display(&self) -> String {
        match self {
            Self::Shell(s) => s.clone(),
            Self::Argv(a) => a
                .iter()
                .map(|w| {
                    if !w.is_empty()
                        && w.chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
                    {
                        w.clone()
                    } else {
                        format!("'{}'", w.replace('\'', "'\\''"))
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
        }
    }

    fn argv(&self) -> Vec<String> {
        match self {
            Self::Argv(a) => a.clone(),
            #[cfg(windows)]
            Self::Shell(s) => vec!["cmd".into(), "/C".into(), s.clone()],
            #[cfg(not(windows))]
            Self::Shell(s) => {
                let shell = if std::path::Path::new("/bin/bash").exists() {
                    "/bin/bash"
                } else {
                    "/bin/sh"
                };
                vec![shell.into(), "-c".into(), s.clone()]
            }
        }
    }
}

/// One command to run.
#[derive(Debug, Clone)]
pub struct Command {
    pub program: Program,
    /// Where it runs (the caller confines it to the project).
    pub cwd: PathBuf,
    /// It is killed, with its whole group, after this long.
    pub timeout: Duration,
    /// At most this many bytes of its output are kept (half from the start, half from
    /// the end); everything is still streamed.
    pub max_output: usize,
    pub sandbox: Option<Sandbox>,
}

/// How a command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited by itself (with `code`, or killed by a signal of its own doing).
    Exited,
    /// It ran past its timeout and was killed.
    TimedOut,
    /// The caller stopped it.
    Cancelled,
}

/// What running a command gave.
#[derive(Debug, Clone)]
pub struct Finished {
    pub ended: Ended,
    /// Its exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Its output, stdout and stderr as they interleaved, the middle left out past
    /// `max_output` (with a line saying how much).
    pub output: String,
    /// All the bytes it wrote.
    pub total_bytes: u64,
    pub duration: Duration,
    pub sandboxed: bool,
    /// When sandboxed and its output shows the sandbox refused something (a write to
    /// a read-only place, the network), what it refused.
    pub denied: Option<&'static str>,
}

impl Finished {
    pub fn success(&self) -> bool {
        self.ended == Ended::Exited && self.code == Some(0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("the command is empty")]
    Empty,
    #[error("`{0}` is not a folder")]
    NoFolder(String),
    #[error("the sandbox is not available here: {0}")]
    NoSandbox(String),
    #[error("could not start `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
}

/// After the command exits, its output is read for at most this long more (a process
/// that escaped its group may hold the pipe open).
const DRAIN: Duration = Duration::from_millis(500);

/// Names of variables not passed to commands run outside the sandbox (the sandbox
/// passes only a short list): keys, tokens, sessions of password managers, database
/// URLs a model has no business reading (a command's output goes back to the
/// provider).
fn is_secret(name: &str) -> bool {
    let n = name.to_ascii_uppercase();
    [
        "KEY",
        "TOKEN",
        "SECRET",
        "PASSWORD",
        "PASSWD",
        "PASS",
        "PWD",
        "CREDENTIAL",
        "CREDS",
        "AUTH",
        "SESSION",
        "COOKIE",
        "DSN",
        "DATABASE_URL",
        "_PAT",
        "PRIVATE",
    ]
    .iter()
    .any(|w| n.contains(w))
        && !matches!(
            n.as_str(),
            "PWD" | "OLDPWD" | "SSH_AUTH_SOCK" | "XDG_SESSION_TYPE"
        )
}

/// Runs `cmd`, streaming its output to `on_output` (decoded lossily, never splitting a
/// character) until it ends, times out or `cancel` fires; the group is killed in the
/// last two cases and whatever it left behind is killed when it exits.
pub async fn run(
    cmd: &Command,
    on_output: &mut (dyn FnMut(&str) + Send),
    cancel: &CancellationToken,
) -> Result<Finished, ExecError> {
    let mut argv = cmd.program.argv();
    if argv.first().is_none_or(|p| p.is_empty()) {
        return Err(ExecError::Empty);
    }
    if !cmd.cwd.is_dir() {
        return Err(ExecError::NoFolder(cmd.cwd.display().to_string()));
    }
    // What every command gets: no pagers, no prompts, no colour codes.
    let fixed = [
        ("PAGER", "cat"),
        ("GIT_PAGER", "cat"),
        ("GIT_TERMINAL_PROMPT", "0"),
        ("NO_COLOR", "1"),
    ];
    if let Some(sandbox) = &cmd.sandbox {
        argv = sandbox.wrap(argv, &cmd.cwd, &fixed)?;
    }
    let shown = cmd.program.display();
    let mut command = tokio::process::Command::new(&argv[0]);
    command
        .args(&argv[1..])
        .current_dir(&cmd.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .envs(fixed);
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(is_secret) {
            command.env_remove(&name);
        }
    }
    #[cfg(unix)]
    command.process_group(0);
    let started = Instant::now();
    let mut child = command.spawn().map_err(|source| ExecError::Spawn {
        program: shown.clone(),
        source,
    })?;
    let group = child.id();
    // Known to `kill_all_services` too: a command does not outlive Flint.
    if let (Some(g), Ok(mut l)) = (group, service::LIVE.lock()) {
        l.push(g);
    }
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    let mut capture = Capture::new(cmd.max_output);
    let (mut out_buf, mut err_buf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let deadline = tokio::time::sleep(cmd.timeout);
    tokio::pin!(deadline);
    let mut ended = Ended::Exited;
    let mut status = None;
    // Reads both pipes and waits for the exit, whichever comes first, until the
    // process has exited and both pipes are closed (or the drain time is up).
    let mut drain_until: Option<Instant> = None;
    loop {
        if status.is_some() && stdout.is_none() && stderr.is_none() {
            break;
        }
        let drain = async {
            match drain_until {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = cancel.cancelled(), if ended == Ended::Exited && status.is_none() => {
                ended = Ended::Cancelled;
                kill_group(group, &mut child).await;
            }
            _ = &mut deadline, if ended == Ended::Exited && status.is_none() => {
                ended = Ended::TimedOut;
                kill_group(group, &mut child).await;
            }
            n = read_some(&mut stdout, &mut out_buf) => {
                match n {
                    Some(n) => on_output(&capture.push(&out_buf[..n])),
                    None => stdout = None,
                }
            }
            n = read_some(&mut stderr, &mut err_buf) => {
                match n {
                    Some(n) => on_output(&capture.push(&err_buf[..n])),
                    None => stderr = None,
                }
            }
            s = child.wait(), if status.is_none() => {
                status = Some(s);
                // What it left running in its group goes with it.
                kill_group_only(group);
                service::forget(group);
                drain_until = Some(Instant::now() + DRAIN);
            }
            _ = drain => break,
        }
    }
    let rest = capture.flush();
    if !rest.is_empty() {
        on_output(&rest);
    }
    let code = match status {
        Some(Ok(s)) => s.code(),
        _ => None,
    };
    let sandboxed = cmd.sandbox.is_some();
    let total_bytes = capture.total();
    let output = capture.finish();
    let denied = (sandboxed && code != Some(0))
        .then(|| sandbox::denial(&output))
        .flatten();
    Ok(Finished {
        ended,
        code,
        output,
        total_bytes,
        duration: started.elapsed(),
        sandboxed,
        denied,
    })
}

async fn read_some(
    pipe: &mut Option<impl tokio::io::AsyncRead + Unpin>,
    buf: &mut [u8],
) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// Kills the process group (and the child itself, should the group be gone).
async fn kill_group(group: Option<u32>, child: &mut tokio::process::Child) {
    kill_group_only(group);
    // Windows has no process groups here (a job object would be the way): the tree
    // under the still-running command is ended with taskkill, then the command.
    // Untested: Flint's tests run on Linux.
    #[cfg(windows)]
    if let Some(pid) = group {
        let _ = tokio::process::Command::new("taskkill")
            .args(["/T", "/F", "/PID", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .await;
    }
    let _ = child.start_kill();
}

fn kill_group_only(group: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = group.and_then(|g| i32::try_from(g).ok()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    #[cfg(not(unix))]
    let _ = group;
}

#[cfg(test)]
mod tests;

//! Long-lived helper processes Flint talks to over their stdio (agents speaking ACP):
//! each in a process group of its own, so ending one ends whatever it started
//! (sandbox helpers, shells, language servers); its stderr kept as a bounded tail for
//! the error shown when it fails; killed, group and all, when dropped. Unlike
//! [`crate::run`] the environment is passed whole: the user chose to run it, and it
//! needs its own credentials.

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::process::{Child, ChildStdin, ChildStdout};

/// How much of a service's stderr is kept (its end: where the cause of a failure is).
const STDERR_TAIL: usize = 16 * 1024;

/// The process groups of the services running now, for [`kill_all_services`]: a
/// process that exits runs no destructors, and an agent (Codex's) does not end when
/// its stdin closes.
pub(crate) static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every running service's group at once (the app is exiting).
pub fn kill_all_services() {
    let groups = LIVE
        .lock()
        .map(|mut l| std::mem::take(&mut *l))
        .unwrap_or_default();
    for g in groups {
        crate::kill_group_only(Some(g));
    }
}

pub(crate) fn forget(group: Option<u32>) {
    if let (Some(g), Ok(mut l)) = (group, LIVE.lock()) {
        l.retain(|x| *x != g);
    }
}

/// A running service. Dropping it kills its group.
pub struct Service {
    child: Child,
    group: Option<u32>,
    stderr: Arc<Mutex<Vec<u8>>>,
    program: PathBuf,
}

/// What to start.
#[derive(Debug, Clone, Default)]
pub struct ServiceSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Set on top of Flint's own environment.
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
}

impl Service {
    /// Starts `spec` with piped stdin and stdout (returned) and stderr (kept).
    pub fn start(spec: &ServiceSpec) -> std::io::Result<(Self, ChildStdin, ChildStdout)> {
        let mut command = tokio::process::Command::new(&spec.program);
        command
            .args(&spec.args)
            .envs(spec.env.iter().map(|(k, v)| (k, v)))
            .current_dir(&spec.cwd)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn()?;
        let group = child.id();
        if let (Some(g), Ok(mut l)) = (group, LIVE.lock()) {
            l.push(g);
        }
        let missing = || std::io::Error::other("the process's pipes were not set up");
        let stdin = child.stdin.take().ok_or_else(missing)?;
        let stdout = child.stdout.take().ok_or_else(missing)?;
        let stderr = Arc::new(Mutex::new(Vec::new()));
        if let Some(mut pipe) = child.stderr.take() {
            let tail = stderr.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut t) = tail.lock() {
                        t.extend_from_slice(&buf[..n]);
                        let over = t.len().saturating_sub(STDERR_TAIL);
                        t.drain(..over);
                    }
                }
            });
        }
        Ok((
            Self {
                child,
                group,
                stderr,
                program: spec.program.clone(),
            },
            stdin,
            stdout,
        ))
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The end of what it wrote to stderr, decoded lossily.
    pub fn stderr_tail(&self) -> String {
        self.stderr
            .lock()
            .map(|t| String::from_utf8_lossy(&t).into_owned())
            .unwrap_or_default()
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let status = self.child.try_wait().ok().flatten();
        if status.is_some() {
            // Reaped: what it left in its group goes now, and its id (which may be
            // reused from now on) is never signalled again.
            crate::kill_group_only(self.group);
            forget(self.group);
            self.group = None;
        }
        status
    }

    /// Waits until it exits.
    pub async fn wait(&mut self) -> Option<ExitStatus> {
        let status = self.child.wait().await.ok();
        crate::kill_group_only(self.group);
        forget(self.group);
        self.group = None;
        status
    }

    /// Asks the group to end (SIGTERM), then kills it if it has not within `grace`.
    pub async fn terminate(&mut self, grace: Duration) {
        #[cfg(unix)]
        if let Some(pid) = self.group.and_then(|g| i32::try_from(g).ok()) {
            let _ = nix::sys::signal::killpg(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
            if tokio::time::timeout(grace, self.child.wait()).await.is_ok() {
                crate::kill_group_only(self.group);
                return;
            }
        }
        #[cfg(not(unix))]
        let _ = grace;
        self.kill();
        let _ = self.child.wait().await;
    }

    /// Kills the group at once.
    pub fn kill(&mut self) {
        crate::kill_group_only(self.group);
        #[cfg(windows)]
        if let Some(pid) = self.group {
            let _ = std::process::Command::new("taskkill")
                .args(["/T", "/F", "/PID", &pid.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.start_kill();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        forget(self.group);
        if self.exited().is_none() {
            self.kill();
        } else {
            // Exited: what it left running in its group goes too.
            crate::kill_group_only(self.group);
        }
    }
}

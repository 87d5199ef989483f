//! The sandbox a command can run in: the project writable (its git folders not), a
//! private temporary folder, everything else read-only, no network unless allowed.
//! Linux: bubblewrap. macOS: Seatbelt. Elsewhere: none, and a sandboxed run is refused.

use std::path::{Path, PathBuf};

use crate::ExecError;

/// Where a command may write, and whether it may reach the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sandbox {
    /// The project: writable.
    pub root: PathBuf,
    /// Inside `root` but read-only (its `.git` folders).
    pub read_only: Vec<PathBuf>,
    pub network: bool,
}

/// What sandbox this machine offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SandboxSupport {
    /// bubblewrap, at this path.
    Bubblewrap(PathBuf),
    /// macOS Seatbelt (`/usr/bin/sandbox-exec`).
    Seatbelt,
    /// None, and why (shown in Settings).
    Unavailable(String),
}

impl SandboxSupport {
    pub fn available(&self) -> bool {
        !matches!(self, Self::Unavailable(_))
    }
}

/// Finds the sandbox this machine offers.
pub fn sandbox_support() -> SandboxSupport {
    if cfg!(target_os = "macos") {
        return if Path::new("/usr/bin/sandbox-exec").exists() {
            SandboxSupport::Seatbelt
        } else {
            SandboxSupport::Unavailable("/usr/bin/sandbox-exec is missing".into())
        };
    }
    if cfg!(target_os = "linux") {
        let found = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .chain([PathBuf::from("/usr/bin")])
            .map(|d| d.join("bwrap"))
            .find(|p| p.is_file());
        return match found {
            Some(p) => SandboxSupport::Bubblewrap(p),
            None => SandboxSupport::Unavailable(
                "bubblewrap is not installed (apt install bubblewrap, dnf install bubblewrap)"
                    .into(),
            ),
        };
    }
    SandboxSupport::Unavailable("there is no sandbox for commands on this system yet".into())
}

fn text(p: &Path) -> Result<String, ExecError> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| ExecError::NoSandbox(format!("{} is not valid Unicode", p.display())))
}

impl Sandbox {
    /// The command line that runs `argv` inside the sandbox.
    pub(crate) fn wrap(&self, argv: Vec<String>, cwd: &Path) -> Result<Vec<String>, ExecError> {
        let root = self
            .root
            .canonicalize()
            .map_err(|e| ExecError::NoSandbox(format!("{}: {e}", self.root.display())))?;
        let read_only: Vec<PathBuf> = self
            .read_only
            .iter()
            .filter_map(|p| p.canonicalize().ok())
            .collect();
        match sandbox_support() {
            SandboxSupport::Bubblewrap(bwrap) => {
                let mut a = vec![text(&bwrap)?];
                for s in ["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"] {
                    a.push(s.into());
                }
                a.extend(["--tmpfs".into(), "/tmp".into()]);
                let root = text(&root)?;
                a.extend(["--bind".into(), root.clone(), root]);
                for p in &read_only {
                    let p = text(p)?;
                    a.extend(["--ro-bind".into(), p.clone(), p]);
                }
                a.extend(
                    [
                        "--unshare-pid",
                        "--unshare-ipc",
                        "--die-with-parent",
                        "--new-session",
                    ]
                    .map(String::from),
                );
                if !self.network {
                    a.push("--unshare-net".into());
                }
                a.extend(["--chdir".into(), text(cwd)?, "--".into()]);
                a.extend(argv);
                Ok(a)
            }
            SandboxSupport::Seatbelt => {
                let mut profile = String::from(
                    "(version 1)\n(allow default)\n(deny file-write*)\n\
                     (allow file-write* (literal \"/dev/null\") (literal \"/dev/tty\") \
                     (subpath \"/private/tmp\") (subpath \"/private/var/folders\")",
                );
                profile.push_str(&format!(" (subpath {}))\n", quoted(&text(&root)?)));
                for p in &read_only {
                    profile.push_str(&format!(
                        "(deny file-write* (subpath {}))\n",
                        quoted(&text(p)?)
                    ));
                }
                if !self.network {
                    profile.push_str("(deny network*)\n(allow network* (remote unix-socket))\n");
                }
                let mut a = vec![
                    "/usr/bin/sandbox-exec".into(),
                    "-p".into(),
                    profile,
                    "--".into(),
                ];
                a.extend(argv);
                Ok(a)
            }
            SandboxSupport::Unavailable(why) => Err(ExecError::NoSandbox(why)),
        }
    }
}

/// A string literal in Seatbelt's profile language.
fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// What the sandbox refused, read from a failed command's output.
pub(crate) fn denial(output: &str) -> Option<&'static str> {
    const SIGNS: [(&str, &str); 7] = [
        (
            "Read-only file system",
            "a write outside the project's writable files",
        ),
        (
            "Operation not permitted",
            "an operation the sandbox does not allow",
        ),
        ("Network is unreachable", "the network"),
        ("Could not resolve host", "the network"),
        ("Temporary failure in name resolution", "the network"),
        ("Name or service not known", "the network"),
        ("bwrap:", "starting the sandbox"),
    ];
    SIGNS
        .iter()
        .find(|(sign, _)| output.contains(sign))
        .map(|(_, what)| *what)
}

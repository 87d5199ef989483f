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
    /// Inside `root` but read-only (every `.git` and repository found in it); links
    /// and places outside the root are never bound.
    pub read_only: Vec<PathBuf>,
    /// The repository's own git dirs, as git found them from the project (a worktree's
    /// or a submodule's lie outside it): read-only wherever they are, if real folders.
    pub git_dirs: Vec<PathBuf>,
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

/// Finds the sandbox this machine offers. Only a root-owned bubblewrap in the system's
/// own folders counts: one found on the PATH could be the project's (`./bin`,
/// `node_modules/.bin`) and would be handed the command to run as it likes.
pub fn sandbox_support() -> SandboxSupport {
    if cfg!(target_os = "macos") {
        return if Path::new("/usr/bin/sandbox-exec").exists() {
            SandboxSupport::Seatbelt
        } else {
            SandboxSupport::Unavailable("/usr/bin/sandbox-exec is missing".into())
        };
    }
    if cfg!(target_os = "linux") {
        let found = ["/usr/bin/bwrap", "/bin/bwrap"]
            .iter()
            .map(PathBuf::from)
            .find(|p| system_owned(p));
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

/// Whether commands in the project at `root` can be sandboxed here: a sandbox exists,
/// and the project does not hold the home (binding it writable would bring the whole
/// home back). Why not, if not.
pub fn usable_for(root: &Path) -> Result<(), String> {
    if let SandboxSupport::Unavailable(why) = sandbox_support() {
        return Err(why);
    }
    let root = root
        .canonicalize()
        .map_err(|e| format!("{}: {e}", root.display()))?;
    if let Some(home) = std::env::var_os("HOME").and_then(|h| PathBuf::from(h).canonicalize().ok())
    {
        if home.starts_with(&root) {
            return Err(format!(
                "the project ({}) holds your home folder",
                root.display()
            ));
        }
    }
    Ok(())
}

/// A regular file owned by root and writable by no one else.
fn system_owned(p: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.uid() == 0 && m.mode() & 0o022 == 0)
    }
    #[cfg(not(unix))]
    {
        let _ = p;
        false
    }
}

/// The system's own folders, seen read-only inside the sandbox (where they exist).
/// Nix's store only: its daemon's socket (under /nix/var) would reach builds with the
/// network.
const SYSTEM_DIRS: &[&str] = &[
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/libx32",
    "/etc",
    "/opt",
    "/nix/store",
    "/nix/var/nix/profiles",
];

/// Toolchains under the user's home, seen read-only; the rest of the home (keys,
/// credentials - `~/.cargo/credentials.toml` and its `config.toml` too -, Flint's own
/// settings and history) is not there at all.
const HOME_TOOLCHAINS: &[&str] = &[
    ".cargo/bin",
    ".cargo/registry",
    ".cargo/git",
    ".cargo/config.toml",
    ".rustup",
    ".nvm",
    ".volta",
    ".bun",
    ".deno/bin",
    ".pyenv",
    ".rbenv",
    ".asdf",
    ".local/bin",
    ".local/lib",
    ".local/share/fnm",
    ".sdkman",
    "go/pkg/mod",
    "go/bin",
];

/// Variables passed into the sandbox; all others are dropped.
pub(crate) const KEPT_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_CTYPE",
    "LC_MESSAGES",
    "LC_NUMERIC",
    "LC_TIME",
    "TZ",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "RUSTUP_TOOLCHAIN",
    "GOPATH",
    "GOROOT",
    "GOFLAGS",
    "NVM_DIR",
    "NVM_BIN",
    "PYENV_ROOT",
    "PYENV_VERSION",
    "VIRTUAL_ENV",
    "CONDA_PREFIX",
    "JAVA_HOME",
    "NODE_PATH",
    "RBENV_ROOT",
];

fn text(p: &Path) -> Result<String, ExecError> {
    p.to_str()
        .map(str::to_owned)
        .ok_or_else(|| ExecError::NoSandbox(format!("{} is not valid Unicode", p.display())))
}

impl Sandbox {
    /// The command line that runs `argv` inside the sandbox, with only the kept
    /// variables and `extra` in its environment.
    pub(crate) fn wrap(
        &self,
        argv: Vec<String>,
        cwd: &Path,
        extra: &[(&str, &str)],
    ) -> Result<Vec<String>, ExecError> {
        let root = self
            .root
            .canonicalize()
            .map_err(|e| ExecError::NoSandbox(format!("{}: {e}", self.root.display())))?;
        // Read-only places are bound only where they are: inside the project and not
        // a link (a `.git` planted as a link to ~/.ssh would bring ~/.ssh in).
        let read_only: Vec<PathBuf> = self
            .read_only
            .iter()
            .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| !m.file_type().is_symlink()))
            .filter_map(|p| p.canonicalize().ok())
            .filter(|p| p.starts_with(&root) && *p != root)
            .collect();
        usable_for(&root).map_err(ExecError::NoSandbox)?;
        let mut read_only = read_only;
        read_only.extend(
            self.git_dirs
                .iter()
                .filter(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()))
                .filter_map(|p| p.canonicalize().ok())
                .filter(|p| *p != root),
        );
        match sandbox_support() {
            SandboxSupport::Bubblewrap(bwrap) => {
                let mut a = vec![text(&bwrap)?];
                let mut arg = |words: &[&str]| a.extend(words.iter().map(|w| w.to_string()));
                for dir in SYSTEM_DIRS {
                    arg(&["--ro-bind-try", dir, dir]);
                }
                arg(&["--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]);
                arg(&["--tmpfs", "/run", "--tmpfs", "/var", "--dir", "/var/tmp"]);
                let home = std::env::var("HOME").ok().filter(|h| h.len() > 1);
                if let Some(home) = &home {
                    arg(&["--tmpfs", home]);
                    for t in HOME_TOOLCHAINS {
                        let p = format!("{home}/{t}");
                        arg(&["--ro-bind-try", &p, &p]);
                    }
                }
                let root = text(&root)?;
                arg(&["--bind", &root, &root]);
                for p in &read_only {
                    let p = text(p)?;
                    arg(&["--ro-bind", &p, &p]);
                }
                arg(&[
                    "--unshare-pid",
                    "--unshare-ipc",
                    "--unshare-uts",
                    "--unshare-cgroup-try",
                    "--die-with-parent",
                    "--new-session",
                ]);
                if !self.network {
                    // Also a namespace of its own for abstract unix sockets.
                    arg(&["--unshare-net"]);
                }
                arg(&["--clearenv"]);
                for name in KEPT_VARS {
                    if let Ok(v) = std::env::var(name) {
                        arg(&["--setenv", name, &v]);
                    }
                }
                for (k, v) in extra {
                    arg(&["--setenv", k, v]);
                }
                arg(&["--setenv", "TMPDIR", "/tmp", "--chdir", &text(cwd)?, "--"]);
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
                // No git folder or file anywhere in the project is written.
                profile.push_str("(deny file-write* (regex #\"/\\.git(/|$)\"))\n");
                if let Ok(home) = std::env::var("HOME") {
                    // Keys and credentials in the home are not read.
                    for secret in [
                        ".ssh", ".aws", ".gnupg", ".config", ".netrc", ".docker", ".kube",
                    ] {
                        let p = format!("{home}/{secret}");
                        profile.push_str(&format!("(deny file-read* (subpath {}))\n", quoted(&p)));
                    }
                }
                if !self.network {
                    profile.push_str("(deny network*)\n");
                }
                let mut a = vec!["/usr/bin/env".into(), "-i".into()];
                for name in KEPT_VARS {
                    if let Ok(v) = std::env::var(name) {
                        a.push(format!("{name}={v}"));
                    }
                }
                a.extend(extra.iter().map(|(k, v)| format!("{k}={v}")));
                a.extend([
                    "/usr/bin/sandbox-exec".into(),
                    "-p".into(),
                    profile,
                    "--".into(),
                ]);
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

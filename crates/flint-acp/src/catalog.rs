//! The agents Flint knows by name, where each is found, and installing them.
//!
//! A known agent is an npm package; Flint installs it into its own data folder
//! (`<data>/agents`, a private npm prefix: nothing global, nothing in the user's
//! projects) at the version it was tried with, and otherwise finds it on the PATH. Any
//! other agent is a command line the user gives.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::AcpError;

/// An agent Flint knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Known {
    /// What `flint ask --agent` and the settings call it.
    pub id: &'static str,
    pub label: &'static str,
    pub package: &'static str,
    /// The version Flint was tried with (ACP-NOTES.md), installed by default.
    pub version: &'static str,
    /// The executable the package installs.
    pub bin: &'static str,
    /// Arguments that make it speak ACP on stdio.
    #[serde(skip)]
    pub args: &'static [&'static str],
}

pub const KNOWN: &[Known] = &[
    Known {
        id: "codex",
        label: "Codex",
        package: "@zed-industries/codex-acp",
        version: "0.16.0",
        bin: "codex-acp",
        args: &[],
    },
    Known {
        id: "claude",
        label: "Claude Code",
        package: "@zed-industries/claude-agent-acp",
        version: "0.23.1",
        bin: "claude-agent-acp",
        args: &[],
    },
    Known {
        id: "gemini",
        label: "Gemini CLI",
        package: "@google/gemini-cli",
        version: "0.61.0",
        bin: "gemini",
        args: &["--experimental-acp"],
    },
];

/// Which agent to run: a known one by id, or a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentChoice {
    Known(Known),
    Command { program: String, args: Vec<String> },
}

impl AgentChoice {
    /// `codex`, `claude`, `gemini`, or a command line (split as a POSIX shell would,
    /// without running one).
    pub fn parse(s: &str) -> Result<Self, AcpError> {
        let s = s.trim();
        if let Some(k) = KNOWN.iter().find(|k| k.id == s) {
            return Ok(Self::Known(*k));
        }
        let words = shell_words::split(s)
            .map_err(|e| AcpError::Start(format!("the agent command `{s}` does not parse: {e}")))?;
        let mut words = words.into_iter();
        let program = words
            .next()
            .filter(|p| !p.is_empty())
            .ok_or_else(|| AcpError::Start("no agent command given".into()))?;
        Ok(Self::Command {
            program,
            args: words.collect(),
        })
    }

    /// How it is recorded with a session (`parse` reads it back).
    pub fn id(&self) -> String {
        match self {
            Self::Known(k) => k.id.to_string(),
            Self::Command { program, args } => {
                let mut all = vec![program.clone()];
                all.extend(args.iter().cloned());
                shell_words::join(all)
            }
        }
    }

    pub fn label(&self) -> String {
        match self {
            Self::Known(k) => k.label.to_string(),
            Self::Command { program, .. } => Path::new(program)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| program.clone()),
        }
    }

    /// The program and arguments to start, found in `data_dir`'s agents or on the PATH.
    pub fn resolve(&self, data_dir: &Path) -> Result<(PathBuf, Vec<String>), AcpError> {
        match self {
            Self::Known(k) => {
                let program = locate(data_dir, k).ok_or_else(|| {
                    AcpError::Start(format!(
                        "{} is not installed: install it with `flint agents install {}` (or in \
                         Settings), or put `{}` on the PATH",
                        k.label, k.id, k.bin
                    ))
                })?;
                Ok((program, k.args.iter().map(|a| a.to_string()).collect()))
            }
            Self::Command { program, args } => {
                let found = if program.contains(std::path::MAIN_SEPARATOR) || program.contains('/')
                {
                    let p = PathBuf::from(program);
                    // A relative path would run from the project's folder: whatever a
                    // repository puts there.
                    if !p.is_absolute() {
                        return Err(AcpError::Start(format!(
                            "give the agent's full path, or a command on the PATH, not `{program}`"
                        )));
                    }
                    p
                } else {
                    which::which(program)
                        .map_err(|_| AcpError::Start(format!("`{program}` is not on the PATH")))?
                };
                Ok((found, args.clone()))
            }
        }
    }
}

/// Where Flint installs agents.
pub fn agents_dir(data_dir: &Path) -> PathBuf {
    data_dir.join("agents")
}

fn installed_bin(data_dir: &Path, k: &Known) -> PathBuf {
    let bin = agents_dir(data_dir).join("node_modules").join(".bin");
    if cfg!(windows) {
        bin.join(format!("{}.cmd", k.bin))
    } else {
        bin.join(k.bin)
    }
}

/// The agent's executable: Flint's install first, else the PATH.
pub fn locate(data_dir: &Path, k: &Known) -> Option<PathBuf> {
    let own = installed_bin(data_dir, k);
    if own.is_file() {
        return Some(own);
    }
    which::which(k.bin).ok()
}

/// The version Flint installed, if it did.
pub fn installed_version(data_dir: &Path, k: &Known) -> Option<String> {
    let manifest = agents_dir(data_dir)
        .join("node_modules")
        .join(k.package)
        .join("package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
    v["version"].as_str().map(str::to_owned)
}

/// Installs `k` (at `version`, else the tried one) into Flint's data folder with npm,
/// each line npm prints going to `progress`; the installed executable.
pub async fn install(
    data_dir: &Path,
    k: &Known,
    version: Option<&str>,
    progress: &mut (dyn FnMut(&str) + Send),
) -> Result<PathBuf, AcpError> {
    let npm = which::which(if cfg!(windows) { "npm.cmd" } else { "npm" }).map_err(|_| {
        AcpError::Install(
            "npm was not found: Flint installs agents with npm, which comes with Node.js \
             (https://nodejs.org)"
                .into(),
        )
    })?;
    let dir = agents_dir(data_dir);
    std::fs::create_dir_all(&dir)
        .map_err(|e| AcpError::Install(format!("{}: {e}", dir.display())))?;
    // A private prefix with a manifest of its own, so npm never walks up into a
    // folder above it.
    let manifest = dir.join("package.json");
    if !manifest.exists() {
        std::fs::write(&manifest, "{\"name\":\"flint-agents\",\"private\":true}\n")
            .map_err(|e| AcpError::Install(format!("{}: {e}", manifest.display())))?;
    }
    let spec = format!("{}@{}", k.package, version.unwrap_or(k.version));
    progress(&format!("npm install {spec} (into {})", dir.display()));
    let mut child = tokio::process::Command::new(npm)
        .args([
            "install",
            "--prefix",
            &dir.to_string_lossy(),
            "--no-audit",
            "--no-fund",
            "--loglevel=http",
            "--save-exact",
            &spec,
        ])
        .current_dir(&dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| AcpError::Install(format!("npm could not start: {e}")))?;
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let mut last = Vec::new();
    let mut lines_out = out.map(|o| BufReader::new(o).lines());
    let mut lines_err = err.map(|e| BufReader::new(e).lines());
    loop {
        let line = tokio::select! {
            l = next_line(&mut lines_out) => l,
            l = next_line(&mut lines_err) => l,
        };
        match line {
            Some(l) => {
                let l = l.trim_end().to_string();
                if !l.is_empty() {
                    progress(&l);
                    last.push(l);
                    if last.len() > 20 {
                        last.remove(0);
                    }
                }
            }
            None if lines_out.is_none() && lines_err.is_none() => break,
            None => {}
        }
    }
    let status = child
        .wait()
        .await
        .map_err(|e| AcpError::Install(e.to_string()))?;
    if !status.success() {
        return Err(AcpError::Install(format!(
            "npm install {spec} failed ({status}):\n{}",
            last.join("\n")
        )));
    }
    let bin = installed_bin(data_dir, k);
    if !bin.is_file() {
        return Err(AcpError::Install(format!(
            "npm installed {spec} but {} is not there",
            bin.display()
        )));
    }
    progress(&format!("{} {} installed", k.label, spec));
    Ok(bin)
}

/// The next line of a pipe, or none once it closed (which then stays none).
async fn next_line<R: tokio::io::AsyncBufRead + Unpin>(
    lines: &mut Option<tokio::io::Lines<R>>,
) -> Option<String> {
    match lines {
        Some(l) => match l.next_line().await {
            Ok(Some(line)) => Some(line),
            _ => {
                *lines = None;
                None
            }
        },
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_are_known_by_id_or_given_as_a_command_line() {
        assert_eq!(AgentChoice::parse("codex").unwrap().label(), "Codex");
        let c = AgentChoice::parse("'/opt/my agent/run' --acp -v").unwrap();
        assert_eq!(
            c,
            AgentChoice::Command {
                program: "/opt/my agent/run".into(),
                args: vec!["--acp".into(), "-v".into()]
            }
        );
        assert_eq!(AgentChoice::parse(&c.id()).unwrap(), c);
        assert!(AgentChoice::parse("  ").is_err());
        assert!(AgentChoice::parse("run 'unclosed").is_err());
    }

    #[test]
    fn a_known_agent_not_installed_says_how_to_install_it() {
        let dir = tempfile::tempdir().unwrap();
        let gemini = AgentChoice::parse("gemini").unwrap();
        if which::which("gemini").is_err() {
            let e = gemini.resolve(dir.path()).unwrap_err().to_string();
            assert!(e.contains("flint agents install gemini"), "{e}");
        }
    }
}

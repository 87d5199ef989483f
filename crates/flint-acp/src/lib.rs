//! Agents over the Agent Client Protocol (ACP): Codex (`codex-acp`), Claude Code
//! (`claude-agent-acp`), Gemini CLI (`gemini --experimental-acp`), or any command that
//! speaks it on its stdio.
//!
//! - `catalog`: the agents Flint knows, where they are (Flint's data folder, the PATH),
//!   installing them with npm.
//! - `connection`: one running agent: its process (a group of its own, ended with it),
//!   the protocol (the `agent-client-protocol` SDK over a bounded line reader), what it
//!   says turned into [`AgentEvent`]s and what it asks into [`Request`]s, answered by
//!   the host (flint-core decides: approvals, reviews, the sandbox); client terminals
//!   run through flint-exec.
//!
//! This crate speaks the protocol and holds no policy: every file the agent reads or
//! writes through Flint and every command it runs in a Flint terminal is a
//! [`Request`] the host answers.

pub mod catalog;
mod connection;
mod terminals;

pub use catalog::{install, locate, AgentChoice, Known, KNOWN};
pub use connection::{
    AgentInfo, AuthMethod, Connection, Incoming, ModelChoice, PromptEnd, SessionSetup,
};

use serde::Serialize;
use serde_json::Value;

/// What went wrong talking to an agent.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum AcpError {
    #[error("{0}")]
    Start(String),
    /// The agent's process ended (crash, kill); with the end of its stderr.
    #[error("the agent stopped: {0}")]
    Exited(String),
    /// The agent broke the protocol (malformed JSON-RPC, a line past the bound).
    #[error("the agent sent something Flint cannot read: {0}")]
    Protocol(String),
    /// The agent answered a request with an error.
    #[error("{message}")]
    Agent {
        code: i32,
        message: String,
        data: Option<String>,
    },
    #[error("the agent did not answer {what} within {secs} s")]
    Timeout { what: &'static str, secs: u64 },
    #[error("{0}")]
    Install(String),
}

impl AcpError {
    /// A stable code for the UI (flint-core's `ErrorCode` has a variant for each).
    pub fn code(&self) -> &'static str {
        match self {
            Self::Start(_) => "agent_start",
            Self::Exited(_) => "agent_exited",
            Self::Protocol(_) => "agent_protocol",
            Self::Agent { code: -32000, .. } => "agent_sign_in",
            Self::Agent { .. } => "agent_error",
            Self::Timeout { .. } => "agent_timeout",
            Self::Install(_) => "agent_install",
        }
    }

    /// The JSON-RPC code for "authentication required" (ACP's `auth_required`).
    pub fn needs_sign_in(&self) -> bool {
        matches!(self, Self::Agent { code: -32000, .. })
    }
}

/// A tool call as the agent reports it (a new call, or an update to one: then only
/// what changed is set).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ToolCallInfo {
    pub id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// read, edit, delete, move, search, execute, think, fetch, other.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// pending, in_progress, completed, failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub diffs: Vec<Diff>,
    /// Text content blocks (a failed command's output, a tool's answer).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub text: Vec<String>,
    /// Client terminals the call shows.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub terminals: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub locations: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_input: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub raw_output: Option<Value>,
}

/// A file change shown in a tool call: `old_text` none for a new file. Agents send the
/// changed region with context (Codex) or the whole file (Claude Code).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Diff {
    pub path: String,
    pub old_text: Option<String>,
    pub new_text: String,
}

/// What the agent says during a turn.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    /// Text of its answer; `sent_ms` is when the chunk left the agent (Unix ms), where
    /// it says so in the chunk's `_meta["flint/sent_ms"]` (Flint's benchmark agent
    /// does, so the lag from the agent to the paint is measured whole).
    Text {
        text: String,
        sent_ms: Option<f64>,
    },
    Thought(String),
    /// A new tool call.
    Call(Box<ToolCallInfo>),
    /// A change to one (status, content, output).
    CallUpdate(Box<ToolCallInfo>),
    /// Live output of a command: of a Flint terminal, or (Codex's extension) of a
    /// command the agent runs itself, named by its call.
    Output {
        terminal_id: String,
        data: String,
    },
    /// The agent's plan: entries of `{content, status, priority}`.
    Plan(Value),
    /// Context use: tokens used of the window.
    Usage {
        used: u64,
        size: u64,
    },
    /// The session's mode changed (the agent's own mode ids).
    Mode(String),
}

/// One option of a permission request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PermissionOption {
    pub id: String,
    pub name: String,
    /// allow_once, allow_always, reject_once, reject_always.
    pub kind: String,
}

/// How the host answers a request; dropping it answers with an error.
pub struct Reply<T> {
    send: Box<dyn FnOnce(Result<T, String>) + Send>,
}

impl<T> Reply<T> {
    pub(crate) fn new(send: impl FnOnce(Result<T, String>) + Send + 'static) -> Self {
        Self {
            send: Box::new(send),
        }
    }

    pub fn send(self, answer: Result<T, String>) {
        (self.send)(answer);
    }
}

impl<T> std::fmt::Debug for Reply<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reply")
    }
}

/// A command the agent wants to run in a Flint terminal.
#[derive(Debug, Clone, PartialEq)]
pub struct TerminalAsk {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    /// As the agent gave it (absolute, or none: the session's folder).
    pub cwd: Option<std::path::PathBuf>,
}

/// What the agent asks of Flint.
#[derive(Debug)]
pub enum Request {
    /// May this tool call go ahead? Answered with the chosen option's id, or none
    /// (cancelled).
    Permission {
        call: Box<ToolCallInfo>,
        options: Vec<PermissionOption>,
        reply: Reply<Option<String>>,
    },
    /// Read a text file (absolute path), from `line` (1-based), at most `limit` lines.
    ReadFile {
        path: std::path::PathBuf,
        line: Option<u32>,
        limit: Option<u32>,
        reply: Reply<String>,
    },
    /// Write a text file (absolute path) whole.
    WriteFile {
        path: std::path::PathBuf,
        content: String,
        reply: Reply<()>,
    },
    /// Run a command in a terminal: answered with how it is to run (where, in which
    /// sandbox), or a refusal told to the agent.
    Terminal {
        ask: TerminalAsk,
        reply: Reply<flint_exec::Command>,
    },
}

//! The agent: the tools a model gets to act on the project (read, search, edit, run
//! commands, keep a plan), presented as its family was trained to see them, and the
//! user's control over them - a mode per turn, and questions the front end answers.
//!
//! - Codex models get Codex's own tools: `exec_command` (a command line, a working
//!   folder; run to its end - no interactive sessions), `apply_patch` as a free-text
//!   tool with the V4A grammar, `update_plan`. Calls to Codex's older `shell` (an argv)
//!   are run too.
//! - Other models get JSON tools: `read_file`, `list_dir`, `search` (the read-only
//!   [`ProjectReaders`]), `apply_patch` (V4A in a string), `edit_file` (search and
//!   replace), `run_command`, `update_plan`.
//!
//! An edit becomes a review of its tool-call item, the same review pane and the same
//! checkpoints as edits in an answer's text: in Ask mode the turn waits while the user
//! accepts or rejects it hunk by hunk. A command runs through flint-exec with a
//! snapshot of the project before and after (flint-store's snapshot store): whatever
//! it changed is recorded as a checkpoint of its call, so undo restores the exact
//! bytes like any edit. In Full auto, commands run in the sandbox; where there is none
//! they are asked about.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use ts_rs::TS;

use flint_edit::Edit;
use flint_exec::{Program, Sandbox};
use flint_model::{ToolCall, ToolInput, ToolSpec};
use flint_project::ProjectDir;

use super::tools::{ToolOutput, ToolRunner};
use super::ProjectReaders;
use crate::review::{FileDecision, Review, ReviewStatus};
use crate::{Engine, TurnEvent};

/// How much the model may do without asking, chosen per turn in the composer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "kebab-case")]
#[ts(export)]
pub enum AgentMode {
    /// Every edit and every command waits for the user.
    #[default]
    Ask,
    /// Edits apply as they complete; commands wait.
    AutoEdit,
    /// Everything runs; commands inside the sandbox (asked about where there is none).
    FullAuto,
}

impl AgentMode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ask" => Some(Self::Ask),
            "auto-edit" => Some(Self::AutoEdit),
            "full-auto" => Some(Self::FullAuto),
            _ => None,
        }
    }
}

/// Something the turn waits for the user to decide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Question {
    pub id: u32,
    /// The tool call it is about.
    #[ts(type = "number")]
    pub item_id: i64,
    pub ask: Ask,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum Ask {
    /// May this command run?
    Command {
        command: String,
        /// Where it runs, relative to the project ("" for its root).
        cwd: String,
        /// Why the model wants it, if it said.
        why: Option<String>,
        /// What "always allow" would remember: a prefix, or the whole command; none for
        /// a command that cannot be remembered (it chains, pipes, redirects or expands).
        prefix: Option<String>,
    },
    /// An edit, to accept or reject hunk by hunk in the review pane (its item is the
    /// tool call).
    Edit { review: Box<Review> },
    /// An agent (over ACP) asks whether its tool call may go ahead, offering its own
    /// options: `Allow` picks its allow-once option, `AllowAlways` (or
    /// `AllowForSession`) its allow-always one, `Deny` its reject one.
    Permission {
        title: String,
        /// What the call does: read, edit, delete, move, search, execute, fetch, other.
        tool_kind: String,
        /// Paths it names outside the project (said loudly: the agent asks to reach
        /// past the project).
        outside: Vec<String>,
        /// The command it would run, for a command.
        command: Option<String>,
        options: Vec<super::acp::AgentOption>,
        /// The change it would make, shown in the review pane (decided whole here: the
        /// agent writes it itself once allowed).
        review: Option<Box<Review>>,
    },
}

/// The user's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(tag = "kind", rename_all = "camelCase")]
#[ts(export)]
pub enum Answer {
    /// Run it once; for an edit, apply all of it.
    Allow,
    /// Run it, and commands with its prefix for the rest of this session.
    AllowForSession,
    /// Run it, and commands with its prefix in this project from now on.
    AllowAlways,
    /// The edit was decided in the review pane (what was accepted is applied).
    Reviewed,
    /// Do not; the model is told, with the user's message if there is one.
    Deny { message: Option<String> },
    /// An agent's own option, by its id (a permission question).
    Choose { option_id: String },
}

/// A project's snapshot store, shared by its turns (None until opened).
pub(crate) type SnapshotStore = std::sync::Arc<std::sync::Mutex<Option<flint_store::Snapshots>>>;

/// What one call runs with.
pub(crate) struct CallCtx<'a> {
    pub session_id: i64,
    pub project_id: i64,
    pub root: &'a Path,
    pub mode: AgentMode,
    /// The tool-call item.
    pub item_id: i64,
    pub events: &'a mpsc::UnboundedSender<TurnEvent>,
    pub cancel: &'a CancellationToken,
}

/// Commands run for at most this long unless the model asks for less (or more, up to
/// `MAX_TIMEOUT`).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_TIMEOUT: Duration = Duration::from_secs(600);
/// Of a command's output, at most this much goes back to the model (half the start,
/// half the end; the rest is streamed to the user but left out, and the model told).
const MAX_COMMAND_OUTPUT: usize = 24 * 1024;
/// Live command output is sent to the front end at most this often, and at most this
/// much of it per command.
const OUTPUT_EVERY: Duration = Duration::from_millis(33);
const MAX_LIVE_OUTPUT: usize = 1024 * 1024;

/// The V4A patch format as a Lark grammar (how Codex models are given `apply_patch`).
const APPLY_PATCH_GRAMMAR: &str = r#"start: begin_patch hunk+ end_patch
begin_patch: "*** Begin Patch" LF
end_patch: "*** End Patch" LF?

hunk: add_hunk | delete_hunk | update_hunk
add_hunk: "*** Add File: " filename LF add_line+
delete_hunk: "*** Delete File: " filename LF
update_hunk: "*** Update File: " filename LF change_move? change?

filename: /(.+)/
add_line: "+" /(.*)/ LF -> line

change_move: "*** Move to: " filename LF
change: (change_context | change_line)+ eof_line?
change_context: ("@@" | "@@ " /(.+)/) LF
change_line: ("+" | "-" | " ") /(.*)/ LF
eof_line: "*** End of File" LF

%import common.LF
"#;

const PATCH_HELP: &str = "Edits files with a patch in the V4A format: `*** Begin Patch`, then for \
each file `*** Add File: PATH` (every line prefixed +), `*** Delete File: PATH`, or \
`*** Update File: PATH` (optionally `*** Move to: NEW`) followed by changes: an `@@` line with \
a line to find first (a function or class), then context lines prefixed with a space, \
removed lines with -, added lines with +; then `*** End Patch`. Paths are relative to the \
project root. Give three lines of context around each change.";

fn object(properties: Value, required: &[&str]) -> ToolInput {
    ToolInput::Json {
        schema: json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        }),
    }
}

fn plan_spec() -> ToolSpec {
    ToolSpec {
        name: "update_plan".into(),
        description: "Keeps the plan for the task: each step with its status (at most one \
                      in_progress). Send the whole plan each time."
            .into(),
        input: object(
            json!({
                "explanation": { "type": "string" },
                "plan": { "type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "step": { "type": "string" },
                        "status": { "type": "string", "enum": ["pending", "in_progress", "completed"] },
                    },
                    "required": ["step", "status"],
                    "additionalProperties": false,
                }},
            }),
            &["plan"],
        ),
    }
}

/// Whether `model` is one of OpenAI's Codex models (trained on Codex's own tools).
pub(crate) fn is_codex(model: &str) -> bool {
    model.to_ascii_lowercase().contains("codex")
}

/// The tools offered to `model`: the same for every request of a turn.
pub(crate) fn agent_specs(model: &str) -> Vec<ToolSpec> {
    let patch = ToolSpec {
        name: "apply_patch".into(),
        description: PATCH_HELP.into(),
        input: ToolInput::Freeform {
            grammar: Some(APPLY_PATCH_GRAMMAR.into()),
        },
    };
    if is_codex(model) {
        return vec![
            ToolSpec {
                name: "exec_command".into(),
                description: "Runs a shell command in the project and returns its exit code and \
                              output. The project root is the default working folder; no input \
                              can be typed."
                    .into(),
                input: object(
                    json!({
                        "cmd": { "type": "string", "description": "Shell command to execute." },
                        "workdir": { "type": "string", "description": "Working directory for the command. Defaults to the project root." },
                        "justification": { "type": "string", "description": "Why the command is needed, shown to the user when it asks" },
                        "max_output_tokens": { "type": "number", "description": "Output token budget." },
                    }),
                    &["cmd"],
                ),
            },
            patch,
            plan_spec(),
        ];
    }
    let mut specs = ProjectReaders.specs();
    specs.push(ToolSpec {
        name: "find_files".into(),
        description: "Finds the project's files whose paths match a fuzzy query (letters in \
                      order, e.g. `srclibrs` or `parser test`), best first. Ignored files are \
                      left out."
            .into(),
        input: object(
            json!({
                "query": { "type": "string" },
                "limit": { "type": "integer", "minimum": 1, "maximum": 100 },
            }),
            &["query"],
        ),
    });
    specs.push(patch);
    specs.push(ToolSpec {
        name: "edit_file".into(),
        description: "Replaces one exact piece of a file's text (old_string, which must occur \
                      once; include enough lines to make it unique) with new_string."
            .into(),
        input: object(
            json!({
                "path": { "type": "string" },
                "old_string": { "type": "string" },
                "new_string": { "type": "string" },
            }),
            &["path", "old_string", "new_string"],
        ),
    });
    specs.push(ToolSpec {
        name: "run_command".into(),
        description: "Runs a shell command in the project (bash -c) and returns its exit code \
                      and output: builds, tests, git, formatters. No input can be typed."
            .into(),
        input: object(
            json!({
                "command": { "type": "string" },
                "cwd": { "type": "string", "description": "The working folder, relative to the project root" },
                "timeout_ms": { "type": "integer" },
                "why": { "type": "string", "description": "Why it is needed, shown to the user when it asks" },
            }),
            &["command"],
        ),
    });
    specs.push(plan_spec());
    specs
}

/// Whether a call only reads (runs alongside the others of its batch).
pub(crate) fn read_only(name: &str) -> bool {
    // Commands (exec_command, shell, run_command) may write: never side by side.
    matches!(
        name,
        "read_file" | "list_dir" | "search" | "find_files" | "update_plan"
    )
}

/// The edits a tool-call item proposes (an `apply_patch` or `edit_file` call), or why
/// it proposes none.
pub(crate) fn edits_of_call(name: &str, input: &str) -> Result<Vec<Edit>, String> {
    match name {
        "apply_patch" => {
            // Free text where offered as such; else `{"input": ...}` (or `patch`).
            let text = match serde_json::from_str::<Value>(input) {
                Ok(v) if v.is_object() => v["input"]
                    .as_str()
                    .or(v["patch"].as_str())
                    .map(str::to_owned)
                    .ok_or("apply_patch needs the patch text in `input`")?,
                _ => input.to_string(),
            };
            flint_edit::patch::parse(&text).map_err(|e| e.to_string())
        }
        "edit_file" => {
            let v: Value = serde_json::from_str(input)
                .map_err(|e| format!("the arguments are not valid JSON: {e}"))?;
            let field = |k: &str| {
                v[k].as_str()
                    .map(str::to_owned)
                    .ok_or(format!("edit_file needs `{k}` (a string)"))
            };
            let (path, search) = (field("path")?, field("old_string")?);
            if search.is_empty() {
                return Err(
                    "old_string is empty: quote the text to replace (apply_patch adds files)"
                        .into(),
                );
            }
            Ok(vec![Edit::Replace {
                path,
                search,
                replace: field("new_string")?,
            }])
        }
        // A whole file an agent writes through Flint (`fs/write_text_file`).
        super::acp::ACP_WRITE => {
            let v: Value = serde_json::from_str(input)
                .map_err(|e| format!("the write is not valid JSON: {e}"))?;
            match (v["path"].as_str(), v["content"].as_str()) {
                (Some(path), Some(content)) => Ok(vec![Edit::Write {
                    path: path.to_string(),
                    content: content.to_string(),
                }]),
                _ => Err("the write has no path or content".into()),
            }
        }
        _ => Err(format!("`{name}` does not edit files")),
    }
}

/// A command the model asked for, read from its call.
#[derive(Debug, Clone)]
struct CommandCall {
    program: Program,
    cwd: String,
    timeout: Duration,
    why: Option<String>,
}

fn command_of_call(name: &str, input: &str) -> Result<CommandCall, String> {
    let v: Value = serde_json::from_str(input)
        .map_err(|e| format!("the arguments are not valid JSON: {e}"))?;
    let program = match (
        name,
        if name == "exec_command" {
            &v["cmd"]
        } else {
            &v["command"]
        },
    ) {
        ("shell", Value::Array(words)) => {
            let words: Option<Vec<String>> = words
                .iter()
                .map(|w| w.as_str().map(str::to_owned))
                .collect();
            let words = words.ok_or("`command` must be an array of strings")?;
            // ["bash", "-lc", "cargo test"] is a command line, shown and allowed as one.
            match words.as_slice() {
                [sh, flag, line]
                    if matches!(sh.as_str(), "bash" | "sh" | "/bin/bash" | "/bin/sh")
                        && matches!(flag.as_str(), "-c" | "-lc") =>
                {
                    Program::Shell(line.clone())
                }
                _ => Program::Argv(words),
            }
        }
        ("shell" | "run_command" | "exec_command", Value::String(s)) => Program::Shell(s.clone()),
        ("exec_command", _) => return Err("exec_command needs `cmd` (a string)".into()),
        _ => return Err(format!("{name} needs `command`")),
    };
    if matches!(&program, Program::Argv(a) if a.is_empty())
        || matches!(&program, Program::Shell(s) if s.trim().is_empty())
    {
        return Err("the command is empty".into());
    }
    let cwd = v["workdir"]
        .as_str()
        .or(v["cwd"].as_str())
        .unwrap_or("")
        .to_string();
    let timeout = v["timeout_ms"]
        .as_u64()
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT)
        .min(MAX_TIMEOUT);
    let why = v["justification"]
        .as_str()
        .or(v["why"].as_str())
        .map(str::to_owned);
    Ok(CommandCall {
        program,
        cwd,
        timeout,
        why,
    })
}

/// The words of a plain command (no chaining, piping, redirection, quoting or
/// expansion): the only commands a remembered prefix may allow.
fn plain_words(program: &Program) -> Option<Vec<String>> {
    let plain = |w: &str| {
        !w.is_empty()
            && w.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c))
    };
    let words: Vec<String> = match program {
        // A line break (or any space but ' ') separates commands to a shell.
        Program::Shell(s) if s.chars().any(|c| c.is_whitespace() && c != ' ') => return None,
        Program::Shell(s) => s
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect(),
        Program::Argv(a) => a.clone(),
    };
    (!words.is_empty() && words.iter().all(|w| plain(w))).then_some(words)
}

/// Programs that run whatever their arguments say (shells, interpreters, runners of
/// other programs) or whose options read or write anywhere (`git log --output`, `sed
/// e`, `rg --pre`, `find -exec`): "always allow" remembers such a command exactly, never
/// as a prefix.
const EXACT_ONLY: &[&str] = &[
    "sh",
    "bash",
    "zsh",
    "dash",
    "fish",
    "ksh",
    "csh",
    "tcsh",
    "env",
    "sudo",
    "doas",
    "su",
    "xargs",
    "find",
    "sed",
    "awk",
    "gawk",
    "perl",
    "python",
    "python3",
    "node",
    "deno",
    "bun",
    "ruby",
    "php",
    "lua",
    "git",
    "tar",
    "rg",
    "grep",
    "ls",
    "cat",
    "cp",
    "mv",
    "rm",
    "chmod",
    "chown",
    "ln",
    "curl",
    "wget",
    "ssh",
    "scp",
    "rsync",
    "dd",
    "tee",
    "nohup",
    "timeout",
    "watch",
    "exec",
    "eval",
    "source",
    "nice",
    "ionice",
    "time",
    "strace",
    "gdb",
    "docker",
    "podman",
    "kubectl",
    "systemctl",
    "systemd-run",
    "open",
    "xdg-open",
    "osascript",
];

/// Subcommands that run or install whatever follows them (`npm exec`, `cargo run`,
/// `pip install`, `npx`-like runners): remembered exactly, never as a prefix.
const RUNNING_SUBCOMMANDS: &[&str] = &[
    "run", "exec", "x", "dlx", "install", "i", "add", "create", "init", "sync", "tool", "script",
    "shell", "eval", "start", "serve", "watch",
];

/// Whether `words` (a remembered prefix) stands for its program and subcommand
/// (`cargo test`), allowing more words after it; else only the exact command.
fn covers_more(prefix: &[&str]) -> bool {
    let [program, sub] = prefix else {
        return false;
    };
    !program.contains(['/', '='])
        && !EXACT_ONLY.contains(program)
        && !RUNNING_SUBCOMMANDS.contains(sub)
        && sub
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        && !sub.starts_with('-')
}

/// Whether a word after a prefix stays in the project: no absolute or home path, no
/// `..`, no URL - as the word, as an option's value (`--x=/a`), or glued to a short
/// option (`-f/a`).
fn stays_in_project(word: &str) -> bool {
    let mut values = vec![word];
    if let Some((_, v)) = word.split_once('=') {
        values.push(v);
    }
    if word.starts_with('-') && !word.starts_with("--") && word.len() > 2 {
        values.push(&word[2..]);
    }
    !word.contains("..")
        && !word.contains("://")
        && values
            .iter()
            .all(|v| !v.starts_with('/') && !v.starts_with('~'))
}

/// What "always allow" remembers for a command: its program and subcommand (`cargo
/// test`) when the program is not one that runs or touches whatever its arguments say
/// and the command will run in a sandbox, else the whole command, to be allowed again
/// exactly. None for a command that is not plain.
pub fn command_prefix(program: &Program, sandbox: bool) -> Option<String> {
    let words = plain_words(program)?;
    let two: Vec<&str> = words.iter().take(2).map(String::as_str).collect();
    // Without a sandbox a prefix would allow only itself: the whole command is what is
    // remembered (and shown).
    if sandbox && covers_more(&two) && words.len() > 2 {
        return Some(two.join(" "));
    }
    Some(words.join(" "))
}

/// Whether a remembered prefix allows `program`: the same plain command, or one with
/// more words after a program-and-subcommand prefix, none of them reaching outside the
/// project by path (`/…`, `~…`, `..`).
pub fn prefix_allows(prefix: &str, program: &Program) -> bool {
    let Some(words) = plain_words(program) else {
        return false;
    };
    let want: Vec<&str> = prefix.split(' ').filter(|w| !w.is_empty()).collect();
    if want.is_empty()
        || want.len() > words.len()
        || !want.iter().zip(&words).all(|(a, b)| *a == b.as_str())
    {
        return false;
    }
    if want.len() == words.len() {
        return true;
    }
    covers_more(&want) && words[want.len()..].iter().all(|w| stays_in_project(w))
}

impl Engine {
    /// Runs one agent call (anything but the read-only tools, which go to their runner).
    pub(crate) async fn run_agent_call(&self, ctx: &CallCtx<'_>, call: &ToolCall) -> ToolOutput {
        match call.name.as_str() {
            "read_file" | "list_dir" | "search" => ProjectReaders.run(ctx.root, call).await,
            "find_files" => self.find_files(ctx.root, &call.input).await,
            "apply_patch" | "edit_file" => match edits_of_call(&call.name, &call.input) {
                Ok(edits) if edits.is_empty() => ToolOutput::error("the patch has no files in it"),
                Ok(edits) => self.agent_edit(ctx, &edits).await,
                Err(e) => ToolOutput::error(format!("{e}. Nothing was changed.")),
            },
            "exec_command" | "shell" | "run_command" => {
                match command_of_call(&call.name, &call.input) {
                    Ok(cmd) => self.agent_command(ctx, cmd).await,
                    Err(e) => ToolOutput::error(format!("{e}. Nothing was run.")),
                }
            }
            "update_plan" => match serde_json::from_str::<Value>(&call.input) {
                Ok(v) if v["plan"].is_array() => ToolOutput::ok("Plan updated."),
                _ => ToolOutput::error("update_plan needs `plan`: an array of {step, status}"),
            },
            other => ToolOutput::error(format!(
                "there is no tool named `{other}`; the tools are the ones offered"
            )),
        }
    }

    /// Files matching a fuzzy query, from the project's warm index where it is open
    /// (else one built now).
    async fn find_files(&self, root: &Path, input: &str) -> ToolOutput {
        let Ok(v) = serde_json::from_str::<Value>(input) else {
            return ToolOutput::error("the arguments are not valid JSON");
        };
        let Some(query) = v["query"].as_str().map(str::to_owned) else {
            return ToolOutput::error("find_files needs `query` (a string)");
        };
        let limit = v["limit"].as_u64().unwrap_or(30).clamp(1, 100) as usize;
        let warm = self
            .indexes
            .lock()
            .ok()
            .and_then(|i| i.get(root).and_then(std::sync::Weak::upgrade));
        let root = root.to_path_buf();
        let found = tokio::task::spawn_blocking(move || match warm {
            Some(index) => index
                .read()
                .map(|i| i.search(&query, limit))
                .unwrap_or_default(),
            None => flint_project::FileIndex::build(&root).search(&query, limit),
        })
        .await
        .unwrap_or_default();
        if found.is_empty() {
            return ToolOutput::ok("no files match");
        }
        ToolOutput::ok(
            found
                .into_iter()
                .map(|m| m.path)
                .collect::<Vec<_>>()
                .join("\n"),
        )
    }

    /// Asks the front end and waits for its answer (or the turn's stop: a denial).
    pub(crate) async fn ask(&self, ctx: &CallCtx<'_>, ask: Ask) -> Answer {
        // An agent's own option answers only an agent's question.
        let permission = matches!(ask, Ask::Permission { .. });
        let (tx, rx) = oneshot::channel();
        let id = self.running.ask(tx);
        let _ = ctx.events.send(TurnEvent::Question {
            question: Box::new(Question {
                id,
                item_id: ctx.item_id,
                ask,
            }),
        });
        let answer = tokio::select! {
            biased;
            _ = ctx.cancel.cancelled() => Answer::Deny { message: Some("the user stopped the turn".into()) },
            a = rx => a.unwrap_or(Answer::Deny { message: Some("no one was there to answer".into()) }),
        };
        self.running.forget_question(id);
        let _ = ctx.events.send(TurnEvent::Answered { question_id: id });
        match answer {
            Answer::Choose { .. } if !permission => Answer::Deny {
                message: Some("the answer did not fit the question".into()),
            },
            a => a,
        }
    }

    /// Plans an edit against the project; applies it (Auto-edit, Full auto) or waits
    /// for the user's review (Ask); tells the model what became of each file.
    pub(crate) async fn agent_edit(&self, ctx: &CallCtx<'_>, edits: &[Edit]) -> ToolOutput {
        let Ok(dir) = ProjectDir::open(ctx.root) else {
            return ToolOutput::error("the project folder cannot be opened");
        };
        let (item_id, planned) = (ctx.item_id, edits.to_vec());
        let review = tokio::task::spawn_blocking(move || {
            crate::review::review_of(item_id, &dir, &planned, &[]).1
        })
        .await;
        let Ok(review) = review else {
            return ToolOutput::error("the edit could not be planned");
        };
        if review.files.is_empty() {
            return ToolOutput::error(failure_feedback(&review));
        }
        let decided = if ctx.mode == AgentMode::Ask {
            let _ = ctx.events.send(TurnEvent::Review {
                review: Box::new(review.clone()),
            });
            match self
                .ask(
                    ctx,
                    Ask::Edit {
                        review: Box::new(review.clone()),
                    },
                )
                .await
            {
                Answer::Deny { message } => {
                    let paths: Vec<String> = review.files.iter().map(|f| f.path.clone()).collect();
                    let _ = self
                        .db(move |s| {
                            for p in &paths {
                                s.set_review(item_id, p, "rejected", None)?;
                            }
                            Ok(())
                        })
                        .await;
                    let mut rejected = review;
                    for f in &mut rejected.files {
                        f.status = ReviewStatus::Rejected;
                    }
                    let _ = ctx.events.send(TurnEvent::Review {
                        review: Box::new(rejected),
                    });
                    let why = message.map(|m| format!(": {m}")).unwrap_or_default();
                    return ToolOutput::error(format!(
                        "The user rejected this edit{why}. Nothing was changed."
                    ));
                }
                Answer::Reviewed => match self.review(item_id).await {
                    Ok(r) => r,
                    Err(e) => {
                        return ToolOutput::error(format!("the review could not be read: {e}"))
                    }
                },
                _ => match self.apply_review(item_id, accept_all(&review)).await {
                    Ok(out) => out.review,
                    Err(e) => {
                        return ToolOutput::error(format!("the edit could not be applied: {e}"))
                    }
                },
            }
        } else {
            match self.apply_review(item_id, accept_all(&review)).await {
                Ok(out) => out.review,
                Err(e) => {
                    return ToolOutput::error(format!(
                        "the edit could not be applied: {e}. Nothing was changed."
                    ))
                }
            }
        };
        let _ = ctx.events.send(TurnEvent::Review {
            review: Box::new(decided.clone()),
        });
        edit_result(&decided, &review)
    }

    /// Runs a command, asking first where the mode says so, between two snapshots of
    /// the project; what it changed becomes a checkpoint of its call.
    async fn agent_command(&self, ctx: &CallCtx<'_>, cmd: CommandCall) -> ToolOutput {
        let Ok(dir) = ProjectDir::open(ctx.root) else {
            return ToolOutput::error("the project folder cannot be opened");
        };
        // Where it runs is checked now, and again once it may run (a question can wait
        // minutes, and a folder can become a link meanwhile).
        if let Err(e) = command_dir(&dir, &cmd.cwd) {
            return ToolOutput::error(e);
        }
        let shown = cmd.program.display();
        // A sandbox for this project (one exists, and the project does not hold home).
        let can_sandbox = flint_exec::usable_for(dir.root()).is_ok();
        let full_auto = ctx.mode == AgentMode::FullAuto && can_sandbox;
        // Allowed by a remembered prefix: run without asking, but in the sandbox where
        // there is one (the model may have edited what the command runs: a test, a
        // build script); without one, only the exact command it was allowed for.
        let by_prefix = !full_auto && self.command_allowed(ctx, &cmd.program, can_sandbox).await;
        if !full_auto && !by_prefix {
            if let Err(out) = self.approve_command(ctx, &cmd, can_sandbox).await {
                return out;
            }
        }
        let mut sandboxed = full_auto || (by_prefix && can_sandbox);
        let cwd = match command_dir(&dir, &cmd.cwd) {
            Ok(cwd) => cwd,
            Err(e) => return ToolOutput::error(e),
        };
        // One command at a time per project between its two snapshots, so two turns'
        // commands never land in one another's checkpoint.
        let lock = self.running.project_lock(ctx.root);
        let _held = lock.lock().await;
        // Every repository in the project (a `.git` folder, file or link, or a bare
        // layout under any name) is read-only in the sandbox: git runs what their config
        // says. A project too large to look through is not sandboxed: the user is asked.
        let mut gits_before = Vec::new();
        if sandboxed {
            let root = dir.root().to_path_buf();
            let scan = tokio::task::spawn_blocking(move || git_entries(&root))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r);
            match scan {
                Ok(found) => gits_before = found,
                Err(why) => {
                    let asked = CommandCall {
                        why: Some(format!(
                            "{} (Flint cannot sandbox it here: {why})",
                            cmd.why.clone().unwrap_or_default()
                        )),
                        ..cmd.clone()
                    };
                    if let Err(out) = self.approve_command(ctx, &asked, false).await {
                        return out;
                    }
                    sandboxed = false;
                }
            }
        }
        let read_only: Vec<PathBuf> = gits_before
            .iter()
            .map(|p| match p.file_name().and_then(|n| n.to_str()) {
                // A bare layout: its whole folder.
                Some("HEAD") => p.parent().map(Path::to_path_buf).unwrap_or_default(),
                _ => p.clone(),
            })
            .collect();
        let sandbox = sandboxed.then(|| Sandbox {
            root: dir.root().to_path_buf(),
            read_only,
            git_dirs: dir.git_dirs(),
            network: false,
        });
        // The way back, before anything runs: no snapshot, no command.
        let snapshots = match self.snapshots(ctx.root).await {
            Ok(s) => s,
            Err(e) => {
                return ToolOutput::error(format!(
                    "`{shown}` was not run: the project's snapshot failed ({e})"
                ))
            }
        };
        let started = std::time::SystemTime::now();
        let command = flint_exec::Command {
            program: cmd.program,
            cwd,
            timeout: cmd.timeout,
            max_output: MAX_COMMAND_OUTPUT,
            sandbox,
        };
        // Output goes to the user in frame-sized batches, up to a bound (the model
        // gets the head and tail either way).
        let (out_tx, out_rx) = mpsc::unbounded_channel::<String>();
        let run = async move {
            let mut on_output = |text: &str| {
                let _ = out_tx.send(text.to_string());
            };
            flint_exec::run(&command, &mut on_output, ctx.cancel).await
        };
        let forward = forward_output(out_rx, ctx.events.clone(), ctx.item_id);
        let (result, ()) = tokio::join!(run, forward);
        // A repository a sandboxed command made (`git init`, a clone, a bare one under
        // any name) could run code the next time anyone uses git there (its config:
        // core.fsmonitor, hooks): it is disabled - renamed, nothing deleted - and the
        // model and the user told.
        let mut disabled = Vec::new();
        if sandboxed {
            let root = dir.root().to_path_buf();
            disabled = tokio::task::spawn_blocking(move || {
                let now = match git_entries(&root) {
                    Ok(found) => found,
                    Err(e) => return vec![format!("could not look for repositories: {e}")],
                };
                let mut said = Vec::new();
                for p in now.into_iter().filter(|p| !gits_before.contains(p)) {
                    let rel = p.strip_prefix(&root).unwrap_or(&p).display().to_string();
                    said.push(match disable_repository(&p) {
                        Ok(to) => format!("{rel} (now {to})"),
                        Err(e) => format!("{rel}: COULD NOT BE DISABLED ({e})"),
                    });
                }
                said
            })
            .await
            .unwrap_or_default();
        }
        let changed = self
            .record_command_changes(ctx, &dir, &shown, snapshots, started)
            .await;
        let done = match result {
            Ok(done) => done,
            Err(e) => return ToolOutput::error(format!("{e}")),
        };
        let mut out = command_result(&done, &changed);
        if !disabled.is_empty() {
            out.output = format!(
                "Flint disabled the git repositories made while this command ran ({}): git \
                 would run what their config says wherever it is used. Ask the user to make \
                 one.\n{}",
                disabled.join(", "),
                out.output
            );
        }
        out
    }

    /// Asks whether `cmd` may run; remembers its prefix (or, without a sandbox, the
    /// whole command) when the user allows it for the session or always. Err: the
    /// result to give the model when they did not.
    async fn approve_command(
        &self,
        ctx: &CallCtx<'_>,
        cmd: &CommandCall,
        can_sandbox: bool,
    ) -> Result<(), ToolOutput> {
        let shown = cmd.program.display();
        let prefix = command_prefix(&cmd.program, can_sandbox);
        let answer = self
            .ask(
                ctx,
                Ask::Command {
                    command: shown.clone(),
                    cwd: cmd.cwd.trim_start_matches("./").to_string(),
                    why: cmd.why.clone().filter(|w| !w.trim().is_empty()),
                    prefix: prefix.clone(),
                },
            )
            .await;
        match (answer, prefix) {
            (Answer::Deny { message }, _) => {
                let why = message.map(|m| format!(": {m}")).unwrap_or_default();
                Err(ToolOutput::error(format!(
                    "The user did not allow running `{shown}`{why}."
                )))
            }
            (Answer::AllowForSession, Some(p)) => {
                self.running.allow_in_session(ctx.session_id, p);
                Ok(())
            }
            (Answer::AllowAlways, Some(p)) => {
                let project = ctx.project_id;
                let _ = self.db(move |s| s.allow_command(project, &p)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Whether a remembered prefix allows `program` without asking: as a prefix where
    /// the command will run in the sandbox, else only as the exact command (outside the
    /// sandbox a prefix would run whatever the model appends, unasked).
    async fn command_allowed(&self, ctx: &CallCtx<'_>, program: &Program, sandbox: bool) -> bool {
        let allows = |p: &str| {
            if sandbox {
                prefix_allows(p, program)
            } else {
                plain_words(program).is_some_and(|w| w.join(" ") == p)
            }
        };
        if self.running.allowed_in_session(ctx.session_id, &allows) {
            return true;
        }
        let project = ctx.project_id;
        let always = self
            .db(move |s| s.allowed_commands(project))
            .await
            .unwrap_or_default();
        always.iter().any(|p| allows(p))
    }

    /// The project's snapshot store (kept open, its stat cache in memory, for the
    /// engine's life), with a snapshot of it now (off the executor).
    pub(crate) async fn snapshots(
        &self,
        root: &Path,
    ) -> Result<(SnapshotStore, flint_store::Snapshot), String> {
        let (running, data) = (self.running.clone(), self.data_dir());
        let root = root.to_path_buf();
        tokio::task::spawn_blocking(move || {
            // Opening reads the stat cache: off the executor too.
            let store = running.snapshot_store(&root, &data);
            let mut slot = store
                .lock()
                .map_err(|_| "the snapshot store lock".to_string())?;
            let snaps = slot.as_mut().ok_or_else(|| {
                format!(
                    "the snapshot store for {} could not be opened",
                    root.display()
                )
            })?;
            let now = snaps.take().map_err(|e| e.to_string())?;
            drop(slot);
            Ok((store, now))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Records what a command changed as a checkpoint of its call; the changed paths
    /// kept, and those that could not be (names Flint does not write).
    async fn record_command_changes(
        &self,
        ctx: &CallCtx<'_>,
        dir: &ProjectDir,
        shown: &str,
        (snapshots, before): (SnapshotStore, flint_store::Snapshot),
        started: std::time::SystemTime,
    ) -> Result<(Vec<String>, Vec<String>), String> {
        let summary: String = format!("ran `{shown}`").chars().take(200).collect();
        self.record_changes(
            ctx.project_id,
            ctx.item_id,
            dir,
            summary,
            (snapshots, before, started),
            Vec::new(),
        )
        .await
        .map(|(kept, odd, _)| (kept, odd))
    }

    /// Records what changed in the project since the snapshot `before` (taken at
    /// `started`) as a checkpoint of `item_id` (undone to the byte with its turn),
    /// leaving out files now as `exclude` has them: the changed paths kept, those that
    /// could not be (names Flint does not write), and the snapshot taken now.
    pub(crate) async fn record_changes(
        &self,
        project: i64,
        item: i64,
        dir: &ProjectDir,
        summary: String,
        (snapshots, before, started): (SnapshotStore, flint_store::Snapshot, std::time::SystemTime),
        exclude: Vec<(String, Option<Vec<u8>>)>,
    ) -> Result<(Vec<String>, Vec<String>, flint_store::Snapshot), String> {
        let store = self.store_handle();
        let engine = self.clone();
        let dir = dir.clone();
        tokio::task::spawn_blocking(move || {
            let mut slot = snapshots
                .lock()
                .map_err(|_| "the snapshot store lock".to_string())?;
            let snaps = slot.as_mut().ok_or("the snapshot store is not open")?;
            let after = snaps.take().map_err(|e| e.to_string())?;
            let (mut files, unrecorded) = snaps
                .changes_since(&before, &after, Some(started))
                .map_err(|e| e.to_string())?;
            // Changes that are someone else's to record (Flint's own write).
            files.retain(|f| !exclude.iter().any(|(p, b)| *p == f.path && *b == f.after));
            // The bytes before are in `files` now (and go to the history with them):
            // the store keeps what the latest snapshot has.
            let _ = snaps.collect_garbage();
            drop(slot);
            // Names Flint would refuse to write (outside its rules for paths) cannot be
            // undone either: named, not kept, so the rest can still be undone.
            let (kept, odd): (Vec<_>, Vec<_>) =
                files.drain(..).partition(|f| dir.resolve(&f.path).is_ok());
            let files = kept;
            let mut odd: Vec<String> = odd.into_iter().map(|f| f.path).collect();
            odd.extend(unrecorded);
            if files.is_empty() {
                return Ok((Vec::new(), odd, after));
            }
            let writes: Vec<flint_edit::Write> = files
                .iter()
                .map(|f| flint_edit::Write {
                    path: f.path.clone(),
                    content: f.after.clone(),
                    ..Default::default()
                })
                .collect();
            engine.flint_writes(dir.root(), &writes);
            let s = store.lock().map_err(|_| "the store lock".to_string())?;
            s.add_checkpoint(project, Some(item), &summary, &files)
                .map_err(|e| e.to_string())?;
            Ok((files.into_iter().map(|f| f.path).collect(), odd, after))
        })
        .await
        .map_err(|e| e.to_string())?
    }

    /// Flint's data folder (the store's), where the snapshot stores live.
    pub(crate) fn data_dir(&self) -> PathBuf {
        let store = self.store_handle();
        let path = store
            .lock()
            .map(|s| s.path().to_path_buf())
            .unwrap_or_default();
        path.parent().map(Path::to_path_buf).unwrap_or_default()
    }
}

/// Sends a command's output on to the front end as `ToolOutput` events, a batch per
/// `OUTPUT_EVERY` at most and `MAX_LIVE_OUTPUT` in all (then one line saying the rest is
/// left out), until the command's side of the channel closes.
async fn forward_output(
    mut pieces: mpsc::UnboundedReceiver<String>,
    events: mpsc::UnboundedSender<TurnEvent>,
    item_id: i64,
) {
    let mut tick = tokio::time::interval(OUTPUT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut pending, mut sent) = (String::new(), 0usize);
    let send = |pending: &mut String, sent: &mut usize| {
        if pending.is_empty() {
            return;
        }
        let mut text = std::mem::take(pending);
        if *sent + text.len() > MAX_LIVE_OUTPUT {
            if *sent > MAX_LIVE_OUTPUT {
                return;
            }
            text = "\n[... more output: only its end goes to the model ...]\n".into();
            *sent = MAX_LIVE_OUTPUT + 1;
        } else {
            *sent += text.len();
        }
        let _ = events.send(TurnEvent::ToolOutput { item_id, text });
    };
    loop {
        tokio::select! {
            piece = pieces.recv() => match piece {
                Some(p) => pending.push_str(&p),
                None => break,
            },
            _ = tick.tick(), if !pending.is_empty() => send(&mut pending, &mut sent),
        }
    }
    send(&mut pending, &mut sent);
}

/// Renames a repository marker (`.git`, or a bare layout's `HEAD`) to a name of its
/// own that nothing could have taken (random), so git no longer finds a repository
/// there; inside a renamed `.git` folder its HEAD goes too (git would still take the
/// folder itself for a bare repository). A rename moves a link itself, never what it
/// points at. Returns the new name.
pub(crate) fn disable_repository(p: &Path) -> Result<String, String> {
    let name = p
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    for _ in 0..8 {
        let new_name = format!("{name}.flint-disabled-{:016x}", fastrand::u64(..));
        let to = p.with_file_name(&new_name);
        if std::fs::symlink_metadata(&to).is_ok() {
            continue;
        }
        std::fs::rename(p, &to).map_err(|e| e.to_string())?;
        if std::fs::symlink_metadata(&to).is_ok_and(|m| m.is_dir())
            && std::fs::symlink_metadata(to.join("HEAD")).is_ok()
        {
            let head = to.join(format!("HEAD.flint-disabled-{:016x}", fastrand::u64(..)));
            std::fs::rename(to.join("HEAD"), head)
                .map_err(|e| format!("renamed to {new_name}, but its HEAD stayed: {e}"))?;
        }
        return Ok(new_name);
    }
    Err("no free name to rename it to".into())
}

/// Every repository marker in the project, however deep, ignore rules or not, never
/// following links or looking inside one: each `.git` (folder, file or link), and the
/// `HEAD` of each folder git would take for a bare repository (`HEAD`, `objects/`,
/// `refs/`). Past 1,000,000 entries it gives up: an error, never a partial answer.
pub(crate) fn git_entries(root: &Path) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    let mut seen = 0usize;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let (mut head, mut objects, mut refs) = (None, false, false);
        for e in entries.flatten() {
            seen += 1;
            if seen > 1_000_000 {
                return Err("the project has more than 1,000,000 entries to look through".into());
            }
            let Ok(kind) = e.file_type() else { continue };
            let name = e.file_name();
            if name.eq_ignore_ascii_case(".git") {
                found.push(e.path());
                continue;
            }
            // As git tests them: a HEAD file or link, `objects` and `refs` folders or
            // links to folders.
            let folder = || kind.is_dir() || (kind.is_symlink() && e.path().is_dir());
            match name.to_str() {
                Some("HEAD") if kind.is_file() || kind.is_symlink() => head = Some(e.path()),
                Some("objects") if folder() => objects = true,
                Some("refs") if folder() => refs = true,
                _ => {}
            }
            if kind.is_dir() {
                stack.push(e.path());
            }
        }
        if let (Some(head), true, true) = (head, objects, refs) {
            found.push(head);
        }
    }
    Ok(found)
}

/// The folder a command runs in: `cwd` inside the project (its root when empty).
pub(crate) fn command_dir(dir: &ProjectDir, cwd: &str) -> Result<PathBuf, String> {
    let rel = cwd.trim_start_matches("./");
    if rel.is_empty() || rel == "." {
        return Ok(dir.root().to_path_buf());
    }
    match dir.resolve(rel) {
        Ok(p) if p.is_dir() => Ok(p),
        Ok(_) => Err(format!(
            "`{cwd}` is not a folder of the project. Nothing was run."
        )),
        Err(_) => Err(format!(
            "`{cwd}` is outside the project (or in its git folder). Nothing was run."
        )),
    }
}

fn accept_all(review: &Review) -> Vec<FileDecision> {
    review
        .files
        .iter()
        .map(|f| FileDecision {
            path: f.path.clone(),
            base_hash: f.base_hash.clone(),
            accept: vec![true; f.hunks.len().max(1)],
        })
        .collect()
}

fn failure_feedback(review: &Review) -> String {
    let mut out: Vec<String> = review.failures.iter().map(|f| f.feedback.clone()).collect();
    if out.is_empty() {
        out.push("The edit changes nothing.".into());
    }
    out.push("Nothing was changed.".into());
    out.join("\n")
}

/// What the model is told of an edit: each file applied, rejected or changed since,
/// and the edits that could not be planned.
fn edit_result(decided: &Review, proposed: &Review) -> ToolOutput {
    let mut lines = Vec::new();
    let mut applied = 0;
    for f in &decided.files {
        let change = match f.change {
            crate::review::ChangeKind::Added => "added",
            crate::review::ChangeKind::Modified => "updated",
            crate::review::ChangeKind::Deleted => "deleted",
        };
        match f.status {
            ReviewStatus::Applied => {
                applied += 1;
                lines.push(format!("{change} {}", f.path));
            }
            ReviewStatus::Rejected => {
                lines.push(format!("the user rejected the change to {}", f.path))
            }
            ReviewStatus::Conflicted => lines.push(format!(
                "{} changed on disk since the edit was planned; not changed (read it again)",
                f.path
            )),
            ReviewStatus::Pending => lines.push(format!("{} was left as it was", f.path)),
        }
    }
    for f in &proposed.failures {
        lines.push(f.feedback.clone());
    }
    ToolOutput {
        is_error: applied == 0,
        output: lines.join("\n"),
    }
}

/// What the model is told of a command: how it ended, its output, what it changed.
fn command_result(
    done: &flint_exec::Finished,
    changed: &Result<(Vec<String>, Vec<String>), String>,
) -> ToolOutput {
    let mut head = match done.ended {
        flint_exec::Ended::Exited => match done.code {
            Some(c) => format!("exit code {c}"),
            None => "killed by a signal".into(),
        },
        flint_exec::Ended::TimedOut => {
            format!("timed out after {:.0?} and was stopped", done.duration)
        }
        flint_exec::Ended::Cancelled => "stopped by the user".into(),
    };
    head.push_str(&format!(" ({:.1} s)", done.duration.as_secs_f64()));
    if let Some(what) = done.denied {
        head.push_str(&format!(
            "\nThe sandbox refused {what}: commands here may write only inside the project \
             (not its .git) and cannot reach the network."
        ));
    }
    match changed {
        Ok((paths, odd)) => {
            if !paths.is_empty() {
                let list: Vec<&str> = paths.iter().take(20).map(String::as_str).collect();
                head.push_str(&format!("\nfiles changed: {}", list.join(", ")));
                if paths.len() > 20 {
                    head.push_str(&format!(" and {} more", paths.len() - 20));
                }
            }
            if !odd.is_empty() {
                head.push_str(&format!(
                    "\nchanged but not kept for undo (links, a file where a folder was, files \
                     that entered or left what Flint keeps, names Flint does not write): {}",
                    odd.join(", ")
                ));
            }
        }
        Err(e) => head.push_str(&format!(
            "\nWARNING: what it changed could not be recorded, so it cannot be undone: {e}"
        )),
    }
    let output = if done.output.is_empty() {
        format!("{head}\n(no output)")
    } else {
        format!("{head}\n{}", done.output)
    };
    ToolOutput {
        output,
        is_error: !done.success(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_allow_only_plain_commands_word_for_word() {
        let sh = |s: &str| Program::Shell(s.into());
        let prefix = |s: &str| command_prefix(&sh(s), true);
        assert_eq!(prefix("cargo test --all").as_deref(), Some("cargo test"));
        assert_eq!(prefix("cargo test").as_deref(), Some("cargo test"));
        // Without a sandbox, the whole command.
        assert_eq!(
            command_prefix(&sh("cargo test --lib"), false).as_deref(),
            Some("cargo test --lib")
        );
        // Programs that run or touch whatever their arguments say: exactly, only.
        assert_eq!(prefix("ls -la").as_deref(), Some("ls -la"));
        assert_eq!(
            prefix("git log --oneline").as_deref(),
            Some("git log --oneline")
        );
        assert_eq!(prefix("sed -n 1,80p f").as_deref(), Some("sed -n 1,80p f"));
        assert_eq!(
            prefix("python -m pytest").as_deref(),
            Some("python -m pytest")
        );
        assert_eq!(prefix("./run.sh x").as_deref(), Some("./run.sh x"));
        assert_eq!(
            prefix("NODE_ENV=test npm test").as_deref(),
            Some("NODE_ENV=test npm test")
        );
        assert_eq!(prefix("cargo test; rm -rf ~"), None);
        assert_eq!(prefix("echo $(id)"), None);
        let allows = |p: &str, c: &str| prefix_allows(p, &sh(c));
        assert!(allows("cargo test", "cargo test -p flint --features=x"));
        assert!(!allows("cargo test", "cargo testx"));
        assert!(!allows("cargo test", "cargo test && curl evil"));
        assert!(!allows("cargo test", "cargo test > /etc/passwd"));
        assert!(!allows("cargo test", "cargo test `id`"));
        assert!(!allows(
            "cargo test",
            "cargo test --manifest-path=/home/u/x/Cargo.toml"
        ));
        assert!(!allows("cargo test", "cargo test ../../elsewhere"));
        assert!(!allows("cargo", "cargo\ttest\nrm -rf /"));
        assert!(!allows("", "ls"));
        // An exact command allows only itself.
        assert!(allows("git log --oneline", "git log --oneline"));
        assert!(!allows(
            "git log --oneline",
            "git log --oneline --output=/home/u/.bashrc"
        ));
        assert!(!allows("sh scripts/test.sh", "sh scripts/test.sh -c id"));
        assert!(!allows("ls -la", "ls -la /home/u/.aws"));
        assert!(!allows(
            "NODE_ENV=test npm test",
            "NODE_ENV=test npm exec evil"
        ));
        assert!(prefix_allows(
            "npm test",
            &Program::Argv(vec!["npm".into(), "test".into()])
        ));
    }

    #[test]
    fn calls_are_read_as_each_family_writes_them() {
        let c = command_of_call(
            "shell",
            r#"{"command":["bash","-lc","cargo test"],"workdir":"sub","timeout_ms":5000}"#,
        )
        .unwrap();
        assert_eq!(c.program, Program::Shell("cargo test".into()));
        assert_eq!((c.cwd.as_str(), c.timeout), ("sub", Duration::from_secs(5)));
        let c = command_of_call("exec_command", r#"{"cmd":"cargo test","workdir":"a"}"#).unwrap();
        assert_eq!(
            (c.program, c.cwd.as_str()),
            (Program::Shell("cargo test".into()), "a")
        );
        assert!(command_of_call("exec_command", r#"{"command":"ls"}"#).is_err());
        let c = command_of_call("shell", r#"{"command":["rg","-n","x"]}"#).unwrap();
        assert_eq!(
            c.program,
            Program::Argv(vec!["rg".into(), "-n".into(), "x".into()])
        );
        let c =
            command_of_call("run_command", r#"{"command":"ls","timeout_ms":99999999}"#).unwrap();
        assert_eq!(c.timeout, MAX_TIMEOUT);
        assert!(command_of_call("run_command", "{not json")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(command_of_call("shell", r#"{"command":[1,2]}"#).is_err());
        assert!(command_of_call("run_command", r#"{"command":"  "}"#).is_err());
        assert!(command_of_call("run_command", r#"{}"#).is_err());

        let patch = "*** Begin Patch\n*** Add File: a.txt\n+hi\n*** End Patch";
        assert_eq!(edits_of_call("apply_patch", patch).unwrap().len(), 1);
        let wrapped = json!({ "input": patch }).to_string();
        assert_eq!(edits_of_call("apply_patch", &wrapped).unwrap().len(), 1);
        assert!(edits_of_call("apply_patch", "*** Begin Patch\nnonsense").is_err());
        let e = edits_of_call(
            "edit_file",
            r#"{"path":"a","old_string":"x","new_string":"y"}"#,
        )
        .unwrap();
        assert!(matches!(&e[0], Edit::Replace { path, .. } if path == "a"));
        assert!(edits_of_call(
            "edit_file",
            r#"{"path":"a","old_string":"","new_string":"y"}"#
        )
        .is_err());
        assert!(edits_of_call("edit_file", r#"{"path":"a"}"#)
            .unwrap_err()
            .contains("old_string"));
    }

    #[test]
    fn codex_models_get_codex_tools_and_others_json_tools() {
        let names = |m: &str| {
            agent_specs(m)
                .into_iter()
                .map(|s| s.name)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names("gpt-5.3-codex-spark"),
            ["exec_command", "apply_patch", "update_plan"]
        );
        assert_eq!(
            names("qwen3-coder"),
            [
                "read_file",
                "list_dir",
                "search",
                "find_files",
                "apply_patch",
                "edit_file",
                "run_command",
                "update_plan"
            ]
        );
        assert_eq!(AgentMode::parse("full-auto"), Some(AgentMode::FullAuto));
        assert_eq!(
            serde_json::to_string(&AgentMode::AutoEdit).unwrap(),
            "\"auto-edit\""
        );
    }
}

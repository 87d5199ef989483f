//! The `flint` command line. The desktop binary parses its arguments with [`Cli`]: a
//! subcommand runs here, headless, through the same engine and history as the app; no
//! subcommand starts the app (optionally on a project path).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod ask;
mod sessions;
mod terminal;
use ask::{ask, chosen_fast_slot, cli_engine, Choice};
use sessions::sessions;
use terminal::escaped;

use flint_core::edit::LineKind;
use flint_core::keys::Keychain;
use flint_core::review::ChangeKind;
use flint_core::store::history::{to_markdown, SearchFilter};
use flint_core::store::{ItemStatus, ModelSlot, Store};
use flint_core::{CoreError, Engine, Paths, ResolvedSlot, Settings, Slot, TurnEvent, TurnKind};

#[derive(Debug, Parser)]
#[command(
    name = "flint",
    version,
    about = "A desktop companion for real-time AI coding"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A project folder to open in the app (a file opens its folder).
    pub path: Option<PathBuf>,
    /// Open the quick-prompt window, in the running Flint if there is one. Bind this in
    /// your desktop's keyboard settings where global shortcuts do not work (Wayland).
    #[arg(long)]
    pub quick_prompt: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ask the model; the answer streams to stdout and is kept in the history.
    Ask {
        /// The project the question is about (default: the current directory).
        #[arg(long)]
        project: Option<PathBuf>,
        /// A provider preset: openai (Responses API), openai-chat (any Chat Completions
        /// server), anthropic, cerebras, groq, openrouter, ollama, lmstudio, llamacpp.
        /// Default: the fast model from the app's settings.
        #[arg(long)]
        provider: Option<String>,
        /// The provider's API root, e.g. http://127.0.0.1:8080/v1.
        #[arg(long)]
        base_url: Option<String>,
        /// The model id.
        #[arg(long)]
        model: Option<String>,
        /// Let the model act: read, search, edit and run commands. `ask`: every edit
        /// and command is asked about on the terminal (y/n/a; with no terminal, denied);
        /// `auto-edit`: edits apply, commands are asked about; `full-auto`: everything
        /// runs, commands in the sandbox. Without it the model answers in text.
        #[arg(long, value_parser = ["ask", "auto-edit", "full-auto"])]
        mode: Option<String>,
        /// With --mode: how many requests the turn may make before it stops.
        #[arg(long, default_value_t = flint_core::turn::MAX_STEPS)]
        max_steps: u32,
        /// Ask an agent instead of a model, over the Agent Client Protocol: `codex`,
        /// `claude`, `gemini` (see `flint agents list`), or a command line that speaks
        /// ACP on its stdio. With --mode its edits and commands follow the mode's rules
        /// (default: ask); what it changed is undone with `flint undo --turn`.
        #[arg(long, conflicts_with_all = ["provider", "base_url", "model"])]
        agent: Option<String>,
        /// The prompt; several words are joined with spaces.
        #[arg(required = true, num_args = 1..)]
        prompt: Vec<String>,
    },
    /// Apply the edits in a model's answer (apply_patch, SEARCH/REPLACE or whole
    /// files), all or nothing, as one checkpoint.
    Apply {
        #[arg(long)]
        project: Option<PathBuf>,
        /// Print the hunks and any failures; change nothing.
        #[arg(long)]
        check: bool,
        /// The answer to read; `-` or nothing reads stdin.
        file: Option<PathBuf>,
    },
    /// Print what the next turn would send, section by section with token counts.
    Context {
        #[arg(long)]
        project: Option<PathBuf>,
        /// The prompt (with @file mentions); several words are joined with spaces.
        prompt: Vec<String>,
    },
    /// List, search, show or export past sessions.
    Sessions {
        #[command(subcommand)]
        action: SessionsCommand,
    },
    /// Revert the project's latest applied checkpoint (exact bytes).
    Undo {
        #[arg(long)]
        project: Option<PathBuf>,
        /// Revert everything the latest turn of the project's latest session changed
        /// (its edits and what its commands changed).
        #[arg(long)]
        turn: bool,
    },
    /// Re-apply the checkpoint undone last.
    Redo {
        #[arg(long)]
        project: Option<PathBuf>,
    },
    /// The agents Flint knows (Codex, Claude Code, Gemini CLI): where each is, and
    /// installing one.
    Agents {
        #[command(subcommand)]
        action: AgentsCommand,
    },
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Each known agent: installed by Flint, on the PATH, or missing.
    List,
    /// Install a known agent with npm into Flint's data folder.
    Install { name: String },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// Sessions newest first (of one project with --project).
    List {
        #[arg(long)]
        project: Option<PathBuf>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Full-text search over everything said: words, "a phrase", prefix*.
    Search {
        #[arg(required = true, num_args = 1..)]
        query: Vec<String>,
        #[arg(long)]
        project: Option<PathBuf>,
        #[arg(long)]
        model: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Print a session as Markdown.
    Show { id: i64 },
    /// Export a session.
    Export {
        id: i64,
        #[arg(long, value_enum, default_value_t = ExportFormat::Md)]
        format: ExportFormat,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    Md,
    Json,
}

impl Cli {
    pub fn parse_from_os(args: impl IntoIterator<Item = OsString>) -> Result<Self, clap::Error> {
        Self::try_parse_from(args)
    }
}

/// Runs a subcommand to completion, printing to stdout/stderr; returns the exit code.
pub fn run(command: Command) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("flint: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    use std::io::IsTerminal;
    let tty = std::io::stdout().is_terminal();
    let mut stdout = std::io::stdout();
    match rt.block_on(execute(command, &mut stdout, tty)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = stdout.flush();
            eprintln!("flint: {}", escaped(&e));
            ExitCode::FAILURE
        }
    }
}

/// Runs a subcommand, writing its output to `out`. Errors are one sentence each. On a
/// terminal a final newline is added; into a pipe the answer's bytes go out exactly.
pub async fn execute(
    command: Command,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<(), String> {
    match command {
        Command::Ask {
            project,
            provider,
            base_url,
            model,
            mode,
            max_steps,
            agent: acp_agent,
            prompt,
        } => {
            let choice = Choice {
                provider,
                base_url,
                model,
            };
            let mode = mode.as_deref().and_then(flint_core::AgentMode::parse);
            // An external agent asks about everything unless a mode says otherwise.
            let mode = mode.or(acp_agent.as_ref().map(|_| flint_core::AgentMode::Ask));
            let agent = mode.map(|m| (m, max_steps));
            ask(
                project,
                choice,
                &prompt.join(" "),
                agent,
                acp_agent,
                out,
                tty,
            )
            .await
        }
        Command::Agents { action } => agents(action, out).await,
        Command::Apply {
            project,
            check,
            file,
        } => apply(project, check, file, out, tty).await,
        Command::Context { project, prompt } => context(project, &prompt.join(" "), out).await,
        Command::Sessions { action } => sessions(action, out, tty).await,
        Command::Undo {
            project,
            turn: true,
        } => undo_turn(project, out).await,
        Command::Undo { project, .. } => step(project, true, out).await,
        Command::Redo { project } => step(project, false, out).await,
    }
}

async fn agents(action: AgentsCommand, out: &mut (dyn Write + Send)) -> Result<(), String> {
    let engine = offline_engine()?;
    match action {
        AgentsCommand::List => {
            for a in engine.known_agents() {
                let at = match (&a.installed_version, &a.path) {
                    (Some(v), Some(p)) => format!("installed by Flint ({v}): {p}"),
                    (None, Some(p)) => format!("on the PATH: {p}"),
                    _ => format!("not installed (flint agents install {})", a.id),
                };
                writeln!(out, "{:<8} {:<12} {}", a.id, a.label, at).map_err(|e| e.to_string())?;
            }
            Ok(())
        }
        AgentsCommand::Install { name } => {
            let mut progress = |line: &str| eprintln!("flint: {}", escaped(line));
            let path = engine
                .install_agent(&name, &mut progress)
                .await
                .map_err(|e| e.to_string())?;
            writeln!(out, "{path}").map_err(|e| e.to_string())
        }
    }
}

/// Opens a project, saying on stderr what opening settled: changes a stopped process
/// left half-written, finished (undo takes them back).
async fn open_project(
    engine: &Engine,
    root: &std::path::Path,
) -> Result<flint_core::Workspace, CoreError> {
    let ws = engine.open_project(root).await?;
    for line in &ws.settled {
        eprintln!(
            "flint: stopped while writing files last time; {} (flint undo takes it back)",
            escaped(line)
        );
    }
    Ok(ws)
}

fn project_dir(project: Option<PathBuf>) -> Result<PathBuf, String> {
    match project {
        Some(p) => Ok(p),
        None => std::env::current_dir().map_err(|e| format!("no current directory: {e}")),
    }
}

/// An engine for commands that need the history but no model.
fn offline_engine() -> Result<Engine, String> {
    let paths = Paths::from_env().map_err(|e| e.to_string())?;
    let store = Store::open(&paths.database()).map_err(|e| e.to_string())?;
    Ok(Engine::new(store, None, None))
}

async fn apply(
    project: Option<PathBuf>,
    check: bool,
    file: Option<PathBuf>,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<(), String> {
    let text = match file.filter(|f| f.as_os_str() != "-") {
        Some(f) => {
            std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?
        }
        None => {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                .map_err(|e| format!("cannot read stdin: {e}"))?;
            s
        }
    };
    let root = project_dir(project)?;
    let engine = offline_engine()?;
    let (review, checkpoint) = engine
        .apply_text(&root, &text, check)
        .await
        .map_err(|e| e.to_string())?;
    let w = |out: &mut (dyn Write + Send), s: String| {
        out.write_all(s.as_bytes()).map_err(|e| e.to_string())
    };
    for f in &review.files {
        let from = f.moved_from.as_deref().unwrap_or(&f.path);
        let old = if f.change == ChangeKind::Added {
            "/dev/null".to_string()
        } else {
            format!("a/{from}")
        };
        let new = if f.change == ChangeKind::Deleted {
            "/dev/null".to_string()
        } else {
            format!("b/{}", f.path)
        };
        w(out, format!("--- {old}\n+++ {new}\n"))?;
        for h in &f.hunks {
            w(
                out,
                format!(
                    "@@ -{},{} +{},{} @@\n",
                    h.old_start, h.old_len, h.new_start, h.new_len
                ),
            )?;
            for l in &h.lines {
                let mark = match l.kind {
                    LineKind::Context => ' ',
                    LineKind::Removed => '-',
                    LineKind::Added => '+',
                };
                // The added lines are the model's: shown escaped on a terminal.
                let text = if tty {
                    escaped(&l.text)
                } else {
                    l.text.as_str().into()
                };
                w(out, format!("{mark}{text}\n"))?;
            }
        }
    }
    let _ = out.flush();
    for fail in &review.failures {
        eprintln!("flint: {}", escaped(&fail.message));
    }
    if !review.failures.is_empty() {
        let n = review.failures.len();
        return Err(if check {
            format!("{n} edit(s) would fail")
        } else {
            format!("{n} edit(s) cannot be applied, so nothing was changed")
        });
    }
    if review.files.is_empty() {
        return Err("the answer contains no edits that change anything".into());
    }
    if let Some(cp) = checkpoint {
        eprintln!(
            "flint: applied {} file(s) as checkpoint {}; `flint undo` reverts it",
            cp.paths.len(),
            cp.id
        );
    }
    Ok(())
}

async fn step(
    project: Option<PathBuf>,
    undo: bool,
    out: &mut (dyn Write + Send),
) -> Result<(), String> {
    let root = project_dir(project)?;
    let engine = offline_engine()?;
    let ws = open_project(&engine, &root)
        .await
        .map_err(|e| e.to_string())?;
    let cp = if undo {
        engine.undo(ws.project.id).await
    } else {
        engine.redo(ws.project.id).await
    }
    .map_err(|e| e.to_string())?;
    let verb = if undo { "undid" } else { "redid" };
    writeln!(out, "{verb} checkpoint {}: {}", cp.id, cp.summary).map_err(|e| e.to_string())
}

async fn undo_turn(project: Option<PathBuf>, out: &mut (dyn Write + Send)) -> Result<(), String> {
    let root = project_dir(project)?;
    let engine = offline_engine()?;
    let ws = open_project(&engine, &root)
        .await
        .map_err(|e| e.to_string())?;
    let session = ws.session.ok_or("the project has no session yet")?;
    let undone = engine
        .undo_turn(session.id)
        .await
        .map_err(|e| e.to_string())?;
    for cp in undone {
        writeln!(out, "undid checkpoint {}: {}", cp.id, cp.summary).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The window `flint context` counts against when no model is set up: Codex-Spark's.
const DEFAULT_WINDOW: u32 = 128_000;

async fn context(
    project: Option<PathBuf>,
    prompt: &str,
    out: &mut (dyn Write + Send),
) -> Result<(), String> {
    let root = project_dir(project)?;
    let choice = Choice {
        provider: None,
        base_url: None,
        model: None,
    };
    // With no model set up, what would be sent is still shown, counted against a
    // stated default window.
    let paths = Paths::from_env().map_err(|e| e.to_string())?;
    let (fast, model) = match chosen_fast_slot(&paths, choice).await? {
        Some((slot, _)) => (slot.connect().map_err(|e| e.to_string())?, slot.model),
        None => (
            flint_core::SlotClient::unconnected(DEFAULT_WINDOW),
            String::new(),
        ),
    };
    let engine = cli_engine(&paths, fast)?;
    let ws = open_project(&engine, &root)
        .await
        .map_err(|e| e.to_string())?;
    let session = ws.session.map(|s| s.id);
    let (_, report) = engine
        .preview_context(std::path::Path::new(&ws.info.root), session, prompt, true)
        .await
        .map_err(|e| e.to_string())?;
    let w = |out: &mut (dyn Write + Send), s: String| {
        out.write_all(s.as_bytes()).map_err(|e| e.to_string())
    };
    let how = if report.exact {
        "tokens"
    } else {
        "tokens, estimated"
    };
    if model.is_empty() {
        w(
            out,
            format!("model: none set up; counted against a default {DEFAULT_WINDOW}-token window ({how})\n"),
        )?;
    } else {
        w(out, format!("model: {model} ({how})\n"))?;
    }
    for s in &report.sections {
        let mark = if s.included { ' ' } else { '-' };
        w(
            out,
            format!("{mark} {:>8}  {}\n", s.tokens, escaped(&s.name)),
        )?;
    }
    let window = report
        .window
        .map(|w| w.to_string())
        .unwrap_or_else(|| "unknown".into());
    w(
        out,
        format!("  {:>8}  total of a {window}-token window\n", report.used),
    )?;
    for what in &report.left_out {
        w(out, format!("left out: {}\n", escaped(what)))?;
    }
    Ok(())
}

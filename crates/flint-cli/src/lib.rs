//! The `flint` command line. The desktop binary parses its arguments with [`Cli`]: a
//! subcommand runs here, headless, through the same engine and history as the app; no
//! subcommand starts the app (optionally on a project path).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod terminal;
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
    },
    /// Re-apply the checkpoint undone last.
    Redo {
        #[arg(long)]
        project: Option<PathBuf>,
    },
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
            prompt,
        } => {
            let choice = Choice {
                provider,
                base_url,
                model,
            };
            ask(project, choice, &prompt.join(" "), out, tty).await
        }
        Command::Apply {
            project,
            check,
            file,
        } => apply(project, check, file, out, tty).await,
        Command::Context { project, prompt } => context(project, &prompt.join(" "), out).await,
        Command::Sessions { action } => sessions(action, out, tty).await,
        Command::Undo { project } => step(project, true, out).await,
        Command::Redo { project } => step(project, false, out).await,
    }
}

/// The model chosen on the command line, over the settings.
struct Choice {
    provider: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
}

/// The fast slot the command line and the settings choose, and, when nothing chose one
/// but a provider's key is in the environment, that provider with its default model
/// (returned as a notice for stderr saying which, and how to change it).
fn fast_slot(paths: &Paths, choice: Choice) -> Result<(ResolvedSlot, Option<String>), CoreError> {
    let keys = Keychain;
    let mut settings = Settings::read(&paths.settings_file())?;
    if let Some(provider) = choice.provider {
        let model = choice.model.clone().unwrap_or_default();
        settings.fast = Some(Slot { provider, model });
    }
    let env = &flint_core::config::process_env;
    let mut notice = None;
    // A server or a model named without its provider (--base-url, --model,
    // FLINT_BASE_URL) is not handed to whichever provider has a key: that key would go
    // to a server the user never tied to it. Such a command asks for --provider.
    let unnamed = choice.base_url.is_some()
        || choice.model.is_some()
        || env("FLINT_BASE_URL").is_some_and(|v| !v.trim().is_empty());
    if !unnamed && !flint_core::config::fast_is_chosen(&settings, env) {
        if let Some((slot, var)) = flint_core::config::slot_from_env_key(env) {
            let url = settings
                .providers
                .get(&slot.provider)
                .and_then(|o| o.base_url.clone())
                .or_else(|| {
                    flint_core::model::preset::preset(&slot.provider)
                        .map(|p| p.base_url.to_string())
                })
                .unwrap_or_default();
            notice = Some(format!(
                "using {} with {} at {url} ({var} is set); choose another with --provider and \
                 --model, or under [fast] in {}",
                slot.provider,
                slot.model,
                paths.settings_file().display()
            ));
            settings.fast = Some(slot);
        }
    }
    if let Some(slot) = settings.fast.as_mut() {
        if let Some(m) = choice.model {
            slot.model = m;
        }
        if let Some(url) = choice.base_url {
            settings
                .providers
                .entry(slot.provider.clone())
                .or_default()
                .base_url = Some(url);
        }
    }
    let (fast, _) = flint_core::config::resolve(&settings, env, &keys)?;
    let fast = fast.ok_or(CoreError::NoModel(ModelSlot::Fast))?;
    Ok((fast, notice))
}

/// What to do when no model is set up, said for a terminal.
fn no_model_remedy(paths: &Paths) -> String {
    format!(
        "no model is set up: pass --provider and --model (e.g. `--provider ollama --model \
         qwen3`), set a provider's key variable (CEREBRAS_API_KEY, GROQ_API_KEY, \
         OPENAI_API_KEY or ANTHROPIC_API_KEY), or write a [fast] slot in {}",
        paths.settings_file().display()
    )
}

/// A model error as a terminal should say it: the remedies name flags, variables and
/// the settings file, not the app's buttons.
fn for_terminal(code: &str, message: String, slot: &ResolvedSlot, paths: &Paths) -> String {
    let settings = paths.settings_file();
    let settings = settings.display();
    let provider = &slot.provider;
    match code {
        "missing_key" => {
            let var = flint_core::model::preset::preset(provider)
                .and_then(|p| p.key_env)
                .unwrap_or("the provider's key variable");
            format!(
                "No API key is set for {provider}. Set {var}, or put api_key under \
                 [providers.{provider}] in {settings}."
            )
        }
        "bad_key" => format!(
            "{} Check the key in {} or in [providers.{provider}] in {settings}.",
            message.split(" Check the key").next().unwrap_or(&message),
            flint_core::model::preset::preset(provider)
                .and_then(|p| p.key_env)
                .unwrap_or("the provider's key variable"),
        ),
        "unknown_model" => format!(
            "The provider does not serve the model `{}`. Pass another with --model, or set it \
             under [fast] in {settings}.",
            slot.model
        ),
        "no_route" => format!("{message} Pass the right one with --base-url."),
        _ => message,
    }
}

/// The fast model chosen on the command line (or in the settings, or by a key in the
/// environment) and the notice to print when the environment chose it; `None` when
/// nothing chooses one.
async fn chosen_fast_slot(
    paths: &Paths,
    choice: Choice,
) -> Result<Option<(ResolvedSlot, Option<String>)>, String> {
    // The keychain is a blocking call (D-Bus, Keychain Services): off the executor.
    let paths = paths.clone();
    match tokio::task::spawn_blocking(move || fast_slot(&paths, choice))
        .await
        .map_err(|e| e.to_string())?
    {
        Ok(chosen) => Ok(Some(chosen)),
        Err(CoreError::NoModel(_)) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// An engine on the history database with `fast` as its fast model, text only.
fn cli_engine(paths: &Paths, fast: flint_core::SlotClient) -> Result<Engine, String> {
    let store = Store::open(&paths.database()).map_err(|e| e.to_string())?;
    Ok(Engine::new(store, Some(fast), None)
        .with_global_agents(paths.global_agents())
        .text_only())
}

async fn ask(
    project: Option<PathBuf>,
    choice: Choice,
    prompt: &str,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<(), String> {
    let err = |e: CoreError| e.to_string();
    let paths = Paths::from_env().map_err(|e| e.to_string())?;
    let Some((slot, notice)) = chosen_fast_slot(&paths, choice).await? else {
        return Err(no_model_remedy(&paths));
    };
    let engine = cli_engine(&paths, slot.connect().map_err(err)?)?;
    if let Some(notice) = notice {
        eprintln!("flint: {}", escaped(&notice));
    }
    if slot.model.is_empty() {
        return Err(format!(
            "no model is chosen for {}; pass --model, or set model under [fast] in {}",
            slot.provider,
            paths.settings_file().display()
        ));
    }
    let dir = project_dir(project)?;
    let workspace = open_project(&engine, &dir).await.map_err(err)?;
    let session = engine
        .new_session(workspace.project.id, "")
        .await
        .map_err(err)?;

    let mut turn = engine.start_turn(session.id, TurnKind::Prompt(prompt.to_string()));
    let mut write_failed = None;
    let mut failure = None;
    let mut truncated = false;
    let mut proposed = 0;
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut stopped = false;
    loop {
        let event = tokio::select! {
            event = turn.events.recv() => event,
            // Stops the turn; its last events (the partial answer's Finished) follow.
            _ = &mut ctrl_c, if !stopped => {
                stopped = true;
                turn.cancel();
                continue;
            }
        };
        let Some(event) = event else { break };
        match event {
            TurnEvent::Delta { text, .. } => {
                if write_failed.is_none() {
                    // On a terminal, escape sequences in the answer are shown, not run.
                    let shown = if tty {
                        escaped(&text)
                    } else {
                        text.as_str().into()
                    };
                    if let Err(e) = out.write_all(shown.as_bytes()).and_then(|()| out.flush()) {
                        write_failed = Some(e);
                    }
                }
            }
            TurnEvent::Finished { status, error, .. } => {
                truncated = status == ItemStatus::Truncated;
                failure = match (status, error) {
                    (ItemStatus::Complete | ItemStatus::Truncated, _) => None,
                    (_, Some(e)) => Some(for_terminal(&e.code, e.message, &slot, &paths)),
                    (ItemStatus::Cancelled, None) => {
                        Some("stopped; the partial answer is kept".into())
                    }
                    (_, None) => Some("the answer did not complete".into()),
                };
            }
            TurnEvent::Error { error } => failure = Some(error.message),
            TurnEvent::Retrying {
                reason, after_ms, ..
            } => {
                eprintln!(
                    "flint: {} Retrying in {:.1} s.",
                    escaped(&reason),
                    after_ms as f64 / 1000.0
                );
            }
            TurnEvent::Review { review } => proposed = review.files.len(),
            TurnEvent::Context { report } => {
                for what in &report.left_out {
                    eprintln!("flint: left out of the context: {}", escaped(what));
                }
            }
            TurnEvent::Started { .. } | TurnEvent::Blocks { .. } | TurnEvent::ItemAdded { .. } => {}
        }
    }
    turn.finish().await.map_err(err)?;
    if tty {
        let _ = out.write_all(b"\n").and_then(|()| out.flush());
    }
    if let Some(e) = write_failed {
        return Err(format!("cannot write the answer: {e}"));
    }
    if truncated {
        eprintln!(
            "flint: warning: the provider cut the answer off at its length limit; it is kept \
             as cut off (ask again to continue it)"
        );
    }
    if proposed > 0 && failure.is_none() {
        eprintln!("flint: the answer proposes changes to {proposed} file(s); review them in the app, or pipe the answer to `flint apply`");
    }
    match failure {
        Some(msg) => Err(msg),
        None => Ok(()),
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

async fn sessions(
    action: SessionsCommand,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<(), String> {
    let engine = offline_engine()?;
    let project_id = |p: Option<PathBuf>| {
        let engine = engine.clone();
        async move {
            match p {
                Some(p) => open_project(&engine, &p)
                    .await
                    .map(|w| Some(w.project.id))
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            }
        }
    };
    let text = match action {
        SessionsCommand::List { project, limit } => {
            let pid = project_id(project).await?;
            let list = engine
                .db(move |s| s.list_sessions(pid, limit))
                .await
                .map_err(|e| e.to_string())?;
            let mut t = String::new();
            for s in list {
                let title = if s.session.title.is_empty() {
                    "(untitled)"
                } else {
                    &s.session.title
                };
                t.push_str(&format!(
                    "{:>6}  {}  {:<16}  {:<24}  {:>4} items  {title}\n",
                    s.session.id,
                    date(s.session.updated_at),
                    s.project_name,
                    s.model.unwrap_or_else(|| "-".into()),
                    s.items,
                ));
            }
            t
        }
        SessionsCommand::Search {
            query,
            project,
            model,
            limit,
        } => {
            let pid = project_id(project).await?;
            let filter = SearchFilter {
                project_id: pid,
                model,
                ..SearchFilter::default()
            };
            let q = query.join(" ");
            let hits = engine
                .db(move |s| s.search(&q, &filter, limit))
                .await
                .map_err(|e| e.to_string())?;
            let mut t = String::new();
            for h in hits {
                let snippet: String = h
                    .snippet
                    .iter()
                    .map(|p| {
                        if p.hit {
                            format!("[{}]", p.text)
                        } else {
                            p.text.clone()
                        }
                    })
                    .collect::<String>()
                    .replace('\n', " ");
                t.push_str(&format!(
                    "session {} item {}  {}  {}: {snippet}\n",
                    h.session.id,
                    h.item_id,
                    date(h.created_at),
                    h.project_name
                ));
            }
            t
        }
        SessionsCommand::Show { id }
        | SessionsCommand::Export {
            id,
            format: ExportFormat::Md,
        } => {
            let (session, items, name) = engine
                .db(move |s| {
                    let (session, items) = s.session_with_items(id)?;
                    Ok((session, items, s.project_name_of(id)?.unwrap_or_default()))
                })
                .await
                .map_err(|e| e.to_string())?;
            to_markdown(&session, &name, &items)
        }
        SessionsCommand::Export {
            id,
            format: ExportFormat::Json,
        } => {
            let (session, items) = engine
                .db(move |s| s.session_with_items(id))
                .await
                .map_err(|e| e.to_string())?;
            let value = serde_json::json!({ "session": session, "items": items });
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())? + "\n"
        }
    };
    // Stored answers and titles are the model's words: escaped on a terminal.
    let shown = if tty {
        escaped(&text)
    } else {
        text.as_str().into()
    };
    out.write_all(shown.as_bytes()).map_err(|e| e.to_string())
}

/// A Unix-millisecond time as a UTC date and time.
fn date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}

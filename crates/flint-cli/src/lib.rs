//! The `flint` command line. The desktop binary parses its arguments with [`Cli`]: a
//! subcommand runs here, headless, through the same engine and history as the app; no
//! subcommand starts the app (optionally on a project path).

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use flint_core::keys::Keychain;
use flint_core::store::{ItemStatus, ModelSlot, Store};
use flint_core::{CoreError, Engine, Paths, ResolvedSlot, Settings, Slot, TurnEvent};

#[derive(Debug, Parser)]
#[command(
    name = "flint",
    version,
    about = "A desktop companion for real-time AI coding"
)]
#[command(args_conflicts_with_subcommands = true)]
pub struct Cli {
    /// A project folder to open in the app.
    pub path: Option<PathBuf>,
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
            eprintln!("flint: {e}");
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
    }
}

/// The model chosen on the command line, over the settings.
struct Choice {
    provider: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
}

fn fast_slot(paths: &Paths, choice: Choice) -> Result<ResolvedSlot, CoreError> {
    let keys = Keychain;
    let mut settings = Settings::read(&paths.settings_file())?;
    if let Some(provider) = choice.provider {
        let model = choice.model.clone().unwrap_or_default();
        settings.fast = Some(Slot { provider, model });
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
    let (fast, _) =
        flint_core::config::resolve(&settings, &flint_core::config::process_env, &keys)?;
    fast.ok_or(CoreError::NoModel(ModelSlot::Fast))
}

async fn ask(
    project: Option<PathBuf>,
    choice: Choice,
    prompt: &str,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<(), String> {
    let err = |e: CoreError| e.to_string();
    let paths = Paths::from_env().map_err(err)?;
    // The keychain is a blocking call (D-Bus, Keychain Services): off the executor.
    let slot = {
        let paths = paths.clone();
        tokio::task::spawn_blocking(move || fast_slot(&paths, choice))
            .await
            .map_err(|e| e.to_string())?
            .map_err(err)?
    };
    if slot.model.is_empty() {
        return Err(format!(
            "no model is chosen for {}; pass --model or set one in the settings",
            slot.provider
        ));
    }
    let store = Store::open(&paths.database()).map_err(|e| e.to_string())?;
    let engine = Engine::new(store, Some(slot.connect().map_err(err)?), None);
    let dir = match project {
        Some(p) => p,
        None => std::env::current_dir().map_err(|e| format!("no current directory: {e}"))?,
    };
    let workspace = engine.open_project(&dir).await.map_err(err)?;
    let session = engine
        .new_session(workspace.project.id, "")
        .await
        .map_err(err)?;

    let cancel = CancellationToken::new();
    let on_ctrl_c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_ctrl_c.cancel();
        }
    });
    let mut write_failed = None;
    let mut failure = None;
    engine
        .run_turn(
            session.id,
            prompt,
            |event| match event {
                TurnEvent::Delta { text } => {
                    if write_failed.is_none() {
                        if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                            write_failed = Some(e);
                        }
                    }
                }
                TurnEvent::Finished { status, error, .. } => {
                    failure = match (status, error) {
                        (ItemStatus::Complete, _) => None,
                        (_, Some(e)) => Some(e.message),
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
                        "flint: {reason} Retrying in {:.1} s.",
                        after_ms as f64 / 1000.0
                    );
                }
                TurnEvent::Started { .. } => {}
            },
            cancel,
        )
        .await
        .map_err(err)?;
    if tty {
        let _ = out.write_all(b"\n").and_then(|()| out.flush());
    }
    if let Some(e) = write_failed {
        return Err(format!("cannot write the answer: {e}"));
    }
    match failure {
        Some(msg) => Err(msg),
        None => Ok(()),
    }
}

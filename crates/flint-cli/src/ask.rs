//! `flint ask`: choosing the fast model (a key in the environment is enough), running
//! one turn and printing its answer, with remedies a terminal user can act on.

use std::io::IsTerminal;

use super::*;
use flint_core::{AgentMode, Answer, Ask, ErrorCode};

/// The first line of `text`, at most `chars` characters of it (a call or result in one
/// line on stderr).
fn first_line(text: &str, chars: usize) -> String {
    text.lines()
        .next()
        .unwrap_or("")
        .chars()
        .take(chars)
        .collect()
}

/// Asks about an edit or a command on the terminal (stderr, stdin): y runs or applies
/// it once, a also remembers a command's prefix for the project, n (or anything else,
/// or end of input) denies it, asking for a message to the model.
fn ask_on_terminal(ask: &Ask) -> Answer {
    let mut err = std::io::stderr();
    // Whatever the output before left set (hidden text, colours) is reset first.
    let _ = write!(err, "\x1b[0m");
    let always = match ask {
        Ask::Command {
            command,
            cwd,
            why,
            prefix,
            ..
        } => {
            let _ = writeln!(
                err,
                "\nflint: the model wants to run:\n  {}",
                escaped(command)
            );
            if !cwd.is_empty() {
                let _ = writeln!(err, "  in {}", escaped(cwd));
            }
            if let Some(why) = why {
                let _ = writeln!(err, "  because: {}", escaped(why));
            }
            prefix.clone()
        }
        Ask::Edit { review } => {
            let _ = writeln!(err, "\nflint: the model wants to edit:");
            for f in &review.files {
                print_file_hunks(&mut err, f);
            }
            None
        }
        Ask::Permission {
            title,
            tool_kind,
            outside,
            command,
            options,
            review,
        } => {
            let _ = writeln!(
                err,
                "\nflint: the agent asks to go ahead ({}):\n  {}",
                escaped(tool_kind),
                escaped(title)
            );
            for p in outside {
                let _ = writeln!(err, "  OUTSIDE THE PROJECT: {}", escaped(p));
            }
            if let Some(c) = command {
                let _ = writeln!(err, "  runs: {}", escaped(c));
            }
            for f in review.iter().flat_map(|r| r.files.iter()) {
                print_file_hunks(&mut err, f);
            }
            options
                .iter()
                .find(|o| o.kind == "allow_always")
                .map(|o| o.name.clone())
        }
    };
    let choices = match &always {
        Some(p) => format!("[y]es / [n]o / [a]lways allow `{}` here", escaped(p)),
        None => "[y]es / [n]o".into(),
    };
    let _ = write!(err, "{choices}? ");
    let _ = err.flush();
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Allow,
        "a" | "always" if always.is_some() => Answer::AllowAlways,
        "a" | "always" => Answer::Allow,
        _ => {
            let _ = write!(err, "tell the model why (optional): ");
            let _ = err.flush();
            let mut why = String::new();
            let _ = std::io::stdin().read_line(&mut why);
            let why = why.trim();
            Answer::Deny {
                message: (!why.is_empty()).then(|| why.to_string()),
            }
        }
    }
}

/// One line for an agent's item: its call's title, its plan, what it changed.
fn agent_call_line(tool: &str, text: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    match tool {
        "acp.tool" => Some(first_line(
            v["title"].as_str().unwrap_or("a tool call"),
            120,
        )),
        "acp.plan" => Some("updated the plan".into()),
        "acp.write" => Some(format!("write {}", v["path"].as_str().unwrap_or("?"))),
        "acp.changes" => Some(format!(
            "changed {} (flint undo --turn takes it back)",
            v["files"]
                .as_array()
                .map(|a| a
                    .iter()
                    .filter_map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default()
        )),
        _ => None,
    }
}

/// A file's hunks as a unified diff, escaped for the terminal.
fn print_file_hunks(err: &mut impl Write, f: &flint_core::review::FileReview) {
    let _ = writeln!(err, "--- {}", escaped(&f.path));
    for h in &f.hunks {
        let _ = writeln!(err, "@@ -{} +{} @@", h.old_start, h.new_start);
        for l in &h.lines {
            let mark = match l.kind {
                flint_core::edit::LineKind::Added => '+',
                flint_core::edit::LineKind::Removed => '-',
                flint_core::edit::LineKind::Context => ' ',
            };
            let _ = writeln!(err, "{mark}{}", escaped(&l.text));
        }
    }
}

/// The model chosen on the command line, over the settings.
pub(crate) struct Choice {
    pub(crate) provider: Option<String>,
    pub(crate) base_url: Option<String>,
    pub(crate) model: Option<String>,
}

/// The fast slot the command line and the settings choose, and, when nothing chose one
/// but a provider's key is in the environment, that provider with its default model
/// (returned as a notice for stderr saying which, and how to change it).
pub(crate) fn fast_slot(
    paths: &Paths,
    choice: Choice,
) -> Result<(ResolvedSlot, Option<String>), CoreError> {
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
pub(crate) fn no_model_remedy(paths: &Paths) -> String {
    format!(
        "no model is set up: pass --provider and --model (e.g. `--provider ollama --model \
         qwen3`), set a provider's key variable (CEREBRAS_API_KEY, GROQ_API_KEY, \
         OPENAI_API_KEY or ANTHROPIC_API_KEY), or write a [fast] slot in {}",
        paths.settings_file().display()
    )
}

/// A model error as a terminal should say it: the remedies name flags, variables and
/// the settings file, not the app's buttons.
pub(crate) fn for_terminal(
    code: ErrorCode,
    message: String,
    slot: &ResolvedSlot,
    paths: &Paths,
) -> String {
    let settings = paths.settings_file();
    let settings = settings.display();
    let provider = &slot.provider;
    match code {
        ErrorCode::MissingKey => {
            let var = flint_core::model::preset::preset(provider)
                .and_then(|p| p.key_env)
                .unwrap_or("the provider's key variable");
            format!(
                "No API key is set for {provider}. Set {var}, or put api_key under \
                 [providers.{provider}] in {settings}."
            )
        }
        ErrorCode::BadKey => format!(
            "{} Check the key in {} or in [providers.{provider}] in {settings}.",
            message.split(" Check the key").next().unwrap_or(&message),
            flint_core::model::preset::preset(provider)
                .and_then(|p| p.key_env)
                .unwrap_or("the provider's key variable"),
        ),
        ErrorCode::UnknownModel => format!(
            "The provider does not serve the model `{}`. Pass another with --model, or set it \
             under [fast] in {settings}.",
            slot.model
        ),
        ErrorCode::NoRoute => format!("{message} Pass the right one with --base-url."),
        _ => message,
    }
}

/// The fast model chosen on the command line (or in the settings, or by a key in the
/// environment) and the notice to print when the environment chose it; `None` when
/// nothing chooses one.
pub(crate) async fn chosen_fast_slot(
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
pub(crate) fn cli_engine(paths: &Paths, fast: flint_core::SlotClient) -> Result<Engine, String> {
    let store = Store::open(&paths.database()).map_err(|e| e.to_string())?;
    Ok(Engine::new(store, Some(fast), None)
        .with_global_agents(paths.global_agents())
        .text_only())
}

pub(crate) async fn ask(
    project: Option<PathBuf>,
    choice: Choice,
    prompt: &str,
    agent: Option<(AgentMode, u32)>,
    acp_agent: Option<String>,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<(), String> {
    let mode = agent.map(|(m, _)| m);
    let err = |e: CoreError| e.to_string();
    let paths = Paths::from_env().map_err(|e| e.to_string())?;
    // An external agent (over ACP) needs no model of Flint's.
    let (engine, slot) = match &acp_agent {
        Some(_) => {
            let store = Store::open(&paths.database()).map_err(|e| e.to_string())?;
            let engine = Engine::new(store, None, None).text_only();
            let settings = flint_core::Settings::read(&paths.settings_file()).map_err(err)?;
            engine.set_mcp_servers(settings.acp_mcp_servers());
            (engine, None)
        }
        None => {
            let Some((slot, notice)) = chosen_fast_slot(&paths, choice).await? else {
                return Err(no_model_remedy(&paths));
            };
            let mut engine = cli_engine(&paths, slot.connect().map_err(err)?)?;
            if let Some((_, steps)) = agent {
                engine = engine.with_agent().with_max_steps(steps);
            }
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
            (engine, Some(slot))
        }
    };
    let dir = project_dir(project)?;
    let workspace = open_project(&engine, &dir).await.map_err(err)?;
    let session = engine
        .new_session(workspace.project.id, "")
        .await
        .map_err(err)?;
    if let Some(a) = &acp_agent {
        engine
            .set_session_agent(session.id, Some(a.clone()))
            .await
            .map_err(err)?;
    }

    let mut turn = engine.start_turn_in(
        session.id,
        TurnKind::Prompt(prompt.to_string()),
        mode.unwrap_or_default(),
    );
    // Questions are asked on the terminal off the executor; their answers come back here.
    let (answers_tx, mut answers) = tokio::sync::mpsc::unbounded_channel::<(u32, Answer)>();
    let err_tty = std::io::stderr().is_terminal();
    let can_ask = std::io::stdin().is_terminal() && err_tty;
    let mut denied_without_terminal = 0;
    // Whether a new answer started since text was last printed, and whether that text
    // ended its line (nothing printed yet counts as a line's end).
    let (mut new_answer, mut ends_line) = (false, true);
    let mut write_failed = None;
    let mut failure = None;
    let mut truncated = false;
    let mut proposed = 0;
    let mut said_calls = std::collections::HashSet::new();
    let ctrl_c = tokio::signal::ctrl_c();
    tokio::pin!(ctrl_c);
    let mut stopped = false;
    loop {
        let event = tokio::select! {
            event = turn.events.recv() => event,
            Some((id, answer)) = answers.recv() => {
                turn.answer(id, answer);
                continue;
            }
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
                    // A later answer of the turn (after tool calls) starts on a line of
                    // its own; answers with no text print nothing.
                    let sep: &[u8] = if new_answer && !ends_line { b"\n" } else { b"" };
                    new_answer = false;
                    ends_line = shown.ends_with('\n');
                    if let Err(e) = out
                        .write_all(sep)
                        .and_then(|()| out.write_all(shown.as_bytes()))
                        .and_then(|()| out.flush())
                    {
                        write_failed = Some(e);
                    }
                }
            }
            TurnEvent::Finished { status, error, .. } => {
                truncated = status == ItemStatus::Truncated;
                failure = match (status, error) {
                    (ItemStatus::Complete | ItemStatus::Truncated, _) => None,
                    (_, Some(e)) => Some(match &slot {
                        Some(slot) => for_terminal(e.code, e.message, slot, &paths),
                        None if e.code == ErrorCode::AgentSignIn => format!(
                            "{}: sign in to the agent first, with its own command line                              (`codex login`, `claude /login`, `gemini`) or in the app",
                            e.message
                        ),
                        None => e.message,
                    }),
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
            TurnEvent::Question { question } => {
                if can_ask {
                    let tx = answers_tx.clone();
                    tokio::task::spawn_blocking(move || {
                        let answer = ask_on_terminal(&question.ask);
                        let _ = tx.send((question.id, answer));
                    });
                } else {
                    denied_without_terminal += 1;
                    turn.answer(
                        question.id,
                        Answer::Deny {
                            message: Some(
                                "there is no terminal to ask the user on (flint ask --mode ask \
                                 without one denies every edit and command)"
                                    .into(),
                            ),
                        },
                    );
                }
            }
            TurnEvent::ToolOutput { text, .. } => {
                // Command output goes to stderr: escaped when that is a terminal (where
                // the questions are asked), whatever stdout is.
                let shown = if err_tty {
                    escaped(&text)
                } else {
                    text.as_str().into()
                };
                eprint!("{shown}");
            }
            TurnEvent::ItemAdded { item } => {
                if item.kind == flint_core::store::ItemKind::ToolCall {
                    let name = item.tool_name.as_deref().unwrap_or("?");
                    if let Some(line) = agent_call_line(name, &item.text) {
                        // An agent's call (sent again as it changes): said once.
                        if said_calls.insert(item.id) {
                            eprintln!("flint: > {}", escaped(&line));
                        }
                        continue;
                    }
                    let first = first_line(&item.text, 120);
                    eprintln!("flint: > {}: {}", escaped(name), escaped(&first));
                } else if item.kind == flint_core::store::ItemKind::ToolResult
                    && item.error.is_some()
                {
                    let first = first_line(&item.text, 200);
                    eprintln!("flint:   failed: {}", escaped(&first));
                } else if item.kind == flint_core::store::ItemKind::Answer {
                    new_answer = true;
                }
            }
            TurnEvent::StepLimit { steps } => eprintln!(
                "flint: stopped after {steps} steps, the last calls not run; ask again to go on, \
                 or allow more with --max-steps"
            ),
            TurnEvent::Started { .. }
            | TurnEvent::Blocks { .. }
            | TurnEvent::Answered { .. }
            | TurnEvent::AgentSession { .. } => {}
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
    if denied_without_terminal > 0 {
        eprintln!(
            "flint: denied {denied_without_terminal} edit(s) or command(s): there is no terminal to \
             ask on; pass --mode auto-edit or --mode full-auto to allow them"
        );
    }
    if acp_agent.is_some() && failure.is_none() {
        engine.stop_agents().await;
    }
    if proposed > 0 && failure.is_none() && mode.is_none() && acp_agent.is_none() {
        eprintln!("flint: the answer proposes changes to {proposed} file(s); review them in the app, or pipe the answer to `flint apply`");
    }
    match failure {
        Some(msg) => Err(msg),
        None => Ok(()),
    }
}

//! `flint-replay`: the stand-in model server as a command, for the end-to-end tests and
//! the benchmarks. Prints `listening on http://127.0.0.1:PORT/v1` once it accepts.

use std::path::PathBuf;
use std::process::ExitCode;

use flint_replay::{Config, Reply, StandIn, Transcript};

const USAGE: &str = "usage: flint-replay [--port N] [--rate EVENTS_PER_SEC] [--chunk BYTES] \
[--chat FILE] [--responses FILE] [--messages FILE] [--models FILE.json] \
[--answer FILE.md [--repeat N]] [--script FILE.json]

--answer serves FILE's text (repeated N times in one answer) on /responses and
/chat/completions, one event per token-sized piece. --script plays a scripted conversation
(see flint_replay::script) on all three routes.";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("flint-replay: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let (mut port, mut rate, mut chunk) = (0u16, None, None);
    let mut files: Vec<(&str, PathBuf)> = Vec::new();
    let mut models: Option<PathBuf> = None;
    let (mut answer, mut repeat): (Option<PathBuf>, usize) = (None, 1);
    let mut script: Option<PathBuf> = None;
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--port" => port = value()?.parse().map_err(|e| format!("--port: {e}"))?,
            "--rate" => {
                rate = Some(
                    value()?
                        .parse::<f64>()
                        .map_err(|e| format!("--rate: {e}"))?,
                )
            }
            "--chunk" => {
                chunk = Some(
                    value()?
                        .parse::<usize>()
                        .map_err(|e| format!("--chunk: {e}"))?,
                )
            }
            "--chat" => files.push(("/chat/completions", value()?.into())),
            "--responses" => files.push(("/responses", value()?.into())),
            "--messages" => files.push(("/messages", value()?.into())),
            "--models" => models = Some(value()?.into()),
            "--answer" => answer = Some(value()?.into()),
            "--script" => script = Some(value()?.into()),
            "--repeat" => repeat = value()?.parse().map_err(|e| format!("--repeat: {e}"))?,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other}\n{USAGE}")),
        }
    }
    if files.is_empty() && answer.is_none() && script.is_none() {
        return Err(format!("give at least one transcript\n{USAGE}"));
    }
    let mut config = Config::default();
    if let Some(path) = script {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let script = flint_replay::script::Script::parse(&text)?;
        for route in ["/responses", "/chat/completions", "/messages"] {
            config = config.route(route, Reply::Script(script.clone()));
        }
    }
    if let Some(path) = answer {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .repeat(repeat.max(1));
        for (route, transcript) in [
            ("/responses", Transcript::responses_answer(&text)),
            ("/chat/completions", Transcript::chat_answer(&text)),
        ] {
            config = config.route(
                route,
                Reply::Stream {
                    transcript,
                    rate,
                    chunk,
                    fault: None,
                },
            );
        }
    }
    for (route, path) in files {
        let transcript = Transcript::load(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        config = config.route(
            route,
            Reply::Stream {
                transcript,
                rate,
                chunk,
                fault: None,
            },
        );
    }
    if let Some(path) = models {
        let body =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        config = config.route(
            "/models",
            Reply::Status {
                code: 200,
                body,
                headers: Vec::new(),
            },
        );
    }
    let server = StandIn::start(config, port).map_err(|e| format!("cannot listen: {e}"))?;
    println!("listening on {}", server.base_url());
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // Serve until killed.
    loop {
        std::thread::park();
    }
}

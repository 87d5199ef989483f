//! A stand-in ACP agent for tests: speaks the Agent Client Protocol on stdio and plays
//! a script, so Flint's hosting can be tested against every fault an agent can have
//! (crashes, hangs, malformed lines, floods, odd chunking) without a model.
//!
//! `flint-fake-agent SCRIPT.json`; the script:
//!
//! ```json
//! { "chunk": 7,              // write stdout in pieces of this many bytes (each flushed)
//!   "ignore_cancel": false,  // go on after session/cancel (a hung agent)
//!   "prompts": [[ step, ... ], ...] }   // one list per session/prompt, in order
//! ```
//!
//! A step is one of: `{"update": {...}}` (a session/update, `$CWD` in strings replaced
//! by the session's folder), `{"request": "fs/write_text_file", "params": {...},
//! "say_result": true}` (waits for the answer; with `say_result` the answer comes back
//! as a message chunk), `{"stream": {"file", "rate"}}` (a file's text in token-sized
//! pieces, paced, each stamped with when it left), `{"raw": "text"}` (a line as is), `{"flood": N}` (N message
//! chunks of one word), `{"sleep_ms": N}`, `{"crash": 3}` (exits with that code), `{"hang":
//! true}` (stops answering), `{"stop": "end_turn"}` (the stop reason; default end_turn).
//! With `"auth_file": PATH` it offers two sign-in methods and refuses sessions (-32000)
//! until `authenticate` with `fake-key` ran with `FAKE_KEY` set (kept in that file).
//! Every message the agent receives is appended to the script's `log` file (or
//! `$FLINT_FAKE_AGENT_LOG`) if one is named.

use std::io::{BufRead, Write};
use std::time::Duration;

use serde_json::{json, Value};

struct Agent {
    out: std::io::Stdout,
    chunk: usize,
    next_id: u64,
    cwd: String,
    inbox: std::sync::mpsc::Receiver<Value>,
    held: std::collections::VecDeque<Value>,
    cancelled: bool,
}

impl Agent {
    fn send(&mut self, v: &Value) {
        let mut line = v.to_string();
        line.push('\n');
        self.raw(&line);
    }

    fn raw(&mut self, text: &str) {
        let bytes = text.as_bytes();
        let mut out = self.out.lock();
        if self.chunk == 0 {
            let _ = out.write_all(bytes);
            let _ = out.flush();
            return;
        }
        // Each piece flushed on its own: the reader gets them as separate reads
        // (split inside JSON strings and inside characters).
        for piece in bytes.chunks(self.chunk) {
            let _ = out.write_all(piece);
            let _ = out.flush();
        }
    }

    fn read(&mut self) -> Option<Value> {
        if let Some(v) = self.held.pop_front() {
            return Some(v);
        }
        self.inbox.recv().ok()
    }

    /// Notes a cancel that came while the script played; other messages wait.
    fn poll_cancel(&mut self) {
        while let Ok(v) = self.inbox.try_recv() {
            if v["method"] == "session/cancel" {
                self.cancelled = true;
            } else {
                self.held.push_back(v);
            }
        }
    }

    fn update(&mut self, session: &str, update: Value) {
        let update = substitute(update, &self.cwd);
        self.send(&json!({
            "jsonrpc": "2.0", "method": "session/update",
            "params": { "sessionId": session, "update": update }
        }));
    }

    /// Sends a request and waits for its answer, noting a cancel that comes meanwhile.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = format!("fake-{}", self.next_id);
        let params = substitute(params, &self.cwd);
        self.send(&json!({ "jsonrpc": "2.0", "id": id, "method": method, "params": params }));
        while let Some(v) = self.read() {
            if v["id"] == json!(id) && v.get("method").is_none() {
                return v;
            }
            if v["method"] == "session/cancel" {
                self.cancelled = true;
            }
        }
        std::process::exit(0);
    }
}

fn substitute(v: Value, cwd: &str) -> Value {
    match v {
        Value::String(s) => Value::String(s.replace("$CWD", cwd)),
        Value::Array(a) => Value::Array(a.into_iter().map(|x| substitute(x, cwd)).collect()),
        Value::Object(o) => Value::Object(
            o.into_iter()
                .map(|(k, x)| (k, substitute(x, cwd)))
                .collect(),
        ),
        other => other,
    }
}

fn main() {
    let script: Value = std::env::args()
        .nth(1)
        .and_then(|p| std::fs::read_to_string(p).ok())
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_else(|| json!({ "prompts": [] }));
    let log_path = script["log"]
        .as_str()
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("FLINT_FAKE_AGENT_LOG"));
    let mut log = log_path.and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    let (tx, inbox) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Some(log) = log.as_mut() {
                let _ = writeln!(log, "{line}");
            }
            if let Ok(v) = serde_json::from_str::<Value>(&line) {
                if tx.send(v).is_err() {
                    break;
                }
            }
        }
    });
    let mut agent = Agent {
        out: std::io::stdout(),
        chunk: script["chunk"].as_u64().unwrap_or(0) as usize,
        next_id: 0,
        cwd: String::new(),
        inbox,
        held: Default::default(),
        cancelled: false,
    };
    let ignore_cancel = script["ignore_cancel"].as_bool().unwrap_or(false);
    // With `auth_file`, sessions need a sign-in first (kept in that file).
    let auth_file = script["auth_file"].as_str().map(str::to_owned);
    let prompts = script["prompts"].as_array().cloned().unwrap_or_default();
    let mut turn = 0;
    while let Some(msg) = agent.read() {
        let id = msg["id"].clone();
        let method = msg["method"].as_str().unwrap_or_default().to_string();
        let result = match method.as_str() {
            "initialize" => json!({
                "protocolVersion": 1,
                "agentCapabilities": { "loadSession": true },
                "authMethods": if auth_file.is_some() { json!([
                    { "id": "fake-key", "name": "Use FAKE_KEY", "type": "env_var",
                      "vars": [{ "name": "FAKE_KEY" }] },
                    { "id": "fake-browser", "name": "Log in with a browser" }
                ]) } else { json!([]) },
                "agentInfo": { "name": "flint-fake-agent", "title": "Fake agent", "version": "1" }
            }),
            "authenticate" => {
                // The env-var method signs in with the key it was started with, kept
                // where the next process finds it (as Codex keeps auth.json).
                let key = std::env::var("FAKE_KEY").unwrap_or_default();
                match (&auth_file, msg["params"]["methodId"].as_str()) {
                    (Some(f), Some("fake-key")) if !key.is_empty() => {
                        let _ = std::fs::write(f, key);
                        json!({})
                    }
                    _ => {
                        agent.send(&json!({ "jsonrpc": "2.0", "id": id,
                            "error": { "code": -32603, "message": "FAKE_KEY is not set" } }));
                        continue;
                    }
                }
            }
            "session/new" | "session/load" => {
                if auth_file
                    .as_ref()
                    .is_some_and(|f| !std::path::Path::new(f).exists())
                {
                    agent.send(&json!({ "jsonrpc": "2.0", "id": id,
                        "error": { "code": -32000, "message": "Authentication required" } }));
                    continue;
                }
                agent.cwd = msg["params"]["cwd"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                json!({
                    "sessionId": msg["params"]["sessionId"].as_str().unwrap_or("fake-session-1"),
                    "modes": { "currentModeId": "ask", "availableModes": [
                        { "id": "ask", "name": "Ask" }, { "id": "auto", "name": "Auto" } ] },
                    "configOptions": [{ "id": "model", "name": "Model", "type": "select",
                        "category": "model", "currentValue": "fake-model",
                        "options": [{ "value": "fake-model", "name": "Fake model" },
                                    { "value": "fake-spark", "name": "Fake Spark" }] }]
                })
            }
            "session/set_mode" | "session/set_config_option" => json!({}),
            "session/cancel" => {
                agent.cancelled = true;
                continue;
            }
            "session/prompt" => {
                let session = msg["params"]["sessionId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let steps = prompts
                    .get(turn)
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                turn += 1;
                agent.cancelled = false;
                let mut stop = "end_turn".to_string();
                for step in steps {
                    agent.poll_cancel();
                    if agent.cancelled && !ignore_cancel {
                        stop = "cancelled".into();
                        break;
                    }
                    if let Some(u) = step.get("update") {
                        agent.update(&session, u.clone());
                    } else if let Some(m) = step["request"].as_str() {
                        let answer = agent.request(m, step["params"].clone());
                        if step["say_result"].as_bool() == Some(true) {
                            let said = match answer.get("error") {
                                Some(e) => {
                                    format!("error: {}", e["message"].as_str().unwrap_or_default())
                                }
                                None => format!("result: {}", answer["result"]),
                            };
                            agent.update(
                                &session,
                                json!({ "sessionUpdate": "agent_message_chunk",
                                        "content": { "type": "text", "text": said } }),
                            );
                        }
                    } else if let Some(w) = step.get("disk_write") {
                        // The agent changes a file by itself (as Codex does).
                        let w = substitute(w.clone(), &agent.cwd);
                        if let (Some(p), Some(c)) = (w["path"].as_str(), w["content"].as_str()) {
                            let _ = std::fs::write(p, c);
                        }
                    } else if let Some(p) = step["disk_delete"].as_str() {
                        let _ = std::fs::remove_file(p.replace("$CWD", &agent.cwd));
                    } else if let Some(r) = step["raw"].as_str() {
                        agent.raw(&format!("{r}\n"));
                    } else if let Some(n) = step["flood"].as_u64() {
                        for i in 0..n {
                            agent.update(
                                &session,
                                json!({ "sessionUpdate": "agent_message_chunk",
                                        "content": { "type": "text", "text": format!("w{i} ") } }),
                            );
                        }
                    } else if let Some(st) = step.get("stream") {
                        // A long answer paced at `rate` token-sized pieces a second,
                        // each stamped with when it left (`_meta["flint/sent_ms"]`).
                        let text = st["file"]
                            .as_str()
                            .and_then(|f| std::fs::read_to_string(f).ok())
                            .unwrap_or_default();
                        let rate = st["rate"].as_f64().unwrap_or(1000.0).max(1.0);
                        let start = std::time::Instant::now();
                        for (i, piece) in flint_replay::token_pieces(&text).into_iter().enumerate()
                        {
                            let due = start + Duration::from_secs_f64(i as f64 / rate);
                            let now = std::time::Instant::now();
                            if due > now + Duration::from_millis(1) {
                                std::thread::sleep(due - now);
                            }
                            if i % 256 == 0 {
                                agent.poll_cancel();
                                if agent.cancelled && !ignore_cancel {
                                    break;
                                }
                            }
                            let sent = std::time::SystemTime::now()
                                .duration_since(std::time::UNIX_EPOCH)
                                .map_or(0.0, |d| d.as_secs_f64() * 1000.0);
                            agent.update(
                                &session,
                                json!({ "sessionUpdate": "agent_message_chunk",
                                        "content": { "type": "text", "text": piece },
                                        "_meta": { "flint/sent_ms": sent } }),
                            );
                        }
                    } else if let Some(ms) = step["sleep_ms"].as_u64() {
                        // In slices, so a cancel is seen within 10 ms.
                        for _ in 0..ms.div_ceil(10) {
                            std::thread::sleep(Duration::from_millis(ms.min(10)));
                            agent.poll_cancel();
                            if agent.cancelled && !ignore_cancel {
                                break;
                            }
                        }
                    } else if let Some(code) = step["crash"].as_i64() {
                        eprintln!("fake agent: crashing on purpose");
                        std::process::exit(code as i32);
                    } else if step.get("hang").is_some() {
                        loop {
                            std::thread::sleep(Duration::from_secs(3600));
                        }
                    } else if let Some(s) = step["stop"].as_str() {
                        stop = s.to_string();
                    }
                }
                json!({ "stopReason": stop })
            }
            _ if id.is_null() => continue,
            _ => {
                agent.send(&json!({ "jsonrpc": "2.0", "id": id,
                    "error": { "code": -32601, "message": format!("{method} is not supported") } }));
                continue;
            }
        };
        if !id.is_null() {
            agent.send(&json!({ "jsonrpc": "2.0", "id": id, "result": result }));
        }
    }
}

//! The stand-in model server. Flint cannot reach a real provider from its tests, so this
//! plays one: it answers on 127.0.0.1 with recorded server-sent-event transcripts, in the
//! wire format the request path asks for, at a chosen pace (events per second, where one
//! event carries about one token) or as fast as the socket allows, optionally cut into
//! chunks of a fixed size to exercise awkward byte boundaries. It can also fail on
//! purpose: an HTTP error status, a connection dropped or stalled mid-stream.
//!
//! `GET /__requests` lists the requests received so far (method, path, body), for tests
//! that drive the app in another process.
//!
//! It is a test tool, never shipped in the app. It speaks just enough HTTP/1.1 for one
//! request per connection, on plain threads, so a fault can be placed at an exact byte.

pub mod agents;
pub mod script;

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// A recorded stream: the raw bytes, and where each event ends (after its blank line).
#[derive(Debug, Clone)]
pub struct Transcript {
    bytes: Vec<u8>,
    event_ends: Vec<usize>,
}

impl Transcript {
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        let mut event_ends = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i..].starts_with(b"\r\n\r\n") {
                i += 4;
                event_ends.push(i);
            } else if bytes[i..].starts_with(b"\n\n") {
                i += 2;
                event_ends.push(i);
            } else {
                i += 1;
            }
        }
        if event_ends.last() != Some(&bytes.len()) && !bytes.is_empty() {
            event_ends.push(bytes.len());
        }
        Self { bytes, event_ends }
    }

    pub fn load(path: &std::path::Path) -> io::Result<Self> {
        Ok(Self::from_bytes(std::fs::read(path)?))
    }

    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn events(&self) -> usize {
        self.event_ends.len()
    }

    /// A Responses-API stream whose answer is `text`, one event per token-sized piece
    /// (see [`token_pieces`]), in the event shapes of the recorded transcripts
    /// (tests/fixtures/make_transcripts.py). The benchmarks stream long answers this way
    /// rather than keeping megabytes of recorded events in the repository.
    pub fn responses_answer(text: &str) -> Self {
        let mut out = String::with_capacity(text.len() * 8);
        let mut seq = 0u64;
        let mut event = |out: &mut String, kind: &str, body: serde_json::Value| {
            let mut d = serde_json::json!({ "type": kind });
            if let (Some(d), serde_json::Value::Object(b)) = (d.as_object_mut(), body) {
                d.extend(b);
                d.insert("sequence_number".into(), seq.into());
            }
            seq += 1;
            out.push_str(&format!("event: {kind}\ndata: {d}\n\n"));
        };
        let response = serde_json::json!({"id": "resp_bench", "object": "response",
            "created_at": 1764000000, "status": "in_progress", "model": "gpt-5.3-codex-spark",
            "output": [], "usage": null});
        let msg = serde_json::json!({"id": "msg_bench", "type": "message",
            "status": "in_progress", "role": "assistant", "content": []});
        event(
            &mut out,
            "response.created",
            serde_json::json!({ "response": response }),
        );
        event(
            &mut out,
            "response.output_item.added",
            serde_json::json!({"output_index": 0, "item": msg}),
        );
        event(
            &mut out,
            "response.content_part.added",
            serde_json::json!({"item_id": "msg_bench",
            "output_index": 0, "content_index": 0,
            "part": {"type": "output_text", "text": "", "annotations": []}}),
        );
        let pieces = token_pieces(text);
        for p in &pieces {
            event(
                &mut out,
                "response.output_text.delta",
                serde_json::json!({
                "item_id": "msg_bench", "output_index": 0, "content_index": 0, "delta": p}),
            );
        }
        event(
            &mut out,
            "response.output_text.done",
            serde_json::json!({"item_id": "msg_bench",
            "output_index": 0, "content_index": 0, "text": text}),
        );
        let done_msg = serde_json::json!({"id": "msg_bench", "type": "message",
            "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]});
        event(
            &mut out,
            "response.output_item.done",
            serde_json::json!({"output_index": 0, "item": done_msg}),
        );
        let mut done = response;
        done["status"] = "completed".into();
        done["output"] = serde_json::json!([done_msg]);
        done["usage"] = serde_json::json!({"input_tokens": 1000,
            "input_tokens_details": {"cached_tokens": 0}, "output_tokens": pieces.len(),
            "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 1000 + pieces.len()});
        event(
            &mut out,
            "response.completed",
            serde_json::json!({ "response": done }),
        );
        Self::from_bytes(out.into_bytes())
    }
}

impl Transcript {
    /// The same answer as a Chat Completions stream (one chunk per piece).
    pub fn chat_answer(text: &str) -> Self {
        let mut out = String::with_capacity(text.len() * 6);
        let base = |delta: serde_json::Value, finish: serde_json::Value| {
            serde_json::json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk",
                "created": 1764000000, "model": "fixture-model",
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        };
        let mut event = |d: serde_json::Value| out.push_str(&format!("data: {d}\n\n"));
        event(base(
            serde_json::json!({"role": "assistant", "content": ""}),
            serde_json::Value::Null,
        ));
        for p in token_pieces(text) {
            event(base(
                serde_json::json!({ "content": p }),
                serde_json::Value::Null,
            ));
        }
        event(base(serde_json::json!({}), "stop".into()));
        out.push_str("data: [DONE]\n\n");
        Self::from_bytes(out.into_bytes())
    }
}

/// Cuts text into pieces about the size of a BPE token, as a model streams it: a word
/// with the spaces before it, a run of up to three punctuation characters, or a line
/// break. On code-heavy English this gives within ~15% of o200k_base's token count.
pub fn token_pieces(text: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        let word = |c: char| c.is_alphanumeric() || c == '_';
        let end = if c == '\n' {
            i + 1
        } else {
            // Leading spaces join what follows them.
            let mut kind = c;
            let mut end = i + c.len_utf8();
            if c == ' ' || c == '\t' {
                while let Some(&(j, d)) = chars.peek() {
                    if d == ' ' || d == '\t' {
                        chars.next();
                        end = j + d.len_utf8();
                    } else {
                        break;
                    }
                }
                match chars.peek() {
                    Some(&(j, d)) if d != '\n' => {
                        chars.next();
                        kind = d;
                        end = j + d.len_utf8();
                    }
                    _ => {}
                }
            }
            let mut taken = 1;
            while let Some(&(j, d)) = chars.peek() {
                let same = if word(kind) {
                    word(d) && taken < 8
                } else {
                    !word(d) && !d.is_whitespace() && taken < 3
                };
                if !same {
                    break;
                }
                chars.next();
                taken += 1;
                end = j + d.len_utf8();
            }
            end
        };
        pieces.push(&text[start..end]);
        start = end;
    }
    pieces
}

/// How the server answers one route.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Stream a transcript.
    Stream {
        transcript: Transcript,
        /// Events per second; `None` sends as fast as the socket takes it.
        rate: Option<f64>,
        /// Write in pieces of this many bytes (each flushed on its own).
        chunk: Option<usize>,
        /// Stop after this many events: close the connection (`Drop`) or go silent.
        fault: Option<(usize, Fault)>,
    },
    /// A scripted conversation (`script`): each request gets the step its tool
    /// results call for, in the route's wire format.
    Script(std::sync::Arc<script::Script>),
    /// An HTTP error with a JSON body, and optional extra headers (e.g. Retry-After).
    Status {
        code: u16,
        body: String,
        headers: Vec<(String, String)>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Drop,
    Stall,
}

impl Reply {
    pub fn stream(transcript: Transcript) -> Self {
        Self::Stream {
            transcript,
            rate: None,
            chunk: None,
            fault: None,
        }
    }
}

/// A request as the server received it, for tests to inspect.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// When its body had arrived, in milliseconds since the server started.
    pub received_ms: f64,
    /// When the last byte of its reply was written (same clock); none if it was not
    /// (yet). The gap from one reply's end to the next request is the client's time.
    pub done_ms: Option<f64>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Option<serde_json::Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// Routes are matched by the request path's suffix: `/chat/completions` (Chat
/// Completions), `/responses` (Responses API), `/messages` (Anthropic).
#[derive(Debug, Clone, Default)]
pub struct Config {
    pub routes: HashMap<String, Reply>,
}

impl Config {
    pub fn route(mut self, suffix: &str, reply: Reply) -> Self {
        self.routes.insert(suffix.to_string(), reply);
        self
    }
}

pub struct StandIn {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Recorded>>>,
    stop: Arc<AtomicBool>,
}

/// The server's clock: milliseconds since `since`.
fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1000.0
}

impl StandIn {
    /// Binds 127.0.0.1 on `port` (0 picks a free one) and serves in the background.
    pub fn start(config: Config, port: u16) -> io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
        let addr = listener.local_addr()?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let config = Arc::new(config);
        let (reqs, stopping) = (requests.clone(), stop.clone());
        let started = Instant::now();
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (config, reqs, stopping) = (config.clone(), reqs.clone(), stopping.clone());
                thread::spawn(move || {
                    // A client that hangs up early is normal (Stop in the app).
                    let _ = serve(conn, &config, &reqs, &stopping, started);
                });
            }
        });
        Ok(Self {
            addr,
            requests,
            stop,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL a client should use, ending in `/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(self.addr);
    }
}

fn serve(
    conn: TcpStream,
    config: &Config,
    requests: &Mutex<Vec<Recorded>>,
    stop: &AtomicBool,
    started: Instant,
) -> io::Result<()> {
    conn.set_nodelay(true)?;
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    let mut content_length = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            let (k, v) = (k.trim().to_string(), v.trim().to_string());
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let mut body = vec![0u8; content_length];
    reader.read_exact(&mut body)?;
    // Tests in another process read what was sent here.
    if path == "/__requests" {
        let list: Vec<serde_json::Value> = requests
            .lock()
            .map(|r| {
                r.iter()
                    .map(|q| {
                        serde_json::json!({ "method": q.method, "path": q.path, "body": q.body,
                            "received_ms": q.received_ms, "done_ms": q.done_ms })
                    })
                    .collect()
            })
            .unwrap_or_default();
        let body = serde_json::Value::Array(list).to_string();
        let mut out = conn;
        return write_status(&mut out, 200, &[], &body);
    }
    let index = requests.lock().ok().map(|mut r| {
        r.push(Recorded {
            method,
            path: path.clone(),
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
            received_ms: ms(started),
            done_ms: None,
        });
        r.len() - 1
    });
    let result = reply_to(conn, config, &path, &body, stop);
    if let (Some(i), Ok(mut r)) = (index, requests.lock()) {
        if let Some(q) = r.get_mut(i) {
            q.done_ms = Some(ms(started));
        }
    }
    result
}

/// Writes the reply `path` gets from `config`.
fn reply_to(
    conn: TcpStream,
    config: &Config,
    path: &str,
    body: &[u8],
    stop: &AtomicBool,
) -> io::Result<()> {
    let route = path.split('?').next().unwrap_or_default();
    let reply = config
        .routes
        .iter()
        .find(|(suffix, _)| route.ends_with(suffix.as_str()))
        .map(|(_, r)| r);
    let mut out = conn;
    // A script's step, played as a stream in the route's wire format.
    let played;
    let reply = match reply {
        Some(Reply::Script(script)) => {
            let wire = if route.ends_with("/messages") {
                script::Wire::Anthropic
            } else if route.ends_with("/chat/completions") {
                script::Wire::Chat
            } else {
                script::Wire::Responses
            };
            let step = script.step_for(&String::from_utf8_lossy(body));
            played = Reply::stream(script.render(step, wire));
            Some(&played)
        }
        other => other,
    };
    match reply {
        None => write_status(
            &mut out,
            404,
            &[],
            r#"{"error":{"message":"no such route on the stand-in server"}}"#,
        ),
        Some(Reply::Status {
            code,
            body,
            headers,
        }) => write_status(&mut out, *code, headers, body),
        Some(Reply::Stream {
            transcript,
            rate,
            chunk,
            fault,
        }) => {
            out.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\
                  Cache-Control: no-cache\r\nConnection: close\r\n\r\n",
            )?;
            let start = Instant::now();
            let mut from = 0;
            for (i, &end) in transcript.event_ends.iter().enumerate() {
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                match fault {
                    Some((n, Fault::Drop)) if i == *n => return Ok(()),
                    Some((n, Fault::Stall)) if i == *n => {
                        // Silent but open until the client gives up or the server stops.
                        while !stop.load(Ordering::SeqCst) {
                            thread::sleep(Duration::from_millis(20));
                        }
                        return Ok(());
                    }
                    _ => {}
                }
                if let Some(r) = rate {
                    let due = start + Duration::from_secs_f64(i as f64 / r.max(0.001));
                    let now = Instant::now();
                    if due > now {
                        thread::sleep(due - now);
                    }
                }
                let piece = &transcript.bytes[from..end];
                match chunk {
                    Some(n) => {
                        for c in piece.chunks((*n).max(1)) {
                            out.write_all(c)?;
                            out.flush()?;
                        }
                    }
                    None => out.write_all(piece)?,
                }
                from = end;
            }
            out.flush()
        }
        Some(Reply::Script(_)) => Ok(()),
    }
}

fn write_status(
    out: &mut TcpStream,
    code: u16,
    headers: &[(String, String)],
    body: &str,
) -> io::Result<()> {
    let mut head = format!(
        "HTTP/1.1 {code} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        reason(code),
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;
    out.write_all(body.as_bytes())?;
    out.flush()
}

fn reason(code: u16) -> &'static str {
    match code {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_pieces_cover_the_text_and_make_a_parsable_stream() {
        let text =
            "fn main() {\n    let x = \"héllo wörld\";\n}\n\nA  sentence, with punctuation!!!\n";
        let pieces = token_pieces(text);
        assert_eq!(pieces.concat(), text);
        assert!(pieces.iter().all(|p| !p.is_empty()));
        assert!(pieces.len() > 12 && pieces.len() < text.len() / 2);
        let t = Transcript::responses_answer(text);
        // created, item added, part added, a delta per piece, text done, item done, completed.
        assert_eq!(t.events(), pieces.len() + 6);
        let body = String::from_utf8(t.bytes().to_vec()).unwrap();
        let deltas: String = body
            .split("\n\n")
            .filter_map(|e| e.split_once("data: ").map(|(_, d)| d))
            .filter_map(|d| serde_json::from_str::<serde_json::Value>(d).ok())
            .filter(|v| v["type"] == "response.output_text.delta")
            .map(|v| v["delta"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(deltas, text);
        // The Chat Completions twin: role chunk, a chunk per piece, finish, [DONE].
        assert_eq!(Transcript::chat_answer(text).events(), pieces.len() + 3);
    }

    #[test]
    fn transcript_splits_events_with_either_line_ending() {
        let t = Transcript::from_bytes(b"data: a\n\ndata: b\r\n\r\ndata: [DONE]\n\n".to_vec());
        assert_eq!(t.events(), 3);
        let t = Transcript::from_bytes(b"data: a\n\ndata: tail".to_vec());
        assert_eq!(t.events(), 2);
    }
}

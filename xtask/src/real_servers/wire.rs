//! The wire under `cargo xtask real-servers`: a relay that copies a connection both ways
//! and keeps the bytes, and just enough HTTP/1.1 (chunked bodies) and SSE to read them.

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use crate::json::Json;
use crate::Result;

/// A loopback relay to the server that copies both directions verbatim and keeps them.
pub(super) struct Relay {
    pub(super) port: u16,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) accept: Option<JoinHandle<Vec<JoinHandle<Exchange>>>>,
}

/// What went up (requests) and down (responses) on one connection.
pub(super) type Exchange = (Vec<u8>, Vec<u8>);

impl Relay {
    pub(super) fn start(upstream: u16) -> Result<Self> {
        let listener =
            TcpListener::bind(("127.0.0.1", 0)).map_err(|e| format!("relay: cannot bind: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("relay: {e}"))?
            .port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let accept = thread::spawn(move || {
            let mut connections = Vec::new();
            for client in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(client) = client {
                    connections.push(thread::spawn(move || relay_one(client, upstream)));
                }
            }
            connections
        });
        Ok(Self {
            port,
            stop,
            accept: Some(accept),
        })
    }

    pub(super) fn wake(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port)); // unblocks accept()
    }

    /// Stops accepting and waits for every connection to close (the client has exited).
    pub(super) fn finish(mut self) -> Vec<Exchange> {
        self.wake();
        let Some(accept) = self.accept.take() else {
            return Vec::new();
        };
        let connections = accept.join().unwrap_or_default();
        connections
            .into_iter()
            .filter_map(|c| c.join().ok())
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.wake();
        }
    }
}

pub(super) fn relay_one(client: TcpStream, upstream: u16) -> Exchange {
    let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
        return (Vec::new(), Vec::new());
    };
    // A stuck peer must not hang the run forever.
    for s in [&client, &server] {
        let _ = s.set_read_timeout(Some(Duration::from_secs(300)));
    }
    let (Ok(client_w), Ok(server_r)) = (client.try_clone(), server.try_clone()) else {
        return (Vec::new(), Vec::new());
    };
    let down = thread::spawn(move || copy_keep(server_r, client_w));
    let up = copy_keep(client, server);
    (up, down.join().unwrap_or_default())
}

/// Copies `from` to `to` until `from` ends, then ends `to`'s writing side; returns what
/// passed.
pub(super) fn copy_keep(mut from: TcpStream, mut to: TcpStream) -> Vec<u8> {
    let mut kept = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                kept.extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Write);
    kept
}

/// One HTTP/1.1 request or response: its first line, headers and (de-chunked) body.
pub(super) struct HttpMessage {
    pub(super) start: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

/// Every message in one direction of a connection, in order.
pub(super) fn parse_http(mut bytes: &[u8], responses: bool) -> Result<Vec<HttpMessage>> {
    let mut messages = Vec::new();
    while !bytes.is_empty() {
        let end = find(bytes, b"\r\n\r\n").ok_or("an HTTP head without its end")?;
        let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
        bytes = &bytes[end + 4..];
        let mut lines = head.split("\r\n");
        let start = lines.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let header = |name: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.to_ascii_lowercase())
        };
        let body;
        if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            let (b, used) = dechunk(bytes)?;
            body = b;
            bytes = &bytes[used..];
        } else if let Some(len) = header("content-length") {
            let len: usize = len
                .parse()
                .map_err(|_| format!("bad content-length {len}"))?;
            let len = len.min(bytes.len());
            body = bytes[..len].to_vec();
            bytes = &bytes[len..];
        } else if responses {
            body = bytes.to_vec(); // delimited by the end of the connection
            bytes = &[];
        } else {
            body = Vec::new();
        }
        messages.push(HttpMessage {
            start,
            headers,
            body,
        });
    }
    Ok(messages)
}

/// A chunked body and how many bytes it took (a truncated one gives what arrived).
pub(super) fn dechunk(bytes: &[u8]) -> Result<(Vec<u8>, usize)> {
    let mut body = Vec::new();
    let mut at = 0;
    while let Some(eol) = find(&bytes[at..], b"\r\n") {
        let line = String::from_utf8_lossy(&bytes[at..at + eol]).into_owned();
        let hex = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(hex, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        at += eol + 2;
        if size == 0 {
            // Trailers, if any, end with an empty line.
            while let Some(eol) = find(&bytes[at..], b"\r\n") {
                at += eol + 2;
                if eol == 0 {
                    break;
                }
            }
            return Ok((body, at));
        }
        let end = (at + size).min(bytes.len());
        body.extend_from_slice(&bytes[at..end]);
        at = (end + 2).min(bytes.len());
    }
    Ok((body, bytes.len()))
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The JSON payloads of a server-sent event stream, in order (`[DONE]` left out).
pub(super) fn sse_events(body: &[u8]) -> Vec<Json> {
    let text = String::from_utf8_lossy(body);
    let mut events = Vec::new();
    let mut data = String::new();
    for line in text.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if !data.is_empty() && data != "[DONE]" {
                if let Ok(v) = Json::parse(&data) {
                    events.push(v);
                }
            }
            data.clear();
        } else if let Some(d) = line.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(d.strip_prefix(' ').unwrap_or(d));
        }
    }
    events
}

/// A minimal HTTP/1.1 exchange with the server (Connection: close): status and body.
pub(super) fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &str,
) -> Result<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port))
        .map_err(|e| format!("cannot connect to 127.0.0.1:{port}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(120)))
        .map_err(|e| e.to_string())?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
         Content-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("content-type"))
    {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        let _ = write!(req, "{k}: {v}\r\n");
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes())
        .map_err(|e| format!("cannot send {method} {path}: {e}"))?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .map_err(|e| format!("no answer to {method} {path}: {e}"))?;
    let response = parse_http(&raw, true)?
        .into_iter()
        .next()
        .ok_or_else(|| format!("an empty answer to {method} {path}"))?;
    let status = response
        .start
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| format!("a bad status line: {}", response.start))?;
    Ok((status, String::from_utf8_lossy(&response.body).into_owned()))
}

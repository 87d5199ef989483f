//! What every wire format shares: send the request, map a failed status to a typed
//! error, decode the SSE body with an idle timeout, and let a format-specific
//! [`WireParser`] turn each event into [`ModelEvent`]s. The parsers stay pure (events in,
//! model events out), so each format is tested without a socket.

use std::time::Duration;

use futures_util::StreamExt;

use crate::sse::{SseDecoder, SseEvent};
use crate::{EventStream, ModelError, ModelEvent};

/// The most one answer's body may hold. A 100k-token answer is about 400 KB of text and
/// a few MB of events; past this the stream is stopped.
pub const MAX_BODY_BYTES: usize = 256 << 20;

/// The most of an error body that is read (its message is cut to 300 characters).
const MAX_ERROR_BODY_BYTES: usize = 64 << 10;

/// Turns one wire format's server-sent events into model events.
pub(crate) trait WireParser: Send + 'static {
    /// Reads one event. A `Finished` in the output ends the stream.
    fn read(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ModelError>;

    /// The body ended without a terminal event: `Finished` if the answer is known to
    /// be complete, else `Err(Dropped)`.
    fn end_of_body(&mut self) -> Result<ModelEvent, ModelError> {
        Err(ModelError::Dropped)
    }
}

/// Sends `request` and streams what comes back through `parser`.
pub(crate) fn stream(
    request: reqwest::RequestBuilder,
    idle_timeout: Duration,
    model: String,
    mut parser: impl WireParser,
) -> EventStream {
    Box::pin(async_stream::stream! {
        let resp = match tokio::time::timeout(idle_timeout, request.send()).await {
            Err(_) => {
                yield Err(ModelError::IdleTimeout { after: idle_timeout });
                return;
            }
            Ok(Err(e)) => {
                yield Err(network_error(&e));
                return;
            }
            Ok(Ok(r)) => r,
        };
        let status = resp.status();
        if !status.is_success() {
            let retry_after = retry_after(resp.headers());
            let url = resp.url().to_string();
            let text = bounded_text(resp, idle_timeout, MAX_ERROR_BODY_BYTES).await;
            yield Err(ModelError::from_status(status.as_u16(), retry_after, &text, &model, &url));
            return;
        }

        let mut bytes = resp.bytes_stream();
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        let mut received = 0usize;
        loop {
            let ended = match tokio::time::timeout(idle_timeout, bytes.next()).await {
                Err(_) => {
                    yield Err(ModelError::IdleTimeout { after: idle_timeout });
                    return;
                }
                Ok(Some(Err(e))) => {
                    yield Err(if e.is_timeout() {
                        ModelError::IdleTimeout { after: idle_timeout }
                    } else {
                        ModelError::Dropped
                    });
                    return;
                }
                Ok(Some(Ok(chunk))) => {
                    received += chunk.len();
                    if received > MAX_BODY_BYTES {
                        yield Err(ModelError::TooLarge { what: format!("an answer over {} MiB", MAX_BODY_BYTES >> 20) });
                        return;
                    }
                    decoder.feed(&chunk, &mut events);
                    false
                }
                Ok(None) => {
                    decoder.finish(&mut events);
                    true
                }
            };
            let overflowed = decoder.overflowed();
            for event in events.drain(..) {
                match parser.read(&event) {
                    Ok(out) => {
                        for e in out {
                            let done = matches!(e, ModelEvent::Finished { .. });
                            yield Ok(e);
                            if done {
                                return;
                            }
                        }
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                }
            }
            if overflowed {
                yield Err(ModelError::TooLarge {
                    what: format!("one event over {} MiB", crate::sse::MAX_EVENT_BYTES >> 20),
                });
                return;
            }
            if ended {
                yield parser.end_of_body();
                return;
            }
        }
    })
}

/// A response's body, at most `limit` bytes of it, each piece within `idle_timeout`: a
/// provider's error page or model list need not be read to its end.
pub(crate) async fn bounded_text(
    resp: reqwest::Response,
    idle_timeout: Duration,
    limit: usize,
) -> String {
    let mut body = Vec::new();
    let mut stream = resp.bytes_stream();
    while body.len() < limit {
        match tokio::time::timeout(idle_timeout, stream.next()).await {
            Ok(Some(Ok(chunk))) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(limit);
    String::from_utf8_lossy(&body).into_owned()
}

pub(crate) fn http_client() -> Result<reqwest::Client, ModelError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .tcp_nodelay(true)
        // Keep idle connections to the provider open across turns (warm first token).
        .pool_idle_timeout(Duration::from_secs(300))
        // No redirects: a redirect would carry the key's header (Anthropic's x-api-key
        // survives reqwest's cross-host stripping) to wherever the server points.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| ModelError::Network {
            detail: e.to_string(),
        })
}

/// Parses one event's JSON, or says which event could not be read.
pub(crate) fn json<T: serde::de::DeserializeOwned>(data: &str) -> Result<T, ModelError> {
    serde_json::from_str(data).map_err(|e| ModelError::Malformed {
        detail: format!("{e} in `{}`", preview(data)),
    })
}

pub(crate) fn preview(s: &str) -> String {
    crate::error::clip(s, 80)
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<f64>().ok().map(Duration::from_secs_f64)
}

pub(crate) fn network_error(e: &reqwest::Error) -> ModelError {
    // The innermost cause names what failed: refused, DNS, TLS.
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    ModelError::Network { detail }
}

/// Decodes a recorded stream offline, chunk by chunk, exactly as the network path does:
/// for tests over arbitrary chunkings and for benchmarks of the parse path.
pub fn decode_chunks<'a>(
    wire: crate::Wire,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Result<Vec<ModelEvent>, ModelError> {
    fn run<'a>(
        mut parser: impl WireParser,
        chunks: impl IntoIterator<Item = &'a [u8]>,
    ) -> Result<Vec<ModelEvent>, ModelError> {
        let mut decoder = SseDecoder::new();
        let mut events = Vec::new();
        let mut out = Vec::new();
        for chunk in chunks {
            decoder.feed(chunk, &mut events);
            for e in events.drain(..) {
                for m in parser.read(&e)? {
                    let done = matches!(m, ModelEvent::Finished { .. });
                    out.push(m);
                    if done {
                        return Ok(out);
                    }
                }
            }
        }
        decoder.finish(&mut events);
        for e in events.drain(..) {
            for m in parser.read(&e)? {
                let done = matches!(m, ModelEvent::Finished { .. });
                out.push(m);
                if done {
                    return Ok(out);
                }
            }
        }
        out.push(parser.end_of_body()?);
        Ok(out)
    }
    match wire {
        crate::Wire::ChatCompletions => run(crate::chat::ChatParser::default(), chunks),
        crate::Wire::Responses => run(crate::responses::ResponsesParser::default(), chunks),
        crate::Wire::AnthropicMessages => run(crate::anthropic::AnthropicParser::default(), chunks),
    }
}

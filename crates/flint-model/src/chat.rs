//! OpenAI-compatible Chat Completions (`POST {base}/chat/completions`, `stream: true`):
//! the wire format of Cerebras, Groq, OpenRouter, vLLM, SGLang, llama.cpp, Ollama and
//! LM Studio.

use std::time::Duration;

use futures_util::StreamExt;
use serde::Deserialize;
use serde_json::json;

use crate::sse::{SseDecoder, SseEvent};
use crate::{EventStream, ModelClient, ModelError, ModelEvent, ModelRequest, Usage};

/// A Chat Completions endpoint. Cloning is cheap and shares the connection pool, so the
/// connection to the provider stays warm across turns.
#[derive(Clone)]
pub struct ChatCompletions {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<String>,
    idle_timeout: Duration,
}

impl std::fmt::Debug for ChatCompletions {
    // Hand-written so the key can never reach a log through `{:?}`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatCompletions")
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl ChatCompletions {
    /// `base_url` is the API root, e.g. `https://api.openai.com/v1`. Local servers need
    /// no key; with `None` no Authorization header is sent.
    pub fn new(base_url: &str, api_key: Option<String>) -> Result<Self, ModelError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(15))
            .tcp_nodelay(true)
            .build()
            .map_err(|e| ModelError::Network {
                detail: e.to_string(),
            })?;
        Ok(Self {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            api_key: api_key.filter(|k| !k.is_empty()),
            idle_timeout: Duration::from_secs(120),
        })
    }

    /// How long the stream may stay silent before it counts as stalled.
    pub fn with_idle_timeout(mut self, idle: Duration) -> Self {
        self.idle_timeout = idle;
        self
    }

    pub fn base_url(&self) -> &str {
        &self.base_url
    }
}

impl ModelClient for ChatCompletions {
    fn stream(&self, request: ModelRequest) -> EventStream {
        let this = self.clone();
        Box::pin(async_stream::stream! {
            let url = format!("{}/chat/completions", this.base_url);
            let body = json!({
                "model": request.model,
                "messages": request.messages,
                "stream": true,
                "stream_options": { "include_usage": true },
            });
            let mut req = this.http.post(&url).json(&body);
            if let Some(key) = &this.api_key {
                req = req.bearer_auth(key);
            }
            let resp = match tokio::time::timeout(this.idle_timeout, req.send()).await {
                Err(_) => {
                    yield Err(ModelError::IdleTimeout { after: this.idle_timeout });
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
                let text = resp.text().await.unwrap_or_default();
                yield Err(ModelError::from_status(status.as_u16(), retry_after, &text, &request.model));
                return;
            }

            let mut bytes = resp.bytes_stream();
            let mut decoder = SseDecoder::new();
            let mut events = Vec::new();
            let mut state = ChunkState::default();
            loop {
                let next = tokio::time::timeout(this.idle_timeout, bytes.next()).await;
                let ended = match next {
                    Err(_) => {
                        yield Err(ModelError::IdleTimeout { after: this.idle_timeout });
                        return;
                    }
                    Ok(Some(Err(e))) => {
                        yield Err(if e.is_timeout() {
                            ModelError::IdleTimeout { after: this.idle_timeout }
                        } else {
                            ModelError::Dropped
                        });
                        return;
                    }
                    Ok(Some(Ok(chunk))) => {
                        decoder.feed(&chunk, &mut events);
                        false
                    }
                    Ok(None) => {
                        decoder.finish(&mut events);
                        true
                    }
                };
                for event in events.drain(..) {
                    match state.read(&event) {
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
                if ended {
                    // Some servers close after the finish_reason chunk without `[DONE]`;
                    // that answer is complete. Anything else was cut off.
                    if state.finish_reason.is_some() {
                        yield Ok(ModelEvent::Finished { reason: state.finish_reason.take() });
                    } else {
                        yield Err(ModelError::Dropped);
                    }
                    return;
                }
            }
        })
    }
}

#[derive(Default)]
struct ChunkState {
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Chunk {
    #[serde(default)]
    choices: Vec<Choice>,
    usage: Option<ChatUsage>,
    error: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Choice {
    #[serde(default)]
    delta: Option<Delta>,
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta {
    content: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
}

impl ChunkState {
    fn read(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ModelError> {
        let data = event.data.trim();
        if data == "[DONE]" {
            return Ok(vec![ModelEvent::Finished {
                reason: self.finish_reason.take(),
            }]);
        }
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let chunk: Chunk = serde_json::from_str(data).map_err(|e| ModelError::Malformed {
            detail: format!("{e} in `{}`", preview(data)),
        })?;
        if let Some(err) = chunk.error {
            let detail = err
                .get("message")
                .and_then(|m| m.as_str())
                .map(str::to_owned)
                .unwrap_or_else(|| err.to_string());
            return Err(ModelError::Provider { detail });
        }
        let mut out = Vec::new();
        for choice in chunk.choices {
            if let Some(text) = choice.delta.and_then(|d| d.content) {
                if !text.is_empty() {
                    out.push(ModelEvent::TextDelta(text));
                }
            }
            if choice.finish_reason.is_some() {
                self.finish_reason = choice.finish_reason;
            }
        }
        if let Some(u) = chunk.usage {
            out.push(ModelEvent::Usage(Usage {
                input_tokens: u.prompt_tokens,
                output_tokens: u.completion_tokens,
            }));
        }
        Ok(out)
    }
}

fn preview(s: &str) -> String {
    let mut p: String = s.chars().take(80).collect();
    if s.chars().count() > 80 {
        p.push('…');
    }
    p
}

fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<f64>().ok().map(Duration::from_secs_f64)
}

fn network_error(e: &reqwest::Error) -> ModelError {
    // reqwest's Display names the URL and the innermost cause (refused, DNS, TLS).
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        detail = s.to_string();
        source = s.source();
    }
    ModelError::Network { detail }
}

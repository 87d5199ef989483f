//! Anthropic Messages (`POST {base}/messages`, `stream: true`): text, thinking and
//! tool-use deltas by content block, usage split between `message_start` (input) and
//! `message_delta` (output), pings, and `error` events.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::sse::SseEvent;
use crate::transport::{self, WireParser};
use crate::{ModelError, ModelEvent, ModelRequest, Usage};

/// The API version Flint speaks (sent as `anthropic-version`).
pub(crate) const VERSION: &str = "2023-06-01";
const MAX_TOKENS: u32 = 16_384;

pub(crate) fn body(request: &ModelRequest) -> Value {
    let (system, messages) = request.split_system();
    let mut body = json!({
        "model": request.model,
        "max_tokens": MAX_TOKENS,
        "messages": messages,
        "stream": true,
    });
    if let Some(system) = system {
        body["system"] = Value::String(system);
    }
    body
}

#[derive(Default)]
pub(crate) struct AnthropicParser {
    usage: Usage,
    stop_reason: Option<String>,
    /// Content block index to tool-use id.
    tools: Vec<(u64, String)>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    index: Option<u64>,
    #[serde(default)]
    message: Option<Value>,
    #[serde(default)]
    content_block: Option<Value>,
    #[serde(default)]
    delta: Option<Value>,
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

impl WireParser for AnthropicParser {
    fn read(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ModelError> {
        let data = event.data.trim();
        if data.is_empty() {
            return Ok(Vec::new());
        }
        let e: Envelope = transport::json(data)?;
        let kind = e.kind.as_deref().or(event.event.as_deref()).unwrap_or("");
        let mut out = Vec::new();
        match kind {
            "message_start" => {
                if let Some(u) = e.message.as_ref().map(|m| &m["usage"]) {
                    self.usage.input_tokens = u["input_tokens"].as_u64().unwrap_or(0)
                        + u["cache_read_input_tokens"].as_u64().unwrap_or(0)
                        + u["cache_creation_input_tokens"].as_u64().unwrap_or(0);
                    self.usage.output_tokens = u["output_tokens"].as_u64().unwrap_or(0);
                }
            }
            "content_block_start" => {
                let block = e.content_block.unwrap_or_default();
                if block["type"] == "tool_use" {
                    let id = block["id"].as_str().unwrap_or_default().to_string();
                    self.tools.push((e.index.unwrap_or(0), id.clone()));
                    out.push(ModelEvent::ToolCallStart {
                        id,
                        name: block["name"].as_str().unwrap_or_default().to_string(),
                    });
                }
            }
            "content_block_delta" => {
                let d = e.delta.unwrap_or_default();
                let text = |k: &str| d[k].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
                match d["type"].as_str().unwrap_or("") {
                    "text_delta" => out.extend(text("text").map(ModelEvent::TextDelta)),
                    "thinking_delta" => {
                        out.extend(text("thinking").map(ModelEvent::ReasoningDelta))
                    }
                    "input_json_delta" => {
                        let index = e.index.unwrap_or(0);
                        if let (Some(arguments), Some((_, id))) = (
                            text("partial_json"),
                            self.tools.iter().find(|(i, _)| *i == index),
                        ) {
                            out.push(ModelEvent::ToolCallDelta {
                                id: id.clone(),
                                arguments,
                            });
                        }
                    }
                    _ => {} // signature_delta, citations: nothing to show
                }
            }
            "message_delta" => {
                if let Some(r) = e.delta.as_ref().and_then(|d| d["stop_reason"].as_str()) {
                    self.stop_reason = Some(r.to_string());
                }
                if let Some(n) = e.usage.as_ref().and_then(|u| u["output_tokens"].as_u64()) {
                    self.usage.output_tokens = n;
                }
            }
            "message_stop" => {
                out.push(ModelEvent::Usage(self.usage));
                out.push(ModelEvent::Finished {
                    reason: self.stop_reason.take(),
                });
            }
            "error" => {
                let err = e.error.unwrap_or_default();
                return Err(classify(
                    err["type"].as_str().unwrap_or(""),
                    err["message"].as_str().unwrap_or("unknown error"),
                ));
            }
            _ => {} // ping, content_block_stop
        }
        Ok(out)
    }
}

/// Maps Anthropic's error types (in `error` events mid-stream).
fn classify(kind: &str, message: &str) -> ModelError {
    let detail = crate::error::redact(message);
    match kind {
        "overloaded_error" => ModelError::Server {
            status: 529,
            detail,
        },
        "api_error" => ModelError::Server {
            status: 500,
            detail,
        },
        "rate_limit_error" => ModelError::RateLimited {
            retry_after: None,
            detail,
        },
        "authentication_error" | "permission_error" => ModelError::BadKey {
            status: 401,
            detail,
        },
        "not_found_error" => ModelError::UnknownModel {
            model: String::new(),
            detail,
        },
        "invalid_request_error" if detail.contains("too long") => {
            ModelError::ContextTooLong { detail }
        }
        _ => ModelError::Provider { detail },
    }
}

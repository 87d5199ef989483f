//! OpenAI's Responses API (`POST {base}/responses`, `stream: true`): how Codex models,
//! Codex-Spark included, are served. Typed events: output text, reasoning summaries,
//! function-call arguments, usage on `response.completed`, and failures as
//! `response.failed` or `error`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::sse::SseEvent;
use crate::transport::{self, WireParser};
use crate::{ModelError, ModelEvent, ModelRequest, Usage};

pub(crate) fn body(request: &ModelRequest) -> Value {
    let (instructions, input) = request.split_system();
    let mut body = json!({
        "model": request.model,
        "input": input,
        "stream": true,
        // Flint keeps its own history; nothing needs to stay on the provider.
        "store": false,
    });
    if let Some(instructions) = instructions {
        body["instructions"] = Value::String(instructions);
    }
    body
}

#[derive(Default)]
pub(crate) struct ResponsesParser {
    /// Function-call item ids to the call ids the model will be answered with.
    calls: Vec<(String, String)>,
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    delta: Option<String>,
    #[serde(default)]
    item_id: Option<String>,
    #[serde(default)]
    item: Option<Value>,
    #[serde(default)]
    response: Option<Value>,
    #[serde(default)]
    code: Option<Value>,
    #[serde(default)]
    message: Option<String>,
}

impl WireParser for ResponsesParser {
    fn read(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ModelError> {
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let e: Envelope = transport::json(data)?;
        let kind = e.kind.as_deref().or(event.event.as_deref()).unwrap_or("");
        Ok(match kind {
            "response.output_text.delta" => delta(e.delta, ModelEvent::TextDelta),
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                delta(e.delta, ModelEvent::ReasoningDelta)
            }
            "response.output_item.added" => {
                let item = e.item.unwrap_or_default();
                if item["type"] == "function_call" {
                    let id = str_of(&item["id"]);
                    let call_id = str_of(&item["call_id"]);
                    self.calls.push((id, call_id.clone()));
                    vec![ModelEvent::ToolCallStart {
                        id: call_id,
                        name: str_of(&item["name"]),
                    }]
                } else {
                    Vec::new()
                }
            }
            "response.function_call_arguments.delta" => {
                let item_id = e.item_id.unwrap_or_default();
                let id = self
                    .calls
                    .iter()
                    .find(|(i, _)| *i == item_id)
                    .map(|(_, c)| c.clone())
                    .unwrap_or(item_id);
                match e.delta {
                    Some(d) if !d.is_empty() => {
                        vec![ModelEvent::ToolCallDelta { id, arguments: d }]
                    }
                    _ => Vec::new(),
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = e.response.unwrap_or_default();
                let mut out = Vec::new();
                if let Some(u) = response.get("usage").filter(|u| u.is_object()) {
                    out.push(ModelEvent::Usage(Usage {
                        input_tokens: u["input_tokens"].as_u64().unwrap_or(0),
                        output_tokens: u["output_tokens"].as_u64().unwrap_or(0),
                    }));
                }
                let reason = match kind {
                    "response.incomplete" => response["incomplete_details"]["reason"]
                        .as_str()
                        .map(str::to_owned)
                        .or(Some("incomplete".into())),
                    _ => Some("stop".into()),
                };
                out.push(ModelEvent::Finished { reason });
                out
            }
            "response.failed" => {
                let err = e
                    .response
                    .as_ref()
                    .map(|r| r["error"].clone())
                    .unwrap_or_default();
                return Err(classify(
                    err["code"].as_str().unwrap_or(""),
                    err["message"].as_str().unwrap_or("the response failed"),
                ));
            }
            "error" => {
                let code = e.code.as_ref().and_then(Value::as_str).unwrap_or("");
                return Err(classify(
                    code,
                    e.message.as_deref().unwrap_or("unknown error"),
                ));
            }
            // created, in_progress, content parts, *.done: nothing new for the answer.
            _ => Vec::new(),
        })
    }
}

fn delta(d: Option<String>, make: fn(String) -> ModelEvent) -> Vec<ModelEvent> {
    match d {
        Some(d) if !d.is_empty() => vec![make(d)],
        _ => Vec::new(),
    }
}

fn str_of(v: &Value) -> String {
    v.as_str().unwrap_or_default().to_string()
}

/// Maps the error codes the Responses API puts in `response.failed` and `error` events.
fn classify(code: &str, message: &str) -> ModelError {
    let detail = crate::error::redact(message);
    match code {
        "context_length_exceeded" => ModelError::ContextTooLong { detail },
        "rate_limit_exceeded" => ModelError::RateLimited {
            retry_after: None,
            detail,
        },
        "server_error" | "server_is_overloaded" | "slow_down" => ModelError::Server {
            status: 500,
            detail,
        },
        "invalid_api_key" => ModelError::BadKey {
            status: 401,
            detail,
        },
        "model_not_found" => ModelError::UnknownModel {
            model: String::new(),
            detail,
        },
        _ => ModelError::Provider { detail },
    }
}

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

/// The fields Flint reads. Each is a `Value`, so an event Flint does not use may carry
/// any shape in them (real streams put objects in `delta`, e.g. shell tool output):
/// only the events Flint reads look inside, and an unexpected shape there is skipped.
#[derive(Deserialize)]
struct Envelope {
    #[serde(rename = "type", default)]
    kind: Value,
    #[serde(default)]
    delta: Value,
    #[serde(default)]
    item_id: Value,
    #[serde(default)]
    item: Value,
    #[serde(default)]
    response: Value,
    #[serde(default)]
    code: Value,
    #[serde(default)]
    message: Value,
    #[serde(default)]
    error: Value,
}

impl WireParser for ResponsesParser {
    fn read(&mut self, event: &SseEvent) -> Result<Vec<ModelEvent>, ModelError> {
        let data = event.data.trim();
        if data.is_empty() || data == "[DONE]" {
            return Ok(Vec::new());
        }
        let e: Envelope = transport::json(data)?;
        let kind = e.kind.as_str().or(event.event.as_deref()).unwrap_or("");
        Ok(match kind {
            "response.output_text.delta" => delta(&e.delta, ModelEvent::TextDelta, data)?,
            "response.reasoning_summary_text.delta" | "response.reasoning_text.delta" => {
                delta(&e.delta, ModelEvent::ReasoningDelta, data)?
            }
            "response.output_item.added" => {
                let item = &e.item;
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
                let item_id = str_of(&e.item_id);
                let id = self
                    .calls
                    .iter()
                    .find(|(i, _)| *i == item_id)
                    .map(|(_, c)| c.clone())
                    .unwrap_or(item_id);
                match e.delta.as_str() {
                    Some(d) if !d.is_empty() => vec![ModelEvent::ToolCallDelta {
                        id,
                        arguments: d.to_string(),
                    }],
                    _ => Vec::new(),
                }
            }
            "response.completed" | "response.incomplete" => {
                let response = &e.response;
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
                let err = &e.response["error"];
                return Err(classify(
                    err["code"].as_str().unwrap_or(""),
                    err["message"].as_str().unwrap_or("the response failed"),
                ));
            }
            "error" => {
                // Documented flat (`code`, `message`), sent nested under `error` too.
                let code = e
                    .code
                    .as_str()
                    .or(e.error["code"].as_str())
                    .or(e.error["type"].as_str());
                let message = e.message.as_str().or(e.error["message"].as_str());
                return Err(classify(
                    code.unwrap_or(""),
                    message.unwrap_or("the provider reported an error but sent no message"),
                ));
            }
            // created, in_progress, content parts, *.done, and events of tools Flint
            // does not run: nothing new for the answer.
            _ => Vec::new(),
        })
    }
}

/// The text of an event Flint reads. Any shape is fine in events Flint skips, but text
/// it cannot read here is a failure, not a silent gap: edits are parsed from this text.
fn delta(
    d: &Value,
    make: fn(String) -> ModelEvent,
    data: &str,
) -> Result<Vec<ModelEvent>, ModelError> {
    match d {
        Value::String(d) if !d.is_empty() => Ok(vec![make(d.clone())]),
        Value::String(_) | Value::Null => Ok(Vec::new()),
        _ => Err(ModelError::Malformed {
            detail: format!(
                "a text delta that is not text in `{}`",
                transport::preview(data)
            ),
        }),
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
        "rate_limit_exceeded" | "rate_limit_error" => ModelError::RateLimited {
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

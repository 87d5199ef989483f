//! OpenAI's Responses API (`POST {base}/responses`, `stream: true`): how Codex models,
//! Codex-Spark included, are served. Typed events: output text, reasoning summaries,
//! function-call arguments, usage on `response.completed`, and failures as
//! `response.failed` or `error`.

use serde::Deserialize;
use serde_json::{json, Value};

use crate::message::{Message, Part, ToolInput, ToolKind, ToolSpec};
use crate::sse::SseEvent;
use crate::transport::{self, WireParser};
use crate::{ModelError, ModelEvent, ModelRequest, Usage};

pub(crate) fn body(request: &ModelRequest) -> Value {
    let (instructions, rest) = request.split_system();
    let input: Vec<Value> = rest.into_iter().flat_map(items).collect();
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
    if !request.tools.is_empty() {
        let tools: Vec<Value> = request.tools.iter().map(tool).collect();
        body["tools"] = Value::Array(tools);
    }
    body
}

/// A tool as the Responses API takes it: a function, or a custom tool taking free text
/// (with its Lark grammar: how Codex models are given `apply_patch`).
fn tool(t: &ToolSpec) -> Value {
    match &t.input {
        ToolInput::Json { schema } => json!({
            "type": "function",
            "name": t.name,
            "description": t.description,
            "parameters": schema,
            "strict": false,
        }),
        ToolInput::Freeform { grammar } => {
            let format = match grammar {
                Some(g) => json!({ "type": "grammar", "syntax": "lark", "definition": g }),
                None => json!({ "type": "text" }),
            };
            json!({
                "type": "custom",
                "name": t.name,
                "description": t.description,
                "format": format,
            })
        }
    }
}

/// One message as input items: text as a `{role, content}` message; each call and
/// each result as an item of its own.
fn items(m: &Message) -> Vec<Value> {
    if m.is_text_only() {
        return vec![json!({ "role": m.role, "content": m.text() })];
    }
    let mut out = Vec::new();
    let text = m.text();
    if !text.is_empty() {
        out.push(json!({ "role": m.role, "content": text }));
    }
    for p in &m.parts {
        match p {
            Part::ToolCall(c) if c.kind == ToolKind::Custom => out.push(json!({
                "type": "custom_tool_call", "call_id": c.id, "name": c.name, "input": c.input,
            })),
            Part::ToolCall(c) => out.push(json!({
                "type": "function_call", "call_id": c.id, "name": c.name,
                "arguments": if c.input.trim().is_empty() { "{}" } else { c.input.as_str() },
            })),
            Part::ToolResult(r) => out.push(json!({
                "type": if r.kind == ToolKind::Custom { "custom_tool_call_output" } else { "function_call_output" },
                "call_id": r.call_id,
                "output": crate::message::result_text(r),
            })),
            Part::Text { .. } | Part::Reasoning { .. } => {}
        }
    }
    out
}

#[derive(Default)]
pub(crate) struct ResponsesParser {
    /// Tool-call item ids to the call ids the model will be answered with, and whether
    /// any of the call's input has streamed yet.
    calls: Vec<Call>,
}

struct Call {
    item_id: String,
    call_id: String,
    streamed: bool,
}

impl ResponsesParser {
    /// More input of the call with item id `item_id`.
    fn input_delta(&mut self, item_id: &str, delta: &Value) -> Vec<ModelEvent> {
        let Some(d) = delta.as_str().filter(|d| !d.is_empty()) else {
            return Vec::new();
        };
        let id = match self.calls.iter_mut().find(|c| c.item_id == item_id) {
            Some(call) => {
                call.streamed = true;
                call.call_id.clone()
            }
            None => item_id.to_string(),
        };
        vec![ModelEvent::ToolCallDelta {
            id,
            arguments: d.to_string(),
        }]
    }
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
                let kind = match item["type"].as_str() {
                    Some("function_call") => ToolKind::Function,
                    Some("custom_tool_call") => ToolKind::Custom,
                    _ => return Ok(Vec::new()),
                };
                let call_id = match item["call_id"].as_str().filter(|c| !c.is_empty()) {
                    Some(c) => c.to_string(),
                    None => crate::message::fresh_call_id(),
                };
                self.calls.push(Call {
                    item_id: str_of(&item["id"]),
                    call_id: call_id.clone(),
                    streamed: false,
                });
                let mut out = vec![ModelEvent::ToolCallStart {
                    id: call_id,
                    name: str_of(&item["name"]),
                    kind,
                }];
                // Some servers put the whole input in the added item.
                let field = if kind == ToolKind::Custom {
                    "input"
                } else {
                    "arguments"
                };
                out.extend(self.input_delta(&str_of(&item["id"]), &item[field]));
                out
            }
            "response.function_call_arguments.delta" | "response.custom_tool_call_input.delta" => {
                self.input_delta(&str_of(&e.item_id), &e.delta)
            }
            "response.output_item.done" => {
                // A server that streamed no input deltas (LM Studio) states it here.
                let item = &e.item;
                let field = match item["type"].as_str() {
                    Some("function_call") => "arguments",
                    Some("custom_tool_call") => "input",
                    _ => return Ok(Vec::new()),
                };
                let item_id = str_of(&item["id"]);
                match self.calls.iter().find(|c| c.item_id == item_id) {
                    Some(c) if !c.streamed => self.input_delta(&item_id, &item[field]),
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

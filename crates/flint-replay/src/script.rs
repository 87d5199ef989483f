//! Scripted conversations: the stand-in plays a model that acts. A script is a list of
//! steps, each an answer (text, tool calls, or both); each request gets the first step
//! whose calls it does not yet carry the results of - so a request that lacks the
//! previous step's results gets that step again, never the next one, and the test
//! sees it (each served step is counted). Steps are rendered in the wire format of the
//! route that asked: Responses, Chat Completions or Anthropic Messages, with tool
//! arguments streamed in several pieces as providers do.
//!
//! A script file is JSON: `{"steps": [{"text": "...", "calls": [{"id": "c1", "name":
//! "shell", "input": "{...}", "custom": false}]}, ...]}` (`custom`: a free-text call,
//! as Codex models make `apply_patch` on the Responses API).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::{token_pieces, Transcript};

#[derive(Debug, Clone, Deserialize)]
pub struct ScriptCall {
    pub id: String,
    pub name: String,
    /// JSON arguments, or the free text of a custom call.
    pub input: String,
    #[serde(default)]
    pub custom: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Step {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub calls: Vec<ScriptCall>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Script {
    pub steps: Vec<Step>,
    /// How many times each step was served.
    #[serde(skip)]
    served: Vec<AtomicUsize>,
}

/// The wire formats a step can be played in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    Responses,
    Chat,
    Anthropic,
}

impl Script {
    pub fn new(steps: Vec<Step>) -> Arc<Self> {
        let served = steps.iter().map(|_| AtomicUsize::new(0)).collect();
        Arc::new(Self { steps, served })
    }

    pub fn parse(json: &str) -> Result<Arc<Self>, String> {
        let s: Script = serde_json::from_str(json).map_err(|e| format!("the script: {e}"))?;
        Ok(Self::new(s.steps))
    }

    /// How many times each step was served so far.
    pub fn served(&self) -> Vec<usize> {
        self.served
            .iter()
            .map(|n| n.load(Ordering::SeqCst))
            .collect()
    }

    /// The step a request gets: the first whose calls' results it does not all carry
    /// (past the end: the last step again).
    pub fn step_for(&self, body: &str) -> usize {
        let results = result_ids(body);
        let next = self
            .steps
            .iter()
            .position(|s| {
                s.calls.is_empty() || !s.calls.iter().all(|c| results.iter().any(|r| r == &c.id))
            })
            .unwrap_or(self.steps.len().saturating_sub(1));
        if let Some(n) = self.served.get(next) {
            n.fetch_add(1, Ordering::SeqCst);
        }
        next
    }

    /// Step `i` as a stream in `wire`.
    pub fn render(&self, i: usize, wire: Wire) -> Transcript {
        let step = self.steps.get(i).cloned().unwrap_or_default();
        let text = match wire {
            Wire::Responses => responses(&step, i),
            Wire::Chat => chat(&step, i),
            Wire::Anthropic => anthropic(&step, i),
        };
        Transcript::from_bytes(text.into_bytes())
    }
}

/// The ids of the tool results a request carries, whatever its wire format.
pub fn result_ids(body: &str) -> Vec<String> {
    fn walk(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                let kind = map.get("type").and_then(Value::as_str).unwrap_or_default();
                for key in ["tool_call_id", "tool_use_id"] {
                    if let Some(id) = map.get(key).and_then(Value::as_str) {
                        out.push(id.to_string());
                    }
                }
                if kind.ends_with("_output") {
                    if let Some(id) = map.get("call_id").and_then(Value::as_str) {
                        out.push(id.to_string());
                    }
                }
                map.values().for_each(|v| walk(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut out = Vec::new();
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        walk(&v, &mut out);
    }
    out
}

/// Cuts a tool input into three pieces (as providers stream arguments), on character
/// boundaries.
fn thirds(s: &str) -> Vec<&str> {
    let cuts: Vec<usize> = [s.len() / 3, 2 * s.len() / 3]
        .into_iter()
        .map(|mut c| {
            while !s.is_char_boundary(c) {
                c += 1;
            }
            c
        })
        .collect();
    vec![&s[..cuts[0]], &s[cuts[0]..cuts[1]], &s[cuts[1]..]]
        .into_iter()
        .filter(|p| !p.is_empty())
        .collect()
}

fn responses(step: &Step, n: usize) -> String {
    let mut out = String::new();
    let mut seq = 0;
    let mut event = |out: &mut String, body: Value| {
        let mut body = body;
        body["sequence_number"] = seq.into();
        seq += 1;
        let kind = body["type"].as_str().unwrap_or_default().to_string();
        out.push_str(&format!("event: {kind}\ndata: {body}\n\n"));
    };
    let id = format!("resp_script_{n}");
    let response = json!({"id": id, "object": "response", "status": "in_progress", "output": [], "usage": null});
    event(
        &mut out,
        json!({"type": "response.created", "response": response}),
    );
    let mut index = 0;
    if !step.text.is_empty() {
        let msg = format!("msg_{n}");
        event(
            &mut out,
            json!({"type": "response.output_item.added", "output_index": index,
            "item": {"id": msg, "type": "message", "status": "in_progress", "role": "assistant", "content": []}}),
        );
        for p in token_pieces(&step.text) {
            event(
                &mut out,
                json!({"type": "response.output_text.delta", "item_id": msg,
                "output_index": index, "content_index": 0, "delta": p}),
            );
        }
        event(
            &mut out,
            json!({"type": "response.output_item.done", "output_index": index,
            "item": {"id": msg, "type": "message", "status": "completed", "role": "assistant",
            "content": [{"type": "output_text", "text": step.text, "annotations": []}]}}),
        );
        index += 1;
    }
    for c in &step.calls {
        let item_id = format!("item_{}", c.id);
        let (kind, field, delta) = if c.custom {
            (
                "custom_tool_call",
                "input",
                "response.custom_tool_call_input.delta",
            )
        } else {
            (
                "function_call",
                "arguments",
                "response.function_call_arguments.delta",
            )
        };
        event(
            &mut out,
            json!({"type": "response.output_item.added", "output_index": index,
            "item": {"id": item_id, "type": kind, "status": "in_progress", "call_id": c.id,
            "name": c.name, field: ""}}),
        );
        for p in thirds(&c.input) {
            event(
                &mut out,
                json!({"type": delta, "item_id": item_id, "output_index": index, "delta": p}),
            );
        }
        event(
            &mut out,
            json!({"type": "response.output_item.done", "output_index": index,
            "item": {"id": item_id, "type": kind, "status": "completed", "call_id": c.id,
            "name": c.name, field: c.input}}),
        );
        index += 1;
    }
    let mut done = response;
    done["status"] = "completed".into();
    done["usage"] = json!({"input_tokens": 500, "output_tokens": 50, "total_tokens": 550});
    event(
        &mut out,
        json!({"type": "response.completed", "response": done}),
    );
    out
}

fn chat(step: &Step, n: usize) -> String {
    let mut out = String::new();
    let id = format!("chatcmpl-script-{n}");
    let mut chunk = |delta: Value, finish: Value| {
        let body = json!({"id": id, "object": "chat.completion.chunk", "created": 1764000000,
            "model": "script", "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        out.push_str(&format!("data: {body}\n\n"));
    };
    chunk(json!({"role": "assistant", "content": ""}), Value::Null);
    for p in token_pieces(&step.text) {
        chunk(json!({ "content": p }), Value::Null);
    }
    for (i, c) in step.calls.iter().enumerate() {
        // A free-text tool is offered to Chat Completions as a function taking `input`.
        let args = if c.custom {
            json!({ "input": c.input }).to_string()
        } else {
            c.input.clone()
        };
        chunk(
            json!({"tool_calls": [{"index": i, "id": c.id, "type": "function",
                "function": {"name": c.name, "arguments": ""}}]}),
            Value::Null,
        );
        for p in thirds(&args) {
            chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}),
                Value::Null,
            );
        }
    }
    let finish = if step.calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    chunk(json!({}), finish.into());
    out.push_str("data: [DONE]\n\n");
    out
}

fn anthropic(step: &Step, n: usize) -> String {
    let mut out = String::new();
    let mut event = |body: Value| {
        let kind = body["type"].as_str().unwrap_or_default().to_string();
        out.push_str(&format!("event: {kind}\ndata: {body}\n\n"));
    };
    event(
        json!({"type": "message_start", "message": {"id": format!("msg_script_{n}"),
        "type": "message", "role": "assistant", "model": "script", "content": [],
        "stop_reason": null, "usage": {"input_tokens": 500, "output_tokens": 1}}}),
    );
    let mut index = 0;
    if !step.text.is_empty() {
        event(
            json!({"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}),
        );
        for p in token_pieces(&step.text) {
            event(
                json!({"type": "content_block_delta", "index": index, "delta": {"type": "text_delta", "text": p}}),
            );
        }
        event(json!({"type": "content_block_stop", "index": index}));
        index += 1;
    }
    for c in &step.calls {
        let args = if c.custom {
            json!({ "input": c.input }).to_string()
        } else {
            c.input.clone()
        };
        event(json!({"type": "content_block_start", "index": index,
            "content_block": {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}}));
        for p in thirds(&args) {
            event(json!({"type": "content_block_delta", "index": index,
                "delta": {"type": "input_json_delta", "partial_json": p}}));
        }
        event(json!({"type": "content_block_stop", "index": index}));
        index += 1;
    }
    let stop = if step.calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    event(
        json!({"type": "message_delta", "delta": {"stop_reason": stop, "stop_sequence": null},
        "usage": {"output_tokens": 50}}),
    );
    event(json!({"type": "message_stop"}));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_request_gets_the_step_after_the_results_it_carries() {
        let script = Script::parse(
            r#"{"steps": [
                {"text": "reading", "calls": [{"id": "c1", "name": "read_file", "input": "{}"}]},
                {"calls": [{"id": "c2", "name": "shell", "input": "{}"}, {"id": "c3", "name": "x", "input": "{}"}]},
                {"text": "done"}
            ]}"#,
        )
        .unwrap();
        assert_eq!(script.step_for(r#"{"input": [{"role": "user"}]}"#), 0);
        let responses =
            r#"{"input": [{"type": "function_call_output", "call_id": "c1", "output": "x"}]}"#;
        assert_eq!(script.step_for(responses), 1);
        // Only one of the two results: the same step again.
        let chat = r#"{"messages": [{"role": "tool", "tool_call_id": "c1"}, {"role": "tool", "tool_call_id": "c2"}]}"#;
        assert_eq!(script.step_for(chat), 1);
        let anthropic = r#"{"messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "c1"}, {"type": "tool_result", "tool_use_id": "c2"},
            {"type": "tool_result", "tool_use_id": "c3"}]}]}"#;
        assert_eq!(script.step_for(anthropic), 2);
        assert_eq!(script.served(), [1, 2, 1]);
    }
}

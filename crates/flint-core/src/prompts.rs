//! What a turn says to the model: the system prompt for the model's family, the
//! conversation so far as messages (tool calls and results included), and the context
//! assembled around the prompt (AGENTS.md, @-mentioned files, git, recent edits).

use std::path::Path;

use flint_model::{Message, Part, Role, ToolCall, ToolKind, ToolResult, ToolSpec};
use flint_project::ProjectDir;
use flint_store::{Item, ItemKind, ModelSlot};

use crate::context::{self, ContextInput, ContextReport, Tokenizer};
use crate::{CoreError, Engine, SlotClient};

const SYSTEM_PROMPT: &str = "You are Flint, a fast coding assistant working in the user's \
project beside their editor. Answer concisely; use fenced code blocks with a language tag.";

/// How Codex models are trained to write edits: apply_patch (V4A).
const EDITS_V4A: &str = "To change files, write one patch in apply_patch format, \
between `*** Begin Patch` and `*** End Patch`, with `*** Add File: path`, \
`*** Delete File: path` or `*** Update File: path` (optionally `*** Move to: path`), then \
`@@` chunks of ` ` context, `-` removed and `+` added lines. Paths are relative to the \
project root. The user reviews every change before it is applied.";

/// What most other models write reliably: SEARCH/REPLACE blocks.
const EDITS_SEARCH_REPLACE: &str = "To change a file, write its path relative to the \
project root on a line of its own, then a fenced block holding `<<<<<<< SEARCH`, the \
exact current lines, `=======`, the new lines, `>>>>>>> REPLACE`. Quote enough lines to \
be unique. To create a small file, write its path and then its whole content in a \
fenced block. The user reviews every change before it is applied.";

/// The system prompt for `model`: stable text first, so providers' prompt caches hit.
fn system_prompt(model: &str) -> String {
    let edits = if model.contains("codex") {
        EDITS_V4A
    } else {
        EDITS_SEARCH_REPLACE
    };
    format!("{SYSTEM_PROMPT}\n\n{edits}")
}

/// The conversation so far as messages: a prompt is a user message; an answer, with
/// the tool calls that follow it, an assistant message; the results of those calls one
/// tool message. Empty answers (failed before any text) are left out. A call is to a
/// free-text tool when `tools` offers its tool so (how the Responses API must be sent
/// it back); otherwise a function call.
pub(crate) fn history_messages(items: &[Item], tools: &[ToolSpec]) -> Vec<Message> {
    let call_kind = |item: &Item| {
        let free = tools.iter().any(|t| {
            Some(&t.name) == item.tool_name.as_ref()
                && matches!(t.input, flint_model::ToolInput::Freeform { .. })
        });
        if free {
            ToolKind::Custom
        } else {
            ToolKind::Function
        }
    };
    let mut out: Vec<Message> = Vec::new();
    // Each call's kind by its id, for its result (which the Responses API answers by kind).
    let mut kinds: std::collections::HashMap<&str, ToolKind> = Default::default();
    // An agent's tool work (over ACP) is its own: a model is sent its answers only.
    let agent_calls: std::collections::HashSet<&str> = items
        .iter()
        .filter(|i| crate::turn::acp::is_agent_tool(i.tool_name.as_deref()))
        .filter_map(|i| i.call_id.as_deref())
        .collect();
    for item in items {
        if matches!(item.kind, ItemKind::ToolCall | ItemKind::ToolResult)
            && item
                .call_id
                .as_deref()
                .is_some_and(|c| agent_calls.contains(c))
        {
            continue;
        }
        let part = match item.kind {
            ItemKind::Prompt | ItemKind::Answer if item.text.is_empty() => continue,
            ItemKind::Prompt => {
                out.push(Message::new(Role::User, item.text.clone()));
                continue;
            }
            ItemKind::Answer => {
                out.push(Message::new(Role::Assistant, item.text.clone()));
                continue;
            }
            ItemKind::ToolCall => {
                let id = item.call_id.as_deref().unwrap_or_default();
                let kind = call_kind(item);
                kinds.insert(id, kind);
                Part::ToolCall(ToolCall {
                    id: id.to_string(),
                    name: item.tool_name.clone().unwrap_or_default(),
                    kind,
                    input: item.text.clone(),
                })
            }
            ItemKind::ToolResult => Part::ToolResult(ToolResult {
                call_id: item.call_id.clone().unwrap_or_default(),
                kind: item
                    .call_id
                    .as_deref()
                    .and_then(|id| kinds.get(id).copied())
                    .unwrap_or(ToolKind::Function),
                output: item.text.clone(),
                is_error: item.error.is_some(),
            }),
        };
        let role = if item.kind == ItemKind::ToolCall {
            Role::Assistant
        } else {
            Role::Tool
        };
        match out.last_mut() {
            Some(m) if m.role == role => m.parts.push(part),
            _ => out.push(Message {
                role,
                parts: vec![part],
            }),
        }
    }
    out
}

/// Keeps only tool calls that have their result after them and results whose call
/// came before, dropping messages left empty: every provider refuses a conversation
/// with one without the other (a call recorded before a crash, a history cut by the
/// window between a call and its result).
pub(crate) fn paired(messages: Vec<Message>) -> Vec<Message> {
    use std::collections::HashMap;
    // Where each id is first called and last answered: a call stands if an answer
    // comes after it, an answer if a call came before it (one pass each, not a set
    // per message: this runs on every turn's whole history).
    let mut first_call: HashMap<String, usize> = HashMap::new();
    let mut last_result: HashMap<String, usize> = HashMap::new();
    for (i, m) in messages.iter().enumerate() {
        for c in m.tool_calls() {
            first_call.entry(c.id.clone()).or_insert(i);
        }
        for r in m.tool_results() {
            last_result.insert(r.call_id.clone(), i);
        }
    }
    messages
        .into_iter()
        .enumerate()
        .filter_map(|(i, mut m)| {
            let had = m.parts.len();
            m.parts.retain(|p| match p {
                Part::ToolCall(c) => last_result.get(&c.id).is_some_and(|&at| at > i),
                Part::ToolResult(r) => first_call.get(&r.call_id).is_some_and(|&at| at < i),
                _ => true,
            });
            (m.parts.len() == had || !m.parts.is_empty()).then_some(m)
        })
        .collect()
}

/// Files larger than this are not attached whole when mentioned.
const MAX_MENTION_BYTES: u64 = 256 * 1024;

/// What changed in the project lately, for a turn's context, and how to count it.
pub(crate) struct ProjectNow<'a> {
    pub recent_edits: Option<&'a str>,
    pub git: Option<String>,
    /// Count every section with the model's tokenizer (`flint context`), rather than
    /// only near the window's limit.
    pub exact: bool,
}

/// Assembles a turn's messages from the project as it is now (blocking: reads files).
/// Unless `now.exact`, tokens are counted with the model's tokenizer only near the
/// window's limit (`context::assemble_sparingly`): its tables cost ~50 MB of memory and
/// ~0.1 s that a roomy context does not need.
pub(crate) fn build_context(
    root: &Path,
    global: Option<&Path>,
    history: &[Message],
    prompt: &str,
    slot: &SlotClient,
    now: ProjectNow<'_>,
) -> (Vec<Message>, ContextReport) {
    let ProjectNow {
        recent_edits,
        git,
        exact,
    } = now;
    let dir = ProjectDir::open(root).ok();
    let agents = flint_project::agents_files(root, global);
    let mut attached = Vec::new();
    let mut unreadable = Vec::new();
    for path in context::mentions(prompt) {
        let Some(abs) = dir.as_ref().and_then(|d| d.resolve(&path).ok()) else {
            continue;
        };
        match std::fs::metadata(&abs) {
            Ok(m) if m.is_file() && m.len() <= MAX_MENTION_BYTES => {
                match std::fs::read_to_string(&abs) {
                    Ok(text) => attached.push((path, text)),
                    Err(_) => unreadable.push(format!("@{path} is not a text file")),
                }
            }
            Ok(m) if m.is_file() => unreadable.push(format!("@{path} is over 256 KiB")),
            _ => {}
        }
    }
    let name = dir.as_ref().map(|d| d.name()).unwrap_or_default();
    let project = format!("{name} ({})", root.display());
    let input = ContextInput {
        system: &system_prompt(&slot.model),
        project: &project,
        agents: &agents,
        history,
        mentions: &attached,
        git: git.as_deref(),
        recent_edits,
        prompt,
        window: slot.window,
    };
    let tok = Tokenizer::for_model(&slot.model);
    let (messages, mut report) = if exact {
        context::assemble(&input, tok)
    } else {
        context::assemble_sparingly(&input, tok)
    };
    report.left_out.extend(unreadable);
    (paired(messages), report)
}

impl Engine {
    /// What the next turn in `session_id` (or a new session of the project at `root`)
    /// would send for `prompt`, section by section with token counts: exact ones
    /// (`exact`, for `flint context`), or estimated while far from the window's limit
    /// (the app's meter, which says so).
    pub async fn preview_context(
        &self,
        root: &Path,
        session_id: Option<i64>,
        prompt: &str,
        exact: bool,
    ) -> Result<(Vec<Message>, ContextReport), CoreError> {
        let (history, slot) = match session_id {
            Some(id) => {
                let (items, session) = self.db(move |s| Ok((s.items(id)?, s.session(id)?))).await?;
                (items, session.slot)
            }
            None => (Vec::new(), ModelSlot::Fast),
        };
        let slot = self.slot(slot).ok_or(CoreError::NoModel(slot))?;
        let (root, prompt, global) = (
            root.to_path_buf(),
            prompt.to_string(),
            self.global_agents.clone(),
        );
        let engine = self.clone();
        tokio::task::spawn_blocking(move || {
            let history = history_messages(&history, &engine.tool_specs(&slot.model));
            let recent = engine.recent_edits(&root);
            build_context(
                &root,
                global.as_deref(),
                &history,
                &prompt,
                &slot,
                ProjectNow {
                    recent_edits: recent.as_deref(),
                    git: engine.git_summary(&root),
                    exact,
                },
            )
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calls_and_results_go_only_in_pairs() {
        let call = |id: &str| {
            Part::ToolCall(ToolCall {
                id: id.into(),
                name: "read_file".into(),
                kind: ToolKind::Function,
                input: "{}".into(),
            })
        };
        let result = |id: &str| {
            Part::ToolResult(ToolResult {
                call_id: id.into(),
                kind: ToolKind::Function,
                output: "x".into(),
                is_error: false,
            })
        };
        let msg = |role, parts| Message { role, parts };
        let messages = vec![
            // A result whose call was cut off by the window.
            msg(Role::Tool, vec![result("gone")]),
            Message::new(Role::User, "q"),
            msg(
                Role::Assistant,
                vec![Part::Text { text: "a".into() }, call("c1"), call("c2")],
            ),
            // c2 was recorded, then the process stopped: no result.
            msg(Role::Tool, vec![result("c1")]),
        ];
        let kept = paired(messages);
        assert_eq!(kept.len(), 3);
        assert_eq!(kept[0].text(), "q");
        let calls: Vec<&str> = kept[1].tool_calls().map(|c| c.id.as_str()).collect();
        assert_eq!(calls, ["c1"]);
        assert_eq!(kept[1].text(), "a");
        assert_eq!(kept[2].tool_results().count(), 1);
    }

    #[test]
    fn codex_models_are_asked_for_apply_patch_and_others_for_search_replace() {
        assert!(system_prompt("gpt-5.3-codex-spark").contains("*** Begin Patch"));
        assert!(!system_prompt("gpt-5.3-codex-spark").contains("<<<<<<< SEARCH"));
        assert!(system_prompt("gpt-oss-120b").contains("<<<<<<< SEARCH"));
    }
}

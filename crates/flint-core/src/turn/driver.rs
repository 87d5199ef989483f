//! The turn's loop: the prompt recorded, the context built, then request after request.
//! Each answer streams through its live view into a new answer item; the calls it made
//! are recorded and run, and their results recorded; until the model answers without
//! calls (with no tool runner: after one request). Messages are only ever appended
//! between requests, so the request prefix stays byte-stable for prompt caches.

use std::path::{Path, PathBuf};
use std::time::Instant;

use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use flint_edit::Edit;
use flint_model::{
    with_retries, Message, ModelError, ModelEvent, ModelRequest, Part, Role, ToolCall, ToolCalls,
    ToolKind, ToolResult, Usage,
};
use flint_project::ProjectDir;
use flint_store::{Item, ItemKind, ItemRole, ItemStatus, Metrics, ModelSlot};

use super::agent::{self, AgentMode, CallCtx};
use super::live::LiveAnswer;
use super::TurnKind;
use crate::engine::{FRAME, PERSIST_EVERY};
use crate::prompts::{build_context, history_messages, ProjectNow};
use crate::{CoreError, Engine, ErrorInfo, SlotClient, TurnEvent};

/// Where a turn's events go.
pub(crate) type Sink<'a> = dyn FnMut(TurnEvent) + Send + 'a;

/// Where a turn's calls run.
struct Place<'a> {
    session_id: i64,
    project_id: i64,
    root: &'a Path,
    mode: AgentMode,
    /// The calls are recorded but not run, their results saying this.
    not_run: Option<String>,
}

/// How one request ended.
struct Answered {
    item: Item,
    status: ItemStatus,
    error: Option<ErrorInfo>,
    metrics: Metrics,
    reasoning: Option<String>,
    calls: Vec<flint_model::ToolCall>,
    /// A patch call was previewed in review while it streamed (against this answer).
    previewed: bool,
}

impl Engine {
    /// Runs a turn of `kind` in `session_id`: only store failures (and a missing
    /// prompt or model) return `Err`; model failures end the turn normally, the partial
    /// answer kept.
    pub(crate) async fn drive(
        &self,
        session_id: i64,
        kind: TurnKind,
        mode: AgentMode,
        sink: &mut Sink<'_>,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let (user_item, slot) = match kind {
            TurnKind::Prompt(prompt) => {
                let prompt = prompt.trim().to_string();
                if prompt.is_empty() {
                    return Err(CoreError::EmptyPrompt);
                }
                let session = self.db(move |s| s.session(session_id)).await?;
                // An agent's session needs no model.
                let slot = match &session.agent {
                    Some(_) => None,
                    None => Some(
                        self.slot(session.slot)
                            .ok_or(CoreError::NoModel(session.slot))?,
                    ),
                };
                let user = self
                    .db(move |s| {
                        if s.items(session_id)?.is_empty() {
                            s.set_session_title(session_id, &title_from(&prompt))?;
                        }
                        s.add_item(
                            session_id,
                            ItemRole::User,
                            &prompt,
                            ItemStatus::Complete,
                            None,
                        )
                    })
                    .await?;
                match (session.agent, slot) {
                    (Some(agent), _) => {
                        return self
                            .agent_turn(session_id, agent, Some(user), mode, sink, cancel)
                            .await
                    }
                    (None, Some(slot)) => (Some(user), slot),
                    (None, None) => return Err(CoreError::NoModel(session.slot)),
                }
            }
            TurnKind::Escalate => {
                let slot = self
                    .slot(ModelSlot::Deep)
                    .ok_or(CoreError::NoModel(ModelSlot::Deep))?;
                let has_prompt = self
                    .db(move |s| {
                        let any = s
                            .items(session_id)?
                            .iter()
                            .any(|i| i.kind == ItemKind::Prompt);
                        if any {
                            s.set_session_slot(session_id, ModelSlot::Deep)?;
                            // Escalating leaves an agent for the deep model, which gets
                            // the conversation (the agent's answers, not its tool work).
                            if s.session(session_id)?.agent.is_some() {
                                s.set_session_agent(session_id, None)?;
                            }
                        }
                        Ok(any)
                    })
                    .await?;
                if !has_prompt {
                    return Err(CoreError::NoPrompt);
                }
                (None, slot)
            }
            TurnKind::Retry => {
                let (session, has_prompt) = self
                    .db(move |s| {
                        let any = s
                            .items(session_id)?
                            .iter()
                            .any(|i| i.kind == ItemKind::Prompt);
                        Ok((s.session(session_id)?, any))
                    })
                    .await?;
                if !has_prompt {
                    return Err(CoreError::NoPrompt);
                }
                if let Some(agent) = session.agent {
                    return self
                        .agent_turn(session_id, agent, None, mode, sink, cancel)
                        .await;
                }
                let slot = self
                    .slot(session.slot)
                    .ok_or(CoreError::NoModel(session.slot))?;
                (None, slot)
            }
        };
        self.answer(session_id, user_item, slot, mode, sink, cancel)
            .await
    }

    /// Answers the conversation so far (ending at its latest prompt), request after
    /// request while the model calls tools, each answer in a new item: `Started`,
    /// frame-sized `Delta`s, `Finished` (its `turn_done` set on the last), and between
    /// requests `ItemAdded` for each call, its result and the next answer.
    async fn answer(
        &self,
        session_id: i64,
        user_item: Option<Item>,
        slot: SlotClient,
        mode: AgentMode,
        sink: &mut Sink<'_>,
        cancel: CancellationToken,
    ) -> Result<Item, CoreError> {
        let tools = self.tool_specs(&slot.model);
        let (history, project_root, project_id) = self
            .db(move |s| {
                let session = s.session(session_id)?;
                let root = s.project(session.project_id)?.path;
                let mut history = s.items(session_id)?;
                // The answer goes to the latest prompt: drop anything after it (a
                // previous answer being escalated or retried).
                if let Some(last) = history.iter().rposition(|i| i.kind == ItemKind::Prompt) {
                    history.truncate(last + 1);
                }
                Ok((history, root, session.project_id))
            })
            .await?;
        let root = PathBuf::from(&project_root);
        let mut item = self.new_answer(session_id, &slot).await?;
        sink(TurnEvent::Started {
            user_item: user_item.map(Box::new),
            assistant_item: Box::new(item.clone()),
        });
        let mut messages = self.context(&root, &history, &slot, &tools, sink).await?;
        let mut step = 1;
        loop {
            let request = ModelRequest {
                model: slot.model.clone(),
                messages: messages.clone(),
                tools: tools.clone(),
            };
            let answered = self
                .stream_answer(item, &root, &slot, request, sink, &cancel)
                .await?;
            if answered.previewed {
                // The preview was the call's, shown early: withdrawn now, so what stays
                // is the call's own review (or nothing, if it is not run or cannot be).
                sink(TurnEvent::Review {
                    review: Box::new(crate::review::Review {
                        item_id: answered.item.id,
                        files: Vec::new(),
                        failures: Vec::new(),
                    }),
                });
            }
            let acting = !answered.calls.is_empty()
                && answered.status == ItemStatus::Complete
                && self.has_tools()
                && !cancel.is_cancelled();
            let go_on = acting && step < self.max_steps;
            if acting && !go_on {
                // The step limit: the calls are recorded with results saying they were
                // not run (the history stays whole for the next turn), and the front
                // end offers to go on.
                let place = Place {
                    session_id,
                    project_id,
                    root: &root,
                    mode,
                    not_run: Some(format!(
                        "not run: the turn reached its limit of {} steps; the user can let it go on",
                        self.max_steps
                    )),
                };
                self.run_calls(&place, &answered.calls, sink, &cancel)
                    .await?;
                sink(TurnEvent::StepLimit { steps: step });
            }
            sink(TurnEvent::Finished {
                item_id: answered.item.id,
                status: answered.status,
                error: answered.error.clone(),
                metrics: answered.metrics.clone(),
                reasoning: answered.reasoning.clone(),
                turn_done: !go_on,
            });
            if !go_on {
                return Ok(answered.item);
            }
            // The answer and its calls, then their results, appended to what was sent.
            let mut said = Message {
                role: Role::Assistant,
                parts: Vec::new(),
            };
            if !answered.item.text.is_empty() {
                said.parts.push(Part::Text {
                    text: answered.item.text.clone(),
                });
            }
            said.parts
                .extend(answered.calls.iter().cloned().map(Part::ToolCall));
            let place = Place {
                session_id,
                project_id,
                root: &root,
                mode,
                not_run: None,
            };
            let outputs = self
                .run_calls(&place, &answered.calls, sink, &cancel)
                .await?;
            let results = Message {
                role: Role::Tool,
                parts: outputs.into_iter().map(Part::ToolResult).collect(),
            };
            if cancel.is_cancelled() {
                // Stopped while the calls ran: the turn ends here, the answer marked
                // stopped (what ran is recorded; what did not says so).
                let id = answered.item.id;
                let item = self
                    .db(move |s| {
                        let item = s.item(id)?;
                        s.update_item(id, &item.text, ItemStatus::Cancelled, None)?;
                        s.item(id)
                    })
                    .await?;
                sink(TurnEvent::Finished {
                    item_id: id,
                    status: ItemStatus::Cancelled,
                    error: None,
                    metrics: answered.metrics,
                    reasoning: answered.reasoning,
                    turn_done: true,
                });
                return Ok(item);
            }
            messages.push(said);
            messages.push(results);
            step += 1;
            item = self.new_answer(session_id, &slot).await?;
            sink(TurnEvent::ItemAdded {
                item: Box::new(item.clone()),
            });
        }
    }

    async fn new_answer(&self, session_id: i64, slot: &SlotClient) -> Result<Item, CoreError> {
        let (model, provider) = (slot.model.clone(), slot.provider.clone());
        self.db(move |s| {
            s.add_item_from(
                session_id,
                ItemRole::Assistant,
                "",
                ItemStatus::Streaming,
                Some(&model),
                Some(&provider),
            )
        })
        .await
    }

    /// The conversation before the latest prompt, then the context for the prompt
    /// (blocking: reads files), reported to the front end.
    async fn context(
        &self,
        root: &Path,
        history: &[Item],
        slot: &SlotClient,
        tools: &[flint_model::ToolSpec],
        sink: &mut Sink<'_>,
    ) -> Result<Vec<Message>, CoreError> {
        let (prompt, earlier) = match history.iter().rposition(|i| i.kind == ItemKind::Prompt) {
            Some(i) => (history[i].text.clone(), &history[..i]),
            None => (String::new(), history),
        };
        let earlier = history_messages(earlier, tools);
        let (root, global, slot) = (root.to_path_buf(), self.global_agents.clone(), slot.clone());
        let engine = self.clone();
        let (messages, report) = tokio::task::spawn_blocking(move || {
            let recent = engine.recent_edits(&root);
            let built = build_context(
                &root,
                global.as_deref(),
                &earlier,
                &prompt,
                &slot,
                ProjectNow {
                    recent_edits: recent.as_deref(),
                    git: engine.git_summary(&root),
                    exact: false,
                },
            );
            // What was just sent is the baseline for the next turn's "recent edits".
            if let Ok(mut a) = engine.activity.lock() {
                if let Some(act) = a.get_mut(&root) {
                    act.turn_taken(&root);
                }
            }
            built
        })
        .await
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        sink(TurnEvent::Context { report });
        Ok(messages)
    }

    /// Records the answer's calls (all of them first, so a parallel batch stays one
    /// assistant message in the history), then runs them - a run of read-only calls
    /// side by side, the others one at a time, in order - and records each result,
    /// each shown as it is added. What a call says while it runs (a question, a
    /// command's output, an edit's review) goes out as it comes. A stop skips the
    /// calls not yet run: their results say so.
    async fn run_calls(
        &self,
        place: &Place<'_>,
        calls: &[flint_model::ToolCall],
        sink: &mut Sink<'_>,
        cancel: &CancellationToken,
    ) -> Result<Vec<ToolResult>, CoreError> {
        let session_id = place.session_id;
        let mut call_items = Vec::new();
        for call in calls {
            let (id, name, input) = (call.id.clone(), call.name.clone(), call.input.clone());
            let recorded = self
                .db(move |s| {
                    s.add_tool_item(
                        session_id,
                        ItemKind::ToolCall,
                        &id,
                        Some(&name),
                        &input,
                        ItemStatus::Complete,
                    )
                })
                .await?;
            call_items.push(recorded.id);
            sink(TurnEvent::ItemAdded {
                item: Box::new(recorded),
            });
        }
        let mut results = Vec::new();
        let mut i = 0;
        while i < calls.len() {
            // The batch: this call, and the read-only ones right after a read-only one.
            let mut end = i + 1;
            if self.agent && agent::read_only(&calls[i].name) {
                while end < calls.len() && agent::read_only(&calls[end].name) {
                    end += 1;
                }
            }
            let (tx, mut rx) = mpsc::unbounded_channel();
            let batch = futures_util::future::join_all((i..end).map(|k| {
                let ctx = CallCtx {
                    session_id,
                    project_id: place.project_id,
                    root: place.root,
                    mode: place.mode,
                    item_id: call_items[k],
                    events: &tx,
                    cancel,
                };
                let skip = place.not_run.clone();
                async move {
                    match skip {
                        Some(output) => super::ToolOutput::error(output),
                        None => self.run_call(&ctx, &calls[k]).await,
                    }
                }
            }));
            tokio::pin!(batch);
            let outs = loop {
                tokio::select! {
                    outs = &mut batch => break outs,
                    Some(event) = rx.recv() => sink(event),
                }
            };
            while let Ok(event) = rx.try_recv() {
                sink(event);
            }
            for (k, out) in (i..end).zip(outs) {
                let call = &calls[k];
                let (id, output, failed) = (call.id.clone(), out.output.clone(), out.is_error);
                let result = self
                    .db(move |s| s.add_tool_result(session_id, &id, &output, failed))
                    .await?;
                sink(TurnEvent::ItemAdded {
                    item: Box::new(result),
                });
                results.push(ToolResult {
                    call_id: call.id.clone(),
                    kind: call.kind,
                    output: out.output,
                    is_error: out.is_error,
                });
            }
            i = end;
        }
        Ok(results)
    }

    /// Runs one call: through the agent's tools, or the runner the engine was given.
    async fn run_call(&self, ctx: &CallCtx<'_>, call: &ToolCall) -> super::ToolOutput {
        let stopped = || super::ToolOutput::error("not run: the user stopped the turn");
        if ctx.cancel.is_cancelled() {
            return stopped();
        }
        if self.agent {
            // Stops itself (a command is killed, a question denied) and says so.
            return self.run_agent_call(ctx, call).await;
        }
        match &self.tools {
            Some(runner) => tokio::select! {
                biased;
                _ = ctx.cancel.cancelled() => stopped(),
                out = runner.run(ctx.root, call) => out,
            },
            None => super::ToolOutput::error("no tools are available"),
        }
    }

    /// Streams one request's answer into `item`: frame-sized batches, blocks and edit
    /// reviews through its live view, the text written to the store as it grows.
    /// Cancelling stops the stream and keeps what arrived.
    async fn stream_answer(
        &self,
        item: Item,
        root: &Path,
        slot: &SlotClient,
        request: ModelRequest,
        sink: &mut Sink<'_>,
        cancel: &CancellationToken,
    ) -> Result<Answered, CoreError> {
        let item_id = item.id;
        // Edits are planned against the project while the answer streams; a project
        // that no longer opens just means no review.
        let dir = ProjectDir::open(root).ok();
        let sent = Instant::now();
        let mut live = LiveAnswer::new(item_id, self.live_view, sent);
        // What the calls are read against: the tools this request offered.
        let offered = request.tools.clone();
        let mut stream = with_retries(slot.client.clone(), request, self.retry);
        let mut usage: Option<Usage> = None;
        let mut reasoning = String::new();
        let mut calls = ToolCalls::default();
        // A free-text `apply_patch` (Codex models on the Responses API) streams into
        // the review as the model writes it: its file operations planned as they
        // complete, shown against this answer until the call's own review replaces it.
        let mut live_patch: Option<(String, flint_edit::AnswerParser, Vec<Edit>)> = None;
        let mut previewed = false;
        let mut first_token: Option<Instant> = None;
        let mut cut_off = false;
        let mut last_persist = sent;
        let mut persisted_len = 0;
        let mut tick = tokio::time::interval(FRAME);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

        let outcome: Result<(), Option<ModelError>> = loop {
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break Err(None),
                event = stream.next() => match event {
                    Some(Ok(ModelEvent::TextDelta(t))) => {
                        first_token.get_or_insert_with(Instant::now);
                        let pushed = live.push(&t, unix_ms_f64());
                        if pushed.edits_changed {
                            // The text before the edit goes out first.
                            if let Some(e) = pushed.before_review {
                                sink(e);
                            }
                            let (shown, errors) = live.edits_shown();
                            if let Some(review) = self.review_now(item_id, &dir, &shown, errors).await {
                                sink(TurnEvent::Review { review: Box::new(review) });
                            }
                        }
                    }
                    Some(Ok(ModelEvent::Usage(u))) => usage = Some(u),
                    Some(Ok(ModelEvent::Retrying { attempt, after, reason })) => {
                        sink(TurnEvent::Retrying {
                            item_id,
                            attempt,
                            after_ms: after.as_millis() as u64,
                            reason,
                        });
                    }
                    Some(Ok(ModelEvent::ReasoningDelta(t))) => reasoning.push_str(&t),
                    Some(Ok(e @ (ModelEvent::ToolCallStart { .. } | ModelEvent::ToolCallDelta { .. }))) => {
                        calls.push(&e);
                        match &e {
                            ModelEvent::ToolCallStart { id, name, kind }
                                if name == "apply_patch" && *kind == ToolKind::Custom && self.agent && self.live_view =>
                            {
                                live_patch = Some((id.clone(), flint_edit::AnswerParser::new(), Vec::new()));
                            }
                            ModelEvent::ToolCallDelta { id, arguments } => {
                                if let Some((_, parser, done)) = live_patch.as_mut().filter(|(p, ..)| p == id) {
                                    let completed = parser.push(arguments);
                                    let partial = parser.provisional();
                                    if !completed.is_empty() || partial.is_some() {
                                        done.extend(completed);
                                        let mut shown = done.clone();
                                        shown.extend(partial.unwrap_or_default());
                                        if let Some(review) = self.review_now(item_id, &dir, &shown, &[]).await {
                                            previewed = true;
                                            sink(TurnEvent::Review { review: Box::new(review) });
                                        }
                                    }
                                }
                            }
                            _ => {}
                        }
                    }
                    Some(Ok(ModelEvent::Finished { reason })) => {
                        cut_off = flint_model::cut_off(reason.as_deref());
                        break Ok(());
                    }
                    None => break Ok(()),
                    Some(Err(e)) => break Err(Some(e)),
                },
                // Wakes the loop while something waits to be sent or saved, so a pause
                // in the stream delays neither.
                _ = tick.tick(), if live.has_pending() || persisted_len != live.text().len() => {}
            }
            for e in live.due() {
                sink(e);
            }
            if persisted_len != live.text().len() && last_persist.elapsed() >= PERSIST_EVERY {
                let snapshot = live.text().to_string();
                persisted_len = snapshot.len();
                self.db(move |s| s.update_item(item_id, &snapshot, ItemStatus::Streaming, None))
                    .await?;
                last_persist = Instant::now();
            }
        };
        drop(stream); // closes the connection at once when cancelled
                      // The patch's last operation completes with its input.
        if let (Some((_, mut parser, mut done)), Ok(())) = (live_patch.take(), &outcome) {
            let completed = parser.finish();
            if !completed.is_empty() {
                done.extend(completed);
                if let Some(review) = self.review_now(item_id, &dir, &done, &[]).await {
                    previewed = true;
                    sink(TurnEvent::Review {
                        review: Box::new(review),
                    });
                }
            }
        }
        let (rest, redo) = live.finish();
        for e in rest {
            sink(e);
        }
        if redo {
            let (edits, errors): (Vec<Edit>, Vec<String>) = {
                let (e, r) = live.edits();
                (e.to_vec(), r.to_vec())
            };
            if let Some(review) = self.review_now(item_id, &dir, &edits, &errors).await {
                sink(TurnEvent::Review {
                    review: Box::new(review),
                });
            }
        }

        let (status, error) = match outcome {
            Ok(()) if cut_off => (ItemStatus::Truncated, None),
            Ok(()) => (ItemStatus::Complete, None),
            Err(None) => (ItemStatus::Cancelled, None),
            Err(Some(e)) => (ItemStatus::Failed, Some(ErrorInfo::from(&e))),
        };
        let text = live.text().to_string();
        let metrics = metrics(sent, first_token, usage, &text);
        let message = error.as_ref().map(|e| e.message.clone());
        let saved_metrics = metrics.clone();
        let reasoning = (!reasoning.is_empty()).then_some(reasoning);
        let saved_reasoning = reasoning.clone();
        let calls = as_offered(calls.into_calls(), &offered);
        // The calls as the model made them, kept with the answer too (a turn without
        // a tool runner runs none; with one, each also becomes an item when it runs).
        let saved_calls = (!calls.is_empty()).then(|| {
            let list: Vec<serde_json::Value> = calls
                .iter()
                .map(|c| serde_json::json!({ "id": c.id, "name": c.name, "arguments": c.input }))
                .collect();
            serde_json::Value::Array(list).to_string()
        });
        let item = self
            .db(move |s| {
                s.update_item(item_id, &text, status, message.as_deref())?;
                s.set_metrics(item_id, &saved_metrics)?;
                s.set_extras(item_id, saved_reasoning.as_deref(), saved_calls.as_deref())?;
                s.item(item_id)
            })
            .await?;
        Ok(Answered {
            item,
            status,
            error,
            metrics,
            reasoning,
            calls,
            previewed,
        })
    }

    /// Plans the edits so far against the project, off the executor.
    async fn review_now(
        &self,
        item_id: i64,
        dir: &Option<ProjectDir>,
        edits: &[Edit],
        errors: &[String],
    ) -> Option<crate::review::Review> {
        let dir = dir.clone()?;
        let (edits, errors) = (edits.to_vec(), errors.to_vec());
        tokio::task::spawn_blocking(move || {
            crate::review::review_of(item_id, &dir, &edits, &errors).1
        })
        .await
        .ok()
    }
}

/// Calls as the tools were offered: where a free-text tool had to be offered as a
/// function taking `input` (Chat Completions, Anthropic), its call's `{"input": ...}`
/// is its text again, a custom call, as on the Responses API.
fn as_offered(calls: Vec<ToolCall>, tools: &[flint_model::ToolSpec]) -> Vec<ToolCall> {
    calls
        .into_iter()
        .map(|mut call| {
            let free = tools.iter().any(|t| {
                t.name == call.name && matches!(t.input, flint_model::ToolInput::Freeform { .. })
            });
            if free && call.kind == ToolKind::Function {
                let text = serde_json::from_str::<serde_json::Value>(&call.input)
                    .ok()
                    .and_then(|v| v["input"].as_str().map(str::to_owned));
                if let Some(text) = text {
                    call.input = text;
                    call.kind = ToolKind::Custom;
                }
            }
            call
        })
        .collect()
}

fn metrics(sent: Instant, first: Option<Instant>, usage: Option<Usage>, text: &str) -> Metrics {
    let end = Instant::now();
    let ttft = first.map(|f| f.duration_since(sent));
    let output = usage
        .map(|u| u.output_tokens)
        .filter(|&n| n > 0)
        .unwrap_or_else(|| (text.len() as u64).div_ceil(4));
    let tokens_per_sec = first.and_then(|f| {
        let secs = end.duration_since(f).as_secs_f64();
        (secs > 0.0 && output > 1).then(|| output as f64 / secs)
    });
    Metrics {
        ttft_ms: ttft.map(|d| d.as_secs_f64() * 1000.0),
        tokens_per_sec,
        input_tokens: usage.map(|u| u.input_tokens),
        output_tokens: usage.map(|u| u.output_tokens),
    }
}

/// A session's title: the first line of its first prompt, shortened.
fn title_from(prompt: &str) -> String {
    let line = prompt.lines().next().unwrap_or_default().trim();
    let mut t: String = line.chars().take(60).collect();
    if line.chars().count() > 60 {
        t.push('…');
    }
    t
}

/// Now, in Unix milliseconds with sub-millisecond precision (what a webview's
/// `performance.timeOrigin + performance.now()` is comparable to).
fn unix_ms_f64() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_are_the_first_line_shortened() {
        assert!(title_from(&"x".repeat(100)).ends_with('…'));
        assert_eq!(title_from("fix the parser\nplease"), "fix the parser");
    }
}

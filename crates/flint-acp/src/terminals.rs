//! The client terminals an agent creates (`terminal/*`): each a command run through
//! flint-exec (its process group, its bounds, the sandbox the host chose), its output
//! kept up to the agent's byte limit (the end kept) and streamed to the host as it
//! comes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::connection::{Incoming, Queue};
use crate::AgentEvent;

/// Output kept per terminal: the agent's limit, at most this.
const MAX_LIMIT: u64 = 1024 * 1024;
/// Terminals an agent may hold at once (running or not yet released).
pub(crate) const MAX_TERMINALS: usize = 16;

struct Term {
    output: Mutex<(String, bool)>,
    limit: usize,
    exit: watch::Receiver<Option<Value>>,
    cancel: CancellationToken,
}

#[derive(Default)]
pub(crate) struct Terminals {
    next: AtomicU64,
    map: Mutex<HashMap<String, Arc<Term>>>,
}

impl Terminals {
    /// Starts `cmd`; its id, or none when the agent holds too many terminals.
    pub fn start(
        &self,
        cmd: flint_exec::Command,
        limit: Option<u64>,
        events: Queue,
    ) -> Option<String> {
        if self.map.lock().map_or(true, |m| m.len() >= MAX_TERMINALS) {
            return None;
        }
        let id = format!(
            "flint-term-{}",
            self.next.fetch_add(1, Ordering::Relaxed) + 1
        );
        let (exit_tx, exit) = watch::channel(None);
        let limit = usize::try_from(limit.unwrap_or(MAX_LIMIT).min(MAX_LIMIT)).unwrap_or(0);
        let term = Arc::new(Term {
            output: Mutex::new((String::new(), false)),
            limit,
            exit,
            cancel: CancellationToken::new(),
        });
        if let Ok(mut m) = self.map.lock() {
            m.insert(id.clone(), term.clone());
        }
        let tid = id.clone();
        tokio::spawn(async move {
            let mut on_output = |text: &str| {
                if let Ok(mut o) = term.output.lock() {
                    o.0.push_str(text);
                    if o.0.len() > term.limit {
                        let mut cut = o.0.len() - term.limit;
                        while !o.0.is_char_boundary(cut) {
                            cut += 1;
                        }
                        o.0.drain(..cut);
                        o.1 = true;
                    }
                }
                events.push(Incoming::Event(AgentEvent::Output {
                    terminal_id: tid.clone(),
                    data: text.to_string(),
                }));
            };
            let status = match flint_exec::run(&cmd, &mut on_output, &term.cancel).await {
                Ok(done) => json!({
                    "exitCode": done.code,
                    "signal": match done.ended {
                        flint_exec::Ended::Exited => Value::Null,
                        _ => json!("SIGKILL"),
                    }
                }),
                Err(e) => {
                    on_output(&format!("{e}\n"));
                    json!({ "exitCode": 127, "signal": null })
                }
            };
            let _ = exit_tx.send(Some(status));
        });
        Some(id)
    }

    fn get(&self, id: &str) -> Option<Arc<Term>> {
        self.map.lock().ok().and_then(|m| m.get(id).cloned())
    }

    /// `terminal/output`'s answer.
    pub fn output(&self, id: &str) -> Option<Value> {
        let t = self.get(id)?;
        let (text, truncated) = t.output.lock().map(|o| o.clone()).unwrap_or_default();
        let exit = t.exit.borrow().clone();
        Some(json!({ "output": text, "truncated": truncated, "exitStatus": exit }))
    }

    /// The terminal's exit status as it becomes known.
    pub fn exit_of(&self, id: &str) -> Option<watch::Receiver<Option<Value>>> {
        self.get(id).map(|t| t.exit.clone())
    }

    pub fn kill(&self, id: &str) {
        if let Some(t) = self.get(id) {
            t.cancel.cancel();
        }
    }

    /// Kills it (if running) and forgets it.
    pub fn release(&self, id: &str) {
        let t = self.map.lock().ok().and_then(|mut m| m.remove(id));
        if let Some(t) = t {
            t.cancel.cancel();
        }
    }

    pub fn kill_all(&self) {
        if let Ok(m) = self.map.lock() {
            for t in m.values() {
                t.cancel.cancel();
            }
        }
    }
}

//! One running agent: its process, the protocol, and what crosses it.
//!
//! The SDK's dispatch loop runs the handlers one message at a time; every handler here
//! only turns the message into an [`Incoming`] and queues it (never waits), so updates
//! and requests reach the host in the order the agent sent them, and a request the
//! host takes minutes to answer (a permission the user thinks about) holds nothing up.
//! The answer to `session/prompt` is routed after every update sent before it, so once
//! it arrives everything the turn said is already queued.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use agent_client_protocol::schema::ProtocolVersion;
use agent_client_protocol::v1::schema::{
    AuthenticateRequest, CancelNotification, CreateTerminalRequest, KillTerminalRequest,
    PromptRequest, ReadTextFileRequest, ReleaseTerminalRequest, RequestPermissionRequest,
    RequestPermissionResponse, SessionNotification, SetSessionModeRequest, TerminalOutputRequest,
    WaitForTerminalExitRequest, WriteTextFileRequest,
};
use agent_client_protocol::v1::ConnectionTo;
use agent_client_protocol::{Agent, Client, Lines};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::{mpsc, oneshot};

use flint_exec::{Service, ServiceSpec};

use crate::terminals::Terminals;
use crate::{
    AcpError, AgentEvent, Diff, PermissionOption, Reply, Request, TerminalAsk, ToolCallInfo,
};

/// The longest line (one JSON-RPC message) read from an agent: a whole file written
/// through `fs/write_text_file` is one line.
pub const MAX_LINE: usize = 32 * 1024 * 1024;
/// How long an agent may take to start and to set up a session (node agents load
/// slowly on a cold disk).
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// What comes from the agent, in its order.
#[derive(Debug)]
pub enum Incoming {
    Event(AgentEvent),
    Request(Request),
    /// A line that is not JSON (the agent's stdout polluted, or broken): not passed on.
    Malformed(String),
}

impl Incoming {
    /// About how many bytes it holds (what the queue and a turn's bound count).
    pub fn weight(&self) -> usize {
        let json = |v: &Option<Value>| v.as_ref().map_or(0, |v| v.to_string().len());
        let call = |c: &ToolCallInfo| {
            c.title.as_ref().map_or(0, String::len)
                + c.diffs
                    .iter()
                    .map(|d| d.new_text.len() + d.old_text.as_ref().map_or(0, String::len))
                    .sum::<usize>()
                + c.text.iter().map(String::len).sum::<usize>()
                + json(&c.raw_input)
                + json(&c.raw_output)
        };
        64 + match self {
            Self::Event(AgentEvent::Text { text, .. }) | Self::Event(AgentEvent::Thought(text)) => {
                text.len()
            }
            Self::Event(AgentEvent::Call(c)) | Self::Event(AgentEvent::CallUpdate(c)) => call(c),
            Self::Event(AgentEvent::Output { data, .. }) => data.len(),
            Self::Event(AgentEvent::Plan(v)) => v.to_string().len(),
            Self::Event(_) => 0,
            Self::Request(Request::WriteFile { content, .. }) => content.len(),
            Self::Request(Request::Permission { call: c, .. }) => call(c),
            Self::Request(_) => 0,
            Self::Malformed(line) => line.len(),
        }
    }
}

/// The most the queue from the agent holds, in bytes, before the agent waits (its
/// stdout is not read meanwhile): an agent that sends faster than Flint takes, or
/// sends between turns when nothing takes, is held back instead of filling memory.
const MAX_QUEUED: usize = 64 * 1024 * 1024;

/// The queue from the agent's handlers to the host, bounded by `MAX_QUEUED` bytes.
#[derive(Clone)]
pub(crate) struct Queue {
    tx: mpsc::UnboundedSender<(usize, Incoming)>,
    bytes: Arc<std::sync::atomic::AtomicUsize>,
}

impl Queue {
    /// Queues `m`, first waiting while the queue is full (holding the dispatch loop:
    /// the agent's next messages wait in its pipe).
    async fn send(&self, m: Incoming) {
        use std::sync::atomic::Ordering;
        let w = m.weight();
        while self.bytes.load(Ordering::Acquire) > MAX_QUEUED && !self.tx.is_closed() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        self.bytes.fetch_add(w, Ordering::AcqRel);
        if self.tx.send((w, m)).is_err() {
            self.bytes.fetch_sub(w, Ordering::AcqRel);
        }
    }

    /// Queues without waiting (from a reply, off the dispatch loop).
    pub(crate) fn push(&self, m: Incoming) {
        let w = m.weight();
        self.bytes.fetch_add(w, std::sync::atomic::Ordering::AcqRel);
        let _ = self.tx.send((w, m));
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuthMethod {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    /// Variables the agent reads the credential from (an `env_var` method: the user
    /// gives the value, the agent is started with it to sign in); none for a method the
    /// agent runs itself (a browser sign-in).
    pub vars: Vec<String>,
}

/// Who the agent is, from `initialize`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AgentInfo {
    pub name: String,
    pub title: Option<String>,
    pub version: Option<String>,
    pub auth_methods: Vec<AuthMethod>,
    pub load_session: bool,
}

/// A model (or another choice of the agent's) a session can use.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelChoice {
    pub id: String,
    pub name: String,
}

/// A session the agent made or loaded.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SessionSetup {
    pub id: String,
    /// The agent's modes (id, name) and the current one.
    pub modes: Vec<ModelChoice>,
    pub current_mode: Option<String>,
    pub models: Vec<ModelChoice>,
    pub current_model: Option<String>,
    /// The config option that picks the model (`session/set_config_option`).
    pub model_option: Option<String>,
}

/// How a prompt ended: `end_turn`, `max_tokens`, `max_turn_requests`, `refusal`,
/// `cancelled`.
pub type PromptEnd = Result<String, AcpError>;

/// A running agent. Dropping it kills its process group.
pub struct Connection {
    cx: ConnectionTo<Agent>,
    service: Service,
    incoming: mpsc::UnboundedReceiver<(usize, Incoming)>,
    queued: Arc<std::sync::atomic::AtomicUsize>,
    terminals: Arc<Terminals>,
    pub info: AgentInfo,
    /// Ends the connection's foreground (and so the connection) when dropped.
    _stop: oneshot::Sender<()>,
}

impl Connection {
    /// Starts the agent and initializes it (offering Flint's file system and
    /// terminals).
    pub async fn start(spec: &ServiceSpec) -> Result<Self, AcpError> {
        let (service, stdin, stdout) = Service::start(spec).map_err(|e| {
            AcpError::Start(format!("{} could not start: {e}", spec.program.display()))
        })?;
        let (tx, incoming) = mpsc::unbounded_channel();
        let queued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tx = Queue {
            tx,
            bytes: queued.clone(),
        };
        let terminals = Arc::new(Terminals::default());
        let transport = Lines::new(line_sink(stdin), line_stream(stdout));
        let (cx_tx, cx_rx) = oneshot::channel();
        let (stop, stop_rx) = oneshot::channel::<()>();
        let builder = handlers(Client.v1().name("flint"), tx, terminals.clone());
        tokio::spawn(async move {
            let _ = builder
                .connect_with(transport, async move |cx: ConnectionTo<Agent>| {
                    let _ = cx_tx.send(cx);
                    let _ = stop_rx.await;
                    Ok(())
                })
                .await;
        });
        let cx = cx_rx
            .await
            .map_err(|_| AcpError::Start("the connection to the agent did not open".into()))?;
        let mut conn = Self {
            cx,
            service,
            incoming,
            queued,
            terminals,
            info: AgentInfo {
                name: String::new(),
                title: None,
                version: None,
                auth_methods: Vec::new(),
                load_session: false,
            },
            _stop: stop,
        };
        // Sent and read as JSON: the SDK's stable types drop what Flint reads of the
        // answer (`env_var` sign-in methods and their variables).
        let init = json!({
            "protocolVersion": ProtocolVersion::V1,
            "clientCapabilities": {
                "fs": { "readTextFile": true, "writeTextFile": true },
                "terminal": true,
                // Codex's adapter streams the output of the commands it runs itself
                // when a client says it shows terminal output (Zed's extension).
                "_meta": { "terminal_output": true }
            },
            "clientInfo": { "name": "flint", "title": "Flint", "version": env!("CARGO_PKG_VERSION") }
        });
        let answer = conn.request_raw("initialize", init).await?;
        conn.info = agent_info(&answer);
        Ok(conn)
    }

    /// Sends a request and waits for its answer (or the agent's end, or `limit`).
    async fn request<Req>(
        &mut self,
        what: &'static str,
        req: Req,
        limit: Duration,
    ) -> Result<Req::Response, AcpError>
    where
        Req: agent_client_protocol::JsonRpcRequest,
    {
        let sent = self.cx.send_request(req).block_task();
        match tokio::time::timeout(limit, sent).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(self.error_of(e)),
            Err(_) => Err(AcpError::Timeout {
                what,
                secs: limit.as_secs(),
            }),
        }
    }

    /// Sends a request as JSON (method and params) and returns its answer as JSON.
    async fn request_raw(
        &mut self,
        method: &'static str,
        params: Value,
    ) -> Result<Value, AcpError> {
        let msg = agent_client_protocol::UntypedMessage::new(method, params)
            .map_err(|e| AcpError::Protocol(e.to_string()))?;
        self.request(method, msg, SETUP_TIMEOUT).await
    }

    /// An SDK error as Flint says it: the agent's own, or its end (with its stderr).
    fn error_of(&mut self, e: agent_client_protocol::Error) -> AcpError {
        if let Some(status) = self.service.exited() {
            return AcpError::Exited(format!("{status}{}", stderr_said(&self.service)));
        }
        let code = i32::from(e.code);
        // The SDK's own failures (the transport closed, a bad frame) are local errors.
        if code == -32700 || e.message.contains("transport") || e.message.contains("closed") {
            return AcpError::Protocol(format!("{}{}", e.message, stderr_said(&self.service)));
        }
        AcpError::Agent {
            code,
            message: e
                .data
                .as_ref()
                .and_then(|d| d["message"].as_str().or(d.as_str()))
                .map(|m| format!("{}: {m}", e.message))
                .unwrap_or_else(|| e.message.clone()),
            data: e.data.as_ref().map(Value::to_string),
        }
    }

    /// Signs in with one of `info.auth_methods` (a browser flow, or a key from the
    /// environment, as the method says).
    pub async fn authenticate(&mut self, method: &str) -> Result<(), AcpError> {
        let req: AuthenticateRequest = typed(json!({ "methodId": method }))?;
        // A browser sign-in waits for the user.
        self.request("authenticate", req, Duration::from_secs(600))
            .await
            .map(|_| ())
    }

    /// A new session in `cwd`, handed Flint's MCP servers (ACP's `McpServer` shapes).
    pub async fn new_session(
        &mut self,
        cwd: &Path,
        mcp_servers: &[Value],
    ) -> Result<SessionSetup, AcpError> {
        // As JSON: the answer's `models` (what Codex lists) is not in the SDK's stable
        // types.
        let v = self
            .request_raw(
                "session/new",
                json!({ "cwd": cwd, "mcpServers": mcp_servers }),
            )
            .await?;
        Ok(session_setup(
            v["sessionId"].as_str().unwrap_or_default(),
            &v,
        ))
    }

    /// Loads an earlier session; the history it replays is dropped (Flint has it).
    pub async fn load_session(
        &mut self,
        id: &str,
        cwd: &Path,
        mcp_servers: &[Value],
    ) -> Result<SessionSetup, AcpError> {
        let v = self
            .request_raw(
                "session/load",
                json!({ "sessionId": id, "cwd": cwd, "mcpServers": mcp_servers }),
            )
            .await?;
        while self.try_next().is_some() {}
        Ok(session_setup(id, &v))
    }

    /// Picks the session's model: through its config option where it has one, else
    /// `session/set_model`.
    pub async fn set_model(&mut self, setup: &SessionSetup, model: &str) -> Result<(), AcpError> {
        match &setup.model_option {
            Some(option) => self.set_config_option(&setup.id, option, model).await,
            None => self
                .request_raw(
                    "session/set_model",
                    json!({ "sessionId": setup.id, "modelId": model }),
                )
                .await
                .map(|_| ()),
        }
    }

    /// Sets one of the session's config options (the model) to `value`.
    pub async fn set_config_option(
        &mut self,
        session: &str,
        option: &str,
        value: &str,
    ) -> Result<(), AcpError> {
        self.request_raw(
            "session/set_config_option",
            json!({ "sessionId": session, "configId": option, "value": value }),
        )
        .await
        .map(|_| ())
    }

    pub async fn set_mode(&mut self, session: &str, mode: &str) -> Result<(), AcpError> {
        let req: SetSessionModeRequest = typed(json!({ "sessionId": session, "modeId": mode }))?;
        self.request("session/set_mode", req, SETUP_TIMEOUT)
            .await
            .map(|_| ())
    }

    /// Sends a prompt; its end (the stop reason) arrives on the receiver, after every
    /// update the turn sent is queued.
    pub fn prompt(&mut self, session: &str, text: &str) -> oneshot::Receiver<PromptEnd> {
        let (done, end) = oneshot::channel();
        let req: Result<PromptRequest, _> = typed(json!({
            "sessionId": session,
            "prompt": [{ "type": "text", "text": text }]
        }));
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                let _ = done.send(Err(e));
                return end;
            }
        };
        let sent = self.cx.send_request(req).block_task();
        tokio::spawn(async move {
            let answer = sent.await.map(|r| {
                serde_json::to_value(&r).unwrap_or_default()["stopReason"]
                    .as_str()
                    .unwrap_or("end_turn")
                    .to_string()
            });
            let _ = done.send(answer.map_err(|e| {
                AcpError::Agent {
                    code: i32::from(e.code),
                    message: e
                        .data
                        .as_ref()
                        .and_then(|d| d["message"].as_str().or(d.as_str()))
                        .map(|m| format!("{}: {m}", e.message))
                        .unwrap_or(e.message),
                    data: None,
                }
            }));
        });
        end
    }

    /// Asks the agent to stop the turn (`session/cancel`); its prompt then ends with
    /// `cancelled`.
    pub fn cancel(&self, session: &str) {
        if let Ok(n) = typed::<CancelNotification>(json!({ "sessionId": session })) {
            let _ = self.cx.send_notification(n);
        }
        self.terminals.kill_all();
    }

    /// The next thing the agent said or asked; none once the connection ended.
    /// With its weight (`Incoming::weight`, measured once, as it was queued).
    pub async fn next(&mut self) -> Option<(Incoming, usize)> {
        let (w, m) = self.incoming.recv().await?;
        self.queued
            .fetch_sub(w, std::sync::atomic::Ordering::AcqRel);
        Some((m, w))
    }

    /// What the agent said since, without waiting (with its weight).
    pub fn try_next(&mut self) -> Option<(Incoming, usize)> {
        let (w, m) = self.incoming.try_recv().ok()?;
        self.queued
            .fetch_sub(w, std::sync::atomic::Ordering::AcqRel);
        Some((m, w))
    }

    /// Ends every command running in a Flint terminal of this agent.
    pub fn kill_terminals(&self) {
        self.terminals.kill_all();
    }

    /// Why the connection ended (its process's status and stderr), if it did.
    pub fn ended(&mut self) -> Option<AcpError> {
        let status = self.service.exited()?;
        Some(AcpError::Exited(format!(
            "{status}{}",
            stderr_said(&self.service)
        )))
    }

    /// Waits for the process to exit, at most `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> bool {
        tokio::time::timeout(limit, self.service.wait())
            .await
            .is_ok()
    }

    /// Ends the agent: SIGTERM to its group, SIGKILL after `grace`.
    pub async fn shutdown(mut self, grace: Duration) {
        self.terminals.kill_all();
        self.service.terminate(grace).await;
    }

    /// Kills the agent's group at once.
    pub fn kill(&mut self) {
        self.terminals.kill_all();
        self.service.kill();
    }

    pub fn program(&self) -> &Path {
        self.service.program()
    }

    pub fn stderr_tail(&self) -> String {
        self.service.stderr_tail()
    }
}

/// ", saying: <the end of its stderr>" where it said anything.
fn stderr_said(service: &Service) -> String {
    let tail = service.stderr_tail();
    let tail = tail.trim();
    if tail.is_empty() {
        return String::new();
    }
    let lines: Vec<&str> = tail.lines().collect();
    // Where it says what went wrong (before a backtrace), else its last lines.
    let cause = lines.iter().position(|l| {
        let l = l.trim_start();
        l.starts_with("Error") || l.starts_with("error") || l.contains("panicked at")
    });
    let shown = match cause {
        Some(i) => &lines[i..lines.len().min(i + 8)],
        None => &lines[lines.len().saturating_sub(8)..],
    };
    format!(", saying:\n{}", shown.join("\n"))
}

/// Builds a protocol type from its JSON (the schema's own serde names).
fn typed<T: DeserializeOwned>(v: Value) -> Result<T, AcpError> {
    serde_json::from_value(v).map_err(|e| AcpError::Protocol(format!("building a message: {e}")))
}

fn agent_info(v: &Value) -> AgentInfo {
    let info = &v["agentInfo"];
    AgentInfo {
        name: info["name"].as_str().unwrap_or("agent").to_string(),
        title: info["title"].as_str().map(str::to_owned),
        version: info["version"].as_str().map(str::to_owned),
        auth_methods: v["authMethods"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| {
                        Some(AuthMethod {
                            id: m["id"].as_str()?.to_string(),
                            name: m["name"].as_str().unwrap_or_default().to_string(),
                            description: m["description"].as_str().map(str::to_owned),
                            vars: m["vars"]
                                .as_array()
                                .map(|v| {
                                    v.iter()
                                        .filter_map(|x| x["name"].as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                    })
                    .collect()
            })
            .unwrap_or_default(),
        load_session: v["agentCapabilities"]["loadSession"]
            .as_bool()
            .unwrap_or(false),
    }
}

/// The modes and models a `session/new` (or `session/load`) answer offers: `modes`
/// and `models` where the agent sends them, else its select config options of those
/// categories.
fn session_setup(id: &str, v: &Value) -> SessionSetup {
    let choices = |list: &Value, id_key: &str| -> Vec<ModelChoice> {
        list.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|m| {
                        let id = m[id_key].as_str().or(m["value"].as_str())?.to_string();
                        let name = m["name"].as_str().unwrap_or(&id).to_string();
                        Some(ModelChoice { id, name })
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let option = |category: &str| {
        v["configOptions"].as_array().and_then(|a| {
            a.iter()
                .find(|o| o["category"] == category || o["id"] == category)
                .cloned()
        })
    };
    let mut modes = choices(&v["modes"]["availableModes"], "id");
    let mut current_mode = v["modes"]["currentModeId"].as_str().map(str::to_owned);
    if modes.is_empty() {
        if let Some(o) = option("mode") {
            modes = choices(&o["options"], "value");
            current_mode = o["currentValue"].as_str().map(str::to_owned);
        }
    }
    // Models as a config option of category `model` (stable ACP), else as the
    // session's `models` (set with `session/set_model`).
    let (models, current_model, model_option) = match option("model") {
        Some(o) => (
            choices(&o["options"], "value"),
            o["currentValue"].as_str().map(str::to_owned),
            o["id"].as_str().map(str::to_owned),
        ),
        None => (
            choices(&v["models"]["availableModels"], "modelId"),
            v["models"]["currentModelId"].as_str().map(str::to_owned),
            None,
        ),
    };
    SessionSetup {
        id: id.to_string(),
        modes,
        current_mode,
        models,
        current_model,
        model_option,
    }
}

/// Writes each message as one line.
fn line_sink(
    stdin: ChildStdin,
) -> impl futures_util::Sink<String, Error = std::io::Error> + Send + 'static {
    futures_util::sink::unfold(stdin, async |mut w, line: String| {
        w.write_all(line.as_bytes()).await?;
        w.write_all(b"\n").await?;
        w.flush().await?;
        Ok::<_, std::io::Error>(w)
    })
}

/// The notification a line that is not JSON is replaced with.
const MALFORMED: &str = "_flint/malformed";

/// Reads lines of at most `MAX_LINE` bytes (a longer one ends the connection: an
/// agent cannot make Flint hold an unbounded line); lines that are not JSON are
/// reported to the host and not passed on; blank lines are skipped.
fn line_stream(
    stdout: ChildStdout,
) -> impl futures_util::Stream<Item = std::io::Result<String>> + Send + 'static {
    futures_util::stream::unfold(
        (BufReader::with_capacity(64 * 1024, stdout), false),
        async |(mut r, failed)| {
            if failed {
                return None;
            }
            loop {
                match read_line(&mut r, MAX_LINE).await {
                    Ok(None) => return None,
                    Ok(Some(line)) => {
                        let trimmed = line.trim();
                        if trimmed.is_empty() {
                            continue;
                        }
                        if serde_json::from_str::<serde::de::IgnoredAny>(trimmed).is_err() {
                            // Passed on in its place, in order, as a notification of
                            // Flint's own the host is told of.
                            let shown: String = trimmed.chars().take(200).collect();
                            let note = json!({
                                "jsonrpc": "2.0",
                                "method": MALFORMED,
                                "params": { "line": shown }
                            });
                            return Some((Ok(note.to_string()), (r, false)));
                        }
                        return Some((Ok(line), (r, false)));
                    }
                    Err(e) => return Some((Err(e), (r, true))),
                }
            }
        },
    )
}

/// One line without its `\n`, or none at the end; an error past `max` bytes or for
/// bytes that are not UTF-8.
async fn read_line(r: &mut BufReader<ChildStdout>, max: usize) -> std::io::Result<Option<String>> {
    let mut line = Vec::new();
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            if line.is_empty() {
                return Ok(None);
            }
            break;
        }
        match buf.iter().position(|&b| b == b'\n') {
            Some(i) => {
                line.extend_from_slice(&buf[..i]);
                r.consume(i + 1);
                break;
            }
            None => {
                let n = buf.len();
                line.extend_from_slice(buf);
                r.consume(n);
            }
        }
        if line.len() > max {
            return Err(std::io::Error::other(format!(
                "a message longer than {} MiB",
                max / (1024 * 1024)
            )));
        }
    }
    if line.len() > max {
        return Err(std::io::Error::other(format!(
            "a message longer than {} MiB",
            max / (1024 * 1024)
        )));
    }
    String::from_utf8(line)
        .map(Some)
        .map_err(|_| std::io::Error::other("a message that is not UTF-8"))
}

/// The client's handlers: each queues what came and returns.
fn handlers(
    b: agent_client_protocol::v1::Builder<Client>,
    tx: Queue,
    terminals: Arc<Terminals>,
) -> agent_client_protocol::v1::Builder<Client, impl agent_client_protocol::HandleDispatchFrom<Agent>>
{
    let t1 = tx.clone();
    let t2 = tx.clone();
    let t3 = tx.clone();
    let t4 = tx.clone();
    let t5 = tx.clone();
    let t6 = tx.clone();
    let (term1, term2, term3, term4, term5) = (
        terminals.clone(),
        terminals.clone(),
        terminals.clone(),
        terminals.clone(),
        terminals,
    );
    b.on_receive_notification(
        async move |n: SessionNotification, _cx| {
            let v = serde_json::to_value(&n.update).unwrap_or_default();
            for e in events_of(&v) {
                t1.send(Incoming::Event(e)).await;
            }
            Ok(())
        },
        agent_client_protocol::on_receive_notification!(),
    )
    .on_receive_request(
        async move |r: RequestPermissionRequest, responder, _cx| {
            let v = serde_json::to_value(&r).unwrap_or_default();
            let call = call_info(&v["toolCall"]);
            let options = v["options"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| PermissionOption {
                            id: o["optionId"].as_str().unwrap_or_default().to_string(),
                            name: o["name"].as_str().unwrap_or_default().to_string(),
                            kind: o["kind"].as_str().unwrap_or_default().to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default();
            let reply = Reply::new(move |answer: Result<Option<String>, String>| {
                let outcome = match answer {
                    Ok(Some(id)) => json!({ "outcome": { "outcome": "selected", "optionId": id } }),
                    _ => json!({ "outcome": { "outcome": "cancelled" } }),
                };
                match typed::<RequestPermissionResponse>(outcome) {
                    Ok(r) => drop(responder.respond(r)),
                    Err(e) => drop(responder.respond_with_error(refusal(e))),
                }
            });
            t2.send(Incoming::Request(Request::Permission {
                call: Box::new(call),
                options,
                reply,
            }))
            .await;
            Ok(())
        },
        agent_client_protocol::on_receive_request!(),
    )
    .on_receive_request(
        async move |r: ReadTextFileRequest, responder, _cx| {
            let reply = Reply::new(move |answer: Result<String, String>| match answer {
                Ok(content) => respond_json(responder, json!({ "content": content })),
                Err(e) => drop(responder.respond_with_error(refusal(e))),
            });
            t3.send(Incoming::Request(Request::ReadFile {
                path: r.path,
                line: r.line,
                limit: r.limit,
                reply,
            }))
            .await;
            Ok(())
        },
        agent_client_protocol::on_receive_request!(),
    )
    .on_receive_request(
        async move |r: WriteTextFileRequest, responder, _cx| {
            let reply = Reply::new(move |answer: Result<(), String>| match answer {
                Ok(()) => respond_json(responder, json!({})),
                Err(e) => drop(responder.respond_with_error(refusal(e))),
            });
            t4.send(Incoming::Request(Request::WriteFile {
                path: r.path,
                content: r.content,
                reply,
            }))
            .await;
            Ok(())
        },
        agent_client_protocol::on_receive_request!(),
    )
    .on_receive_request(
        async move |r: CreateTerminalRequest, responder, _cx| {
            let limit = r.output_byte_limit;
            let events = t5.clone();
            let terms = term1.clone();
            let reply = Reply::new(
                move |answer: Result<flint_exec::Command, String>| match answer {
                    Ok(cmd) => match terms.start(cmd, limit, events) {
                        Some(id) => respond_json(responder, json!({ "terminalId": id })),
                        None => drop(responder.respond_with_error(refusal(format!(
                            "at most {} terminals at once: release one first",
                            crate::terminals::MAX_TERMINALS
                        )))),
                    },
                    Err(e) => drop(responder.respond_with_error(refusal(e))),
                },
            );
            let ask = TerminalAsk {
                command: r.command,
                args: r.args,
                env: r.env.into_iter().map(|e| (e.name, e.value)).collect(),
                cwd: r.cwd,
            };
            t5.send(Incoming::Request(Request::Terminal { ask, reply }))
                .await;
            Ok(())
        },
        agent_client_protocol::on_receive_request!(),
    )
    .on_receive_request(
        async move |r: TerminalOutputRequest, responder, _cx| {
            match term2.output(&r.terminal_id.0) {
                Some(out) => respond_json(responder, out),
                None => drop(responder.respond_with_error(refusal("no such terminal"))),
            }
            Ok(())
        },
        agent_client_protocol::on_receive_request!(),
    )
    .on_receive_request(
        async move |r: WaitForTerminalExitRequest, responder, _cx| {
            // Waits off the dispatch loop.
            match term3.exit_of(&r.terminal_id.0) {
                Some(mut exit) => {
                    tokio::spawn(async move {
                        let status = loop {
                            if let Some(s) = exit.borrow().clone() {
                                break Some(s);
                            }
                            if exit.changed().await.is_err() {
                                break None;
                            }
                        };
                        match status {
                            Some(s) => respond_json(responder, s),
                            None => drop(
                                responder.respond_with_error(refusal("the terminal was released")),
                            ),
                        }
                    });
                }
                None => drop(responder.respond_with_error(refusal("no such terminal"))),
            }
            Ok(())
        },
        agent_client_protocol::on_receive_request!(),
    )
    .on_receive_request(
        async move |r: KillTerminalRequest, responder, _cx| {
            term4.kill(&r.terminal_id.0);
            respond_json(responder, json!({}));
            Ok(())
        },
        agent_client_protocol::on_receive_request!(),
    )
    .on_receive_request(
        async move |r: ReleaseTerminalRequest, responder, _cx| {
            term5.release(&r.terminal_id.0);
            respond_json(responder, json!({}));
            Ok(())
        },
        agent_client_protocol::on_receive_request!(),
    )
    .on_receive_notification(
        async move |n: agent_client_protocol::UntypedMessage, _cx| {
            if n.method == MALFORMED {
                let line = n.params["line"].as_str().unwrap_or_default().to_string();
                t6.send(Incoming::Malformed(line)).await;
            }
            Ok(())
        },
        agent_client_protocol::on_receive_notification!(),
    )
}

/// An error answer carrying Flint's reason as its message (the agent tells its model).
fn refusal(message: impl ToString) -> agent_client_protocol::Error {
    agent_client_protocol::Error::new(-32603, message.to_string())
}

/// Answers with a response built from its JSON.
fn respond_json<T: agent_client_protocol::JsonRpcResponse + DeserializeOwned>(
    responder: agent_client_protocol::v1::Responder<T>,
    v: Value,
) {
    match serde_json::from_value::<T>(v) {
        Ok(r) => drop(responder.respond(r)),
        Err(e) => drop(responder.respond_with_error(refusal(e))),
    }
}

/// What one `session/update` says, as Flint's events (a tool-call update can carry
/// live output and a change at once).
pub(crate) fn events_of(v: &Value) -> Vec<AgentEvent> {
    let text = |c: &Value| -> Option<String> {
        match c["type"].as_str() {
            Some("text") => c["text"].as_str().map(str::to_owned),
            Some("resource_link") => c["uri"].as_str().map(|u| format!("<{u}>")),
            _ => None,
        }
    };
    match v["sessionUpdate"].as_str().unwrap_or_default() {
        "agent_message_chunk" => text(&v["content"])
            .map(|text| AgentEvent::Text {
                text,
                sent_ms: v["_meta"]["flint/sent_ms"].as_f64(),
            })
            .into_iter()
            .collect(),
        "agent_thought_chunk" => text(&v["content"])
            .map(AgentEvent::Thought)
            .into_iter()
            .collect(),
        "tool_call" => vec![AgentEvent::Call(Box::new(call_info(v)))],
        "tool_call_update" => {
            let mut out = Vec::new();
            let meta = &v["_meta"]["terminal_output"];
            if let Some(data) = meta["data"].as_str() {
                out.push(AgentEvent::Output {
                    terminal_id: meta["terminal_id"]
                        .as_str()
                        .or(v["toolCallId"].as_str())
                        .unwrap_or_default()
                        .to_string(),
                    data: data.to_string(),
                });
            }
            let info = call_info(v);
            let changed = ToolCallInfo {
                id: info.id.clone(),
                ..Default::default()
            } != info;
            if changed {
                out.push(AgentEvent::CallUpdate(Box::new(info)));
            }
            out
        }
        "plan" => vec![AgentEvent::Plan(v["entries"].clone())],
        "usage_update" => vec![AgentEvent::Usage {
            used: v["used"].as_u64().unwrap_or(0),
            size: v["size"].as_u64().unwrap_or(0),
        }],
        "current_mode_update" => v["currentModeId"]
            .as_str()
            .map(|m| AgentEvent::Mode(m.to_string()))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

/// A tool call (or update) from its JSON.
pub(crate) fn call_info(v: &Value) -> ToolCallInfo {
    let s = |k: &str| v[k].as_str().map(str::to_owned);
    let mut info = ToolCallInfo {
        id: s("toolCallId").unwrap_or_default(),
        title: s("title"),
        kind: s("kind"),
        status: s("status"),
        raw_input: v.get("rawInput").filter(|x| !x.is_null()).cloned(),
        raw_output: v.get("rawOutput").filter(|x| !x.is_null()).cloned(),
        ..Default::default()
    };
    for c in v["content"].as_array().into_iter().flatten() {
        match c["type"].as_str() {
            Some("diff") => info.diffs.push(Diff {
                path: c["path"].as_str().unwrap_or_default().to_string(),
                old_text: c["oldText"].as_str().map(str::to_owned),
                new_text: c["newText"].as_str().unwrap_or_default().to_string(),
            }),
            Some("terminal") => {
                if let Some(t) = c["terminalId"].as_str() {
                    info.terminals.push(t.to_string());
                }
            }
            Some("content") => {
                if let Some(t) = c["content"]["text"].as_str() {
                    info.text.push(t.to_string());
                }
            }
            _ => {}
        }
    }
    for l in v["locations"].as_array().into_iter().flatten() {
        if let Some(p) = l["path"].as_str() {
            info.locations.push(p.to_string());
        }
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn updates_become_events() {
        let e = events_of(&json!({
            "sessionUpdate": "agent_message_chunk",
            "content": { "type": "text", "text": "hi" }
        }));
        assert_eq!(
            e,
            vec![AgentEvent::Text {
                text: "hi".into(),
                sent_ms: None
            }]
        );
        let e = events_of(&json!({
            "sessionUpdate": "tool_call",
            "toolCallId": "c1", "title": "Edit /p/a.rs", "kind": "edit", "status": "in_progress",
            "content": [{ "type": "diff", "path": "/p/a.rs", "oldText": "a", "newText": "b" }],
            "locations": [{ "path": "/p/a.rs" }]
        }));
        let AgentEvent::Call(c) = &e[0] else {
            panic!("{e:?}")
        };
        assert_eq!(c.diffs[0].new_text, "b");
        assert_eq!(c.locations, vec!["/p/a.rs"]);
        // Codex's live output, with no other change: only the output.
        let e = events_of(&json!({
            "sessionUpdate": "tool_call_update", "toolCallId": "c2",
            "_meta": { "terminal_output": { "terminal_id": "c2", "data": "ok\n" } }
        }));
        assert_eq!(
            e,
            vec![AgentEvent::Output {
                terminal_id: "c2".into(),
                data: "ok\n".into()
            }]
        );
        assert!(events_of(&json!({ "sessionUpdate": "available_commands_update" })).is_empty());
    }

    #[test]
    fn models_and_modes_come_from_config_options() {
        let s = session_setup(
            "s",
            &json!({
                "configOptions": [
                    { "id": "mode", "type": "select", "category": "mode", "currentValue": "auto",
                      "options": [{ "value": "read-only", "name": "Read Only" }, { "value": "auto", "name": "Auto" }] },
                    { "id": "model", "type": "select", "category": "model", "currentValue": "gpt-5.3-codex-spark",
                      "options": [{ "value": "gpt-5.3-codex-spark", "name": "Codex-Spark" }, { "value": "gpt-5.5", "name": "GPT-5.5" }] }
                ]
            }),
        );
        assert_eq!(s.current_mode.as_deref(), Some("auto"));
        assert_eq!(s.modes.len(), 2);
        assert_eq!(s.models[0].name, "Codex-Spark");
        assert_eq!(s.model_option.as_deref(), Some("model"));
        // Modes the agent sends as `modes` come first.
        let s = session_setup(
            "s",
            &json!({ "modes": { "currentModeId": "ask", "availableModes": [{ "id": "ask", "name": "Ask" }] } }),
        );
        assert_eq!(s.current_mode.as_deref(), Some("ask"));
        assert!(s.models.is_empty() && s.model_option.is_none());
    }
}

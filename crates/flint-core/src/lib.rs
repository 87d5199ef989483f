//! Flint's engine, headless: it opens projects, keeps sessions, and runs turns, turning a
//! model's stream into one typed event stream that any front end (the desktop app, the
//! CLI, a test) consumes. Deltas are coalesced into frame-sized batches here, and the
//! answer is written to the store as it grows. Nothing in this crate knows about Tauri
//! or the DOM.

pub mod activity;
mod commit;
pub mod config;
pub mod connect;
pub mod context;
mod engine;
mod error;
mod event;
pub mod keys;
pub mod projects;
mod prompts;
pub mod review;
mod slots;
pub mod turn;
mod undo;

pub use config::{ModelInfo, Paths, ResolvedSlot, Settings, Slot};
pub use engine::{Engine, Workspace, FRAME, PERSIST_EVERY};
pub use error::{CoreError, ErrorCode, ErrorInfo};
pub use event::TurnEvent;
pub use slots::SlotClient;
pub use turn::{
    command_prefix, AgentEntry, AgentMode, AgentModel, AgentOption, AgentSignIn, Answer, Ask,
    ProjectReaders, Question, ToolOutput, ToolRunner, TurnHandle, TurnKind,
};

pub use flint_acp as acp;

pub use flint_edit as edit;
pub use flint_exec as exec;
pub use flint_model as model;
pub use flint_project as project;
pub use flint_store as store;

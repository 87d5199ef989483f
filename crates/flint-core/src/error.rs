use serde::{Deserialize, Serialize};
use ts_rs::TS;

#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error(transparent)]
    Store(#[from] flint_store::StoreError),
    #[error(transparent)]
    Project(#[from] flint_project::ProjectError),
    #[error("{}", .0.user_message())]
    Model(#[from] flint_model::ModelError),
    #[error("the settings file {path} is not valid: {detail}")]
    Settings { path: String, detail: String },
    #[error("no data directory is known for this system; set FLINT_DATA_DIR")]
    NoDataDir,
    #[error("open a project first")]
    NoProject,
    #[error("{}", match .0 {
        flint_store::ModelSlot::Fast => "No model is set up yet. Open Settings to connect a provider.",
        flint_store::ModelSlot::Deep => "No deep model is set up. Choose one in Settings to escalate.",
    })]
    NoModel(flint_store::ModelSlot),
    #[error("there is no prompt to answer yet")]
    NoPrompt,
    #[error(transparent)]
    Edit(#[from] flint_edit::EditError),
    #[error("nothing to {0}")]
    NothingTo(&'static str),
    #[error("{path} was changed after Flint wrote it; {} would overwrite those changes, so it was not done", if *.undo { "undoing" } else { "redoing" })]
    ChangedSince { path: String, undo: bool },
    #[error("a prompt cannot be empty")]
    EmptyPrompt,
    #[error(transparent)]
    Agent(#[from] flint_acp::AcpError),
    #[error("internal error: {0}")]
    Internal(String),
}

impl CoreError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Store(e) => e.code(),
            Self::Project(e) => e.code(),
            Self::Model(e) => e.code(),
            Self::Settings { .. } => "settings",
            Self::NoDataDir => "no_data_dir",
            Self::NoProject => "no_project",
            Self::NoModel(_) => "no_model",
            Self::NoPrompt => "no_prompt",
            Self::Edit(e) => e.code(),
            Self::NothingTo(_) => "nothing_to_do",
            Self::ChangedSince { .. } => "changed_since",
            Self::EmptyPrompt => "empty_prompt",
            Self::Agent(e) => e.code(),
            Self::Internal(_) => "internal",
        }
    }

    pub fn info(&self) -> ErrorInfo {
        ErrorInfo {
            code: ErrorCode::of(self.code()),
            message: self.to_string(),
        }
    }
}

/// Every error code Flint reports, as the UI receives it (its TypeScript twin is what
/// the UI matches on: a key problem offers Settings, a settled write is news, not an
/// alarm). Each crate's errors name theirs with `code()`; `ErrorCode::of` reads them,
/// and a test holds every code a crate can give to a variant here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum ErrorCode {
    // The model and its provider (flint-model).
    BadKey,
    BadRequest,
    ContextTooLong,
    Dropped,
    IdleTimeout,
    InsecureKey,
    MalformedStream,
    MissingKey,
    Network,
    NoRoute,
    ProviderError,
    RateLimited,
    ServerError,
    TooLarge,
    UnknownModel,
    // Edits (flint-edit).
    Binary,
    Conflict,
    InvalidPatch,
    IsFolder,
    Missing,
    NoMatch,
    PartlyWritten,
    Shrink,
    // The project on disk (flint-project).
    Git,
    NotAFolder,
    NotFound,
    OutsideProject,
    Unreadable,
    // The history (flint-store).
    Store,
    // Agents over ACP (flint-acp).
    AgentError,
    AgentExited,
    AgentInstall,
    AgentProtocol,
    AgentSignIn,
    AgentStart,
    AgentTimeout,
    // The engine (flint-core).
    ChangedSince,
    EmptyPrompt,
    Internal,
    NoDataDir,
    NoModel,
    NoProject,
    NoPrompt,
    NothingToDo,
    Settings,
    // The desktop shell.
    EmptyKey,
    Io,
    NothingToContinue,
    OpenFailed,
    /// Opening a project finished writes a stopped process had left half done.
    Settled,
    ShortcutInvalid,
    ShortcutTaken,
    UnsafeLink,
    WatchError,
    WatchLimit,
    /// A code this build does not know (never one of Flint's own: see the test).
    Other,
}

impl ErrorCode {
    /// The code a crate's `code()` gives, as a variant.
    pub fn of(code: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(code.to_string())).unwrap_or(Self::Other)
    }
}

/// A code compares equal to its name (`ErrorCode::Dropped == "dropped"`).
impl PartialEq<&str> for ErrorCode {
    fn eq(&self, other: &&str) -> bool {
        *self != Self::Other && Self::of(other) == *self
    }
}

/// An error as the UI receives it: a stable code and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ErrorInfo {
    pub code: ErrorCode,
    pub message: String,
}

impl From<&flint_model::ModelError> for ErrorInfo {
    fn from(e: &flint_model::ModelError) -> Self {
        Self {
            code: ErrorCode::of(e.code()),
            message: e.user_message(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The quoted codes in a crate's `fn code(&self)` body (read from its source, so a
    /// code added there without a variant here fails this test).
    fn codes_in(src: &str) -> Vec<String> {
        let mut out = Vec::new();
        let src = src.split("#[cfg(test)]").next().unwrap_or(src);
        for body in src.split("fn code(&self)").skip(1) {
            let end = body.find("\n    }\n").unwrap_or(body.len());
            out.extend(
                body[..end]
                    .split('"')
                    .skip(1)
                    .step_by(2)
                    .map(str::to_string),
            );
        }
        out
    }

    #[test]
    fn every_code_a_crate_gives_is_a_variant() {
        let sources = [
            include_str!("../../flint-model/src/error.rs"),
            include_str!("../../flint-edit/src/lib.rs"),
            include_str!("../../flint-project/src/lib.rs"),
            include_str!("../../flint-store/src/lib.rs"),
            include_str!("../../flint-acp/src/lib.rs"),
            include_str!("error.rs"),
        ];
        let codes: Vec<String> = sources.iter().flat_map(|s| codes_in(s)).collect();
        assert!(codes.len() > 30, "{codes:?}");
        for code in codes {
            assert_ne!(
                ErrorCode::of(&code),
                ErrorCode::Other,
                "{code} has no variant"
            );
        }
        assert_eq!(ErrorCode::of("something new"), ErrorCode::Other);
    }
}

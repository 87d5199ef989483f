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
            Self::Internal(_) => "internal",
        }
    }

    pub fn info(&self) -> ErrorInfo {
        ErrorInfo {
            code: self.code().to_string(),
            message: self.to_string(),
        }
    }
}

/// An error as the UI receives it: a stable code and a sentence for the user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ErrorInfo {
    pub code: String,
    pub message: String,
}

impl From<&flint_model::ModelError> for ErrorInfo {
    fn from(e: &flint_model::ModelError) -> Self {
        Self {
            code: e.code().to_string(),
            message: e.user_message(),
        }
    }
}

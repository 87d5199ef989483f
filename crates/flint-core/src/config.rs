//! Where Flint keeps its files and how it reaches a model: a settings file in the
//! platform's config directory, with the usual environment variables on top.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use crate::CoreError;

/// Flint's directories. `FLINT_DATA_DIR` and `FLINT_CONFIG_DIR` override the platform's
/// (tests and portable installs use them).
#[derive(Debug, Clone)]
pub struct Paths {
    pub data_dir: PathBuf,
    pub config_dir: PathBuf,
}

impl Paths {
    pub fn from_env() -> Result<Self, CoreError> {
        let pick = |var: &str, platform: Option<PathBuf>| -> Result<PathBuf, CoreError> {
            match std::env::var_os(var).filter(|v| !v.is_empty()) {
                Some(v) => Ok(PathBuf::from(v)),
                None => platform
                    .map(|d| d.join("flint"))
                    .ok_or(CoreError::NoDataDir),
            }
        };
        Ok(Self {
            data_dir: pick("FLINT_DATA_DIR", dirs::data_dir())?,
            config_dir: pick("FLINT_CONFIG_DIR", dirs::config_dir())?,
        })
    }

    pub fn settings_file(&self) -> PathBuf {
        self.config_dir.join("settings.toml")
    }

    pub fn database(&self) -> PathBuf {
        self.data_dir.join("flint.db")
    }
}

/// How to reach the model. The key is never serialized: it stays in this process.
#[derive(Clone, Default)]
pub struct Settings {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<set>"))
            .finish()
    }
}

pub const DEFAULT_BASE_URL: &str = "https://api.openai.com/v1";
pub const DEFAULT_MODEL: &str = "gpt-5.3-codex-spark";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    provider: ProviderSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderSection {
    base_url: Option<String>,
    model: Option<String>,
    api_key: Option<String>,
}

/// What the UI may know about the model: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ModelInfo {
    pub model: String,
    pub base_url: String,
    pub has_key: bool,
}

impl Settings {
    /// Reads the settings file (if any), then applies `OPENAI_BASE_URL`, `OPENAI_API_KEY`
    /// and `FLINT_MODEL` from the environment.
    pub fn load(paths: &Paths) -> Result<Self, CoreError> {
        Self::load_from(&paths.settings_file(), |k| std::env::var(k).ok())
    }

    pub fn load_from(file: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, CoreError> {
        let parsed: File = match std::fs::read_to_string(file) {
            Ok(text) => toml::from_str(&text).map_err(|e| CoreError::Settings {
                path: file.display().to_string(),
                detail: e.message().to_string(),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => File::default(),
            Err(e) => {
                return Err(CoreError::Settings {
                    path: file.display().to_string(),
                    detail: e.to_string(),
                })
            }
        };
        let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let p = parsed.provider;
        Ok(Self {
            base_url: env("OPENAI_BASE_URL")
                .or(p.base_url)
                .unwrap_or_else(|| DEFAULT_BASE_URL.into()),
            model: env("FLINT_MODEL")
                .or(p.model)
                .unwrap_or_else(|| DEFAULT_MODEL.into()),
            api_key: env("OPENAI_API_KEY").or(p.api_key),
        })
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            has_key: self.api_key.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.toml");
        std::fs::write(
            &file,
            "[provider]\nbase_url = \"http://file/v1\"\nmodel = \"file-model\"\n",
        )
        .unwrap();
        let s = Settings::load_from(&file, |k| {
            (k == "FLINT_MODEL").then(|| "env-model".to_string())
        })
        .unwrap();
        assert_eq!(s.base_url, "http://file/v1");
        assert_eq!(s.model, "env-model");
        assert!(s.api_key.is_none());
    }

    #[test]
    fn a_bad_file_is_a_clear_error_and_keys_stay_out_of_debug() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("settings.toml");
        std::fs::write(&file, "[provider]\nmodle = 1\n").unwrap();
        let e = Settings::load_from(&file, |_| None).unwrap_err();
        assert!(e.to_string().contains("settings.toml"), "{e}");
        let s = Settings::load_from(&dir.path().join("none.toml"), |k| {
            (k == "OPENAI_API_KEY").then(|| "sk-secret".to_string())
        })
        .unwrap();
        assert_eq!(s.base_url, DEFAULT_BASE_URL);
        assert!(!format!("{s:?}").contains("sk-secret"));
        assert!(s.info().has_key);
    }
}

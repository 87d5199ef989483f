//! Where Flint keeps its files and which models it talks to: `settings.toml` in the
//! platform's config directory, with the usual environment variables on top.
//!
//! ```toml
//! [fast]                      # the default slot
//! provider = "cerebras"       # a preset id (flint_model::preset)
//! model = "gpt-oss-120b"
//! [deep]                      # the slot "Escalate" moves a session to
//! provider = "openai"
//! model = "gpt-5.3-codex"
//! [providers.ollama]          # per-provider overrides
//! base_url = "http://10.0.0.5:11434/v1"
//! ```
//!
//! Keys are not kept here (see `keys`), unless the user explicitly chose to store one
//! in this file because the system has no keychain.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use ts_rs::TS;

use flint_model::preset::{self, Preset};
use flint_model::Wire;

use crate::keys::{KeySource, KeyStore};
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

    /// The user's own AGENTS.md, read before every project's.
    pub fn global_agents(&self) -> PathBuf {
        self.config_dir.join("AGENTS.md")
    }
}

/// Which model a slot uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(deny_unknown_fields)]
#[ts(export)]
pub struct Slot {
    pub provider: String,
    pub model: String,
}

/// Per-provider overrides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProviderOverride {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_url: Option<String>,
    /// Only present when the user chose plain-text storage (no keychain available).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

/// The settings file as written on disk.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fast: Option<Slot>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deep: Option<Slot>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub providers: BTreeMap<String, ProviderOverride>,
    /// The global shortcut that opens the quick prompt (an accelerator such as
    /// "CommandOrControl+Shift+Space"); none means the default, "" turns it off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quick_shortcut: Option<String>,
    /// MCP servers handed to agents (over ACP) when each of their sessions starts, by
    /// name: `[mcp_servers.NAME]` with `command` (and `args`, `env`) for one the agent
    /// starts, or `url` (and `headers`) for one over HTTP.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub mcp_servers: BTreeMap<String, McpServer>,
}

/// An MCP server an agent is given: a command it runs (stdio) or a URL (HTTP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpServer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
}

impl Settings {
    /// The MCP servers as ACP's `session/new` takes them (`McpServer`: stdio with a
    /// command, or `http` with a URL); a server with neither is left out.
    pub fn acp_mcp_servers(&self) -> Vec<serde_json::Value> {
        let pairs = |m: &BTreeMap<String, String>| -> Vec<serde_json::Value> {
            m.iter()
                .map(|(k, v)| serde_json::json!({ "name": k, "value": v }))
                .collect()
        };
        self.mcp_servers
            .iter()
            .filter_map(|(name, s)| match (&s.command, &s.url) {
                (Some(command), _) => Some(serde_json::json!({
                    "name": name, "command": command, "args": s.args, "env": pairs(&s.env)
                })),
                (None, Some(url)) => Some(serde_json::json!({
                    "type": "http", "name": name, "url": url, "headers": pairs(&s.headers)
                })),
                (None, None) => None,
            })
            .collect()
    }
}

/// The quick prompt's shortcut unless the settings name another.
pub const DEFAULT_QUICK_SHORTCUT: &str = "CommandOrControl+Shift+Space";

impl Settings {
    /// The quick prompt's global shortcut ("" when turned off).
    pub fn quick_shortcut(&self) -> &str {
        self.quick_shortcut
            .as_deref()
            .unwrap_or(DEFAULT_QUICK_SHORTCUT)
    }

    /// Reads `file`; a missing file is empty settings, a broken one a clear error.
    pub fn read(file: &Path) -> Result<Self, CoreError> {
        match std::fs::read_to_string(file) {
            Ok(text) => toml::from_str(&text).map_err(|e| CoreError::Settings {
                path: file.display().to_string(),
                detail: e.message().to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(CoreError::Settings {
                path: file.display().to_string(),
                detail: e.to_string(),
            }),
        }
    }

    /// Writes `file` atomically (a temporary file beside it, then a rename).
    pub fn write(&self, file: &Path) -> Result<(), CoreError> {
        let err = |detail: String| CoreError::Settings {
            path: file.display().to_string(),
            detail,
        };
        let text = toml::to_string_pretty(self).map_err(|e| err(e.to_string()))?;
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
            // The settings may hold a key in plain text (where there is no keychain).
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
            }
        }
        let tmp = file.with_extension("toml.tmp");
        let _ = std::fs::remove_file(&tmp);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        {
            use std::io::Write as _;
            let mut f = options.open(&tmp).map_err(|e| err(e.to_string()))?;
            f.write_all(text.as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| err(e.to_string()))?;
        }
        std::fs::rename(&tmp, file).map_err(|e| err(e.to_string()))
    }
}

/// A slot made concrete: where to connect, with what, and which key.
#[derive(Clone)]
pub struct ResolvedSlot {
    pub provider: String,
    pub wire: Wire,
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub key_source: KeySource,
    pub needs_key: bool,
    pub context_window: Option<u32>,
}

impl std::fmt::Debug for ResolvedSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResolvedSlot")
            .field("provider", &self.provider)
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("key_source", &self.key_source)
            .finish()
    }
}

/// What the UI may know about a slot: never the key itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ModelInfo {
    pub provider: String,
    pub model: String,
    pub base_url: String,
    pub key_source: KeySource,
    pub needs_key: bool,
    pub context_window: Option<u32>,
}

impl ResolvedSlot {
    /// A client for this slot. A provider that needs a key and has none gets a client
    /// that fails every request with a sentence saying where to put the key.
    pub fn connect(&self) -> Result<crate::SlotClient, CoreError> {
        let client: std::sync::Arc<dyn flint_model::ModelClient> =
            if self.needs_key && self.api_key.is_none() {
                std::sync::Arc::new(Failing(flint_model::ModelError::MissingKey {
                    provider: self.provider.clone(),
                }))
            } else {
                let mut endpoint =
                    flint_model::Endpoint::new(self.wire, &self.base_url, self.api_key.clone())?;
                // How long a silent stream may stall before it counts as failed.
                if let Some(secs) = process_env("FLINT_IDLE_TIMEOUT")
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .filter(|s| *s > 0.0)
                {
                    endpoint = endpoint.with_idle_timeout(std::time::Duration::from_secs_f64(secs));
                }
                std::sync::Arc::new(endpoint)
            };
        Ok(crate::SlotClient::new(client, &self.provider, &self.model))
    }

    pub fn info(&self) -> ModelInfo {
        ModelInfo {
            provider: self.provider.clone(),
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            key_source: self.key_source,
            needs_key: self.needs_key,
            context_window: self.context_window,
        }
    }
}

/// A client that can only fail, for a slot that cannot work as configured.
struct Failing(flint_model::ModelError);

impl flint_model::ModelClient for Failing {
    fn stream(&self, _: flint_model::ModelRequest) -> flint_model::EventStream {
        let e = self.0.clone();
        Box::pin(futures_util::stream::once(async move { Err(e) }))
    }
}

/// Reads the settings file and resolves both slots against the process environment.
pub fn load(
    paths: &Paths,
    keys: &dyn KeyStore,
) -> Result<(Settings, Option<ResolvedSlot>, Option<ResolvedSlot>), CoreError> {
    let settings = Settings::read(&paths.settings_file())?;
    let (fast, deep) = resolve(&settings, &process_env, keys)?;
    Ok((settings, fast, deep))
}

/// The environment, as a function so tests can supply their own.
pub type Env<'a> = &'a (dyn Fn(&str) -> Option<String> + Sync);

pub fn process_env(key: &str) -> Option<String> {
    std::env::var(key).ok()
}

/// Resolves settings plus environment into the slots a session can use.
///
/// Environment overrides: `FLINT_PROVIDER` / `FLINT_MODEL` / `FLINT_BASE_URL` replace
/// the fast slot's provider, model and base URL; `OPENAI_BASE_URL` moves the `openai`
/// and `openai-chat` presets (as OpenAI's own SDKs do), and with nothing else
/// configured it selects `openai-chat` at that URL; each preset's usual key variable
/// (`OPENAI_API_KEY`, `ANTHROPIC_API_KEY`, ...) wins over the keychain.
pub fn resolve(
    settings: &Settings,
    env: Env<'_>,
    keys: &dyn KeyStore,
) -> Result<(Option<ResolvedSlot>, Option<ResolvedSlot>), CoreError> {
    let env = |k: &str| env(k).filter(|v| !v.trim().is_empty());
    let mut fast = settings.fast.clone();
    if let Some(p) = env("FLINT_PROVIDER") {
        let model = fast.as_ref().map(|s| s.model.clone()).unwrap_or_default();
        fast = Some(Slot { provider: p, model });
    }
    if fast.is_none() && env("OPENAI_BASE_URL").is_some() {
        fast = Some(Slot {
            provider: "openai-chat".into(),
            model: String::new(),
        });
    }
    if let (Some(slot), Some(m)) = (fast.as_mut(), env("FLINT_MODEL")) {
        slot.model = m;
    }
    let one = |slot: &Slot, is_fast: bool| -> Result<ResolvedSlot, CoreError> {
        let preset: &Preset =
            preset::preset(&slot.provider).ok_or_else(|| CoreError::Settings {
                path: "settings".into(),
                detail: format!(
                    "unknown provider `{}`; use one of {}",
                    slot.provider,
                    preset::PRESETS
                        .iter()
                        .map(|p| p.id)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let over = settings.providers.get(&slot.provider);
        let mut base_url = over
            .and_then(|o| o.base_url.clone())
            .unwrap_or_else(|| preset.base_url.to_string());
        if matches!(preset.id, "openai" | "openai-chat") {
            if let Some(u) = env("OPENAI_BASE_URL") {
                base_url = u;
            }
        }
        if is_fast {
            if let Some(u) = env("FLINT_BASE_URL") {
                base_url = u;
            }
        }
        let model = if slot.model.is_empty() {
            preset.default_model.unwrap_or_default().to_string()
        } else {
            slot.model.clone()
        };
        let (api_key, key_source) = if let Some(k) = preset.key_env.and_then(env) {
            (Some(k), KeySource::Environment)
        } else if let Some(k) = keys.get(&slot.provider).ok().flatten() {
            (Some(k), KeySource::Keychain)
        } else if let Some(k) = over.and_then(|o| o.api_key.clone()) {
            (Some(k), KeySource::SettingsFile)
        } else {
            (None, KeySource::None)
        };
        Ok(ResolvedSlot {
            provider: slot.provider.clone(),
            wire: preset.wire,
            base_url: base_url.trim_end_matches('/').to_string(),
            context_window: preset::context_window(&model),
            model,
            api_key,
            key_source,
            // A server on this machine is the user's own: no key is demanded, even
            // with a cloud provider's preset (a local Responses or Messages server).
            needs_key: preset.needs_key && !preset::is_loopback(&base_url),
        })
    };
    let fast = fast.as_ref().map(|s| one(s, true)).transpose()?;
    let deep = settings.deep.as_ref().map(|s| one(s, false)).transpose()?;
    Ok((fast, deep))
}

/// The providers whose key variable alone is enough to start, fastest first, each with
/// the model it starts on (the preset's default).
const STARTABLE_FROM_KEY: [&str; 4] = ["cerebras", "groq", "openai", "anthropic"];

/// Whether the settings or the environment choose a fast slot (as `resolve` reads them:
/// the settings' `[fast]`, `FLINT_PROVIDER`, or `OPENAI_BASE_URL` alone).
pub fn fast_is_chosen(settings: &Settings, env: Env<'_>) -> bool {
    let set = |k: &str| env(k).is_some_and(|v| !v.trim().is_empty());
    settings.fast.is_some() || set("FLINT_PROVIDER") || set("OPENAI_BASE_URL")
}

/// With nothing configured, a provider's key in the environment picks that provider and
/// its default model. Returns the slot and the variable that chose it.
pub fn slot_from_env_key(env: Env<'_>) -> Option<(Slot, &'static str)> {
    STARTABLE_FROM_KEY.iter().find_map(|id| {
        let p = preset::preset(id)?;
        let var = p.key_env?;
        let model = p.default_model?;
        env(var).filter(|v| !v.trim().is_empty())?;
        Some((
            Slot {
                provider: p.id.to_string(),
                model: model.to_string(),
            },
            var,
        ))
    })
}

/// A provider preset as the settings view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct PresetInfo {
    pub id: String,
    pub name: String,
    pub base_url: String,
    pub key_env: Option<String>,
    pub needs_key: bool,
    pub local: bool,
    pub default_model: Option<String>,
    pub models: Vec<String>,
}

/// Everything the settings view needs. Keys appear only as where they come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct SettingsView {
    pub presets: Vec<PresetInfo>,
    pub fast: Option<Slot>,
    pub deep: Option<Slot>,
    /// Base URLs the user set, by provider id.
    pub base_urls: BTreeMap<String, String>,
    /// Where each provider's key is found, by provider id.
    pub keys: BTreeMap<String, KeySource>,
    /// Why keys cannot go to a keychain on this system, if they cannot.
    pub keychain_problem: Option<String>,
    pub settings_file: String,
    /// The quick prompt's global shortcut as set ("" when turned off).
    pub quick_shortcut: String,
}

impl SettingsView {
    pub fn build(paths: &Paths, settings: &Settings, env: Env<'_>, keys: &dyn KeyStore) -> Self {
        let keychain_problem = keys.available().err().map(|e| e.to_string());
        let presets: Vec<PresetInfo> = preset::PRESETS
            .iter()
            .map(|p| PresetInfo {
                id: p.id.into(),
                name: p.name.into(),
                base_url: p.base_url.into(),
                key_env: p.key_env.map(str::to_owned),
                needs_key: p.needs_key,
                local: p.local,
                default_model: p.default_model.map(str::to_owned),
                models: p.models.iter().map(|m| m.id.to_string()).collect(),
            })
            .collect();
        let key_sources = preset::PRESETS
            .iter()
            .map(|p| {
                let source = if p
                    .key_env
                    .and_then(env)
                    .is_some_and(|v| !v.trim().is_empty())
                {
                    KeySource::Environment
                } else if keychain_problem.is_none() && keys.get(p.id).ok().flatten().is_some() {
                    KeySource::Keychain
                } else if settings
                    .providers
                    .get(p.id)
                    .and_then(|o| o.api_key.as_ref())
                    .is_some()
                {
                    KeySource::SettingsFile
                } else {
                    KeySource::None
                };
                (p.id.to_string(), source)
            })
            .collect();
        // Show the slots in effect, including one that only the environment sets up
        // (OPENAI_BASE_URL, FLINT_PROVIDER), so the view matches what the chat uses.
        let effective = resolve(settings, env, keys).ok();
        let shown = |file: &Option<Slot>, resolved: Option<&ResolvedSlot>| {
            file.clone().or_else(|| {
                resolved.map(|r| Slot {
                    provider: r.provider.clone(),
                    model: r.model.clone(),
                })
            })
        };
        let fast = shown(
            &settings.fast,
            effective.as_ref().and_then(|e| e.0.as_ref()),
        );
        let deep = shown(
            &settings.deep,
            effective.as_ref().and_then(|e| e.1.as_ref()),
        );
        Self {
            presets,
            fast,
            deep,
            base_urls: settings
                .providers
                .iter()
                .filter_map(|(k, v)| v.base_url.clone().map(|u| (k.clone(), u)))
                .collect(),
            keys: key_sources,
            keychain_problem,
            settings_file: paths.settings_file().display().to_string(),
            quick_shortcut: settings.quick_shortcut().to_string(),
        }
    }
}

#[cfg(test)]
mod tests;

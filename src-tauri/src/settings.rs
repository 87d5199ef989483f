//! The commands behind the settings and welcome views: providers, keys, models, slots,
//! and a connection test. Keys go from the UI into the keychain (or, only when the user
//! explicitly asks on a system without one, the settings file); they never come back.

use std::collections::BTreeMap;

use tauri::{AppHandle, Manager, State};

use flint_core::config::{process_env, resolve, Settings, SettingsView};
use flint_core::connect::{self, ConnectionTest, Detected};
use flint_core::{CoreError, ErrorInfo, ResolvedSlot, Slot};

use crate::state::{AppState, Snapshot};

type Result<T> = std::result::Result<T, ErrorInfo>;

/// Runs blocking work (the keychain, the settings file) off the async executor, with
/// the app's state.
async fn blocking<T: Send + 'static>(
    app: &AppHandle,
    f: impl FnOnce(&AppState) -> std::result::Result<T, CoreError> + Send + 'static,
) -> Result<T> {
    let app = app.clone();
    tauri::async_runtime::spawn_blocking(move || f(&app.state::<AppState>()))
        .await
        .map_err(|e| CoreError::Internal(e.to_string()).info())?
        .map_err(|e| e.info())
}

/// Changes the settings file, then reloads the models from it.
fn update(
    state: &AppState,
    change: impl FnOnce(&mut Settings),
) -> std::result::Result<(), CoreError> {
    let file = state.paths.settings_file();
    let mut settings = Settings::read(&file)?;
    change(&mut settings);
    settings.write(&file)?;
    state.reload_models()
}

#[tauri::command]
pub async fn get_settings(app: AppHandle) -> Result<SettingsView> {
    blocking(&app, |s| s.settings_view()).await
}

/// Saves the two slots and the base URLs the user set (an empty URL means the preset's).
#[tauri::command]
pub async fn save_settings(
    app: AppHandle,
    state: State<'_, AppState>,
    fast: Option<Slot>,
    deep: Option<Slot>,
    base_urls: BTreeMap<String, String>,
) -> Result<Snapshot> {
    blocking(&app, move |s| {
        update(s, |settings| {
            settings.fast = fast;
            settings.deep = deep;
            for over in settings.providers.values_mut() {
                over.base_url = None;
            }
            for (provider, url) in base_urls {
                let url = url.trim().trim_end_matches('/').to_string();
                if !url.is_empty() {
                    settings.providers.entry(provider).or_default().base_url = Some(url);
                }
            }
            settings
                .providers
                .retain(|_, o| o.base_url.is_some() || o.api_key.is_some());
        })
    })
    .await?;
    Ok(state.current_snapshot().await)
}

/// Stores a provider's key: in the keychain, or with `plaintext` in the settings file
/// (offered only where no keychain exists, and said so in the view).
#[tauri::command]
pub async fn save_key(
    app: AppHandle,
    provider: String,
    key: String,
    plaintext: bool,
) -> Result<SettingsView> {
    let key = key.trim().to_string();
    if key.is_empty() {
        return Err(ErrorInfo {
            code: flint_core::ErrorCode::EmptyKey,
            message: "The key is empty.".into(),
        });
    }
    blocking(&app, move |s| {
        if plaintext {
            update(s, |settings| {
                settings.providers.entry(provider).or_default().api_key = Some(key);
            })?;
        } else {
            s.keys
                .set(&provider, &key)
                .map_err(|e| CoreError::Settings {
                    path: "keychain".into(),
                    detail: e.to_string(),
                })?;
            s.reload_models()?;
        }
        s.settings_view()
    })
    .await
}

/// Removes a provider's key from the keychain and the settings file.
#[tauri::command]
pub async fn forget_key(app: AppHandle, provider: String) -> Result<SettingsView> {
    blocking(&app, move |s| {
        let _ = s.keys.delete(&provider);
        update(s, |settings| {
            if let Some(o) = settings.providers.get_mut(&provider) {
                o.api_key = None;
            }
        })?;
        s.settings_view()
    })
    .await
}

/// Resolves a slot as the settings would, with a base URL not yet saved.
fn draft_slot(
    state: &AppState,
    slot: Slot,
    base_url: Option<String>,
) -> std::result::Result<ResolvedSlot, CoreError> {
    let mut settings = Settings::read(&state.paths.settings_file())?;
    // A stored key goes only to the host it was saved for (the provider's saved base
    // URL, else its preset's): a page asking to test another URL gets no key with it.
    let saved_url = settings
        .providers
        .get(&slot.provider)
        .and_then(|o| o.base_url.clone())
        .or_else(|| {
            flint_core::model::preset::preset(&slot.provider).map(|p| p.base_url.to_string())
        })
        .unwrap_or_default();
    let mut elsewhere = false;
    if let Some(url) = base_url.filter(|u| !u.trim().is_empty()) {
        elsewhere = !same_server(&url, &saved_url);
        settings
            .providers
            .entry(slot.provider.clone())
            .or_default()
            .base_url = Some(url);
    }
    settings.fast = Some(slot);
    let env = |k: &str| {
        // The draft is what the user typed: FLINT_* overrides would hide it.
        if k.starts_with("FLINT_") {
            None
        } else {
            process_env(k)
        }
    };
    let (fast, _) = resolve(&settings, &env, state.keys.as_ref())?;
    let mut fast = fast.ok_or_else(|| CoreError::Internal("no slot".into()))?;
    if elsewhere {
        fast.api_key = None;
        fast.key_source = flint_core::keys::KeySource::None;
    }
    Ok(fast)
}

/// Whether a draft URL is the server a key was saved for (host and port; a URL that
/// does not parse is no server).
fn same_server(draft: &str, saved: &str) -> bool {
    let (d, s) = (host_of(draft), host_of(saved));
    !d.is_empty() && d == s
}

/// The host (and port) of a URL, lowercased; empty if it does not parse.
fn host_of(url: &str) -> String {
    tauri::Url::parse(url.trim())
        .ok()
        .map(|u| {
            format!(
                "{}:{}",
                u.host_str().unwrap_or_default().to_ascii_lowercase(),
                u.port_or_known_default().unwrap_or(0)
            )
        })
        .unwrap_or_default()
}

#[tauri::command]
pub async fn list_models(
    app: AppHandle,
    provider: String,
    base_url: Option<String>,
) -> Result<Vec<String>> {
    let slot = blocking(&app, move |s| {
        draft_slot(
            s,
            Slot {
                provider,
                model: String::new(),
            },
            base_url,
        )
    })
    .await?;
    connect::list_models(&slot).await.map_err(|e| e.info())
}

/// Makes a real request to the slot as drafted and reports what happened.
#[tauri::command]
pub async fn test_connection(
    app: AppHandle,
    slot: Slot,
    base_url: Option<String>,
) -> Result<ConnectionTest> {
    let slot = blocking(&app, move |s| draft_slot(s, slot, base_url)).await?;
    Ok(connect::test_connection(&slot).await)
}

/// First run: providers with a key in the environment, local servers that answer.
#[tauri::command]
pub async fn detect_providers() -> Result<Vec<Detected>> {
    Ok(connect::detect(&process_env).await)
}

/// Makes a detected provider the fast model, so the chat works at once.
#[tauri::command]
pub async fn use_provider(
    app: AppHandle,
    state: State<'_, AppState>,
    provider: String,
    model: String,
) -> Result<Snapshot> {
    blocking(&app, move |s| {
        update(s, |settings| settings.fast = Some(Slot { provider, model }))
    })
    .await?;
    Ok(state.current_snapshot().await)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A page asking to list models or test a connection at another address gets no
    /// stored key sent there.
    #[test]
    fn a_stored_key_goes_only_to_the_server_it_was_saved_for() {
        let saved = "https://api.openai.com/v1";
        assert!(same_server("https://API.openai.com/v1/", saved));
        assert!(same_server("https://api.openai.com:443/other", saved));
        for elsewhere in [
            "https://api.openai.com.evil.example/v1",
            "http://api.openai.com:8443/v1",
            "https://evil.example/?https://api.openai.com/v1",
            "https://user@evil.example/v1",
            "not a url",
            "",
        ] {
            assert!(!same_server(elsewhere, saved), "{elsewhere}");
        }
    }
}

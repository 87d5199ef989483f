//! API keys. They live in the operating system's keychain (macOS Keychain, Windows
//! Credential Manager, the Secret Service on Linux) through the keyring crate, under the
//! service `dev.flint.app` with the provider id as the account. Keys never go to SQLite,
//! logs, error messages or the webview; the UI only ever learns where a key came from.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use ts_rs::TS;

const SERVICE: &str = "dev.flint.app";

/// Where a slot's key was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "snake_case")]
#[ts(export)]
pub enum KeySource {
    /// The provider's usual environment variable (it overrides the others).
    Environment,
    Keychain,
    /// In settings.toml in plain text, as the user chose on a system with no keychain.
    SettingsFile,
    None,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{0}")]
    Unavailable(String),
    #[error("the keychain refused: {0}")]
    Failed(String),
}

pub trait KeyStore: Send + Sync {
    fn get(&self, provider: &str) -> Result<Option<String>, KeyError>;
    fn set(&self, provider: &str, key: &str) -> Result<(), KeyError>;
    fn delete(&self, provider: &str) -> Result<(), KeyError>;
    /// Whether keys can be stored at all (the UI offers a plain-text fallback if not).
    fn available(&self) -> Result<(), KeyError>;
}

/// The operating system's keychain.
#[derive(Debug, Default)]
pub struct Keychain;

fn classify(e: keyring::Error) -> KeyError {
    match e {
        keyring::Error::PlatformFailure(_) | keyring::Error::NoStorageAccess(_) => {
            KeyError::Unavailable(e.to_string())
        }
        other => KeyError::Failed(other.to_string()),
    }
}

impl KeyStore for Keychain {
    fn get(&self, provider: &str) -> Result<Option<String>, KeyError> {
        let entry = keyring::Entry::new(SERVICE, provider).map_err(classify)?;
        match entry.get_password() {
            Ok(k) => Ok(Some(k)),
            Err(keyring::Error::NoEntry) => Ok(None),
            Err(e) => Err(classify(e)),
        }
    }

    fn set(&self, provider: &str, key: &str) -> Result<(), KeyError> {
        keyring::Entry::new(SERVICE, provider)
            .and_then(|e| e.set_password(key))
            .map_err(classify)
    }

    fn delete(&self, provider: &str) -> Result<(), KeyError> {
        match keyring::Entry::new(SERVICE, provider).and_then(|e| e.delete_credential()) {
            Ok(()) | Err(keyring::Error::NoEntry) => Ok(()),
            Err(e) => Err(classify(e)),
        }
    }

    fn available(&self) -> Result<(), KeyError> {
        self.get("flint-probe").map(|_| ())
    }
}

/// Keys held in memory only: for tests, and for a session that must not persist keys.
#[derive(Debug, Default)]
pub struct MemoryKeys {
    keys: Mutex<HashMap<String, String>>,
}

impl KeyStore for MemoryKeys {
    fn get(&self, provider: &str) -> Result<Option<String>, KeyError> {
        Ok(self.keys.lock().ok().and_then(|k| k.get(provider).cloned()))
    }

    fn set(&self, provider: &str, key: &str) -> Result<(), KeyError> {
        if let Ok(mut k) = self.keys.lock() {
            k.insert(provider.to_string(), key.to_string());
        }
        Ok(())
    }

    fn delete(&self, provider: &str) -> Result<(), KeyError> {
        if let Ok(mut k) = self.keys.lock() {
            k.remove(provider);
        }
        Ok(())
    }

    fn available(&self) -> Result<(), KeyError> {
        Ok(())
    }
}

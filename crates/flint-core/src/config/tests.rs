use super::*;
use crate::keys::MemoryKeys;

fn env_of(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
    move |k| {
        pairs
            .iter()
            .find(|(n, _)| *n == k)
            .map(|(_, v)| v.to_string())
    }
}

#[test]
fn nothing_configured_means_no_slot() {
    let (fast, deep) = resolve(&Settings::default(), &env_of(&[]), &MemoryKeys::default()).unwrap();
    assert!(fast.is_none() && deep.is_none());
}

#[test]
fn openai_base_url_alone_selects_a_compatible_server() {
    let env = env_of(&[
        ("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/"),
        ("FLINT_MODEL", "m"),
    ]);
    let (fast, _) = resolve(&Settings::default(), &env, &MemoryKeys::default()).unwrap();
    let fast = fast.unwrap();
    assert_eq!(
        (fast.provider.as_str(), fast.wire),
        ("openai-chat", Wire::ChatCompletions)
    );
    assert_eq!(
        (fast.base_url.as_str(), fast.model.as_str()),
        ("http://127.0.0.1:9/v1", "m")
    );
    assert_eq!(fast.key_source, KeySource::None);
}

#[test]
fn a_key_in_the_environment_is_enough_to_start() {
    assert_eq!(slot_from_env_key(&env_of(&[])), None);
    let (slot, var) = slot_from_env_key(&env_of(&[("OPENAI_API_KEY", "sk-x")])).unwrap();
    assert_eq!(
        (slot.provider.as_str(), slot.model.as_str(), var),
        ("openai", "gpt-5.1-codex-mini", "OPENAI_API_KEY")
    );
    // The fastest provider the user has a key for wins.
    let env = env_of(&[("OPENAI_API_KEY", "sk-x"), ("CEREBRAS_API_KEY", "c")]);
    assert_eq!(slot_from_env_key(&env).unwrap().0.provider, "cerebras");
}

#[test]
fn a_server_on_this_machine_needs_no_key() {
    for provider in ["openai", "anthropic", "cerebras"] {
        let mut settings = Settings {
            fast: Some(Slot {
                provider: provider.into(),
                model: "m".into(),
            }),
            ..Settings::default()
        };
        settings.providers.insert(
            provider.into(),
            ProviderOverride {
                base_url: Some("http://127.0.0.1:8080/v1".into()),
                api_key: None,
            },
        );
        let (fast, _) = resolve(&settings, &env_of(&[]), &MemoryKeys::default()).unwrap();
        assert!(!fast.unwrap().needs_key, "{provider}");
        settings.providers.clear();
        let (fast, _) = resolve(&settings, &env_of(&[]), &MemoryKeys::default()).unwrap();
        assert!(fast.unwrap().needs_key, "{provider} in the cloud");
    }
}

#[test]
fn keys_come_from_env_then_keychain_then_file() {
    let mut settings = Settings {
        fast: Some(Slot {
            provider: "cerebras".into(),
            model: String::new(),
        }),
        deep: Some(Slot {
            provider: "anthropic".into(),
            model: "claude-opus-4-1".into(),
        }),
        ..Settings::default()
    };
    settings.providers.insert(
        "anthropic".into(),
        ProviderOverride {
            base_url: None,
            api_key: Some("file-key".into()),
        },
    );
    let keys = MemoryKeys::default();
    keys.set("cerebras", "chain-key").unwrap();
    let (fast, deep) = resolve(&settings, &env_of(&[]), &keys).unwrap();
    let (fast, deep) = (fast.unwrap(), deep.unwrap());
    assert_eq!(
        (fast.api_key.as_deref(), fast.key_source),
        (Some("chain-key"), KeySource::Keychain)
    );
    assert_eq!(fast.model, "gpt-oss-120b");
    assert_eq!(fast.context_window, Some(131_072));
    assert_eq!(
        (deep.api_key.as_deref(), deep.key_source),
        (Some("file-key"), KeySource::SettingsFile)
    );
    assert_eq!(deep.wire, Wire::AnthropicMessages);

    let env = env_of(&[("CEREBRAS_API_KEY", "env-key")]);
    let (fast, _) = resolve(&settings, &env, &keys).unwrap();
    let fast = fast.unwrap();
    assert_eq!(
        (fast.api_key.as_deref(), fast.key_source),
        (Some("env-key"), KeySource::Environment)
    );
    assert!(!format!("{fast:?}").contains("env-key"));
}

#[test]
fn unknown_providers_and_broken_files_are_clear_errors() {
    let settings = Settings {
        fast: Some(Slot {
            provider: "nope".into(),
            model: "m".into(),
        }),
        ..Settings::default()
    };
    let e = resolve(&settings, &env_of(&[]), &MemoryKeys::default()).unwrap_err();
    assert!(e.to_string().contains("unknown provider `nope`"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("settings.toml");
    std::fs::write(&file, "[fast]\nprovidr = 1\n").unwrap();
    let e = Settings::read(&file).unwrap_err();
    assert!(e.to_string().contains("settings.toml"), "{e}");
}

#[test]
fn settings_round_trip_through_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("sub/settings.toml");
    let mut s = Settings {
        fast: Some(Slot {
            provider: "ollama".into(),
            model: "qwen3-coder".into(),
        }),
        ..Settings::default()
    };
    s.providers.insert(
        "ollama".into(),
        ProviderOverride {
            base_url: Some("http://h:1/v1".into()),
            api_key: None,
        },
    );
    s.write(&file).unwrap();
    assert_eq!(Settings::read(&file).unwrap(), s);
    assert!(!std::fs::read_to_string(&file).unwrap().contains("api_key"));
    // It may hold a key in plain text: the user's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(&dir.path().join("sub")), 0o700);
    }
}

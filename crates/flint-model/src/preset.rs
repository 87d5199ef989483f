//! Provider presets: where each provider lives, which wire format it speaks, where its
//! key usually is, and the context windows of the models Flint knows. A preset is a
//! starting point; the user can override the base URL, and models are listed from the
//! provider where it offers a list.

use serde::Serialize;

use crate::Wire;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct KnownModel {
    pub id: &'static str,
    pub context_window: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Preset {
    /// The name used in settings and on the command line (`--provider`).
    pub id: &'static str,
    pub name: &'static str,
    pub wire: Wire,
    pub base_url: &'static str,
    /// The environment variable that holds the key, by the provider's own convention.
    pub key_env: Option<&'static str>,
    /// Whether requests fail without a key (false for local servers).
    pub needs_key: bool,
    /// Runs on this machine (probed on first run).
    pub local: bool,
    /// Suggested when the user picks the provider.
    pub default_model: Option<&'static str>,
    pub models: &'static [KnownModel],
}

const fn m(id: &'static str, context_window: u32) -> KnownModel {
    KnownModel { id, context_window }
}

pub const PRESETS: &[Preset] = &[
    Preset {
        id: "openai",
        name: "OpenAI",
        wire: Wire::Responses,
        base_url: "https://api.openai.com/v1",
        key_env: Some("OPENAI_API_KEY"),
        needs_key: true,
        local: false,
        // Codex-Spark is served to ChatGPT subscribers inside Codex, not to API keys:
        // an API key's default is the fast Codex model the API serves.
        default_model: Some("gpt-5.1-codex-mini"),
        models: &[
            m("gpt-5.3-codex-spark", 128_000),
            m("gpt-5.3-codex", 400_000),
            m("gpt-5.1-codex", 400_000),
            m("gpt-5.1-codex-mini", 400_000),
            m("gpt-5", 400_000),
            m("gpt-5-mini", 400_000),
            m("gpt-4.1", 1_047_576),
        ],
    },
    Preset {
        id: "openai-chat",
        name: "OpenAI-compatible (Chat Completions)",
        wire: Wire::ChatCompletions,
        base_url: "https://api.openai.com/v1",
        key_env: Some("OPENAI_API_KEY"),
        needs_key: false,
        local: false,
        default_model: None,
        models: &[],
    },
    Preset {
        id: "cerebras",
        name: "Cerebras",
        wire: Wire::ChatCompletions,
        base_url: "https://api.cerebras.ai/v1",
        key_env: Some("CEREBRAS_API_KEY"),
        needs_key: true,
        local: false,
        default_model: Some("gpt-oss-120b"),
        models: &[
            m("gpt-oss-120b", 131_072),
            m("qwen-3-coder-480b", 131_072),
            m("qwen-3-235b-a22b-instruct-2507", 131_072),
            m("llama-3.3-70b", 128_000),
        ],
    },
    Preset {
        id: "groq",
        name: "Groq",
        wire: Wire::ChatCompletions,
        base_url: "https://api.groq.com/openai/v1",
        key_env: Some("GROQ_API_KEY"),
        needs_key: true,
        local: false,
        default_model: Some("openai/gpt-oss-120b"),
        models: &[
            m("openai/gpt-oss-120b", 131_072),
            m("openai/gpt-oss-20b", 131_072),
            m("moonshotai/kimi-k2-instruct-0905", 262_144),
            m("llama-3.3-70b-versatile", 131_072),
        ],
    },
    Preset {
        id: "openrouter",
        name: "OpenRouter",
        wire: Wire::ChatCompletions,
        base_url: "https://openrouter.ai/api/v1",
        key_env: Some("OPENROUTER_API_KEY"),
        needs_key: true,
        local: false,
        default_model: None,
        models: &[],
    },
    Preset {
        id: "anthropic",
        name: "Anthropic",
        wire: Wire::AnthropicMessages,
        base_url: "https://api.anthropic.com/v1",
        key_env: Some("ANTHROPIC_API_KEY"),
        needs_key: true,
        local: false,
        default_model: Some("claude-sonnet-4-5"),
        models: &[
            m("claude-sonnet-4-5", 200_000),
            m("claude-opus-4-1", 200_000),
            m("claude-haiku-4-5", 200_000),
        ],
    },
    Preset {
        id: "ollama",
        name: "Ollama",
        wire: Wire::ChatCompletions,
        base_url: "http://127.0.0.1:11434/v1",
        key_env: None,
        needs_key: false,
        local: true,
        default_model: None,
        models: &[],
    },
    Preset {
        id: "lmstudio",
        name: "LM Studio",
        wire: Wire::ChatCompletions,
        base_url: "http://127.0.0.1:1234/v1",
        key_env: None,
        needs_key: false,
        local: true,
        default_model: None,
        models: &[],
    },
    Preset {
        id: "llamacpp",
        name: "llama.cpp server",
        wire: Wire::ChatCompletions,
        base_url: "http://127.0.0.1:8080/v1",
        key_env: None,
        needs_key: false,
        local: true,
        default_model: None,
        models: &[],
    },
];

/// The preset named `id` (`custom` is `openai-chat` with the user's base URL).
pub fn preset(id: &str) -> Option<&'static Preset> {
    let id = if id == "custom" { "openai-chat" } else { id };
    PRESETS.iter().find(|p| p.id == id)
}

/// Whether `base_url` points at this machine (localhost, 127.0.0.0/8, ::1): a server
/// there is the user's own, and needs no key even where the provider's cloud does.
pub fn is_loopback(base_url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(base_url) else {
        return false;
    };
    let Some(host) = url.host_str() else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The context window of a model Flint knows, from any preset.
pub fn context_window(model: &str) -> Option<u32> {
    PRESETS
        .iter()
        .flat_map(|p| p.models.iter())
        .find(|k| k.id == model || model.ends_with(&format!("/{}", k.id)))
        .map(|k| k.context_window)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_are_unique_and_well_formed() {
        for (i, p) in PRESETS.iter().enumerate() {
            assert!(
                PRESETS[i + 1..].iter().all(|q| q.id != p.id),
                "{} twice",
                p.id
            );
            assert!(p.base_url.starts_with("http") && !p.base_url.ends_with('/'));
            assert_eq!(p.local, p.base_url.contains("127.0.0.1"));
            if let Some(d) = p.default_model {
                assert!(p.models.iter().any(|m| m.id == d), "{d}");
            }
        }
        assert_eq!(
            preset("custom").map(|p| p.wire),
            Some(Wire::ChatCompletions)
        );
        assert_eq!(context_window("gpt-5.3-codex-spark"), Some(128_000));
        assert_eq!(
            context_window("openrouter-prefix/gpt-oss-120b"),
            Some(131_072)
        );
        assert_eq!(context_window("unknown"), None);
    }

    #[test]
    fn loopback_urls_are_told_apart() {
        for url in [
            "http://127.0.0.1:8080/v1",
            "http://localhost:11434/v1",
            "http://[::1]:1234/v1",
            "http://127.1.2.3/v1",
        ] {
            assert!(is_loopback(url), "{url}");
        }
        // Hostile spellings of another host are not this machine.
        for url in [
            "https://api.openai.com/v1",
            "http://10.0.0.5:11434/v1",
            "http://localhost.example.com/v1",
            "http://127.0.0.1.evil.example/v1",
            "http://localhost@evil.example/v1",
            "http://127.0.0.1:80@evil.example/v1",
            "not a url",
        ] {
            assert!(!is_loopback(url), "{url}");
        }
    }
}

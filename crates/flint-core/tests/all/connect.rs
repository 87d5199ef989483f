use flint_core::config::{resolve, Settings};
use flint_core::connect::{detect_with, list_models, test_connection};
use flint_core::keys::MemoryKeys;
use flint_core::Slot;
use flint_replay::{Config, Reply, StandIn, Transcript};
use std::path::PathBuf;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sse")
        .join(name)
}

fn models_reply() -> Reply {
    Reply::Status {
        code: 200,
        body: r#"{"object":"list","data":[{"id":"qwen3-coder"},{"id":"llama3"}]}"#.into(),
        headers: vec![],
    }
}

#[tokio::test]
async fn first_run_finds_keys_and_local_servers() {
    let server = StandIn::start(Config::default().route("/models", models_reply()), 0).unwrap();
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let locals = vec![
        ("ollama".to_string(), server.base_url()),
        (
            "lmstudio".to_string(),
            format!("http://127.0.0.1:{dead}/v1"),
        ),
    ];
    let env = |k: &str| (k == "GROQ_API_KEY").then(|| "gsk".to_string());
    let found = detect_with(&env, &locals).await;
    let summary: Vec<(&str, &str)> = found
        .iter()
        .map(|d| (d.provider.as_str(), d.reason.as_str()))
        .collect();
    assert_eq!(summary[0], ("groq", "GROQ_API_KEY is set"));
    assert_eq!(summary[1].0, "ollama");
    assert_eq!(found.len(), 2, "{summary:?}");
    assert_eq!(found[1].models, ["llama3", "qwen3-coder"]);
    assert_eq!(found[1].model.as_deref(), Some("llama3"));
}

fn slot_for(
    server: &StandIn,
    provider: &str,
    key: Option<&'static str>,
) -> flint_core::ResolvedSlot {
    let mut settings = Settings {
        fast: Some(Slot {
            provider: provider.into(),
            model: "m".into(),
        }),
        ..Settings::default()
    };
    settings
        .providers
        .entry(provider.into())
        .or_default()
        .base_url = Some(server.base_url());
    let env = move |k: &str| {
        (k.ends_with("_API_KEY"))
            .then(|| key.map(str::to_owned))
            .flatten()
    };
    resolve(&settings, &env, &MemoryKeys::default())
        .unwrap()
        .0
        .unwrap()
}

#[tokio::test]
async fn test_connection_reports_success_and_failure_honestly() {
    let ok = StandIn::start(
        Config::default().route(
            "/responses",
            Reply::stream(Transcript::load(&fixture("responses-hello.sse")).unwrap()),
        ),
        0,
    )
    .unwrap();
    let result = test_connection(&slot_for(&ok, "openai", Some("sk"))).await;
    assert!(result.ok, "{}", result.message);
    assert!(result.message.starts_with("m answered in"));

    let denied = StandIn::start(
        Config::default().route(
            "/chat/completions",
            Reply::Status {
                code: 401,
                body: r#"{"error":{"message":"bad key"}}"#.into(),
                headers: vec![],
            },
        ),
        0,
    )
    .unwrap();
    let result = test_connection(&slot_for(&denied, "groq", Some("wrong"))).await;
    assert!(!result.ok);
    assert!(
        result.message.contains("rejected the API key"),
        "{}",
        result.message
    );

    // A server on this machine needs no key: it is asked (and here says no itself).
    let result = test_connection(&slot_for(&denied, "groq", None)).await;
    assert!(
        result.message.contains("rejected the API key"),
        "{}",
        result.message
    );
    assert_eq!(denied.requests().len(), 2);

    // Elsewhere a provider that needs a key is not asked without one.
    let mut remote = slot_for(&denied, "groq", None);
    remote.base_url = "https://groq.invalid/openai/v1".into();
    remote.needs_key = true;
    let result = test_connection(&remote).await;
    assert!(!result.ok);
    assert!(
        result.message.contains("No API key is set for groq"),
        "{}",
        result.message
    );
    assert_eq!(denied.requests().len(), 2, "no request without a key");
}

#[tokio::test]
async fn models_are_listed_or_fall_back_to_the_known_ones() {
    let server = StandIn::start(Config::default().route("/models", models_reply()), 0).unwrap();
    assert_eq!(
        list_models(&slot_for(&server, "ollama", None))
            .await
            .unwrap(),
        ["llama3", "qwen3-coder"]
    );
    let empty = StandIn::start(Config::default(), 0).unwrap();
    let known = list_models(&slot_for(&empty, "cerebras", Some("k")))
        .await
        .unwrap();
    assert!(known.contains(&"gpt-oss-120b".to_string()));
    assert!(list_models(&slot_for(&empty, "ollama", None))
        .await
        .is_err());
}

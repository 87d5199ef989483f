//! The model clients against the stand-in server replaying recorded transcripts in each
//! wire format: the happy path at any chunking, and every failure the wire can produce.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::time::Duration;

use flint_model::{
    Endpoint, Message, ModelClient, ModelError, ModelEvent, ModelRequest, Role, Usage, Wire,
};
use flint_replay::{Config, Fault, Reply, StandIn, Transcript};
use futures_util::StreamExt;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/sse")
        .join(name)
}

fn hello() -> Transcript {
    Transcript::load(&fixture("chat-hello.sse")).expect("fixture")
}

fn expected_text() -> String {
    std::fs::read_to_string(fixture("chat-hello.txt")).expect("fixture")
}

fn request() -> ModelRequest {
    ModelRequest {
        model: "fixture-model".into(),
        messages: vec![Message::new(Role::User, "what is this project?")],
        tools: Vec::new(),
    }
}

/// Collects the answer text, the usage, and how the stream ended.
async fn collect(client: &Endpoint) -> (String, Option<Usage>, Result<(), ModelError>) {
    let mut stream = client.stream(request());
    let (mut text, mut usage) = (String::new(), None);
    while let Some(event) = stream.next().await {
        match event {
            Ok(ModelEvent::TextDelta(t)) => text.push_str(&t),
            Ok(ModelEvent::Usage(u)) => usage = Some(u),
            Ok(ModelEvent::Finished { .. }) => return (text, usage, Ok(())),
            Ok(_) => {}
            Err(e) => return (text, usage, Err(e)),
        }
    }
    (text, usage, Err(ModelError::Dropped))
}

fn chat(base_url: &str, key: Option<String>) -> Result<Endpoint, ModelError> {
    Endpoint::new(Wire::ChatCompletions, base_url, key)
}

fn serve(reply: Reply) -> StandIn {
    StandIn::start(Config::default().route("/chat/completions", reply), 0).expect("bind")
}

#[tokio::test]
async fn streams_the_recorded_answer_and_sends_a_proper_request() {
    let server = serve(Reply::stream(hello()));
    let client = chat(&server.base_url(), Some("sk-test".into())).unwrap();
    let (text, usage, end) = collect(&client).await;
    assert_eq!(end, Ok(()));
    assert_eq!(text, expected_text());
    assert_eq!(
        usage,
        Some(Usage {
            input_tokens: 57,
            output_tokens: 46
        })
    );

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer sk-test"));
    let body = reqs[0].json().unwrap();
    assert_eq!(body["stream"], true);
    assert_eq!(body["model"], "fixture-model");
    assert_eq!(body["messages"][0]["role"], "user");
}

#[tokio::test]
async fn any_chunk_size_gives_the_same_answer() {
    let want = expected_text();
    for chunk in [1, 2, 3, 5, 7, 13, 64, 333] {
        let server = serve(Reply::Stream {
            transcript: hello(),
            rate: None,
            chunk: Some(chunk),
            fault: None,
        });
        let client = chat(&server.base_url(), None).unwrap();
        let (text, _, end) = collect(&client).await;
        assert_eq!(end, Ok(()), "chunk {chunk}");
        assert_eq!(text, want, "chunk {chunk}");
        assert!(server.requests()[0].header("authorization").is_none());
    }
}

#[tokio::test]
async fn http_errors_are_classified() {
    // (status, extra headers, body, expected code)
    type Case<'a> = (u16, Vec<(String, String)>, &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            401,
            vec![],
            r#"{"error":{"message":"Incorrect API key provided"}}"#,
            "bad_key",
        ),
        (
            404,
            vec![],
            r#"{"error":{"message":"The model does not exist"}}"#,
            "unknown_model",
        ),
        (
            429,
            vec![("Retry-After".into(), "3".into())],
            r#"{"error":{"message":"slow down"}}"#,
            "rate_limited",
        ),
        (
            400,
            vec![],
            r#"{"error":{"message":"This model's maximum context length is 131072 tokens"}}"#,
            "context_too_long",
        ),
        (503, vec![], "<html>upstream down</html>", "server_error"),
    ];
    for (code, headers, body, want) in cases {
        let server = serve(Reply::Status {
            code,
            body: body.into(),
            headers,
        });
        let client = chat(&server.base_url(), Some("sk-secret-value".into())).unwrap();
        let (text, _, end) = collect(&client).await;
        let err = end.unwrap_err();
        assert_eq!(err.code(), want, "HTTP {code}");
        assert!(text.is_empty());
        assert!(!err.user_message().contains("sk-secret-value"));
        if code == 429 {
            assert_eq!(err.retry_after(), Some(Duration::from_secs(3)));
        }
    }
}

#[tokio::test]
async fn a_dropped_connection_keeps_what_arrived() {
    let server = serve(Reply::Stream {
        transcript: hello(),
        rate: None,
        chunk: None,
        fault: Some((10, Fault::Drop)),
    });
    let client = chat(&server.base_url(), None).unwrap();
    let (text, _, end) = collect(&client).await;
    assert_eq!(end, Err(ModelError::Dropped));
    assert_eq!(text, "The project is a small Rust crate. Its");
}

#[tokio::test]
async fn a_stalled_stream_times_out() {
    let server = serve(Reply::Stream {
        transcript: hello(),
        rate: None,
        chunk: None,
        fault: Some((5, Fault::Stall)),
    });
    let client = chat(&server.base_url(), None)
        .unwrap()
        .with_idle_timeout(Duration::from_millis(300));
    let (text, _, end) = collect(&client).await;
    assert_eq!(end.unwrap_err().code(), "idle_timeout");
    assert_eq!(text, "The project is a");
}

#[tokio::test]
async fn garbage_in_the_stream_is_a_malformed_error() {
    let mut bytes = std::fs::read(fixture("chat-hello.sse")).unwrap();
    bytes.splice(0..0, b"data: {not json\n\n".iter().copied());
    let server = serve(Reply::stream(Transcript::from_bytes(bytes)));
    let client = chat(&server.base_url(), None).unwrap();
    let (_, _, end) = collect(&client).await;
    assert_eq!(end.unwrap_err().code(), "malformed_stream");
}

#[tokio::test]
async fn an_error_event_mid_stream_is_reported() {
    let bytes = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n\
data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"
        .to_vec();
    let server = serve(Reply::stream(Transcript::from_bytes(bytes)));
    let client = chat(&server.base_url(), None).unwrap();
    let (text, _, end) = collect(&client).await;
    assert_eq!(text, "par");
    assert_eq!(
        end,
        Err(ModelError::Provider {
            detail: "overloaded".into()
        })
    );
}

#[tokio::test]
async fn a_refused_connection_is_a_network_error() {
    // Bind then drop to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let client = chat(&format!("http://127.0.0.1:{port}/v1"), None).unwrap();
    let (_, _, end) = collect(&client).await;
    let err = end.unwrap_err();
    assert_eq!(err.code(), "network");
    assert!(
        err.user_message().contains("base URL"),
        "{}",
        err.user_message()
    );
}

const FORMATS: [(Wire, &str, &str); 3] = [
    (Wire::ChatCompletions, "/chat/completions", "chat-hello"),
    (Wire::Responses, "/responses", "responses-hello"),
    (Wire::AnthropicMessages, "/messages", "anthropic-hello"),
];

/// Everything a stream yielded, folded: text, reasoning, usage, and how it ended.
#[derive(Debug, Default, PartialEq)]
struct Folded {
    text: String,
    reasoning: String,
    usage: Option<Usage>,
    end: Option<Result<Option<String>, ModelError>>,
}

async fn fold(client: &Endpoint) -> Folded {
    let mut f = Folded::default();
    let mut stream = client.stream(request());
    while let Some(event) = stream.next().await {
        match event {
            Ok(ModelEvent::TextDelta(t)) => f.text.push_str(&t),
            Ok(ModelEvent::ReasoningDelta(t)) => f.reasoning.push_str(&t),
            Ok(ModelEvent::Usage(u)) => f.usage = Some(u),
            Ok(ModelEvent::Finished { reason }) => f.end = Some(Ok(reason)),
            Ok(_) => {}
            Err(e) => f.end = Some(Err(e)),
        }
    }
    f
}

#[tokio::test]
async fn every_format_streams_its_recorded_answer_at_every_chunk_size() {
    let want = expected_text();
    for (wire, route, name) in FORMATS {
        let transcript = Transcript::load(&fixture(&format!("{name}.sse"))).unwrap();
        let mut seen = None;
        for chunk in (1..=17).chain([31, 64, 500, 4096]) {
            let server = StandIn::start(
                Config::default().route(
                    route,
                    Reply::Stream {
                        transcript: transcript.clone(),
                        rate: None,
                        chunk: Some(chunk),
                        fault: None,
                    },
                ),
                0,
            )
            .unwrap();
            let client = Endpoint::new(wire, &server.base_url(), Some("k-123".into())).unwrap();
            let f = fold(&client).await;
            assert_eq!(f.text, want, "{name} at chunk {chunk}");
            assert!(
                matches!(f.end, Some(Ok(_))),
                "{name} at chunk {chunk}: {:?}",
                f.end
            );
            match &seen {
                None => seen = Some(f),
                Some(first) => assert_eq!(&f, first, "{name} at chunk {chunk}"),
            }
        }
        let f = seen.unwrap();
        if wire != Wire::ChatCompletions {
            assert_eq!(
                f.reasoning, "Looking at src/main.rs to describe the crate.",
                "{name}"
            );
            assert_eq!(
                f.usage,
                Some(Usage {
                    input_tokens: 57,
                    output_tokens: 61
                }),
                "{name}"
            );
        }
    }
}

#[tokio::test]
async fn each_format_sends_its_own_request_shape() {
    let transcript = |n: &str| Transcript::load(&fixture(&format!("{n}.sse"))).unwrap();
    let server = StandIn::start(
        Config::default()
            .route("/responses", Reply::stream(transcript("responses-hello")))
            .route("/messages", Reply::stream(transcript("anthropic-hello"))),
        0,
    )
    .unwrap();
    let req = ModelRequest {
        model: "m".into(),
        messages: vec![
            Message::new(Role::System, "be brief"),
            Message::new(Role::User, "hi"),
            Message::new(Role::Assistant, "hello"),
            Message::new(Role::User, "again"),
        ],
        tools: Vec::new(),
    };
    for wire in [Wire::Responses, Wire::AnthropicMessages] {
        let client = Endpoint::new(wire, &server.base_url(), Some("k-9".into())).unwrap();
        let mut s = client.stream(req.clone());
        while s.next().await.is_some() {}
    }
    let reqs = server.requests();
    let responses = reqs[0].json().unwrap();
    assert_eq!(reqs[0].path, "/v1/responses");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer k-9"));
    assert_eq!(responses["instructions"], "be brief");
    assert_eq!(responses["input"].as_array().unwrap().len(), 3);
    assert_eq!(responses["input"][1]["role"], "assistant");
    assert_eq!(
        (responses["stream"].clone(), responses["store"].clone()),
        (true.into(), false.into())
    );

    let messages = reqs[1].json().unwrap();
    assert_eq!(reqs[1].path, "/v1/messages");
    assert_eq!(reqs[1].header("x-api-key"), Some("k-9"));
    assert_eq!(reqs[1].header("anthropic-version"), Some("2023-06-01"));
    assert!(reqs[1].header("authorization").is_none());
    assert_eq!(messages["system"], "be brief");
    assert_eq!(messages["messages"].as_array().unwrap().len(), 3);
    assert!(messages["max_tokens"].as_u64().unwrap() > 0);
}

fn one_event_stream(wire: Wire, route: &str, sse: &str) -> (StandIn, Endpoint) {
    let server = StandIn::start(
        Config::default().route(
            route,
            Reply::stream(Transcript::from_bytes(sse.as_bytes().to_vec())),
        ),
        0,
    )
    .unwrap();
    let client = Endpoint::new(wire, &server.base_url(), None).unwrap();
    (server, client)
}

#[tokio::test]
async fn provider_error_events_are_typed_in_every_format() {
    let cases = [
        (
            Wire::Responses,
            "/responses",
            "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"delta\":\"par\"}\n\n\
             event: response.failed\ndata: {\"type\":\"response.failed\",\"response\":{\"error\":{\"code\":\"server_error\",\"message\":\"boom\"}}}\n\n",
            "server_error",
        ),
        (
            Wire::Responses,
            "/responses",
            "event: error\ndata: {\"type\":\"error\",\"code\":\"context_length_exceeded\",\"message\":\"too many tokens\"}\n\n",
            "context_too_long",
        ),
        (
            Wire::AnthropicMessages,
            "/messages",
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"par\"}}\n\n\
             event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n",
            "server_error",
        ),
    ];
    for (wire, route, sse, code) in cases {
        let (_server, client) = one_event_stream(wire, route, sse);
        let f = fold(&client).await;
        let Some(Err(e)) = f.end else {
            panic!("{wire:?}: {:?}", f.end)
        };
        assert_eq!(e.code(), code, "{wire:?}");
    }
}

#[tokio::test]
async fn tool_call_arguments_stream_in_both_formats_that_have_them() {
    let cases = [
        (
            Wire::Responses,
            "/responses",
            "data: {\"type\":\"response.output_item.added\",\"item\":{\"type\":\"function_call\",\"id\":\"fc_1\",\"call_id\":\"call_1\",\"name\":\"read_file\"}}\n\n\
             data: {\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\",\"delta\":\"{\\\"path\\\":\"}\n\n\
             data: {\"type\":\"response.function_call_arguments.delta\",\"item_id\":\"fc_1\",\"delta\":\"\\\"a.rs\\\"}\"}\n\n\
             data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":2}}}\n\n",
        ),
        (
            Wire::AnthropicMessages,
            "/messages",
            "data: {\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":\"tool_use\",\"id\":\"call_1\",\"name\":\"read_file\",\"input\":{}}}\n\n\
             data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"path\\\":\"}}\n\n\
             data: {\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"\\\"a.rs\\\"}\"}}\n\n\
             data: {\"type\":\"message_stop\"}\n\n",
        ),
    ];
    for (wire, route, sse) in cases {
        let (_server, client) = one_event_stream(wire, route, sse);
        let mut stream = client.stream(request());
        let (mut name, mut args) = (String::new(), String::new());
        while let Some(Ok(e)) = stream.next().await {
            match e {
                ModelEvent::ToolCallStart { id, name: n, .. } => {
                    assert_eq!(id, "call_1");
                    name = n;
                }
                ModelEvent::ToolCallDelta { id, arguments } => {
                    assert_eq!(id, "call_1");
                    args.push_str(&arguments);
                }
                _ => {}
            }
        }
        assert_eq!(
            (name.as_str(), args.as_str()),
            ("read_file", r#"{"path":"a.rs"}"#),
            "{wire:?}"
        );
    }
}

#[tokio::test]
async fn retries_happen_only_before_the_first_token() {
    use flint_model::{with_retries, RetryPolicy};
    use std::sync::Arc;
    // A server that fails with 503 every time: three attempts, then the error.
    let server = serve(Reply::Status {
        code: 503,
        body: "{}".into(),
        headers: vec![],
    });
    let client: Arc<dyn ModelClient> = Arc::new(chat(&server.base_url(), None).unwrap());
    let policy = RetryPolicy {
        attempts: 3,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(1),
    };
    let mut s = with_retries(client, request(), policy);
    let mut retries = 0;
    let mut last = None;
    while let Some(e) = s.next().await {
        match e {
            Ok(ModelEvent::Retrying { .. }) => retries += 1,
            Ok(_) => {}
            Err(e) => last = Some(e),
        }
    }
    assert_eq!((retries, server.requests().len()), (2, 3));
    assert_eq!(last.unwrap().code(), "server_error");

    // A drop after text arrived is not retried: the partial answer stands.
    let server = serve(Reply::Stream {
        transcript: hello(),
        rate: None,
        chunk: None,
        fault: Some((10, Fault::Drop)),
    });
    let client: Arc<dyn ModelClient> = Arc::new(chat(&server.base_url(), None).unwrap());
    let mut s = with_retries(client, request(), policy);
    let mut text = String::new();
    let mut end = None;
    while let Some(e) = s.next().await {
        match e {
            Ok(ModelEvent::TextDelta(t)) => text.push_str(&t),
            Ok(_) => {}
            Err(e) => end = Some(e),
        }
    }
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        (text.as_str(), end),
        (
            "The project is a small Rust crate. Its",
            Some(ModelError::Dropped)
        )
    );

    // A Retry-After longer than the policy allows is reported, not waited out.
    let server = serve(Reply::Status {
        code: 429,
        body: "{}".into(),
        headers: vec![("Retry-After".into(), "120".into())],
    });
    let client: Arc<dyn ModelClient> = Arc::new(chat(&server.base_url(), None).unwrap());
    let mut s = with_retries(client, request(), policy);
    let mut got = None;
    while let Some(e) = s.next().await {
        if let Err(e) = e {
            got = Some(e);
        }
    }
    assert_eq!(server.requests().len(), 1);
    assert_eq!(got.unwrap().code(), "rate_limited");
}

#[tokio::test]
async fn models_are_listed_from_the_provider() {
    let server = StandIn::start(
        Config::default().route(
            "/models",
            Reply::Status {
                code: 200,
                body: r#"{"object":"list","data":[{"id":"zeta","object":"model"},{"id":"alpha","object":"model"}]}"#.into(),
                headers: vec![],
            },
        ),
        0,
    )
    .unwrap();
    let client = Endpoint::new(Wire::ChatCompletions, &server.base_url(), None).unwrap();
    let ids: Vec<String> = client
        .list_models()
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(ids, ["alpha", "zeta"]);
    assert_eq!(server.requests()[0].method, "GET");
}

mod chunkings {
    //! Any split of a recorded stream into chunks decodes to the same events.
    use super::fixture;
    use flint_model::{decode_chunks, Wire};
    use proptest::prelude::*;

    fn split(bytes: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
        let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut prev = 0;
        for c in cuts {
            out.push(bytes[prev..c].to_vec());
            prev = c;
        }
        out.push(bytes[prev..].to_vec());
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn any_chunking_of_any_format_decodes_the_same(
            cuts in proptest::collection::vec(0usize..20_000, 0..60),
            crlf in any::<bool>(),
        ) {
            for (wire, name) in [
                (Wire::ChatCompletions, "chat-hello.sse"),
                (Wire::Responses, "responses-hello.sse"),
                (Wire::AnthropicMessages, "anthropic-hello.sse"),
                (Wire::ChatCompletions, "chat-tools.sse"),
                (Wire::Responses, "responses-tools.sse"),
                (Wire::AnthropicMessages, "anthropic-tools.sse"),
            ] {
                let mut bytes = std::fs::read(fixture(name)).unwrap();
                if crlf {
                    bytes = String::from_utf8(bytes).unwrap().replace('\n', "\r\n").into_bytes();
                }
                let whole = decode_chunks(wire, [bytes.as_slice()]).unwrap();
                let parts = split(&bytes, &cuts);
                let chunked = decode_chunks(wire, parts.iter().map(Vec::as_slice)).unwrap();
                prop_assert_eq!(chunked, whole);
            }
        }
    }
}

/// A hostile or broken provider cannot grow memory without bound: one endless event is
/// stopped at the event limit with what arrived before kept, and an error page is read
/// only so far.
#[tokio::test]
async fn an_endless_event_and_a_huge_error_body_are_bounded() {
    let mut body = std::fs::read(fixture("chat-hello.sse")).unwrap();
    body.truncate(body.len() / 2);
    let cut = body.iter().rposition(|&b| b == b'\n').unwrap() + 1;
    body.truncate(cut);
    body.extend_from_slice(b"\ndata: {\"choices\":[{\"delta\":{\"content\":\"");
    body.extend(std::iter::repeat_n(b'x', 20 << 20));
    let server = serve(Reply::Stream {
        transcript: Transcript::from_bytes(body),
        rate: None,
        chunk: Some(1 << 16),
        fault: None,
    });
    let (text, _, end) = collect(&chat(&server.base_url(), None).unwrap()).await;
    let Err(e) = end else {
        panic!("an endless event must fail")
    };
    assert_eq!(e.code(), "too_large", "{e}");
    assert!(expected_text().starts_with(&text) && !text.is_empty());

    let server = serve(Reply::Status {
        code: 500,
        body: "y".repeat(8 << 20),
        headers: vec![],
    });
    let (_, _, end) = collect(&chat(&server.base_url(), None).unwrap()).await;
    let Err(ModelError::Server { detail, .. }) = end else {
        panic!()
    };
    assert!(detail.chars().count() <= 301);
}

/// The key goes to the server it was set for and nowhere else: never over plain http to
/// another machine, never along a redirect, and never back out in a message, whatever
/// shape the provider echoes it in.
#[tokio::test]
async fn the_key_stays_with_the_server_it_was_set_for() {
    let key = Some("sk-ant-test-0123456789abcdef".to_string());
    for url in [
        "http://models.example.com/v1",
        "http://10.1.2.3:8000/v1",
        "HTTP://models.example.com/v1",
        "http:/\\models.example.com/v1",
        "http:models.example.com/v1",
        " \u{1}http://models.example.com/v1",
        "ftp://models.example.com/v1",
    ] {
        let e = Endpoint::new(Wire::AnthropicMessages, url, key.clone()).unwrap_err();
        assert_eq!(e.code(), "insecure_key", "{url}");
    }
    assert!(Endpoint::new(
        Wire::AnthropicMessages,
        "https://api.anthropic.com/v1",
        key.clone()
    )
    .is_ok());
    assert!(Endpoint::new(
        Wire::AnthropicMessages,
        "http://127.0.0.1:8080/v1",
        key.clone()
    )
    .is_ok());

    // A redirect is not followed: the server it points at never sees the key.
    let elsewhere = StandIn::start(
        Config::default().route("/messages", Reply::stream(hello())),
        0,
    )
    .unwrap();
    let redirecting = StandIn::start(
        Config::default().route(
            "/messages",
            Reply::Status {
                code: 307,
                body: String::new(),
                headers: vec![(
                    "Location".into(),
                    format!("{}/messages", elsewhere.base_url()),
                )],
            },
        ),
        0,
    )
    .unwrap();
    let client = Endpoint::new(
        Wire::AnthropicMessages,
        &redirecting.base_url(),
        key.clone(),
    )
    .unwrap();
    let mut stream = client.stream(request());
    let mut failed = false;
    while let Some(e) = stream.next().await {
        failed |= e.is_err();
    }
    assert!(failed);
    assert!(elsewhere.requests().is_empty(), "the redirect was followed");

    // Echoed back in any shape, the key is masked.
    let echo = serve(Reply::Status {
        code: 401,
        body: r#"{"error":{"message":"invalid key (sk-ant-test-0123456789abcdef); api_key=sk-ant-test-0123456789abcdef"}}"#.into(),
        headers: vec![],
    });
    let client = chat(&echo.base_url(), key.clone()).unwrap();
    let (_, _, end) = collect(&client).await;
    let Err(ModelError::BadKey { detail, .. }) = end else {
        panic!()
    };
    assert!(!detail.contains("0123456789abcdef"), "{detail}");
}

mod tools {
    //! Tool calls: parsed from each format's stream (whole or in any pieces) into the
    //! same calls, and tools and a conversation with calls sent in each format's shape.
    use super::fixture;
    use flint_model::{
        decode_chunks, Endpoint, Message, ModelClient, ModelEvent, ModelRequest, Part, Role,
        ToolCall, ToolCalls, ToolInput, ToolKind, ToolResult, ToolSpec, Wire,
    };
    use flint_replay::{Config, Reply, StandIn, Transcript};
    use futures_util::StreamExt;
    use proptest::prelude::*;

    fn call(id: &str, name: &str, kind: ToolKind, input: &str) -> ToolCall {
        ToolCall {
            id: id.into(),
            name: name.into(),
            kind,
            input: input.into(),
        }
    }

    fn cases() -> Vec<(Wire, &'static str, Vec<ToolCall>, &'static str)> {
        let patch = "*** Begin Patch\n*** Update File: src/lib.rs\n@@\n-old\n+new\n*** End Patch";
        vec![
            (
                Wire::ChatCompletions,
                "chat-tools",
                vec![
                    call(
                        "call_read",
                        "read_file",
                        ToolKind::Function,
                        r#"{"path": "src/lib.rs"}"#,
                    ),
                    call(
                        "call_grep",
                        "search",
                        ToolKind::Function,
                        r#"{"pattern": "fn main"}"#,
                    ),
                ],
                "tool_calls",
            ),
            (
                Wire::Responses,
                "responses-tools",
                vec![
                    call(
                        "call_read",
                        "read_file",
                        ToolKind::Function,
                        r#"{"path":"src/lib.rs"}"#,
                    ),
                    call("call_patch", "apply_patch", ToolKind::Custom, patch),
                ],
                "stop",
            ),
            (
                Wire::AnthropicMessages,
                "anthropic-tools",
                vec![
                    call(
                        "toolu_read",
                        "read_file",
                        ToolKind::Function,
                        r#"{"path": "src/lib.rs"}"#,
                    ),
                    call("toolu_list", "list_dir", ToolKind::Function, ""),
                ],
                "tool_use",
            ),
        ]
    }

    fn calls_of(events: &[ModelEvent]) -> Vec<ToolCall> {
        let mut calls = ToolCalls::default();
        for e in events {
            calls.push(e);
        }
        calls.into_calls()
    }

    #[test]
    fn every_format_streams_its_tool_calls() {
        for (wire, name, want, reason) in cases() {
            let bytes = std::fs::read(fixture(&format!("{name}.sse"))).unwrap();
            let events = decode_chunks(wire, [bytes.as_slice()]).unwrap();
            assert_eq!(calls_of(&events), want, "{name}");
            let text: String = events
                .iter()
                .filter_map(|e| match e {
                    ModelEvent::TextDelta(t) => Some(t.as_str()),
                    _ => None,
                })
                .collect();
            let shown = std::fs::read_to_string(fixture(&format!("{name}.txt"))).unwrap();
            assert_eq!(text, shown, "{name}");
            assert_eq!(
                events.last(),
                Some(&ModelEvent::Finished {
                    reason: Some(reason.into())
                }),
                "{name}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]
        #[test]
        fn tool_calls_come_out_the_same_in_any_pieces(cuts in proptest::collection::vec(0usize..8_000, 0..80)) {
            for (wire, name, want, _) in cases() {
                let bytes = std::fs::read(fixture(&format!("{name}.sse"))).unwrap();
                let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
                cuts.sort_unstable();
                let mut parts = Vec::new();
                let mut prev = 0;
                for c in cuts {
                    parts.push(&bytes[prev..c]);
                    prev = c;
                }
                parts.push(&bytes[prev..]);
                let events = decode_chunks(wire, parts).unwrap();
                prop_assert_eq!(calls_of(&events), want, "{}", name);
            }
        }
    }

    /// A conversation in which the model called tools and got their results, with tools
    /// offered, as each format must carry it.
    fn request() -> ModelRequest {
        let patch = "*** Begin Patch\n*** End Patch";
        ModelRequest {
            model: "m".into(),
            messages: vec![
                Message::new(Role::System, "be brief"),
                Message::new(Role::User, "fix it"),
                Message {
                    role: Role::Assistant,
                    parts: vec![
                        Part::Text {
                            text: "Looking.".into(),
                        },
                        Part::Reasoning {
                            text: "private".into(),
                        },
                        Part::ToolCall(call(
                            "c1",
                            "read_file",
                            ToolKind::Function,
                            r#"{"path":"a.rs"}"#,
                        )),
                        Part::ToolCall(call("c2", "apply_patch", ToolKind::Custom, patch)),
                    ],
                },
                Message {
                    role: Role::Tool,
                    parts: vec![
                        Part::ToolResult(ToolResult {
                            call_id: "c1".into(),
                            kind: ToolKind::Function,
                            output: "fn a() {}".into(),
                            is_error: false,
                        }),
                        Part::ToolResult(ToolResult {
                            call_id: "c2".into(),
                            kind: ToolKind::Custom,
                            output: "no such file".into(),
                            is_error: true,
                        }),
                    ],
                },
            ],
            tools: vec![
                ToolSpec {
                    name: "read_file".into(),
                    description: "Reads a file.".into(),
                    input: ToolInput::Json {
                        schema: serde_json::json!({"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}),
                    },
                },
                ToolSpec {
                    name: "apply_patch".into(),
                    description: "Edits files with a V4A patch.".into(),
                    input: ToolInput::Freeform {
                        grammar: Some("start: \"*** Begin Patch\"".into()),
                    },
                },
            ],
        }
    }

    #[tokio::test]
    async fn tools_and_calls_are_sent_in_each_formats_shape() {
        let transcript = |n: &str| Transcript::load(&fixture(&format!("{n}.sse"))).unwrap();
        let server = StandIn::start(
            Config::default()
                .route("/chat/completions", Reply::stream(transcript("chat-hello")))
                .route("/responses", Reply::stream(transcript("responses-hello")))
                .route("/messages", Reply::stream(transcript("anthropic-hello"))),
            0,
        )
        .unwrap();
        for wire in [
            Wire::ChatCompletions,
            Wire::Responses,
            Wire::AnthropicMessages,
        ] {
            let client = Endpoint::new(wire, &server.base_url(), Some("k".into())).unwrap();
            let mut s = client.stream(request());
            while s.next().await.is_some() {}
        }
        let reqs = server.requests();
        let json = |i: usize| reqs[i].json().unwrap();

        // Chat Completions: functions only (the custom tool takes `input`); calls on the
        // assistant message, arguments as a JSON string; one `tool` message per result.
        let chat = json(0);
        assert_eq!(chat["tools"][0]["function"]["name"], "read_file");
        assert_eq!(chat["tools"][1]["type"], "function");
        assert_eq!(
            chat["tools"][1]["function"]["parameters"]["required"][0],
            "input"
        );
        let m = chat["messages"].as_array().unwrap();
        assert_eq!(m.len(), 5, "{m:?}");
        assert_eq!(m[2]["content"], "Looking.");
        assert_eq!(
            m[2]["tool_calls"][0]["function"]["arguments"],
            r#"{"path":"a.rs"}"#
        );
        let custom: serde_json::Value = serde_json::from_str(
            m[2]["tool_calls"][1]["function"]["arguments"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(custom["input"], "*** Begin Patch\n*** End Patch");
        assert_eq!(
            (m[3]["role"].as_str(), m[3]["tool_call_id"].as_str()),
            (Some("tool"), Some("c1"))
        );
        assert_eq!(m[4]["content"], "Error: no such file");
        assert!(
            !chat.to_string().contains("private"),
            "reasoning is never sent back"
        );

        // Responses: a custom tool with its grammar; calls and outputs as items.
        let responses = json(1);
        assert_eq!(responses["tools"][0]["type"], "function");
        assert_eq!(responses["tools"][1]["type"], "custom");
        assert_eq!(responses["tools"][1]["format"]["syntax"], "lark");
        let items = responses["input"].as_array().unwrap();
        let kinds: Vec<&str> = items
            .iter()
            .map(|i| i["type"].as_str().unwrap_or("message"))
            .collect();
        assert_eq!(
            kinds,
            [
                "message",
                "message",
                "function_call",
                "custom_tool_call",
                "function_call_output",
                "custom_tool_call_output"
            ]
        );
        assert_eq!(items[3]["input"], "*** Begin Patch\n*** End Patch");
        assert_eq!(items[5]["call_id"], "c2");
        assert_eq!(items[5]["output"], "Error: no such file");

        // Anthropic: tool_use blocks with JSON input, results as a user's tool_result blocks.
        let anthropic = json(2);
        assert_eq!(anthropic["tools"][0]["input_schema"]["required"][0], "path");
        let m = anthropic["messages"].as_array().unwrap();
        assert_eq!(m.len(), 3);
        let blocks = m[1]["content"].as_array().unwrap();
        assert_eq!(blocks.len(), 3);
        assert_eq!(blocks[1]["input"]["path"], "a.rs");
        assert_eq!(
            blocks[2]["input"]["input"],
            "*** Begin Patch\n*** End Patch"
        );
        assert_eq!(m[2]["role"], "user");
        assert_eq!(m[2]["content"][1]["tool_use_id"], "c2");
        assert_eq!(m[2]["content"][1]["is_error"], true);
    }
}

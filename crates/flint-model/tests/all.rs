//! The Chat Completions client against the stand-in server replaying a recorded
//! transcript: the happy path at any chunking, and every failure the wire can produce.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::PathBuf;
use std::time::Duration;

use flint_model::{
    ChatCompletions, Message, ModelClient, ModelError, ModelEvent, ModelRequest, Role, Usage,
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
    }
}

/// Collects the answer text, the usage, and how the stream ended.
async fn collect(client: &ChatCompletions) -> (String, Option<Usage>, Result<(), ModelError>) {
    let mut stream = client.stream(request());
    let (mut text, mut usage) = (String::new(), None);
    while let Some(event) = stream.next().await {
        match event {
            Ok(ModelEvent::TextDelta(t)) => text.push_str(&t),
            Ok(ModelEvent::Usage(u)) => usage = Some(u),
            Ok(ModelEvent::Finished { .. }) => return (text, usage, Ok(())),
            Err(e) => return (text, usage, Err(e)),
        }
    }
    (text, usage, Err(ModelError::Dropped))
}

fn serve(reply: Reply) -> StandIn {
    StandIn::start(Config::default().route("/chat/completions", reply), 0).expect("bind")
}

#[tokio::test]
async fn streams_the_recorded_answer_and_sends_a_proper_request() {
    let server = serve(Reply::stream(hello()));
    let client = ChatCompletions::new(&server.base_url(), Some("sk-test".into())).unwrap();
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
        let client = ChatCompletions::new(&server.base_url(), None).unwrap();
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
        let client =
            ChatCompletions::new(&server.base_url(), Some("sk-secret-value".into())).unwrap();
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
    let client = ChatCompletions::new(&server.base_url(), None).unwrap();
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
    let client = ChatCompletions::new(&server.base_url(), None)
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
    let client = ChatCompletions::new(&server.base_url(), None).unwrap();
    let (_, _, end) = collect(&client).await;
    assert_eq!(end.unwrap_err().code(), "malformed_stream");
}

#[tokio::test]
async fn an_error_event_mid_stream_is_reported() {
    let bytes = b"data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"par\"}}]}\n\n\
data: {\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}\n\n"
        .to_vec();
    let server = serve(Reply::stream(Transcript::from_bytes(bytes)));
    let client = ChatCompletions::new(&server.base_url(), None).unwrap();
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
    let client = ChatCompletions::new(&format!("http://127.0.0.1:{port}/v1"), None).unwrap();
    let (_, _, end) = collect(&client).await;
    let err = end.unwrap_err();
    assert_eq!(err.code(), "network");
    assert!(
        err.user_message().contains("base URL"),
        "{}",
        err.user_message()
    );
}

//! The SSE parse path (bytes -> SSE events -> model events) for each wire format, on a
//! synthetic 20,000-token answer in the providers' event shapes, fed in 1,400-byte
//! chunks (a typical TCP segment). Throughput is printed in tokens (events) per second.
//!
//!     cargo bench -p flint-model --bench sse

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flint_model::{decode_chunks, Wire};

const TOKENS: usize = 20_000;

fn token(i: usize) -> String {
    // Code-like text with JSON escapes, quotes and some multi-byte UTF-8.
    match i % 8 {
        0 => " fn".into(),
        1 => " parse".into(),
        2 => r#"(\"input\")"#.into(),
        3 => " {\\n".into(),
        4 => "    let".into(),
        5 => " x_é".into(),
        6 => " = 42;".into(),
        _ => "\\n}".into(),
    }
}

fn transcript(wire: Wire) -> Vec<u8> {
    let mut s = String::new();
    for i in 0..TOKENS {
        let t = token(i);
        match wire {
            Wire::ChatCompletions => s.push_str(&format!(
                "data: {{\"id\":\"chatcmpl-b\",\"object\":\"chat.completion.chunk\",\"created\":1,\"model\":\"m\",\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{t}\"}},\"finish_reason\":null}}]}}\n\n"
            )),
            Wire::Responses => s.push_str(&format!(
                "event: response.output_text.delta\ndata: {{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_b\",\"output_index\":0,\"content_index\":0,\"delta\":\"{t}\",\"sequence_number\":{i}}}\n\n"
            )),
            Wire::AnthropicMessages => s.push_str(&format!(
                "event: content_block_delta\ndata: {{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{{\"type\":\"text_delta\",\"text\":\"{t}\"}}}}\n\n"
            )),
        }
    }
    s.push_str(match wire {
        Wire::ChatCompletions => "data: [DONE]\n\n",
        Wire::Responses => "data: {\"type\":\"response.completed\",\"response\":{\"usage\":{\"input_tokens\":1,\"output_tokens\":20000}}}\n\n",
        Wire::AnthropicMessages => "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
    });
    s.into_bytes()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("sse_parse");
    group.throughput(Throughput::Elements(TOKENS as u64));
    group.sample_size(20);
    for (name, wire) in [
        ("chat_completions", Wire::ChatCompletions),
        ("responses", Wire::Responses),
        ("anthropic", Wire::AnthropicMessages),
    ] {
        let bytes = transcript(wire);
        let n = decode_chunks(wire, bytes.chunks(1400))
            .map(|e| e.len())
            .unwrap_or(0);
        assert!(n > TOKENS, "{name}: the transcript must decode");
        group.bench_function(name, |b| {
            b.iter(|| decode_chunks(wire, black_box(&bytes).chunks(1400)))
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

//! The rendering hot paths on the benchmark suite's answer (tests/fixtures/bench/answer.md:
//! ~20k tokens, 80 KiB of prose and code in nine languages and an edit block): splitting
//! into blocks as ~4-byte deltas arrive, rendering every closed block (markdown +
//! highlighting), and highlighting a 2,000-line file for a diff. Throughput is printed in
//! bytes per second.
//!
//!     cargo bench -p flint-render --bench render

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use flint_render::markdown::{render_block, BlockSplitter};

fn answer() -> String {
    include_str!("../../../tests/fixtures/bench/answer.md").to_string()
}

fn bench(c: &mut Criterion) {
    flint_render::warm();
    let text = answer();
    let deltas: Vec<&str> = {
        let mut v = Vec::new();
        let mut start = 0;
        while start < text.len() {
            let mut end = (start + 4).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            v.push(&text[start..end]);
            start = end;
        }
        v
    };
    let mut group = c.benchmark_group("render");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(20);
    group.bench_function("split_answer_in_4_byte_deltas", |b| {
        b.iter(|| {
            let mut s = BlockSplitter::new();
            let mut n = 0;
            for d in &deltas {
                n += s.push(black_box(d)).len();
            }
            n + usize::from(s.finish().is_some())
        })
    });
    group.bench_function("split_and_render_every_block", |b| {
        b.iter(|| {
            let mut s = BlockSplitter::new();
            let mut bytes = 0;
            for d in &deltas {
                for block in s.push(d) {
                    bytes += render_block(&block).len();
                }
            }
            bytes
        })
    });
    let file: String = (0..2000)
        .map(|i| format!("    let value_{i} = compute({i}, \"x\"); // {i}\n"))
        .collect();
    group.throughput(Throughput::Bytes(file.len() as u64));
    group.bench_function("highlight_2000_line_rust_file", |b| {
        b.iter(|| flint_render::highlight_lines("src/big.rs", black_box(&file)).len())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

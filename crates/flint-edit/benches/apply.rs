//! Applying a 1,000-line change set: ten 500-line files, each with ten V4A chunks that
//! replace ten lines apiece (1,000 changed lines in all). Measured: parsing the patch,
//! planning it against the files, computing the review's hunks, and the all-or-nothing
//! write, on real files in a temporary folder.
//!
//!     cargo bench -p flint-edit --bench apply

#![allow(clippy::expect_used)] // a benchmark whose setup fails should stop loudly

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use flint_edit::{apply, hunks, patch, plan};
use flint_project::ProjectDir;

const FILES: usize = 10;
const LINES: usize = 500;
const CHUNKS: usize = 10;
const CHANGED: usize = 10;

fn line(f: usize, i: usize) -> String {
    format!("    let value_{f}_{i} = compute({i}, \"file {f}\"); // line {i}")
}

fn original(f: usize) -> String {
    (0..LINES).map(|i| line(f, i) + "\n").collect()
}

fn patch_text() -> String {
    let mut p = String::from("*** Begin Patch\n");
    for f in 0..FILES {
        let _ = writeln!(p, "*** Update File: src/file{f}.rs");
        for c in 0..CHUNKS {
            let start = c * (LINES / CHUNKS) + 5;
            p.push_str("@@\n");
            let _ = writeln!(p, " {}", line(f, start - 1));
            for i in start..start + CHANGED {
                let _ = writeln!(p, "-{}", line(f, i));
                let _ = writeln!(p, "+{}", line(f, i).replace("compute", "compute_fast"));
            }
        }
    }
    p.push_str("*** End Patch\n");
    p
}

fn bench(c: &mut Criterion) {
    let text = patch_text();
    let mut group = c.benchmark_group("change_set_1000_lines");
    group.throughput(Throughput::Elements((FILES * CHUNKS * CHANGED) as u64));
    group.sample_size(20);
    let dir = tempfile::tempdir().expect("temp dir");
    let reset = || {
        std::fs::create_dir_all(dir.path().join("src")).expect("src");
        for f in 0..FILES {
            std::fs::write(dir.path().join(format!("src/file{f}.rs")), original(f)).expect("write");
        }
    };
    reset();
    let project = ProjectDir::open(dir.path()).expect("project");

    group.bench_function("parse_plan_hunks", |b| {
        b.iter(|| {
            let edits = patch::parse(black_box(&text)).expect("parse");
            let set = plan(&project, &edits).expect("plan");
            let n: usize = set
                .files
                .iter()
                .map(|f| {
                    let before = String::from_utf8_lossy(f.before.as_deref().unwrap_or_default());
                    let after = String::from_utf8_lossy(f.after.as_deref().unwrap_or_default());
                    hunks(&before, &after).len()
                })
                .sum();
            assert_eq!(n, FILES * CHUNKS);
        })
    });
    group.bench_function("parse_plan_apply", |b| {
        b.iter_batched(
            reset,
            |()| {
                let edits = patch::parse(&text).expect("parse");
                let set = plan(&project, &edits).expect("plan");
                apply(&project, &set.writes()).expect("apply")
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);

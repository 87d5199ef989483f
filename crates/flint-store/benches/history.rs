//! History at scale: a generated database of 1,000,000 messages (20,000 sessions over
//! 50 projects), then search latency (p50, p95) for a rare term, a common term, a phrase
//! and a prefix, the database's size, and the time to list the sessions view. Prints a
//! table.
//!
//!     cargo bench -p flint-store --bench history           (FLINT_BENCH_MESSAGES=100000 for a quick run)

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark stops loudly

use std::time::{Duration, Instant};

use flint_store::history::SearchFilter;
use flint_store::{ItemRole, ItemStatus, Store};

const WORDS: &[&str] = &[
    "the", "function", "returns", "a", "value", "parser", "error", "token", "stream", "render",
    "file", "module", "test", "build", "cargo", "rust", "async", "await", "channel", "buffer",
    "index", "query", "session", "model", "answer", "edit", "patch", "hunk", "diff", "review",
];

fn percentile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let total: usize = std::env::var("FLINT_BENCH_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flint.db");
    let store = Store::open(&path).unwrap();
    println!("generating {total} messages ...");
    let t = Instant::now();
    let per_session = 50;
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let projects: Vec<i64> = (0..50)
        .map(|p| {
            store
                .touch_project(&format!("/code/p{p}"), &format!("p{p}"))
                .unwrap()
                .id
        })
        .collect();
    {
        let s = &store;
        for n in 0..total / per_session {
            let sid = s
                .create_session(projects[n % projects.len()], &format!("session {n}"))
                .unwrap()
                .id;
            for m in 0..per_session {
                let len = 20 + (next() % 60) as usize;
                let mut text: Vec<&str> = (0..len)
                    .map(|_| WORDS[(next() % WORDS.len() as u64) as usize])
                    .collect();
                // One message in 100,000 holds a rare word.
                if (n * per_session + m) % 100_000 == 7 {
                    text.push("zyzzyva");
                }
                let role = if m % 2 == 0 {
                    ItemRole::User
                } else {
                    ItemRole::Assistant
                };
                let model = (role == ItemRole::Assistant).then_some(if n % 3 == 0 {
                    "deep-m"
                } else {
                    "fast-m"
                });
                s.add_item(sid, role, &text.join(" "), ItemStatus::Complete, model)
                    .unwrap();
            }
        }
    }
    println!("  generated in {:.1} s\n", t.elapsed().as_secs_f64());

    let mut rows = Vec::new();
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.path().join("flint.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    rows.push((
        "database size (with WAL)".to_string(),
        format!("{:.0} MiB", size as f64 / (1 << 20) as f64),
    ));

    for (name, q) in [
        ("rare term", "zyzzyva"),
        ("common term", "the"),
        ("phrase", "\"parser error\""),
        ("prefix", "tok*"),
    ] {
        let mut times = Vec::new();
        let mut n = 0;
        for _ in 0..40 {
            let t = Instant::now();
            n = store.search(q, &SearchFilter::default(), 50).unwrap().len();
            times.push(t.elapsed());
        }
        let p50 = percentile(&mut times, 0.5);
        let p95 = percentile(&mut times, 0.95);
        rows.push((
            format!("search {name} ({q}), {n} hits shown"),
            format!("p50 {} · p95 {}", ms(p50), ms(p95)),
        ));
    }
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let list = store.list_sessions(None, 200).unwrap();
        assert!(!list.is_empty());
        times.push(t.elapsed());
    }
    rows.push((
        "sessions view, all projects (200 newest)".into(),
        format!("p50 {}", ms(percentile(&mut times, 0.5))),
    ));
    let mut times = Vec::new();
    for _ in 0..20 {
        let t = Instant::now();
        let list = store.list_sessions(Some(projects[3]), 200).unwrap();
        assert!(!list.is_empty());
        times.push(t.elapsed());
    }
    rows.push((
        "sessions view, one project (200 newest)".into(),
        format!("p50 {}", ms(percentile(&mut times, 0.5))),
    ));

    let w = rows.iter().map(|r| r.0.len()).max().unwrap_or(0);
    println!("{:w$}  figure", "what");
    for (k, v) in rows {
        println!("{k:w$}  {v}");
    }
}

//! Prints how many tokens a file is for a model (o200k_base for OpenAI models, an
//! estimate otherwise): `cargo run --example count_tokens -- FILE [MODEL]`. The benchmark
//! suite uses it to state the size of the answer it streams.

use flint_core::context::Tokenizer;

fn main() -> std::process::ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(path) = args.next() else {
        eprintln!("usage: count_tokens FILE [MODEL]");
        return std::process::ExitCode::FAILURE;
    };
    let model = args.next().unwrap_or_else(|| "gpt-5.3-codex-spark".into());
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            println!("{}", Tokenizer::for_model(&model).count(&text));
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{path}: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

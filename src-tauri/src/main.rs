// No console window behind the app on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match flint_cli::Cli::parse_from_os(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match cli.command {
        Some(command) => flint_cli::run(command),
        None => flint_app::run(cli.path, cli.quick_prompt),
    }
}

use std::process::ExitCode;

use flint_cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::parse_from_os(std::env::args_os()) {
        Ok(c) => c,
        Err(e) => e.exit(),
    };
    match cli.command {
        Some(command) => flint_cli::run(command),
        None => {
            eprintln!("flint-cli: give a subcommand (see --help); the desktop app is `flint`");
            ExitCode::from(2)
        }
    }
}

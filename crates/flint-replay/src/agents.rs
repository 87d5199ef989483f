//! For tests that drive real ACP agents (Codex's and Claude Code's adapters, as
//! `cargo xtask test` installs them): where they are, the fixtures they run with, and
//! Codex's configuration pointing it at the stand-in.

use std::path::{Path, PathBuf};

/// A real agent's executable: where `cargo xtask test` installs them
/// (`FLINT_TEST_AGENTS`), else the PATH. Under the test command a missing one fails
/// the test (`FLINT_REQUIRE_AGENTS`); elsewhere it says the test was skipped.
pub fn real_agent(bin: &str) -> Option<PathBuf> {
    let found = std::env::var_os("FLINT_TEST_AGENTS")
        .map(|d| PathBuf::from(d).join(bin))
        .filter(|p| p.exists())
        .or_else(|| {
            std::env::split_paths(&std::env::var_os("PATH")?)
                .map(|d| d.join(bin))
                .find(|p| p.is_file())
        });
    if found.is_none() {
        assert!(
            std::env::var_os("FLINT_REQUIRE_AGENTS").is_none(),
            "{bin} is not installed (cargo xtask test installs it into target/agents)"
        );
        eprintln!("skipped: {bin} is not installed (cargo xtask test installs it)");
    }
    found
}

/// A file of `tests/fixtures/acp`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/acp")
        .join(name)
}

/// Where a test makes an agent's home: never under /tmp (Codex refuses to put its
/// sandbox helper there, and then runs no command and writes no file), so under the
/// user's cache folder, whatever the checkout's location. Made if missing.
pub fn homes_dir() -> PathBuf {
    let base = std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".cache").join("flint-tests"))
        .unwrap_or_else(std::env::temp_dir);
    let _ = std::fs::create_dir_all(&base);
    base
}

/// Writes Codex's `config.toml` into `home`: the stand-in at `url` as a custom
/// provider (Responses API, key in `STANDIN_KEY`) with the test's model catalogue.
pub fn write_codex_config(home: &Path, url: &str) -> std::io::Result<()> {
    std::fs::write(
        home.join("config.toml"),
        format!(
            "model = \"gpt-5.3-codex-spark\"\nmodel_provider = \"standin\"\n\
             model_catalog_json = \"{}\"\n\n[model_providers.standin]\nname = \"Stand-in\"\n\
             base_url = \"{url}\"\nwire_api = \"responses\"\nenv_key = \"STANDIN_KEY\"\n",
            fixture("codex-catalog.json").display()
        ),
    )
}

//! Writes one long session into a history database, as if it had been had in the app:
//! `make_session DATA_DIR PROJECT_ROOT TURNS ANSWER.md`. Each turn is a short prompt and
//! an answer cut from ANSWER.md (a few kilobytes of markdown and code each, in turn).
//! The benchmark suite opens the result in the app ("opening a 200-turn session").

use std::path::Path;

use flint_store::{ItemRole, ItemStatus, Store};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [data_dir, root, turns, answer] = args.as_slice() else {
        return Err("usage: make_session DATA_DIR PROJECT_ROOT TURNS ANSWER.md".into());
    };
    let turns: usize = turns.parse()?;
    let text = std::fs::read_to_string(answer)?;
    // The answer's sections (split at its headings), used in turn.
    let sections: Vec<&str> = text
        .split("\n## ")
        .filter(|s| !s.trim().is_empty())
        .collect();
    let store = Store::open_in(Path::new(data_dir))?;
    let name = Path::new(root)
        .file_name()
        .map_or("project".into(), |n| n.to_string_lossy().into_owned());
    let project = store.touch_project(root, &name)?;
    let session = store.create_session(project.id, &format!("A {turns}-turn session"))?;
    for t in 0..turns {
        let prompt = format!("Turn {t}: walk me through the next part of the code.");
        store.add_item(
            session.id,
            ItemRole::User,
            &prompt,
            ItemStatus::Complete,
            None,
        )?;
        let body = format!("## {}", sections[t % sections.len()]);
        store.add_item(
            session.id,
            ItemRole::Assistant,
            &body,
            ItemStatus::Complete,
            Some("fixture-model"),
        )?;
    }
    println!("session {} with {turns} turns", session.id);
    Ok(())
}

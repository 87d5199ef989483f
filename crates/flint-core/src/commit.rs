//! Commit messages suggested by the fast model from the staged diff.

use std::path::Path;

use futures_util::StreamExt;

use flint_model::{Message, ModelEvent, ModelRequest, Role};
use flint_store::ModelSlot;

use crate::{CoreError, Engine};

const INSTRUCTIONS: &str = "Write a git commit message for the staged changes below: an \
imperative subject line of at most 72 characters, then, only if the change needs it, a \
blank line and a short body saying why. Reply with the message alone, no code fences.";

/// The staged diff sent to the model is cut at this size.
const MAX_DIFF: usize = 48 * 1024;

impl Engine {
    /// Asks the fast model for a commit message for what is staged in `root`.
    pub async fn suggest_commit_message(&self, root: &Path) -> Result<String, CoreError> {
        let slot = self
            .fast_slot()
            .ok_or(CoreError::NoModel(ModelSlot::Fast))?;
        let root = root.to_path_buf();
        let diff = tokio::task::spawn_blocking(move || flint_project::staged_diff(&root, MAX_DIFF))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))??;
        if diff.trim().is_empty() {
            return Err(CoreError::Project(flint_project::ProjectError::Git(
                git2::Error::from_str("nothing is staged to describe"),
            )));
        }
        let request = ModelRequest {
            model: slot.model.clone(),
            messages: vec![
                Message::new(Role::System, INSTRUCTIONS),
                Message::new(Role::User, diff),
            ],
            tools: Vec::new(),
        };
        let mut stream = slot.client.stream(request);
        let mut text = String::new();
        while let Some(event) = stream.next().await {
            match event? {
                ModelEvent::TextDelta(t) => text.push_str(&t),
                ModelEvent::Finished { .. } => break,
                _ => {}
            }
        }
        Ok(clean(&text))
    }
}

/// Strips fences and quotes a model may add anyway, and trims the subject.
fn clean(text: &str) -> String {
    let body: Vec<&str> = text
        .trim()
        .lines()
        .filter(|l| !l.trim_start().starts_with("```"))
        .collect();
    let joined = body.join("\n");
    let mut out = joined.trim().trim_matches('"').trim().to_string();
    if let Some(first) = out.lines().next() {
        if first.chars().count() > 72 {
            let cut: String = first.chars().take(72).collect();
            out = out.replacen(first, cut.trim_end(), 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn fences_quotes_and_long_subjects_are_cleaned() {
        assert_eq!(clean("```\nAdd x\n```"), "Add x");
        assert_eq!(clean("\"Fix y\""), "Fix y");
        assert_eq!(clean(&"a".repeat(100)).len(), 72);
        assert_eq!(
            clean("Subject\n\nWhy it matters."),
            "Subject\n\nWhy it matters."
        );
    }
}

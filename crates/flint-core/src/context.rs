//! What a turn sends, assembled from the warm project state and counted in the model's
//! tokens: the system prompt and AGENTS.md instructions first (a stable prefix, so the
//! provider's prompt cache hits), then the conversation, then this turn's changing parts
//! (mentioned files, the git summary) and the prompt. When the model's window would
//! overflow, older history and then mentioned files are left out, and the report says
//! exactly what.

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use tiktoken_rs::CoreBPE;
use ts_rs::TS;

use flint_model::{Message, Role};
use flint_project::AgentsFile;

/// Counts tokens: exactly with OpenAI's o200k_base for OpenAI models, and as an honest
/// estimate (a token per 3.5 bytes, typical for code) for everything else.
#[derive(Clone, Copy)]
pub struct Tokenizer {
    /// o200k_base, loaded on first count (its tables take ~50 MB and ~0.1 s).
    openai: bool,
}

fn o200k() -> Option<&'static CoreBPE> {
    static BPE: OnceLock<Option<CoreBPE>> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::o200k_base().ok()).as_ref()
}

impl Tokenizer {
    pub fn for_model(model: &str) -> Self {
        let m = model.rsplit('/').next().unwrap_or(model);
        let openai = m.starts_with("gpt-")
            || m.starts_with("o1")
            || m.starts_with("o3")
            || m.starts_with("o4")
            || m.contains("codex");
        Self { openai }
    }

    /// The estimate, for any model: a token per 3.5 bytes, which over-counts typical
    /// code and prose under o200k_base (about 4 bytes a token), so what it fits fits.
    pub fn estimate() -> Self {
        Self { openai: false }
    }

    pub fn exact(&self) -> bool {
        self.openai && o200k().is_some()
    }

    pub fn count(&self, text: &str) -> u32 {
        // Only an OpenAI model's count loads the tables.
        match if self.openai { o200k() } else { None } {
            Some(bpe) => bpe.encode_ordinary(text).len() as u32,
            None => (text.len() as f64 / 3.5).ceil() as u32,
        }
    }
}

/// Loads the tokenizer's tables now (from a background thread at start-up).
pub fn warm() {
    let _ = o200k();
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ContextSection {
    pub name: String,
    pub tokens: u32,
    pub included: bool,
}

/// How a turn's context fills the model's window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct ContextReport {
    pub sections: Vec<ContextSection>,
    /// Tokens that will be sent.
    pub used: u32,
    /// The model's window, where known.
    pub window: Option<u32>,
    /// Counted with the model's own tokenizer (otherwise estimated).
    pub exact: bool,
    /// What did not fit, in words.
    pub left_out: Vec<String>,
}

pub struct ContextInput<'a> {
    pub system: &'a str,
    pub project: &'a str,
    pub agents: &'a [AgentsFile],
    pub history: &'a [Message],
    pub mentions: &'a [(String, String)],
    pub git: Option<&'a str>,
    /// The user's own edits since the previous turn, as unified diffs.
    pub recent_edits: Option<&'a str>,
    pub prompt: &'a str,
    pub window: Option<u32>,
}

/// Room kept for the answer: a quarter of the window, at most 16k tokens.
fn answer_reserve(window: u32) -> u32 {
    (window / 4).min(16_384)
}

/// Builds the messages for a turn and reports how they fill the window.
/// Like `assemble`, but counts with the estimate when everything fits in half the
/// window by it: the exact count could not change what is sent, and loading the
/// tokenizer's tables would cost a short-lived command (`flint ask`) more than the rest
/// of its work. Near the limit, or without a known window, it counts exactly.
pub fn assemble_sparingly(
    input: &ContextInput<'_>,
    tok: Tokenizer,
) -> (Vec<Message>, ContextReport) {
    if tok.openai {
        let (messages, report) = assemble(input, Tokenizer::estimate());
        let roomy = report.left_out.is_empty()
            && input
                .window
                .is_some_and(|w| u64::from(report.used) * 2 < u64::from(w));
        if roomy {
            return (messages, report);
        }
    }
    assemble(input, tok)
}

pub fn assemble(input: &ContextInput<'_>, tok: Tokenizer) -> (Vec<Message>, ContextReport) {
    let mut sections = Vec::new();
    let mut left_out = Vec::new();

    let mut system = format!("{}\n\nProject: {}", input.system, input.project);
    let system_tokens = tok.count(&system);
    sections.push(ContextSection {
        name: "System prompt".into(),
        tokens: system_tokens,
        included: true,
    });
    for a in input.agents {
        let block = format!("\n\n# Instructions from {}\n{}", a.path, a.text);
        let t = tok.count(&block);
        system.push_str(&block);
        sections.push(ContextSection {
            name: format!("AGENTS.md ({})", a.path),
            tokens: t,
            included: true,
        });
    }
    let prompt_tokens = tok.count(input.prompt);
    let required = tok.count(&system) + prompt_tokens;
    let budget = input
        .window
        .map(|w| w.saturating_sub(answer_reserve(w)))
        .unwrap_or(u32::MAX);
    let mut used = required;

    // This turn's attachments, in order: mentioned files, the user's recent edits, the
    // git summary. Each goes in whole if it fits, or is named as left out.
    let mut attached = String::new();
    let mut offer = |name: String, block: String, why_out: String| {
        let t = tok.count(&block);
        let fits = used.saturating_add(t) <= budget;
        sections.push(ContextSection {
            name,
            tokens: t,
            included: fits,
        });
        if fits {
            used += t;
            attached.push_str(&block);
        } else {
            left_out.push(why_out.replace("{t}", &t.to_string()));
        }
    };
    for (path, text) in input.mentions {
        offer(
            format!("@{path}"),
            format!("<file path=\"{path}\">\n{text}\n</file>\n"),
            format!("@{path} ({{t}} tokens) does not fit the window"),
        );
    }
    if let Some(diff) = input.recent_edits {
        offer(
            "Your recent edits".into(),
            format!("<recent-edits by=\"user\">\n{diff}</recent-edits>\n"),
            "your recent edits ({t} tokens)".into(),
        );
    }
    if let Some(git) = input.git {
        offer(
            "Git status".into(),
            format!("<git-status>\n{git}\n</git-status>\n"),
            "the git status summary".into(),
        );
    }

    // History, newest first, as far as it fits; older messages are dropped whole.
    let mut kept: Vec<Message> = Vec::new();
    let mut history_tokens = 0;
    let mut dropped = 0;
    for m in input.history.iter().rev() {
        let t = tok.count(&m.flattened()) + 4;
        if dropped == 0 && used.saturating_add(t) <= budget {
            used += t;
            history_tokens += t;
            kept.push(m.clone());
        } else {
            dropped += 1;
        }
    }
    kept.reverse();
    if !input.history.is_empty() {
        sections.push(ContextSection {
            name: format!("Conversation ({} messages)", kept.len()),
            tokens: history_tokens,
            included: !kept.is_empty(),
        });
    }
    if dropped > 0 {
        left_out.push(format!("{dropped} earlier message(s) of the conversation"));
    }
    sections.push(ContextSection {
        name: "Prompt".into(),
        tokens: prompt_tokens,
        included: true,
    });
    if used > budget {
        left_out.push(
            "nothing else can be left out: the prompt and instructions alone exceed the window"
                .into(),
        );
    }

    let mut messages = vec![Message::new(Role::System, system)];
    messages.extend(kept);
    let user = if attached.is_empty() {
        input.prompt.to_string()
    } else {
        format!("{attached}\n{}", input.prompt)
    };
    messages.push(Message::new(Role::User, user));
    (
        messages,
        ContextReport {
            sections,
            used,
            window: input.window,
            exact: tok.exact(),
            left_out,
        },
    )
}

/// The `@path` mentions in a prompt (trailing punctuation trimmed), in order, once each.
pub fn mentions(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in prompt.split_whitespace() {
        if let Some(path) = word.strip_prefix('@') {
            let path = path.trim_end_matches(|c: char| ",.;:!?)]}'\"`".contains(c));
            if !path.is_empty() && !out.iter().any(|p| p == path) {
                out.push(path.to_string());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        history: &'a [Message],
        mentions: &'a [(String, String)],
        window: Option<u32>,
    ) -> ContextInput<'a> {
        ContextInput {
            system: "sys",
            project: "demo",
            agents: &[],
            history,
            mentions,
            git: Some("Branch: main"),
            recent_edits: None,
            prompt: "explain @src/a.rs please",
            window,
        }
    }

    #[test]
    fn openai_models_are_counted_exactly_and_others_estimated() {
        let t = Tokenizer::for_model("gpt-5.3-codex-spark");
        assert!(t.exact());
        assert_eq!(t.count("hello world"), 2);
        let e = Tokenizer::for_model("qwen3-coder");
        assert!(!e.exact());
        assert_eq!(e.count("1234567"), 2);
    }

    #[test]
    fn sparing_assembly_estimates_when_roomy_and_counts_exactly_near_the_limit() {
        let history = vec![Message::new(Role::User, "q1")];
        let gpt = Tokenizer::for_model("gpt-5");
        let (_, roomy) = assemble_sparingly(&input(&history, &[], Some(128_000)), gpt);
        assert!(
            !roomy.exact,
            "a small context in a large window is estimated"
        );
        let big = vec![("big.rs".to_string(), "word ".repeat(3000))];
        let (_, tight) = assemble_sparingly(&input(&history, &big, Some(8_000)), gpt);
        assert!(tight.exact, "near the limit the model's tokenizer decides");
        let (_, unknown) = assemble_sparingly(&input(&history, &[], None), gpt);
        assert!(unknown.exact, "without a known window it counts exactly");
        // The estimate never fits more than the exact count would.
        let text = "fn main() { println!(\"hello\"); }\n".repeat(50);
        assert!(Tokenizer::estimate().count(&text) >= gpt.count(&text));
    }

    #[test]
    fn mentions_are_found_once_without_punctuation() {
        assert_eq!(
            mentions("look at @src/a.rs, and @b.txt. also @src/a.rs"),
            ["src/a.rs", "b.txt"]
        );
        assert!(
            mentions("email me@example.com").is_empty()
                || mentions("email me@example.com") == Vec::<String>::new()
        );
    }

    #[test]
    fn everything_fits_in_a_large_window_with_the_changing_parts_last() {
        let history = vec![
            Message::new(Role::User, "q1"),
            Message::new(Role::Assistant, "a1"),
        ];
        let files = vec![("src/a.rs".to_string(), "fn a() {}".to_string())];
        let (messages, report) = assemble(
            &input(&history, &files, Some(128_000)),
            Tokenizer::for_model("gpt-5"),
        );
        assert!(report.left_out.is_empty());
        assert_eq!(messages.len(), 4);
        assert!(messages[0].text().starts_with("sys"));
        let last = &messages[3].text();
        assert!(
            last.starts_with("<file path=\"src/a.rs\">")
                && last.ends_with("explain @src/a.rs please")
        );
        assert!(last.contains("<git-status>"));
        assert_eq!(
            report.sections.iter().map(|s| s.tokens).sum::<u32>(),
            report.used
        );
    }

    #[test]
    fn overflow_leaves_out_old_history_and_big_files_and_says_so() {
        let long = "word ".repeat(7000);
        let history = vec![
            Message::new(Role::User, long.clone()),
            Message::new(Role::Assistant, "short"),
        ];
        let files = vec![
            ("big.rs".to_string(), "x ".repeat(7000)),
            ("small.rs".to_string(), "y".to_string()),
        ];
        // 8,000-token window: 6,000 for the context after the answer's reserve.
        let (messages, report) = assemble(
            &input(&history, &files, Some(8_000)),
            Tokenizer::for_model("gpt-5"),
        );
        assert!(report.used <= 6_000, "{}", report.used);
        assert_eq!(
            report.left_out[0],
            format!(
                "@big.rs ({} tokens) does not fit the window",
                report.sections[1].tokens
            )
        );
        assert!(
            report
                .left_out
                .iter()
                .any(|l| l == "1 earlier message(s) of the conversation"),
            "{:?}",
            report.left_out
        );
        assert!(messages.last().unwrap().text().contains("small.rs"));
        assert!(!messages.iter().any(|m| m.text().contains("word word")));
    }
}

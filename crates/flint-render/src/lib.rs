//! Code into safe HTML. Every character of the input is escaped; the only markup added
//! is `<span class="hl-…">` from the syntax highlighter, so themes are plain CSS and
//! untrusted text (a model's output, a file's content) can never become live HTML.
//!
//! syntect's default syntaxes lack TypeScript, TOML and others; two-face (from bat)
//! supplies them. The set loads once, on first use or on `warm()` at start-up. Texts
//! over the size caps are escaped but not highlighted, so a huge file never stalls.

pub mod markdown;

use std::sync::OnceLock;

use syntect::html::{line_tokens_to_classed_spans, ClassStyle};
use syntect::parsing::{ParseState, Scope, ScopeStack, SyntaxReference, SyntaxSet};

/// Larger texts are shown plain.
pub const MAX_HIGHLIGHT_BYTES: usize = 512 * 1024;
pub const MAX_HIGHLIGHT_LINES: usize = 20_000;
const MAX_LINE: usize = 4_000;

const STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(two_face::syntax::extra_newlines)
}

/// Loads the syntaxes now (call from a background thread at start-up), so the first
/// highlight is not the slow one.
pub fn warm() {
    let _ = syntaxes();
}

/// The syntax for a file, by its name or extension.
fn syntax_for(path: &str) -> Option<&'static SyntaxReference> {
    let set = syntaxes();
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or(name);
    set.find_syntax_by_extension(name)
        .or_else(|| set.find_syntax_by_extension(ext))
        .or_else(|| set.find_syntax_by_token(ext))
}

/// HTML-escapes text.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn classes(scope: &Scope) -> String {
    scope
        .build_string()
        .split('.')
        .map(|atom| format!("hl-{atom}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The lines of `text` (a file's content, LF endings) as HTML, one string per line,
/// each with its spans balanced so a line can be shown on its own (as a diff does).
pub fn highlight_lines(path: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let plain = || {
        lines
            .iter()
            .map(|l| escape(l.trim_end_matches('\n')))
            .collect()
    };
    if text.len() > MAX_HIGHLIGHT_BYTES || lines.len() > MAX_HIGHLIGHT_LINES {
        return plain();
    }
    let Some(syntax) = syntax_for(path) else {
        return plain();
    };
    let set = syntaxes();
    let mut state = ParseState::new(syntax);
    let mut stack = ScopeStack::new();
    let mut out = Vec::with_capacity(lines.len());
    for line in &lines {
        if line.len() > MAX_LINE {
            // A minified line would cost more than it shows; the state is reset after.
            out.push(escape(line.trim_end_matches('\n')));
            state = ParseState::new(syntax);
            stack = ScopeStack::new();
            continue;
        }
        let owned;
        let with_newline = if line.ends_with('\n') {
            *line
        } else {
            owned = format!("{line}\n");
            &owned
        };
        let Ok(ops) = state.parse_line(with_newline, set) else {
            return plain();
        };
        let mut html = String::new();
        // Re-open what earlier lines left open, so this line stands alone.
        for scope in stack.as_slice() {
            html.push_str("<span class=\"");
            html.push_str(&classes(scope));
            html.push_str("\">");
        }
        let Ok((body, _)) = line_tokens_to_classed_spans(with_newline, &ops, STYLE, &mut stack)
        else {
            return plain();
        };
        html.push_str(&body.replace('\n', ""));
        for _ in 0..stack.len() {
            html.push_str("</span>");
        }
        out.push(html);
    }
    out
}

/// The stylesheet for the highlight classes: a light theme, and a dark one under
/// `prefers-color-scheme: dark`. The UI ships it as `ui/src/bindings/highlight.css`,
/// written by this crate's tests like the TypeScript bindings and checked the same way.
pub fn theme_css() -> String {
    use syntect::highlighting::ThemeSet;
    use syntect::html::css_for_theme_with_class_style;
    let themes = ThemeSet::load_defaults();
    let css = |name: &str| {
        themes
            .themes
            .get(name)
            .and_then(|t| css_for_theme_with_class_style(t, STYLE).ok())
            .unwrap_or_default()
    };
    let dark: String = css("base16-ocean.dark")
        .lines()
        .map(|l| format!("  {l}\n"))
        .collect();
    format!(
        "/* Generated by flint-render (cargo test -p flint-render); do not edit. */\n{}\n@media (prefers-color-scheme: dark) {{\n{dark}}}\n",
        css("InspiredGitHub")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_stylesheet_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../ui/src/bindings/highlight.css");
        let css = theme_css();
        assert!(css.contains(".hl-comment") || css.contains(".hl-keyword"));
        std::fs::write(&path, css).unwrap();
    }

    fn balanced(html: &str) -> bool {
        html.matches("<span").count() == html.matches("</span>").count()
    }

    #[test]
    fn code_is_highlighted_per_line_with_balanced_spans() {
        let lines = highlight_lines(
            "src/main.rs",
            "/* a\n b */\nfn main() { let s = \"<x>\"; }\n",
        );
        assert_eq!(lines.len(), 3);
        assert!(lines.iter().all(|l| balanced(l)), "{lines:?}");
        // The comment's second line is still a comment.
        assert!(lines[1].contains("hl-comment"), "{}", lines[1]);
        assert!(
            lines[2].contains("hl-keyword") || lines[2].contains("hl-storage"),
            "{}",
            lines[2]
        );
        assert!(lines[2].contains("&lt;x&gt;"));
    }

    #[test]
    fn two_face_adds_typescript_and_toml() {
        assert!(highlight_lines("ui/App.ts", "const x: number = 1;\n")[0].contains("hl-"));
        assert!(highlight_lines("Cargo.toml", "[package]\nname = \"x\"\n")[1].contains("hl-"));
    }

    #[test]
    fn hostile_text_stays_text_and_huge_or_unknown_files_are_plain() {
        let evil = "<script>alert(1)</script><img src=x onerror=alert(1)>";
        for path in ["a.html", "a.md", "a.unknownext"] {
            let out = highlight_lines(path, evil).join("");
            assert!(
                !out.contains("<script") && !out.contains("<img"),
                "{path}: {out}"
            );
        }
        let big = "x\n".repeat(MAX_HIGHLIGHT_LINES + 1);
        assert_eq!(highlight_lines("a.rs", &big)[0], "x");
        assert_eq!(highlight_lines("notes.unknownext", "a<b")[0], "a&lt;b");
    }
}

//! Code into safe HTML. Every character of the input is escaped; the only markup added
//! is `<span class="hl-…">` from the syntax highlighter, so themes are plain CSS and
//! untrusted text (a model's output, a file's content) can never become live HTML.
//!
//! The spans are resolved styles, not scopes: each run of text that looks the same in
//! both of Flint's themes is one span whose classes name its colour and font style in
//! the light theme (`hl-l3`, `hl-lb`) and in the dark one (`hl-d5`, `hl-di`); text in
//! the default style has no span. syntect's scope spans (one per scope, the scope stack
//! re-opened on every line) made ~4x as many elements: on the benchmark's answer 25,483
//! spans for 2,021 code lines against 6,185 runs, and every element is memory and
//! layout in the webview (docs/benchmarks.md).
//!
//! syntect's default syntaxes lack TypeScript, TOML and others; two-face (from bat)
//! supplies them. The set loads once, on first use or on `warm()` at start-up. Texts
//! over the size caps are escaped but not highlighted, so a huge file never stalls.

pub mod markdown;

use std::sync::OnceLock;

use syntect::highlighting::{
    Color, FontStyle, HighlightIterator, HighlightState, Highlighter, Style, Theme, ThemeSet,
};
use syntect::parsing::{ParseState, ScopeStack, SyntaxReference, SyntaxSet};

/// Larger texts are shown plain.
pub const MAX_HIGHLIGHT_BYTES: usize = 512 * 1024;
pub const MAX_HIGHLIGHT_LINES: usize = 20_000;
const MAX_LINE: usize = 4_000;

/// Flint's two themes: (class letter, syntect theme, CSS media condition).
const THEMES: [(char, &str, &str); 2] = [
    ('l', "InspiredGitHub", "(prefers-color-scheme: light)"),
    ('d', "base16-ocean.dark", "(prefers-color-scheme: dark)"),
];

/// A theme with the colours its rules use, numbered: the number is the class.
struct Palette {
    letter: char,
    name: &'static str,
    media: &'static str,
    theme: Theme,
    /// The theme's text colours, then its background colours (class `hl-{letter}g{i}`).
    colors: Vec<Color>,
    backgrounds: Vec<Color>,
}

impl Palette {
    fn classes(&self, style: &Style, out: &mut String) {
        if Some(style.foreground) != self.theme.settings.foreground {
            if let Some(i) = self.colors.iter().position(|c| *c == style.foreground) {
                out.push_str(&format!(" hl-{}{i}", self.letter));
            }
        }
        if Some(style.background) != self.theme.settings.background {
            if let Some(i) = self.backgrounds.iter().position(|c| *c == style.background) {
                out.push_str(&format!(" hl-{}g{i}", self.letter));
            }
        }
        for (flag, c) in [
            (FontStyle::BOLD, 'b'),
            (FontStyle::ITALIC, 'i'),
            (FontStyle::UNDERLINE, 'u'),
        ] {
            if style.font_style.contains(flag) {
                out.push_str(&format!(" hl-{}{c}", self.letter));
            }
        }
    }
}

fn palettes() -> &'static [Palette] {
    static SET: OnceLock<Vec<Palette>> = OnceLock::new();
    SET.get_or_init(|| {
        let mut themes = ThemeSet::load_defaults().themes;
        THEMES
            .iter()
            .filter_map(|&(letter, name, media)| {
                let theme = themes.remove(name)?;
                let (mut colors, mut backgrounds) = (Vec::new(), Vec::new());
                for item in &theme.scopes {
                    for (c, list) in [
                        (item.style.foreground, &mut colors),
                        (item.style.background, &mut backgrounds),
                    ] {
                        if let Some(c) = c {
                            if !list.contains(&c) {
                                list.push(c);
                            }
                        }
                    }
                }
                Some(Palette {
                    letter,
                    name,
                    media,
                    theme,
                    colors,
                    backgrounds,
                })
            })
            .collect()
    })
}

/// Each theme's highlighter (its selectors built once, not for every block), in
/// `palettes()` order.
fn highlighters() -> &'static [Highlighter<'static>] {
    static SET: OnceLock<Vec<Highlighter<'static>>> = OnceLock::new();
    SET.get_or_init(|| {
        palettes()
            .iter()
            .map(|p| Highlighter::new(&p.theme))
            .collect()
    })
}

fn syntaxes() -> &'static SyntaxSet {
    static SET: OnceLock<SyntaxSet> = OnceLock::new();
    SET.get_or_init(two_face::syntax::extra_newlines)
}

/// Loads the syntaxes now (call from a background thread at start-up), so the first
/// highlight is not the slow one.
pub fn warm() {
    let _ = syntaxes();
    let _ = highlighters();
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
    let themes = palettes();
    let highlighters = highlighters();
    let fresh = || -> Vec<HighlightState> {
        highlighters
            .iter()
            .map(|h| HighlightState::new(h, ScopeStack::new()))
            .collect()
    };
    let mut state = ParseState::new(syntax);
    let mut styles = fresh();
    let mut out = Vec::with_capacity(lines.len());
    for line in &lines {
        if line.len() > MAX_LINE {
            // A minified line would cost more than it shows; the state is reset after.
            out.push(escape(line.trim_end_matches('\n')));
            state = ParseState::new(syntax);
            styles = fresh();
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
        // Each theme's styled pieces; the same operations cut the line at the same places.
        let pieces: Vec<Vec<(Style, &str)>> = highlighters
            .iter()
            .zip(styles.iter_mut())
            .map(|(h, st)| HighlightIterator::new(st, &ops, with_newline, h).collect())
            .collect();
        let Some(first) = pieces.first() else {
            return plain();
        };
        // Every theme cut the line alike and kept all of it (syntect ends a line early
        // on a broken scope stack): otherwise the line is shown plain.
        let whole = |p: &Vec<(Style, &str)>| {
            p.len() == first.len()
                && p.iter().map(|(_, t)| t.len()).sum::<usize>() == with_newline.len()
        };
        if !pieces.iter().all(whole) {
            return plain();
        }
        let mut html = String::new();
        let mut run = String::new(); // the open span's classes
        let mut text = String::new();
        for (i, (_, piece)) in first.iter().enumerate() {
            let piece = piece.trim_end_matches('\n');
            if piece.is_empty() {
                continue;
            }
            let mut classes = String::new();
            for (palette, theme_pieces) in themes.iter().zip(&pieces) {
                palette.classes(&theme_pieces[i].0, &mut classes);
            }
            // Blank text keeps the run it is in (only its colour would differ).
            if classes != run && !piece.trim().is_empty() {
                close_run(&mut html, &run, &text);
                text.clear();
                run = classes;
            }
            text.push_str(piece);
        }
        close_run(&mut html, &run, &text);
        out.push(html);
    }
    out
}

/// Appends `text` escaped, in a span with `classes` (which start with a space) if any.
fn close_run(html: &mut String, classes: &str, text: &str) {
    if text.is_empty() {
        return;
    }
    if classes.is_empty() {
        html.push_str(&escape(text));
    } else {
        html.push_str("<span class=\"");
        html.push_str(classes.trim_start());
        html.push_str("\">");
        html.push_str(&escape(text));
        html.push_str("</span>");
    }
}

/// The stylesheet for the highlight classes: a light theme, and a dark one under
/// `prefers-color-scheme: dark`. The UI ships it as `ui/src/bindings/highlight.css`,
/// written by this crate's tests like the TypeScript bindings and checked the same way.
pub fn theme_css() -> String {
    let css_color = |c: &Color| {
        if c.a == 255 {
            format!("#{:02x}{:02x}{:02x}", c.r, c.g, c.b)
        } else {
            format!(
                "rgba({}, {}, {}, {:.3})",
                c.r,
                c.g,
                c.b,
                f32::from(c.a) / 255.0
            )
        }
    };
    let mut css = String::from(
        "/* Generated by flint-render (cargo test -p flint-render); do not edit. */\n",
    );
    for p in palettes() {
        let (letter, name, media) = (p.letter, p.name, p.media);
        css.push_str(&format!("\n/* {name} */\n@media {media} {{\n"));
        for (i, c) in p.colors.iter().enumerate() {
            css.push_str(&format!(
                "  .hl-{letter}{i} {{ color: {}; }}\n",
                css_color(c)
            ));
        }
        for (i, c) in p.backgrounds.iter().enumerate() {
            css.push_str(&format!(
                "  .hl-{letter}g{i} {{ background-color: {}; }}\n",
                css_color(c)
            ));
        }
        css.push_str(&format!("  .hl-{letter}b {{ font-weight: bold; }}\n"));
        css.push_str(&format!("  .hl-{letter}i {{ font-style: italic; }}\n"));
        css.push_str(&format!(
            "  .hl-{letter}u {{ text-decoration: underline; }}\n"
        ));
        css.push_str("}\n");
    }
    css
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ui_stylesheet_is_current() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../ui/src/bindings/highlight.css");
        let css = theme_css();
        assert!(
            css.contains(".hl-l0 {") && css.contains(".hl-d0 {"),
            "{css}"
        );
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
        // The comment's second line is still a comment: one run, italic in the light
        // theme (InspiredGitHub's comments), as the first line's.
        let comment = |l: &str| l.split('"').nth(1).map(str::to_owned);
        assert!(lines[1].starts_with("<span class=\""), "{}", lines[1]);
        assert_eq!(comment(&lines[0]), comment(&lines[1]), "{lines:?}");
        assert!(lines[1].contains("hl-li"), "{}", lines[1]);
        // `fn` and `let` are coloured, the string differently from them.
        assert!(lines[2].contains("\">fn"), "{}", lines[2]);
        assert!(lines[2].contains("&lt;x&gt;"));
        let class_of = |needle: &str| {
            let at = lines[2].find(needle).unwrap();
            let open = lines[2][..at].rfind("class=\"").unwrap();
            lines[2][open..at].to_string()
        };
        assert_ne!(class_of(">fn"), class_of("&lt;x&gt;"));
    }

    #[test]
    fn theme_backgrounds_are_kept() {
        // InspiredGitHub tints a diff's added and removed lines.
        let lines = highlight_lines("change.diff", "+added\n-removed\n");
        assert!(lines.iter().all(|l| l.contains("hl-lg")), "{lines:?}");
        assert!(theme_css().contains("background-color"));
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

//! Finding where a block of lines from the model sits in a file. The model's copy is
//! often not byte-exact, so matching goes in tiers, each more forgiving: exact; ignoring
//! trailing whitespace; ignoring leading and trailing whitespace; and with typographic
//! punctuation (dashes, curly quotes, odd spaces) folded to ASCII.

type Norm = fn(&str) -> String;

const TIERS: [Norm; 4] = [
    |s| s.to_string(),
    |s| s.trim_end().to_string(),
    |s| s.trim().to_string(),
    |s| fold_punctuation(s.trim()),
];

pub fn fold_punctuation(s: &str) -> String {
    s.chars()
        .map(|c| match c {
            '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}' | '\u{2015}'
            | '\u{2212}' => '-',
            '\u{2018}' | '\u{2019}' | '\u{201A}' | '\u{201B}' => '\'',
            '\u{201C}' | '\u{201D}' | '\u{201E}' | '\u{201F}' => '"',
            '\u{00A0}' | '\u{2002}' | '\u{2003}' | '\u{2004}' | '\u{2005}' | '\u{2006}'
            | '\u{2007}' | '\u{2008}' | '\u{2009}' | '\u{200A}' | '\u{202F}' | '\u{205F}'
            | '\u{3000}' => ' ',
            other => other,
        })
        .collect()
}

fn matches_at(lines: &[String], pattern: &[String], at: usize) -> bool {
    pattern.iter().enumerate().all(|(i, p)| lines[at + i] == *p)
}

/// The file's and the pattern's lines under one tier: each line normalised once per
/// search, not once per comparison (a 100k-line file has 100k places to try). The
/// exact tier borrows them as they are.
fn under<'a>(
    tier: usize,
    lines: &'a [String],
    pattern: &'a [String],
) -> (
    std::borrow::Cow<'a, [String]>,
    std::borrow::Cow<'a, [String]>,
) {
    use std::borrow::Cow;
    if tier == 0 {
        return (Cow::Borrowed(lines), Cow::Borrowed(pattern));
    }
    let norm = TIERS[tier];
    let all = |v: &[String]| -> Vec<String> { v.iter().map(|l| norm(l)).collect() };
    (Cow::Owned(all(lines)), Cow::Owned(all(pattern)))
}

/// The first position at or after `start` where `pattern` matches, trying each tier in
/// turn; with `eof`, a match ending at the last line is preferred (V4A's
/// `*** End of File`). This is apply_patch's rule: the first match wins.
pub fn seek(lines: &[String], pattern: &[String], start: usize, eof: bool) -> Option<usize> {
    if pattern.is_empty() {
        return Some(start);
    }
    if pattern.len() > lines.len() {
        return None;
    }
    let last = lines.len() - pattern.len();
    for tier in 0..TIERS.len() {
        let (l, p) = under(tier, lines, pattern);
        if eof && last >= start && matches_at(&l, &p, last) {
            return Some(last);
        }
        if let Some(i) = (start..=last).find(|&i| matches_at(&l, &p, i)) {
            return Some(i);
        }
    }
    None
}

/// Where `pattern` matches exactly once, at the strictest tier that finds it. Zero or
/// several matches are errors carrying what the model should see next.
pub fn find_unique(lines: &[String], pattern: &[String]) -> Result<usize, Mismatch> {
    if pattern.is_empty() || pattern.len() > lines.len() {
        return Err(Mismatch::None {
            nearest: nearest(lines, pattern),
        });
    }
    let last = lines.len() - pattern.len();
    for tier in 0..TIERS.len() {
        let (l, p) = under(tier, lines, pattern);
        let found: Vec<usize> = (0..=last)
            .filter(|&i| matches_at(&l, &p, i))
            .take(10)
            .collect();
        match found.len() {
            0 => continue,
            1 => return Ok(found[0]),
            _ => {
                return Err(Mismatch::Several {
                    lines: found.iter().map(|i| i + 1).collect(),
                })
            }
        }
    }
    Err(Mismatch::None {
        nearest: nearest(lines, pattern),
    })
}

/// `replacement` indented as the file is where the quoted lines were found: when every
/// non-blank quoted line differs from the file's line by one and the same leading
/// whitespace (the model quoted a nested block without its indentation, or with one
/// level too many), the replacement gets that difference too. Python breaks otherwise.
/// Where the difference is not one shift for all lines, the replacement stays as written.
pub fn reindent(found: &[String], quoted: &[String], replacement: Vec<String>) -> Vec<String> {
    fn indent(s: &str) -> &str {
        &s[..s.len() - s.trim_start().len()]
    }
    // (whitespace to add, whitespace to remove): one of them is empty.
    let mut shift: Option<(&str, &str)> = None;
    for (f, q) in found.iter().zip(quoted) {
        if f.trim().is_empty() || q.trim().is_empty() {
            continue;
        }
        let (fw, qw) = (indent(f), indent(q));
        let this = if let Some(extra) = fw.strip_suffix(qw) {
            (extra, "")
        } else if let Some(extra) = qw.strip_suffix(fw) {
            ("", extra)
        } else {
            return replacement;
        };
        match shift {
            None => shift = Some(this),
            Some(s) if s == this => {}
            Some(_) => return replacement,
        }
    }
    match shift {
        Some((add, "")) if !add.is_empty() => replacement
            .into_iter()
            .map(|l| {
                if l.trim().is_empty() {
                    l
                } else {
                    format!("{add}{l}")
                }
            })
            .collect(),
        Some(("", remove)) if !remove.is_empty() => replacement
            .into_iter()
            .map(|l| match l.strip_prefix(remove) {
                Some(rest) => rest.to_string(),
                None => l,
            })
            .collect(),
        _ => replacement,
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// No match; the file's lines most like the pattern, with 1-based line numbers.
    None { nearest: Vec<(usize, String)> },
    /// Several matches, at these 1-based lines.
    Several { lines: Vec<usize> },
}

/// The window of the file most like `pattern` (by lines equal after trimming), so the
/// model can be shown the real text it was trying to quote.
pub(crate) fn nearest(lines: &[String], pattern: &[String]) -> Vec<(usize, String)> {
    if lines.is_empty() || pattern.is_empty() {
        return Vec::new();
    }
    // Loose on purpose: whitespace anywhere and typography are ignored, so a quote
    // that is off by a space still points at the line it meant.
    let loose = |s: &str| -> String {
        fold_punctuation(s)
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect()
    };
    let want: Vec<String> = pattern.iter().map(|p| loose(p)).collect();
    let have: Vec<String> = lines.iter().map(|l| loose(l)).collect();
    let width = pattern.len().min(lines.len());
    let starts = lines.len() - width + 1;
    // Linear in the file (plus repeats of a line in the quote), not file x quote: each
    // file line adds to the windows it sits in the right place for, and the windows'
    // count of lines found anywhere in the quote comes from a running sum.
    let mut places: std::collections::HashMap<&str, Vec<usize>> = Default::default();
    for (i, w) in want.iter().take(width).enumerate() {
        places.entry(w.as_str()).or_default().push(i);
    }
    let quoted: std::collections::HashSet<&str> = want.iter().map(String::as_str).collect();
    let mut score = vec![0usize; starts];
    let mut in_quote = vec![0usize; lines.len() + 1];
    for (j, line) in have.iter().enumerate() {
        in_quote[j + 1] = in_quote[j] + usize::from(quoted.contains(line.as_str()));
        // Lines in the right place count double; lines found anywhere in the quote once.
        for &i in places.get(line.as_str()).map(Vec::as_slice).unwrap_or(&[]) {
            if j >= i && j - i < starts {
                score[j - i] += 2;
            }
        }
    }
    let mut best = (0usize, 0usize);
    for (start, s) in score.iter().enumerate() {
        let total = s + in_quote[start + width] - in_quote[start];
        if total > best.1 {
            best = (start, total);
        }
    }
    if best.1 == 0 {
        return Vec::new();
    }
    (best.0..best.0 + width)
        .map(|i| (i + 1, lines[i].clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &[&str]) -> Vec<String> {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn tiers_forgive_whitespace_and_typography() {
        let file = v(&["fn a() {", "    let s = \"x\";  ", "}"]);
        assert_eq!(seek(&file, &v(&["    let s = \"x\";"]), 0, false), Some(1));
        assert_eq!(seek(&file, &v(&["let s = \"x\";"]), 0, false), Some(1));
        assert_eq!(
            seek(&file, &v(&["let s = \u{201C}x\u{201D};"]), 0, false),
            Some(1)
        );
        assert_eq!(seek(&file, &v(&["nope"]), 0, false), None);
    }

    #[test]
    fn a_replacement_is_indented_as_the_lines_it_replaces() {
        let file = v(&["def f():", "    if x:", "        y()", "    return 1"]);
        let quoted = v(&["if x:", "    y()"]);
        let at = find_unique(&file, &quoted).unwrap();
        assert_eq!(
            reindent(&file[at..at + 2], &quoted, v(&["if z:", "    w()", ""])),
            v(&["    if z:", "        w()", ""])
        );
        // One level too many in the quote: removed from the replacement.
        let quoted = v(&["        if x:", "            y()"]);
        assert_eq!(
            reindent(
                &file[1..3],
                &quoted,
                v(&["        if z:", "            w()"])
            ),
            v(&["    if z:", "        w()"])
        );
        // No single shift: left as written.
        let quoted = v(&["if x:", "y()"]);
        assert_eq!(reindent(&file[1..3], &quoted, v(&["a"])), v(&["a"]));
    }

    #[test]
    fn unique_matching_reports_several_and_nearest() {
        let file = v(&["a", "b", "a", "c"]);
        assert_eq!(
            find_unique(&file, &v(&["a"])),
            Err(Mismatch::Several { lines: vec![1, 3] })
        );
        assert_eq!(find_unique(&file, &v(&["b", "a"])), Ok(1));
        let Err(Mismatch::None { nearest }) = find_unique(&file, &v(&["b", "x"])) else {
            panic!()
        };
        assert_eq!(nearest[0], (2, "b".to_string()));
    }
}

//! Hunks, computed by Flint between a file's current text and the proposed text,
//! whatever format the model used, so review is per hunk in every case. `merge` builds
//! the file with only the accepted hunks applied.

use serde::{Deserialize, Serialize};
use similar::DiffOp;
use ts_rs::TS;

/// Lines of unchanged context kept around each change.
const CONTEXT: usize = 3;

/// The most changed lines (old plus new, between the common start and end) that are
/// diffed line by line. Myers' diff costs (N+M)·D, so a rewrite of a large file or a
/// million scattered one-line changes would stall review for minutes; past this the
/// changed middle is one replacement. A count, not a deadline: `hunks` and `merge` must
/// see the very same changes, whatever the machine's load.
const MAX_DIFFED_LINES: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
#[ts(export)]
pub enum LineKind {
    Context,
    Removed,
    Added,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct DiffLine {
    pub kind: LineKind,
    /// The line without its line ending.
    pub text: String,
    /// The line as safe, highlighted HTML, when a renderer filled it in.
    pub html: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
#[ts(export)]
pub struct Hunk {
    /// 1-based first line in the current file (0 when the file is empty).
    pub old_start: u32,
    pub old_len: u32,
    pub new_start: u32,
    pub new_len: u32,
    pub lines: Vec<DiffLine>,
}

/// The lines of `text`, each with its newline.
fn lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

/// The changes from `old` to `new`: line by line, or, past `MAX_DIFFED_LINES` in the
/// changed middle, the middle as one replacement. Deterministic.
fn ops(old: &[&str], new: &[&str]) -> Vec<DiffOp> {
    let prefix = old.iter().zip(new).take_while(|(a, b)| a == b).count();
    let suffix = old[prefix..]
        .iter()
        .rev()
        .zip(new[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let (old_mid, new_mid) = (old.len() - prefix - suffix, new.len() - prefix - suffix);
    if old_mid + new_mid <= MAX_DIFFED_LINES {
        return similar::capture_diff_slices(similar::Algorithm::Myers, old, new);
    }
    let mut ops = Vec::new();
    if prefix > 0 {
        ops.push(DiffOp::Equal {
            old_index: 0,
            new_index: 0,
            len: prefix,
        });
    }
    ops.push(DiffOp::Replace {
        old_index: prefix,
        old_len: old_mid,
        new_index: prefix,
        new_len: new_mid,
    });
    if suffix > 0 {
        ops.push(DiffOp::Equal {
            old_index: prefix + old_mid,
            new_index: prefix + new_mid,
            len: suffix,
        });
    }
    ops
}

fn groups(ops: &[DiffOp]) -> Vec<Vec<DiffOp>> {
    similar::group_diff_ops(ops.to_vec(), CONTEXT)
        .into_iter()
        .filter(|g| g.iter().any(|op| !matches!(op, DiffOp::Equal { .. })))
        .collect()
}

fn strip(line: &str) -> String {
    line.strip_suffix('\n').unwrap_or(line).to_string()
}

/// The hunks turning `before` into `after` (both LF text).
pub fn hunks(before: &str, after: &str) -> Vec<Hunk> {
    let (old, new) = (lines(before), lines(after));
    groups(&ops(&old, &new))
        .into_iter()
        .map(|group| {
            let (first, last) = (&group[0], &group[group.len() - 1]);
            let old_range = first.old_range().start..last.old_range().end;
            let new_range = first.new_range().start..last.new_range().end;
            let mut lines = Vec::new();
            for op in &group {
                match op {
                    DiffOp::Equal { old_index, len, .. } => {
                        lines.extend(old[*old_index..old_index + len].iter().map(|l| DiffLine {
                            kind: LineKind::Context,
                            text: strip(l),
                            html: None,
                        }))
                    }
                    _ => {
                        lines.extend(old[op.old_range()].iter().map(|l| DiffLine {
                            kind: LineKind::Removed,
                            text: strip(l),
                            html: None,
                        }));
                        lines.extend(new[op.new_range()].iter().map(|l| DiffLine {
                            kind: LineKind::Added,
                            text: strip(l),
                            html: None,
                        }));
                    }
                }
            }
            let start = |r: &std::ops::Range<usize>| {
                if r.is_empty() && r.start == 0 {
                    0
                } else {
                    r.start as u32 + 1
                }
            };
            Hunk {
                old_start: start(&old_range),
                old_len: old_range.len() as u32,
                new_start: start(&new_range),
                new_len: new_range.len() as u32,
                lines,
            }
        })
        .collect()
}

/// `before` with only the hunks marked in `accepted` applied (hunks as [`hunks`]
/// numbers them; missing entries count as rejected).
pub fn merge(before: &str, after: &str, accepted: &[bool]) -> String {
    let (old, new) = (lines(before), lines(after));
    let all = ops(&old, &new);
    // The k-th change in the whole diff belongs to the hunk that holds the k-th change
    // across the hunks, since both list changes in order.
    let owner: Vec<usize> = groups(&all)
        .iter()
        .enumerate()
        .flat_map(|(g, ops)| {
            ops.iter()
                .filter(|op| !matches!(op, DiffOp::Equal { .. }))
                .map(move |_| g)
        })
        .collect();
    let mut out = String::with_capacity(after.len().max(before.len()));
    let mut k = 0;
    for op in &all {
        if let DiffOp::Equal { .. } = op {
            old[op.old_range()].iter().for_each(|l| out.push_str(l));
            continue;
        }
        let take_new = owner
            .get(k)
            .is_some_and(|&g| accepted.get(g).copied().unwrap_or(false));
        k += 1;
        if take_new {
            new[op.new_range()].iter().for_each(|l| out.push_str(l));
        } else {
            old[op.old_range()].iter().for_each(|l| out.push_str(l));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const BEFORE: &str = "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n";
    const AFTER: &str = "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nK\nl\nm\n";

    #[test]
    fn far_apart_changes_are_separate_hunks() {
        let h = hunks(BEFORE, AFTER);
        assert_eq!(h.len(), 2);
        assert_eq!(
            (h[0].old_start, h[0].old_len, h[0].new_start, h[0].new_len),
            (1, 5, 1, 5)
        );
        assert!(h[0].lines.contains(&DiffLine {
            kind: LineKind::Removed,
            text: "b".into(),
            html: None
        }));
        assert!(h[1].lines.contains(&DiffLine {
            kind: LineKind::Added,
            text: "m".into(),
            html: None
        }));
    }

    #[test]
    fn merging_some_hunks_applies_only_those() {
        assert_eq!(merge(BEFORE, AFTER, &[true, true]), AFTER);
        assert_eq!(merge(BEFORE, AFTER, &[false, false]), BEFORE);
        assert_eq!(
            merge(BEFORE, AFTER, &[true, false]),
            "a\nB\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n"
        );
        assert_eq!(
            merge(BEFORE, AFTER, &[false, true]),
            "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nK\nl\nm\n"
        );
    }

    proptest! {
        /// A diff applied in full to its base gives the result; applied not at all, the base.
        #[test]
        fn merge_all_is_after_and_none_is_before(
            a in proptest::collection::vec("[abc]{0,3}", 0..30),
            b in proptest::collection::vec("[abc]{0,3}", 0..30),
        ) {
            let before = a.iter().map(|l| format!("{l}\n")).collect::<String>();
            let after = b.iter().map(|l| format!("{l}\n")).collect::<String>();
            let n = hunks(&before, &after).len();
            prop_assert_eq!(merge(&before, &after, &vec![true; n]), after.clone());
            prop_assert_eq!(merge(&before, &after, &vec![false; n]), before.clone());
        }
    }
}

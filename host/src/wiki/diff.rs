//! Diffs between revisions, commit details and blame, computed from blobs the index points at
//! (the index lists the revisions; git only supplies their contents).

use std::time::Duration;

use gix::ObjectId;
use similar::{Algorithm, ChangeTag, DiffTag, TextDiff};

use super::{CommitDetail, Result, Wiki, WikiError};
use crate::index::{CommitRow, Revision};
use crate::store::PagePath;

/// Diffs stop refining after this long and fall back to a coarser (still correct) result.
const DIFF_TIMEOUT: Duration = Duration::from_millis(500);
/// Lines of context around each change.
const CONTEXT: usize = 3;
/// Files larger than this are summarized rather than diffed line by line.
const MAX_DIFF_BYTES: usize = 2 << 20;
/// Blame follows at most this many revisions back.
const MAX_BLAME_REVISIONS: u32 = 2000;

/// What a diff line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffLineKind {
    Context,
    Added,
    Removed,
    /// A `@@ -a,b +c,d @@` separator between hunks.
    Hunk,
}

/// One line of a unified diff, with line numbers on each side.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct DiffLine {
    pub kind: DiffLineKind,
    pub old: Option<usize>,
    pub new: Option<usize>,
    pub text: String,
}

/// The diff of one file of a commit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FileDiff {
    pub path: String,
    pub old_path: Option<String>,
    pub kind: String,
    /// Not text (or too large): no lines are shown.
    pub binary: bool,
    pub lines: Vec<DiffLine>,
}

/// One line of a blame view: the line and the commit that last changed it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BlameLine {
    pub number: usize,
    pub text: String,
    pub commit: CommitRow,
    /// The first line of a run of lines from the same commit (the view labels only these).
    pub first: bool,
}

/// A unified diff of two texts, with `CONTEXT` lines around each change.
pub fn text_diff(old: &str, new: &str) -> Vec<DiffLine> {
    let diff = TextDiff::configure()
        .algorithm(Algorithm::Myers)
        .timeout(DIFF_TIMEOUT)
        .diff_lines(old, new);
    let mut out = Vec::new();
    for group in diff.grouped_ops(CONTEXT) {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            continue;
        };
        let (_, old_start, new_start) = first.as_tag_tuple();
        let (_, old_end, new_end) = last.as_tag_tuple();
        out.push(DiffLine {
            kind: DiffLineKind::Hunk,
            old: None,
            new: None,
            text: format!(
                "@@ -{},{} +{},{} @@",
                old_start.start + 1,
                old_end.end - old_start.start,
                new_start.start + 1,
                new_end.end - new_start.start
            ),
        });
        for op in &group {
            for change in diff.iter_changes(op) {
                let kind = match change.tag() {
                    ChangeTag::Equal => DiffLineKind::Context,
                    ChangeTag::Insert => DiffLineKind::Added,
                    ChangeTag::Delete => DiffLineKind::Removed,
                };
                out.push(DiffLine {
                    kind,
                    old: change.old_index().map(|i| i + 1),
                    new: change.new_index().map(|i| i + 1),
                    text: change.value().trim_end_matches(['\n', '\r']).to_string(),
                });
            }
        }
    }
    out
}

impl Wiki {
    /// The page's content at a revision, or `None` if the page did not exist then.
    fn content_at(&self, page: &PagePath, rev: &str) -> Result<(CommitRow, Option<String>)> {
        let commit = self.commit(rev)?;
        let revision = self.index.revision_at(page.as_str(), &commit)?;
        let content = match revision.and_then(|r| r.blob) {
            Some(blob) => Some(self.read_blob_text(&blob)?),
            None => None,
        };
        Ok((commit, content))
    }

    /// The diff of a page between revisions `a` (older) and `b`.
    pub fn diff(
        &self,
        page: &PagePath,
        a: &str,
        b: &str,
    ) -> Result<(CommitRow, CommitRow, Vec<DiffLine>)> {
        let (commit_a, old) = self.content_at(page, a)?;
        let (commit_b, new) = self.content_at(page, b)?;
        if old.is_none() && new.is_none() {
            return Err(WikiError::NotFound(format!(
                "page '{page}' at either revision"
            )));
        }
        let lines = text_diff(
            old.as_deref().unwrap_or_default(),
            new.as_deref().unwrap_or_default(),
        );
        Ok((commit_a, commit_b, lines))
    }

    /// One commit with the diffs of all files it changed.
    pub fn commit_detail(&self, rev: &str) -> Result<CommitDetail> {
        let commit = self.commit(rev)?;
        let id = ObjectId::from_hex(commit.id.as_bytes())
            .map_err(|_| WikiError::NotFound(format!("revision '{rev}'")))?;
        let meta = self.store.commit_meta(id)?;
        let parent = meta.parents.first().copied();
        let mut files = Vec::new();
        for changed in self.index.changed_files(commit.seq)? {
            let before_path = changed.old_path.as_deref().unwrap_or(&changed.path);
            let old = match parent {
                Some(parent) => self.store.read_at(parent, before_path)?.map(|(_, b)| b),
                None => None,
            };
            let new = self.store.read_at(id, &changed.path)?.map(|(_, b)| b);
            let old_text = old.as_deref().map(std::str::from_utf8);
            let new_text = new.as_deref().map(std::str::from_utf8);
            let too_big = old
                .as_ref()
                .map_or(0, Vec::len)
                .max(new.as_ref().map_or(0, Vec::len))
                > MAX_DIFF_BYTES;
            let (binary, lines) = match (old_text, new_text) {
                (Some(Err(_)), _) | (_, Some(Err(_))) => (true, Vec::new()),
                _ if too_big => (true, Vec::new()),
                (old, new) => {
                    let old = old.and_then(Result::ok).unwrap_or_default();
                    let new = new.and_then(Result::ok).unwrap_or_default();
                    (false, text_diff(old, new))
                }
            };
            files.push(FileDiff {
                path: changed.path,
                old_path: changed.old_path,
                kind: changed.kind,
                binary,
                lines,
            });
        }
        Ok(CommitDetail {
            commit,
            parent: parent.map(|p| p.to_string()),
            files,
        })
    }

    /// Who last changed each line of the page (at HEAD or at revision `rev`).
    pub fn blame(&self, page: &PagePath, rev: Option<&str>) -> Result<Vec<BlameLine>> {
        let upto = match rev {
            Some(rev) => Some(self.commit(rev)?.seq),
            None => None,
        };
        let mut revisions: Vec<Revision> =
            self.index.history(page.as_str(), MAX_BLAME_REVISIONS, 0)?;
        if revisions.is_empty() {
            return Err(WikiError::NotFound(format!("page '{page}'")));
        }
        revisions.reverse();
        if let Some(upto) = upto {
            revisions.retain(|r| r.commit.seq <= upto);
        }
        // (line, index into `revisions` of the commit that introduced it)
        let mut lines: Vec<(String, usize)> = Vec::new();
        for (i, revision) in revisions.iter().enumerate() {
            let Some(blob) = &revision.blob else {
                lines.clear();
                continue;
            };
            let text = self.read_blob_text(blob)?;
            let new: Vec<&str> = text.split_inclusive('\n').collect();
            let old: Vec<&str> = lines.iter().map(|(l, _)| l.as_str()).collect();
            let ops = similar::capture_diff_slices(Algorithm::Myers, &old, &new);
            let mut next = Vec::with_capacity(new.len());
            for op in ops {
                let (tag, old_range, new_range) = op.as_tag_tuple();
                match tag {
                    DiffTag::Equal => {
                        for (o, n) in old_range.zip(new_range) {
                            next.push((new[n].to_string(), lines[o].1));
                        }
                    }
                    DiffTag::Insert | DiffTag::Replace => {
                        next.extend(new_range.map(|n| (new[n].to_string(), i)));
                    }
                    DiffTag::Delete => {}
                }
            }
            lines = next;
        }
        if lines.is_empty() && revisions.last().is_none_or(|r| r.blob.is_none()) {
            return Err(WikiError::NotFound(format!(
                "page '{page}' at that revision"
            )));
        }
        let mut previous = usize::MAX;
        Ok(lines
            .into_iter()
            .enumerate()
            .map(|(n, (text, rev))| {
                let first = rev != previous;
                previous = rev;
                BlameLine {
                    number: n + 1,
                    text: text.trim_end_matches(['\n', '\r']).to_string(),
                    commit: revisions[rev].commit.clone(),
                    first,
                }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_diff_has_hunks_and_numbers() {
        let old = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let new = "a\nb\nc\nD\ne\nf\ng\nh\ni\n";
        let lines = text_diff(old, new);
        assert_eq!(lines[0].kind, DiffLineKind::Hunk);
        assert_eq!(lines[0].text, "@@ -1,8 +1,9 @@");
        let removed: Vec<_> = lines
            .iter()
            .filter(|l| l.kind == DiffLineKind::Removed)
            .collect();
        let added: Vec<_> = lines
            .iter()
            .filter(|l| l.kind == DiffLineKind::Added)
            .collect();
        assert_eq!(
            (removed.len(), removed[0].text.as_str(), removed[0].old),
            (1, "d", Some(4))
        );
        assert_eq!(
            added
                .iter()
                .map(|l| (l.text.as_str(), l.new))
                .collect::<Vec<_>>(),
            vec![("D", Some(4)), ("i", Some(9))]
        );
        assert!(text_diff("same\n", "same\n").is_empty());
    }
}

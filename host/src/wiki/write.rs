//! Writes: every operation is one commit, with preconditions checked against HEAD inside the
//! store's write lock, and the index synced before returning.

use gix::ObjectId;

use super::{Limits, Result, Wiki, WikiError, short};
use crate::index::CommitRow;
use crate::render::links::rewrite_wikilinks;
use crate::store::{AttachmentName, Author, CommitSpec, Edit, Expect, PagePath, StoreError};

/// The result of saving a page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SaveOutcome {
    /// The page's revision after the save (unchanged if the content was identical).
    pub revision: String,
    pub created: bool,
    /// The content was identical to the current version; nothing was committed.
    pub unchanged: bool,
}

/// An attachment of a page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Attachment {
    pub name: String,
    pub size: u64,
    pub blob: String,
}

impl Wiki {
    /// Saves `content` as `page`. `base` is the revision the writer started from: `None` creates
    /// the page (a conflict if it exists); `Some(rev)` updates it (a conflict if it changed since).
    pub fn save(
        &self,
        page: &PagePath,
        content: &str,
        base: Option<&str>,
        author: &Author,
        message: &str,
    ) -> Result<SaveOutcome> {
        if content.len() as u64 > self.limits.max_page_bytes {
            return Err(WikiError::TooLarge {
                what: "the page".into(),
                limit: self.limits.max_page_bytes,
            });
        }
        // The file keeps its stored case when the name differs only in case.
        let current = self.index.page(page.as_str()).ok().flatten();
        let file = match &current {
            Some(row) => format!("{}.md", row.path),
            None => page.file(),
        };
        let expected = match base {
            None => None,
            Some(rev) => {
                let base = self
                    .commit_id(rev)
                    .map_err(|_| WikiError::Invalid(format!("unknown base revision '{rev}'")))?;
                match current {
                    // Based on the page's last change: its blob is the one at HEAD.
                    Some(row) if parse_oid(&row.revision).is_ok_and(|rev| rev == base) => {
                        Some(parse_oid(&row.blob)?)
                    }
                    _ => self.store.blob_at(base, &file)?,
                }
            }
        };
        let created = expected.is_none();
        let message = if message.trim().is_empty() {
            format!("{} {page}", if created { "Create" } else { "Update" })
        } else {
            message.to_string()
        };
        let spec = CommitSpec {
            author: author.clone(),
            message,
            edits: vec![Edit::Put {
                file: file.clone(),
                content: content.as_bytes().to_vec(),
            }],
            expect: vec![Expect {
                file: file.clone(),
                blob: expected,
            }],
        };
        match self.apply(&spec) {
            Ok(commit) => Ok(SaveOutcome {
                revision: commit.to_string(),
                created,
                unchanged: false,
            }),
            Err(WikiError::Store(StoreError::NothingToCommit)) => {
                let row = self.page(page)?;
                Ok(SaveOutcome {
                    revision: row.revision,
                    created: false,
                    unchanged: true,
                })
            }
            Err(WikiError::Store(StoreError::Conflict { current, .. })) => {
                Err(self.conflict(page, current, created))
            }
            Err(other) => Err(other),
        }
    }

    /// Deletes a page and its attachments.
    pub fn delete(&self, page: &PagePath, author: &Author, message: &str) -> Result<String> {
        let row = self.page(page)?;
        let page = PagePath::parse(&row.path)?;
        let blob = parse_oid(&row.blob)?;
        let mut edits = vec![Edit::Remove { file: page.file() }];
        for attachment in self.attachments(&page, None)? {
            edits.push(Edit::Remove {
                file: format!("{}/{}", page.attachment_dir(), attachment.name),
            });
        }
        let message = default_message(message, || format!("Delete {page}"));
        let spec = CommitSpec {
            author: author.clone(),
            message,
            edits,
            expect: vec![Expect {
                file: page.file(),
                blob: Some(blob),
            }],
        };
        self.apply(&spec)
            .map(|c| c.to_string())
            .map_err(|e| self.map_conflict(&page, e))
    }

    /// Renames (moves) a page with its attachments; optionally rewrites `[[links]]` to it in
    /// every page that has them, in the same commit.
    pub fn rename(
        &self,
        from: &PagePath,
        to: &PagePath,
        rewrite_links: bool,
        author: &Author,
        message: &str,
    ) -> Result<String> {
        let row = self.page(from)?;
        let from = PagePath::parse(&row.path)?;
        if from.as_str() == to.as_str() {
            return Err(WikiError::Invalid(
                "the new name is the same as the old one".into(),
            ));
        }
        if from.key() != to.key() && self.exists(to) {
            return Err(WikiError::Conflict {
                message: format!("a page named '{to}' already exists"),
                current: self.index.page(to.as_str())?.map(|r| r.revision),
            });
        }
        let head = self
            .store
            .head()?
            .ok_or_else(|| WikiError::NotFound(format!("page '{from}'")))?;
        let mut content = self.read_blob_text(&row.blob)?;
        let mut edits = vec![Edit::Remove { file: from.file() }];
        let mut expect = vec![Expect {
            file: from.file(),
            blob: Some(parse_oid(&row.blob)?),
        }];
        if from.key() != to.key() {
            expect.push(Expect {
                file: to.file(),
                blob: None,
            });
        }
        if rewrite_links {
            if let Some(rewritten) = rewrite_wikilinks(&content, &from, to) {
                content = rewritten;
            }
            for (source, _) in self.index.backlinks(from.as_str())? {
                let Ok(source) = PagePath::parse(&source) else {
                    continue;
                };
                if source.key() == from.key() {
                    continue;
                }
                let Some((blob, bytes)) = self.store.read_at(head, &source.file())? else {
                    continue;
                };
                let text = String::from_utf8_lossy(&bytes);
                if let Some(rewritten) = rewrite_wikilinks(&text, &from, to) {
                    edits.push(Edit::Put {
                        file: source.file(),
                        content: rewritten.into_bytes(),
                    });
                    expect.push(Expect {
                        file: source.file(),
                        blob: Some(blob),
                    });
                }
            }
        }
        edits.push(Edit::Put {
            file: to.file(),
            content: content.into_bytes(),
        });
        for attachment in self.attachments(&from, None)? {
            let old = format!("{}/{}", from.attachment_dir(), attachment.name);
            let new = format!("{}/{}", to.attachment_dir(), attachment.name);
            let bytes = self.store.read_blob(parse_oid(&attachment.blob)?)?;
            edits.push(Edit::Remove { file: old });
            edits.push(Edit::Put {
                file: new,
                content: bytes,
            });
        }
        let message = default_message(message, || format!("Rename {from} to {to}"));
        let spec = CommitSpec {
            author: author.clone(),
            message,
            edits,
            expect,
        };
        self.apply(&spec)
            .map(|c| c.to_string())
            .map_err(|e| self.map_conflict(&from, e))
    }

    /// Reverts one commit: every file it changed goes back to its state before, provided no later
    /// commit changed the file again (then it is a conflict and nothing is written).
    pub fn revert(&self, rev: &str, author: &Author, message: &str) -> Result<String> {
        let commit = self.commit(rev)?;
        let id = parse_oid(&commit.id)?;
        let meta = self.store.commit_meta(id)?;
        let parent = meta.parents.first().copied();
        let mut edits = Vec::new();
        let mut expect = Vec::new();
        for file in self.index.changed_files(commit.seq)? {
            let after = self.store.blob_at(id, &file.path)?;
            expect.push(Expect {
                file: file.path.clone(),
                blob: after,
            });
            let before_path = file.old_path.clone().unwrap_or_else(|| file.path.clone());
            let before = match parent {
                Some(parent) => self.store.read_at(parent, &before_path)?,
                None => None,
            };
            if file.old_path.is_some() {
                edits.push(Edit::Remove {
                    file: file.path.clone(),
                });
                expect.push(Expect {
                    file: before_path.clone(),
                    blob: None,
                });
            }
            match before {
                Some((_, bytes)) => edits.push(Edit::Put {
                    file: before_path,
                    content: bytes,
                }),
                None if file.old_path.is_none() => edits.push(Edit::Remove {
                    file: file.path.clone(),
                }),
                None => {}
            }
        }
        let message = default_message(message, || {
            format!(
                "Revert \"{}\"\n\nThis reverts commit {}.",
                first_line(&commit.message),
                commit.id
            )
        });
        let spec = CommitSpec {
            author: author.clone(),
            message,
            edits,
            expect,
        };
        match self.apply(&spec) {
            Ok(new) => Ok(new.to_string()),
            Err(WikiError::Store(StoreError::Conflict { file, .. })) => Err(WikiError::Conflict {
                message: format!(
                    "cannot revert {}: '{file}' was changed again by a later commit; edit the page instead",
                    short(&commit.id)
                ),
                current: None,
            }),
            Err(WikiError::Store(StoreError::NothingToCommit)) => Err(WikiError::Invalid(format!(
                "reverting {} changes nothing",
                short(&commit.id)
            ))),
            Err(other) => Err(other),
        }
    }

    /// Adds (or replaces) an attachment of an existing page.
    pub fn upload(
        &self,
        page: &PagePath,
        name: &AttachmentName,
        bytes: Vec<u8>,
        author: &Author,
        message: &str,
    ) -> Result<String> {
        if bytes.len() as u64 > self.limits.max_attachment_bytes {
            return Err(WikiError::TooLarge {
                what: format!("the attachment '{}'", name.as_str()),
                limit: self.limits.max_attachment_bytes,
            });
        }
        let row = self.page(page)?;
        let page = PagePath::parse(&row.path)?;
        let message = default_message(message, || format!("Attach {} to {page}", name.as_str()));
        let spec = CommitSpec {
            author: author.clone(),
            message,
            edits: vec![Edit::Put {
                file: page.attachment_file(name),
                content: bytes,
            }],
            expect: vec![Expect {
                file: page.file(),
                blob: Some(parse_oid(&row.blob)?),
            }],
        };
        match self.apply(&spec) {
            Ok(id) => Ok(id.to_string()),
            Err(WikiError::Store(StoreError::NothingToCommit)) => Ok(row.revision),
            Err(e) => Err(self.map_conflict(&page, e)),
        }
    }

    /// Deletes one attachment.
    pub fn delete_attachment(
        &self,
        page: &PagePath,
        name: &AttachmentName,
        author: &Author,
        message: &str,
    ) -> Result<String> {
        let row = self.page(page)?;
        let page = PagePath::parse(&row.path)?;
        let file = page.attachment_file(name);
        let head = self
            .store
            .head()?
            .ok_or_else(|| WikiError::NotFound("attachment".into()))?;
        let blob = self.store.blob_at(head, &file)?.ok_or_else(|| {
            WikiError::NotFound(format!("attachment '{}' of page '{page}'", name.as_str()))
        })?;
        let message = default_message(message, || {
            format!("Delete attachment {} of {page}", name.as_str())
        });
        let spec = CommitSpec {
            author: author.clone(),
            message,
            edits: vec![Edit::Remove { file: file.clone() }],
            expect: vec![Expect {
                file,
                blob: Some(blob),
            }],
        };
        self.apply(&spec)
            .map(|c| c.to_string())
            .map_err(|e| self.map_conflict(&page, e))
    }

    /// Commits and syncs the index; the one way every write reaches git.
    fn apply(&self, spec: &CommitSpec) -> Result<ObjectId> {
        let _serialized = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.check_quota(spec)?;
        let committed = self.store.commit(spec)?;
        let stats = self.sync_committed(&committed, spec)?;
        if let Some(observer) = self.observer.get() {
            observer(self, stats.events);
        }
        Ok(committed.meta.id)
    }

    /// Refuses a change that would take the wiki past its page or byte limit.
    fn check_quota(&self, spec: &CommitSpec) -> Result<()> {
        let Limits {
            max_pages,
            max_bytes,
            ..
        } = self.limits;
        if max_pages.is_none() && max_bytes.is_none() {
            return Ok(());
        }
        let (mut pages, mut bytes) = (0i64, 0i64);
        for edit in &spec.edits {
            let (file, new_size) = match edit {
                Edit::Put { file, content } => (file, Some(content.len() as i64)),
                Edit::Remove { file } => (file, None),
            };
            let old_size = self.index.file_size(file)?.map(|s| s as i64);
            bytes += new_size.unwrap_or(0) - old_size.unwrap_or(0);
            if file.ends_with(".md") {
                pages += i64::from(new_size.is_some()) - i64::from(old_size.is_some());
            }
        }
        if let Some(max) = max_pages
            && pages > 0
        {
            let count = self.index.page_count()?;
            if count as i64 + pages > max as i64 {
                return Err(WikiError::Limit(format!(
                    "the wiki has {count} pages, and its limit is {max}; delete a page before creating another"
                )));
            }
        }
        if let Some(max) = max_bytes
            && bytes > 0
        {
            let total = self.index.total_bytes()?;
            if total as i64 + bytes > max as i64 {
                return Err(WikiError::Limit(format!(
                    "this change would make the wiki {:.1} MB, over its limit of {:.1} MB",
                    (total as i64 + bytes) as f64 / 1_048_576.0,
                    max as f64 / 1_048_576.0
                )));
            }
        }
        Ok(())
    }

    /// Creates several pages in one commit (a new wiki's starter pages); none may exist yet.
    pub fn create_pages(
        &self,
        pages: &[(PagePath, String)],
        author: &Author,
        message: &str,
    ) -> Result<String> {
        let mut edits = Vec::new();
        let mut expect = Vec::new();
        for (page, content) in pages {
            if content.len() as u64 > self.limits.max_page_bytes {
                return Err(WikiError::TooLarge {
                    what: format!("the page '{page}'"),
                    limit: self.limits.max_page_bytes,
                });
            }
            edits.push(Edit::Put {
                file: page.file(),
                content: content.clone().into_bytes(),
            });
            expect.push(Expect {
                file: page.file(),
                blob: None,
            });
        }
        let spec = CommitSpec {
            author: author.clone(),
            message: message.to_string(),
            edits,
            expect,
        };
        match self.apply(&spec) {
            Ok(id) => Ok(id.to_string()),
            Err(WikiError::Store(StoreError::Conflict { file, .. })) => Err(WikiError::Conflict {
                message: format!("'{file}' already exists"),
                current: None,
            }),
            Err(other) => Err(other),
        }
    }

    fn conflict(&self, page: &PagePath, current: Option<ObjectId>, creating: bool) -> WikiError {
        let revision = self
            .index
            .page(page.as_str())
            .ok()
            .flatten()
            .map(|r| r.revision);
        let message = match (&revision, creating, current) {
            (Some(rev), true, _) => format!(
                "page '{page}' already exists (current revision {}); edit it instead",
                short(rev)
            ),
            (Some(rev), false, _) => format!(
                "page '{page}' was changed by someone else; the current revision is {}: re-read it and apply your change again",
                short(rev)
            ),
            (None, _, _) => format!("page '{page}' was deleted since your base revision"),
        };
        WikiError::Conflict {
            message,
            current: revision,
        }
    }

    fn map_conflict(&self, page: &PagePath, err: WikiError) -> WikiError {
        match err {
            WikiError::Store(StoreError::Conflict { current, .. }) => {
                self.conflict(page, current, false)
            }
            other => other,
        }
    }

    /// The most recent commits, newest first.
    pub fn changelog(&self, limit: u32, offset: u32) -> Result<Vec<CommitRow>> {
        Ok(self.index.changelog(limit, offset)?)
    }
}

fn parse_oid(hex: &str) -> Result<ObjectId> {
    ObjectId::from_hex(hex.as_bytes()).map_err(|_| WikiError::NotFound(format!("object {hex}")))
}

fn default_message(message: &str, default: impl FnOnce() -> String) -> String {
    if message.trim().is_empty() {
        default()
    } else {
        message.to_string()
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::render::Renderer;

    fn page(path: &str) -> PagePath {
        PagePath::parse(path).unwrap()
    }

    fn author() -> Author {
        Wiki::author("Ada Tester", "ada@example.org")
    }

    /// Everything the index holds, without its row ids (a rebuild numbers pages anew).
    fn dump(wiki: &Wiki) -> Vec<String> {
        let conn = rusqlite::Connection::open(wiki.dir().join("index.sqlite")).unwrap();
        let queries = [
            "SELECT seq || ' ' || id || ' ' || author_name || ' ' || time || ' ' || message FROM commits",
            "SELECT seq || ' ' || path || ' ' || coalesce(old_path, '-') || ' ' || kind || ' ' || coalesce(page, '-') || ' ' || coalesce(blob, '-') FROM changes",
            "SELECT path || ' ' || title || ' ' || size || ' ' || blob || ' ' || revision || ' ' || updated || ' ' || headings || ' ' || tags FROM pages",
            "SELECT p.path || ' ' || f.title || ' ' || f.body FROM pages_fts f JOIN pages p ON p.id = f.rowid",
            "SELECT src || ' -> ' || dst FROM links",
            "SELECT path || ' ' || size FROM files",
            "SELECT path FROM semantic_queue",
            "SELECT key || ' ' || value FROM meta",
        ];
        let mut rows = Vec::new();
        for query in queries {
            let mut stmt = conn.prepare(query).unwrap();
            let mut these: Vec<String> = stmt
                .query_map([], |r| r.get(0))
                .unwrap()
                .map(Result::unwrap)
                .collect();
            these.sort();
            rows.push(format!("-- {query}"));
            rows.extend(these);
        }
        rows
    }

    /// After each write the index is what a rebuild from git makes of the same history: the
    /// quick sync of a write (which reads nothing back) and the full one agree.
    #[test]
    fn every_write_leaves_the_index_as_a_rebuild_would() {
        let dir = tempfile::tempdir().unwrap();
        let wiki = Wiki::open(
            "demo",
            dir.path(),
            Arc::new(Renderer::new()),
            Limits::default(),
        )
        .unwrap();
        wiki.sync(&mut |_| {}).unwrap();
        let ada = author();
        let rev = |path: &str| wiki.page(&page(path)).unwrap().revision;
        let check = |step: &str| {
            let quick = dump(&wiki);
            wiki.reindex(&mut |_| {}).unwrap();
            assert_eq!(quick, dump(&wiki), "after {step}");
        };

        wiki.create_pages(
            &[
                (page("Home"), "# Home\n\n[[A]] and [[B]]\n".into()),
                (page("A"), "# A\n\ntext\n".into()),
                (page("B"), "# B\n\n[[Home]]\n".into()),
            ],
            &ada,
            "start",
        )
        .unwrap();
        check("the first commit");
        wiki.save(
            &page("A"),
            "# A\n\n[[C]] [[B]]\n",
            Some(&rev("A")),
            &ada,
            "",
        )
        .unwrap();
        check("a save adding links");
        wiki.save(
            &page("A"),
            "# A v2\n\n[[C]] [[B]]\n",
            Some(&rev("A")),
            &ada,
            "",
        )
        .unwrap();
        check("a save keeping the links");
        wiki.save(
            &page("home"),
            "# Home\n\n[[a]] [[a]] [[A]]\n",
            Some(&rev("Home")),
            &ada,
            "",
        )
        .unwrap();
        check("a save dropping a link and changing another's case, under another case");
        wiki.save(&page("Docs/New"), "# New\n", None, &ada, "")
            .unwrap();
        check("a new page in a new folder");
        wiki.rename(&page("A"), &page("Docs/A"), true, &ada, "")
            .unwrap();
        check("a rename rewriting links");
        wiki.rename(&page("B"), &page("b"), false, &ada, "")
            .unwrap();
        check("a rename changing only the case");
        let pic = AttachmentName::parse("pic.png").unwrap();
        wiki.upload(&page("Home"), &pic, b"PNG".to_vec(), &ada, "")
            .unwrap();
        check("an upload");
        wiki.delete_attachment(&page("Home"), &pic, &ada, "")
            .unwrap();
        check("an attachment deleted");
        let deleted = wiki.delete(&page("Docs/A"), &ada, "").unwrap();
        check("a delete");
        wiki.revert(&deleted, &ada, "").unwrap();
        check("a revert");
        assert!(wiki.exists(&page("Docs/A")));
    }
}

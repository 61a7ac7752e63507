//! Reading and writing notes: whole, by exact passage, by section, or at the end.
//!
//! Every change is based on a revision, so a note someone else changed meanwhile is never
//! silently overwritten: the host refuses the write and the assistant is told the current
//! revision to re-read.

use holt_plugin_sdk::{Error, Page, pages};

use super::{note_header, saved};
use crate::args::Args;
use crate::catalog::Outcome;
use crate::fail::{About, conflicted, explain};
use crate::sections;

pub fn read_note(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let revision = args.text("revision");
    let page = read(path, revision)?;
    let Some(section) = args.text("section") else {
        return Ok(format!("{}---\n{}", note_header(&page), page.content));
    };
    let all = sections::headings(&page.content);
    let found = sections::find(&all, section)?;
    Ok(format!(
        "{}section: {}\n---\n{}",
        note_header(&page),
        section.trim(),
        &page.content[found.line.start..found.end]
    ))
}

pub fn read_notes(args: &Args) -> Outcome {
    let paths = args.list("paths");
    let mut blocks = Vec::new();
    let mut failures = 0;
    for path in &paths {
        match read(path, None) {
            Ok(page) => blocks.push(format!("{}---\n{}", note_header(&page), page.content)),
            Err(message) => {
                failures += 1;
                blocks.push(format!("path: {path}\nerror: {message}\n"));
            }
        }
    }
    let text = blocks.join("\n=====\n\n");
    if failures == paths.len() {
        Err(text)
    } else {
        Ok(text)
    }
}

pub fn write_note(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let content = args.required("content")?;
    let base = args.text("base_revision");
    let message = args.text("message").unwrap_or("");
    // A base revision may name a commit from before the note existed: then this creates it.
    let existed = base.is_some() && pages::read(path, None).is_ok();
    match pages::save(path, content, base, message) {
        Ok(revision) if base.is_some() && !existed => Ok(saved(path, &revision, "created")),
        Ok(revision) => Ok(saved(path, &revision, outcome(base, &revision))),
        Err(Error::Conflict(c)) if base.is_none() => Err(match c.current_revision {
            Some(current) => format!(
                "A note '{path}' already exists (revision {current}). To replace it, read it \
                 with read_note and call write_note again with base_revision {current}; to add \
                 to it, use append_note, edit_note or edit_section."
            ),
            None => conflicted(&c, None),
        }),
        Err(Error::Conflict(c)) => Err(conflicted(&c, base)),
        Err(err) => Err(explain(err, About::Note(path))),
    }
}

pub fn edit_note(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let old = args.required("old_string")?;
    let new = args.required("new_string")?;
    if old.is_empty() {
        return Err(
            "old_string is empty; give the exact text to replace (to add text at the \
                    end, use append_note)."
                .into(),
        );
    }
    let page = read(path, None)?;
    let base = args.text("base_revision").unwrap_or(&page.revision);
    let found = page.content.matches(old).count();
    if found != 1 {
        return Err(if found == 0 {
            format!(
                "old_string was not found in {path} (revision {}). Re-read the note with \
                 read_note and copy the passage exactly, whitespace and line breaks included.",
                page.revision
            )
        } else {
            format!(
                "old_string matches {found} times in {path}; it must match exactly once. \
                 Include more of the surrounding text to make it unique."
            )
        });
    }
    let content = page.content.replacen(old, new, 1);
    let message = args.text("message").unwrap_or("");
    let message = default(message, || format!("Edit {path}"));
    save(path, &content, base, &message)
}

pub fn append_note(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let addition = args.required("content")?;
    let message = args.text("message").unwrap_or("");
    let message = default(message, || format!("Append to {path}"));
    match pages::read(path, None) {
        Ok(page) => {
            let existing = page.content.trim_end_matches(['\n', '\r']);
            let mut content = String::from(existing);
            if !existing.is_empty() {
                content.push_str("\n\n");
            }
            content.push_str(addition.trim_start_matches(['\n', '\r']));
            if !content.ends_with('\n') {
                content.push('\n');
            }
            save(path, &content, &page.revision, &message)
        }
        Err(Error::NotFound(_)) => {
            let mut content = addition.to_string();
            if !content.ends_with('\n') {
                content.push('\n');
            }
            match pages::save(path, &content, None, &message) {
                Ok(revision) => Ok(saved(path, &revision, "created")),
                Err(Error::Conflict(c)) => Err(conflicted(&c, None)),
                Err(err) => Err(explain(err, About::Note(path))),
            }
        }
        Err(err) => Err(explain(err, About::Note(path))),
    }
}

pub fn edit_section(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let section = args.required("section")?;
    let body = args.required("content")?;
    let page = read(path, None)?;
    let base = args.text("base_revision").unwrap_or(&page.revision);
    let all = sections::headings(&page.content);
    let found = sections::find(&all, section)?;
    let content = sections::replace_body(&page.content, found, body);
    let message = args.text("message").unwrap_or("");
    let message = default(message, || {
        format!("Edit section '{}' of {path}", section.trim())
    });
    save(path, &content, base, &message)
}

/// Reads a note, explaining a failure.
pub fn read(path: &str, revision: Option<&str>) -> Result<Page, String> {
    pages::read(path, revision).map_err(|err| match revision {
        Some(revision) => explain(err, About::Revision(path, revision)),
        None => explain(err, About::Note(path)),
    })
}

/// Saves an existing note based on `base`, explaining a conflict.
pub fn save(path: &str, content: &str, base: &str, message: &str) -> Outcome {
    match pages::save(path, content, Some(base), message) {
        Ok(revision) => Ok(saved(path, &revision, outcome(Some(base), &revision))),
        Err(Error::Conflict(c)) => Err(conflicted(&c, Some(base))),
        Err(err) => Err(explain(err, About::Note(path))),
    }
}

/// How a save went: a new note, a new revision, or nothing to commit (the host answers the
/// base revision again when the content was identical).
fn outcome(base: Option<&str>, revision: &str) -> &'static str {
    match base {
        None => "created",
        Some(base) if !base.is_empty() && revision.starts_with(base) => {
            "unchanged: the content was identical"
        }
        Some(_) => "updated",
    }
}

/// `message`, or a default when it is blank.
fn default(message: &str, fallback: impl FnOnce() -> String) -> String {
    if message.trim().is_empty() {
        fallback()
    } else {
        message.to_string()
    }
}

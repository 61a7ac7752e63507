//! History and whole-note changes: recent changes, a note's revisions and diffs, reverting,
//! renaming and deleting.

use holt_plugin_sdk::{ChangeKind, Error, pages};

use super::{count, saved};
use crate::args::Args;
use crate::catalog::Outcome;
use crate::fail::{About, conflicted, explain};
use crate::time::rfc3339;
use crate::tools::notes;

pub fn get_recent_changes(args: &Args) -> Outcome {
    let limit = args.number("limit").unwrap_or(20) as u32;
    let offset = args.number("offset").unwrap_or(0) as u32;
    let changes = pages::recent_changes(limit, offset).map_err(|err| explain(err, About::Wiki))?;
    if changes.is_empty() {
        return Ok("No changes (at this offset).".into());
    }
    let mut out = format!("{}, newest first:\n", count(changes.len(), "change"));
    for change in &changes {
        out.push_str(&format!(
            "- {} {} by {}: {}\n  files: {}\n",
            change.commit,
            rfc3339(change.time),
            change.author,
            first_line(&change.message),
            change.files.join(", ")
        ));
    }
    Ok(out)
}

pub fn get_history(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let limit = args.number("limit").unwrap_or(20) as u32;
    let offset = args.number("offset").unwrap_or(0) as u32;
    let revisions =
        pages::history(path, limit, offset).map_err(|err| explain(err, About::Note(path)))?;
    if revisions.is_empty() {
        return Ok(format!("No revisions of {path} (at this offset)."));
    }
    let mut out = format!(
        "{} of {path}, newest first:\n",
        count(revisions.len(), "revision")
    );
    for revision in &revisions {
        let kind = match revision.kind {
            ChangeKind::Added => "created",
            ChangeKind::Modified => "modified",
            ChangeKind::Deleted => "deleted",
            ChangeKind::Renamed => "renamed",
        };
        let place = if revision.path == path {
            String::new()
        } else {
            format!(" (as {})", revision.path)
        };
        out.push_str(&format!(
            "- {} {} by {}, {kind}{place}: {}\n",
            revision.commit,
            rfc3339(revision.time),
            revision.author,
            first_line(&revision.message)
        ));
    }
    Ok(out)
}

pub fn diff_note(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let from = args.required("from")?;
    let to = args.required("to")?;
    let diff = pages::diff(path, from, to).map_err(|err| explain(err, About::Note(path)))?;
    if diff.trim().is_empty() {
        return Ok(format!("{path} is the same at {from} and {to}."));
    }
    Ok(diff)
}

pub fn revert_note(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let revision = args.required("revision")?;
    let old = notes::read(path, Some(revision))?;
    let message = match args.text("message") {
        Some(m) if !m.trim().is_empty() => m.to_string(),
        _ => format!("Revert {path} to {}", short(revision)),
    };
    // Based on the current revision: restoring is a normal edit, refused if someone changes
    // the note at the same moment. A deleted note is simply created again.
    match pages::read(path, None) {
        Ok(current) => notes::save(path, &old.content, &current.revision, &message),
        Err(Error::NotFound(_)) => match pages::save(path, &old.content, None, &message) {
            Ok(new) => Ok(saved(path, &new, "restored")),
            Err(Error::Conflict(c)) => Err(conflicted(&c, None)),
            Err(err) => Err(explain(err, About::Note(path))),
        },
        Err(err) => Err(explain(err, About::Note(path))),
    }
}

pub fn rename_note(args: &Args) -> Outcome {
    let from = args.required("from")?;
    let to = args.required("to")?;
    let rewrite = args.flag("rewrite_links").unwrap_or(true);
    let message = args.text("message").unwrap_or("");
    let revision = pages::rename(from, to, rewrite, message).map_err(|err| match err {
        Error::Conflict(c) => format!(
            "Cannot rename {from} to {to}: {}. Pick another name, or check with list_notes.",
            c.message
        ),
        err => explain(err, About::Note(from)),
    })?;
    let links = if rewrite {
        "links to it were rewritten"
    } else {
        "links to it were left as they were"
    };
    Ok(format!(
        "Renamed {from} to {to} at revision {revision}; {links}."
    ))
}

pub fn delete_note(args: &Args) -> Outcome {
    let path = args.required("path")?;
    let message = args.text("message").unwrap_or("");
    let revision = pages::delete(path, message).map_err(|err| explain(err, About::Note(path)))?;
    Ok(format!(
        "Deleted {path} and its attachments at revision {revision}. To bring it back, call \
         revert_note with a revision from get_history before this one."
    ))
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or("")
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

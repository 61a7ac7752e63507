//! Turning the host's errors into sentences that tell an assistant what to do next.

use holt_plugin_sdk::{Conflict, Error, context};

/// What a failed call was about, to choose the advice.
pub enum About<'a> {
    /// A note (a missing one: suggest finding the right path).
    Note(&'a str),
    /// A revision of a note (a missing one: suggest the history).
    Revision(&'a str, &'a str),
    /// An attachment of a note.
    Attachment(&'a str, &'a str),
    /// Something wiki-wide.
    Wiki,
}

/// The sentence for `err`.
pub fn explain(err: Error, about: About) -> String {
    let err = match err {
        // The host's sentences may end with a period; ours add one.
        Error::NotFound(m) => Error::NotFound(unstop(m)),
        Error::Forbidden(m) => Error::Forbidden(unstop(m)),
        Error::Invalid(m) => Error::Invalid(unstop(m)),
        Error::Limit(m) => Error::Limit(unstop(m)),
        Error::Internal(m) => Error::Internal(unstop(m)),
        Error::Unavailable(m) => Error::Unavailable(unstop(m)),
        conflict @ Error::Conflict(_) => conflict,
    };
    match err {
        Error::NotFound(message) => not_found(&message, about),
        Error::Conflict(conflict) => conflicted(&conflict, None),
        Error::Forbidden(message) => format!("Not allowed: {message}. {}", allowed()),
        Error::Invalid(message) => format!("Refused: {message}."),
        Error::Limit(message) => format!("A limit was reached: {message}."),
        Error::Internal(message) => {
            format!("The wiki failed to do this ({message}); it has been logged. Try again later.")
        }
        Error::Unavailable(message) => format!("Not available on this wiki: {message}."),
    }
}

fn unstop(message: String) -> String {
    message.trim_end().trim_end_matches('.').to_string()
}

fn not_found(message: &str, about: About) -> String {
    match about {
        About::Note(path) => format!(
            "There is no note '{path}' ({message}). Find the right path with list_notes or \
             search_notes."
        ),
        About::Revision(path, revision) => format!(
            "Note '{path}' has no revision '{revision}' ({message}). get_history lists its \
             revisions; check the note exists with list_notes."
        ),
        About::Attachment(path, name) => format!(
            "Note '{path}' has no attachment '{name}' ({message}). list_attachments shows its \
             attachments."
        ),
        About::Wiki => format!("Not found: {message}."),
    }
}

/// A stale write: name the current revision so the assistant can re-read and retry.
pub fn conflicted(conflict: &Conflict, base: Option<&str>) -> String {
    match (&conflict.current_revision, base) {
        (Some(current), Some(base)) => format!(
            "The note changed since revision {base}: the current revision is {current}. \
             Re-read it with read_note and retry with base_revision {current}."
        ),
        (Some(current), None) => format!(
            "{}. The current revision is {current}: re-read the note with read_note and retry \
             with base_revision {current}.",
            conflict.message.trim_end_matches('.')
        ),
        (None, _) => format!(
            "{}. Check with list_notes whether the note still exists, then retry.",
            conflict.message.trim_end_matches('.')
        ),
    }
}

/// What this caller may do, for refusals.
pub fn allowed() -> String {
    let me = context::whoami();
    let mut may = Vec::new();
    for (flag, what) in [
        (me.can_read, "read"),
        (me.can_write, "write"),
        (me.can_upload, "upload"),
        (me.can_admin, "admin"),
    ] {
        if flag {
            may.push(what);
        }
    }
    if may.is_empty() {
        "This token may do nothing on this wiki.".into()
    } else {
        format!("This token may: {}.", may.join(", "))
    }
}

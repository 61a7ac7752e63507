//! The tools, one module per group; the catalog (`crate::catalog`) points at each function.

pub mod account;
pub mod attachments;
pub mod browse;
pub mod changes;
pub mod notes;

use holt_plugin_sdk::Page;

use crate::time::rfc3339;

/// The header every note read starts with; the revision is the base for the next write.
fn note_header(page: &Page) -> String {
    format!(
        "path: {}\ntitle: {}\nrevision: {}\nupdated: {}\n",
        page.path,
        page.title,
        page.revision,
        rfc3339(page.updated)
    )
}

/// The answer to a write that made (or needed no) commit.
fn saved(path: &str, revision: &str, how: &str) -> String {
    format!("Saved {path} at revision {revision} ({how}).")
}

/// A count with its noun, `1 note` / `3 notes`.
fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

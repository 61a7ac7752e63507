//! Finding notes: listings, full-text and semantic search, links and orphans.

use holt_plugin_sdk::{Error, pages, search};
use serde_json::Value;

use super::count;
use crate::args::Args;
use crate::catalog::Outcome;
use crate::fail::{About, explain};
use crate::time::{parse_rfc3339, rfc3339};

pub fn list_notes(args: &Args) -> Outcome {
    let updated_since = match args.raw("updated_since") {
        None => None,
        Some(Value::String(text)) => Some(parse_rfc3339(text).ok_or_else(|| {
            format!(
                "updated_since '{text}' is not an RFC 3339 date or timestamp; use e.g. \
                 `2025-01-31`, `2025-01-31T09:00:00Z`, or Unix seconds as a number."
            )
        })?),
        Some(other) => other.as_i64(),
    };
    let limit = args.number("limit").unwrap_or(100) as u32;
    let query = pages::ListQuery {
        prefix: args.text("prefix").map(String::from),
        tag: args.text("tag").map(String::from),
        updated_since,
        limit,
    };
    let notes = pages::list(&query).map_err(|err| explain(err, About::Wiki))?;
    if notes.is_empty() {
        return Ok("No notes match.".into());
    }
    let mut out = format!("{}:\n", count(notes.len(), "note"));
    for note in &notes {
        out.push_str(&format!(
            "- {} — {} (updated {}, {} bytes)\n",
            note.path,
            note.title,
            rfc3339(note.updated),
            note.size
        ));
    }
    if notes.len() as u32 >= limit {
        out.push_str("(The limit was reached: there may be more; raise limit or narrow with prefix, tag or updated_since.)\n");
    }
    Ok(out)
}

pub fn search_notes(args: &Args) -> Outcome {
    let query = args.required("query")?;
    let limit = args.number("limit").unwrap_or(20) as u32;
    let hits = search::full_text(query, limit, 0).map_err(|err| explain(err, About::Wiki))?;
    if hits.is_empty() {
        return Ok(format!(
            "No notes contain all of: {query}. Try fewer or other words, or list_notes."
        ));
    }
    let mut out = format!("{} for \"{query}\":\n", count(hits.len(), "hit"));
    for hit in &hits {
        out.push_str(&format!(
            "- {} — {}\n  {}\n",
            hit.path,
            hit.title,
            one_line(&hit.snippet)
        ));
    }
    Ok(out)
}

pub fn semantic_search(args: &Args) -> Outcome {
    let query = args.required("query")?;
    let n = args.number("n").unwrap_or(10) as u32;
    let max_per_page = args.number("max_per_page").unwrap_or(3) as u32;
    let hits = match search::semantic_search(query, n, max_per_page) {
        Ok(hits) => hits,
        Err(Error::Unavailable(reason)) => {
            let reason = reason.trim().trim_end_matches('.');
            let why = if reason.is_empty() {
                String::new()
            } else {
                format!(" ({reason})")
            };
            return Err(format!(
                "Semantic search is off on this wiki{why}. Use search_notes (full-text search) \
                 instead."
            ));
        }
        Err(Error::Invalid(message)) => return Err(message),
        Err(err) => return Err(explain(err, About::Wiki)),
    };
    if hits.is_empty() {
        return Ok(format!("No passages found for \"{query}\"."));
    }
    let mut out = format!("{} for \"{query}\":\n", count(hits.len(), "passage"));
    for hit in &hits {
        let place = if hit.heading.is_empty() {
            hit.path.clone()
        } else {
            format!("{} § {}", hit.path, hit.heading)
        };
        out.push_str(&format!(
            "- {place} (score {:.2})\n  {}\n",
            hit.score,
            clip(&one_line(&hit.text), SNIPPET_CHARS)
        ));
    }
    Ok(out)
}

pub fn get_links(args: &Args) -> Outcome {
    let path = args.required("path")?;
    // Reading first tells a missing note apart from one without links.
    pages::read(path, None).map_err(|err| explain(err, About::Note(path)))?;
    let links = pages::links(path).map_err(|err| explain(err, About::Note(path)))?;
    let backlinks = pages::backlinks(path).map_err(|err| explain(err, About::Note(path)))?;
    Ok(format!(
        "Links from {path} ({}):\n{}\nBacklinks to {path} ({}):\n{}",
        links.len(),
        bullets(&links),
        backlinks.len(),
        bullets(&backlinks)
    ))
}

pub fn find_orphaned_notes(_args: &Args) -> Outcome {
    let orphans = pages::orphans().map_err(|err| explain(err, About::Wiki))?;
    if orphans.is_empty() {
        return Ok("Every note is linked from another note.".into());
    }
    Ok(format!(
        "{} no other note links to:\n{}",
        count(orphans.len(), "note"),
        bullets(&orphans)
    ))
}

/// One `- item` line per entry, or `(none)`.
fn bullets(items: &[String]) -> String {
    if items.is_empty() {
        return "(none)\n".into();
    }
    items.iter().map(|i| format!("- {i}\n")).collect()
}

/// Text on a single line (snippets may hold line breaks).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// How much of a semantic passage a result line shows.
const SNIPPET_CHARS: usize = 300;

/// At most `max` characters of `text` (cut at a character, never inside one), with an
/// ellipsis when cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        None => text.to_string(),
        Some((end, _)) => format!("{}…", text[..end].trim_end()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clips_long_passages_at_a_character() {
        assert_eq!(clip("short", 300), "short");
        assert_eq!(clip(&"a".repeat(300), 300), "a".repeat(300));
        assert_eq!(clip(&"é".repeat(301), 300), format!("{}…", "é".repeat(300)));
        assert_eq!(clip("ab cd", 3), "ab…");
        assert_eq!(one_line("a\n\n  b\tc"), "a b c");
    }
}

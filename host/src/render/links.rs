//! Link targets: how `[[Page]]`, `[[Text|Page]]` and relative Markdown links map to pages.
//!
//! Wikilinks follow An Otter Wiki: the text comes first, the target second, and the target is a
//! page path from the wiki root (`[[Guides/Setup]]`, `[[Setup guide|Guides/Setup#install]]`).
//! Lookups are case-insensitive, so `[[home]]` finds `Home`.

use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};

use crate::store::PagePath;

/// Characters escaped in page URLs; `/` stays readable so nested pages have nested URLs.
const PATH_SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

/// A link target inside the wiki: the page and an optional `#anchor`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub page: PagePath,
    pub anchor: Option<String>,
}

/// Parses the target of a wikilink (`Page`, `/Folder/Page#section`).
pub fn wikilink_target(raw: &str) -> Option<Target> {
    let raw = raw.trim();
    let (path, anchor) = match raw.split_once('#') {
        Some((p, a)) => (p, Some(a.trim().to_string()).filter(|a| !a.is_empty())),
        None => (raw, None),
    };
    let path = path.trim().trim_start_matches('/').trim_end_matches('/');
    let path = path.strip_suffix(".md").unwrap_or(path);
    PagePath::parse(path)
        .ok()
        .map(|page| Target { page, anchor })
}

/// Resolves a Markdown link URL written on page `from` to the page it points at, if it is
/// an internal page link (no scheme, not an anchor on the same page).
pub fn markdown_link_target(from: &PagePath, url: &str) -> Option<PagePath> {
    if url.is_empty() || url.starts_with('#') || url.starts_with("//") || has_scheme(url) {
        return None;
    }
    let url = url.split(['#', '?']).next().unwrap_or_default();
    let decoded = percent_decode_str(url).decode_utf8().ok()?;
    let mut segments: Vec<&str> = match decoded.strip_prefix('/') {
        Some(absolute) => {
            let _ = absolute;
            Vec::new()
        }
        None => from
            .parent()
            .map(|p| p.split('/').collect())
            .unwrap_or_default(),
    };
    for segment in decoded.trim_start_matches('/').split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop()?;
            }
            s => segments.push(s),
        }
    }
    let joined = segments.join("/");
    let joined = joined.strip_suffix(".md").unwrap_or(&joined);
    PagePath::parse(joined).ok()
}

fn has_scheme(url: &str) -> bool {
    match url.find(':') {
        Some(colon) => !url[..colon].contains('/'),
        None => false,
    }
}

/// The URL path of a page (`/Folder/Page%20Name`).
pub fn page_url(page: &str) -> String {
    format!("/{}", utf8_percent_encode(page, PATH_SEGMENT))
}

/// Percent-encodes one URL path fragment (a page path or a file name) for use in an `href`.
pub fn encode_path(path: &str) -> String {
    utf8_percent_encode(path, PATH_SEGMENT).to_string()
}

/// Rewrites every wikilink in `markdown` that points at `from` so it points at `to`, keeping
/// the link text and anchor; links inside code are left alone. Returns `None` if nothing changed.
pub fn rewrite_wikilinks(markdown: &str, from: &PagePath, to: &PagePath) -> Option<String> {
    let spans = super::wikilink_spans(markdown);
    let from_key = from.key();
    let mut out = String::with_capacity(markdown.len());
    let mut last = 0;
    let mut changed = false;
    for span in spans {
        let inner = &markdown[span.start + 2..span.end - 2];
        let (text, target) = match inner.split_once('|') {
            Some((text, target)) => (Some(text), target),
            None => (None, inner),
        };
        let Some(parsed) = wikilink_target(target) else {
            continue;
        };
        if parsed.page.key() != from_key {
            continue;
        }
        let anchor = parsed.anchor.map(|a| format!("#{a}")).unwrap_or_default();
        let replacement = match text {
            Some(text) => format!("[[{text}|{to}{anchor}]]"),
            None => format!("[[{to}{anchor}]]"),
        };
        out.push_str(&markdown[last..span.start]);
        out.push_str(&replacement);
        last = span.end;
        changed = true;
    }
    if !changed {
        return None;
    }
    out.push_str(&markdown[last..]);
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(p: &str) -> PagePath {
        PagePath::parse(p).unwrap()
    }

    #[test]
    fn wikilink_targets_are_root_relative() {
        assert_eq!(
            wikilink_target("Guides/Setup").unwrap().page.as_str(),
            "Guides/Setup"
        );
        let t = wikilink_target(" /Guides/Setup#install ").unwrap();
        assert_eq!(
            (t.page.as_str(), t.anchor.as_deref()),
            ("Guides/Setup", Some("install"))
        );
        assert_eq!(wikilink_target("page.md").unwrap().page.as_str(), "page");
        assert!(wikilink_target("../etc/passwd").is_none());
        assert!(wikilink_target("").is_none());
    }

    #[test]
    fn markdown_links_resolve_relative_to_the_page() {
        let from = page("guides/setup");
        assert_eq!(
            markdown_link_target(&from, "install").unwrap().as_str(),
            "guides/install"
        );
        assert_eq!(
            markdown_link_target(&from, "../Home").unwrap().as_str(),
            "Home"
        );
        assert_eq!(
            markdown_link_target(&from, "/ops/Run%20book#x")
                .unwrap()
                .as_str(),
            "ops/Run book"
        );
        assert!(markdown_link_target(&from, "https://example.org/x").is_none());
        assert!(markdown_link_target(&from, "mailto:a@b").is_none());
        assert!(markdown_link_target(&from, "#top").is_none());
        assert!(markdown_link_target(&from, "../../../x").is_none());
    }

    #[test]
    fn page_urls_escape_what_urls_need() {
        assert_eq!(page_url("Folder/Page Name"), "/Folder/Page%20Name");
        assert_eq!(page_url("100% done"), "/100%25%20done");
    }

    #[test]
    fn rewriting_keeps_text_anchor_and_code() {
        let md = "See [[Old]], [[the old one|old#top]] and [[Other]].\n\n`[[Old]]`\n\n```\n[[Old]]\n```\n";
        let out = rewrite_wikilinks(md, &page("Old"), &page("New/Place")).unwrap();
        assert_eq!(
            out,
            "See [[New/Place]], [[the old one|New/Place#top]] and [[Other]].\n\n`[[Old]]`\n\n```\n[[Old]]\n```\n"
        );
        assert!(rewrite_wikilinks("no links", &page("Old"), &page("New")).is_none());
    }
}

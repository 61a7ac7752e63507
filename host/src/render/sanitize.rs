//! The HTML sanitizer every rendered page (and every plugin's HTML) passes through last.
//!
//! Allow-list based (ammonia): no scripts, no event handlers, no `style`, no `javascript:` or
//! `data:` URLs; only the tags and attributes Holt's Markdown produces.

use std::collections::HashSet;

use ammonia::{Builder, UrlRelative};

/// Element ids the theme's own script relies on; user content may not claim them.
const RESERVED_ID_PREFIX: &str = "holt-";

/// Keeps only class names made of letters, digits, `-` and `_` (a code fence's info string
/// becomes a class, and may contain anything).
fn plain_classes(value: &str) -> Option<String> {
    let kept: Vec<&str> = value
        .split_ascii_whitespace()
        .filter(|class| {
            class
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join(" "))
}

/// Builds the sanitizer once; `clean` is then cheap to call from any thread.
pub fn sanitizer() -> Builder<'static> {
    let mut builder = Builder::default();
    builder
        .add_tags([
            "input",
            "section",
            "details",
            "summary",
            "mark",
            "kbd",
            "figure",
            "figcaption",
            "ins",
            "del",
            "s",
        ])
        .add_generic_attributes(["class", "id", "title", "aria-label", "aria-hidden", "role"])
        // Markdown makes only task-list checkboxes; any other input becomes an inert one too.
        .add_tag_attributes("input", ["checked"])
        .set_tag_attribute_value("input", "type", "checkbox")
        .set_tag_attribute_value("input", "disabled", "")
        .add_tag_attributes("span", ["data-math-style"])
        .add_tag_attributes("code", ["data-math-style"])
        .add_tag_attributes("pre", ["lang"])
        .add_tag_attributes(
            "a",
            [
                "data-wikilink",
                "data-footnote-ref",
                "data-footnote-backref",
                "data-footnote-backref-idx",
                "data-heading-content",
            ],
        )
        .add_tag_attributes("section", ["data-footnotes"])
        .add_tag_attributes("ol", ["start", "reversed"])
        .add_tag_attributes("td", ["align"])
        .add_tag_attributes("th", ["align"])
        .add_tag_attributes("img", ["loading"])
        .url_schemes(HashSet::from([
            "http", "https", "mailto", "tel", "ftp", "xmpp",
        ]))
        .url_relative(UrlRelative::PassThrough)
        .link_rel(Some("noopener noreferrer"))
        .attribute_filter(|_element, attribute, value| match attribute {
            "id" if value.starts_with(RESERVED_ID_PREFIX) => None,
            "class" => plain_classes(value).map(Into::into),
            _ => Some(value.into()),
        });
    builder
}

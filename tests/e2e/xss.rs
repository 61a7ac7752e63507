//! The XSS corpus (tests/xss/payloads.txt): every payload is saved through the editor and its
//! page view and live preview are parsed; nothing executable may survive.

use std::path::Path;

use crate::util::{Server, html};

const BANNED_ELEMENTS: &[&str] = &[
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "form", "button",
    "style", "link", "meta", "base", "svg", "math", "template", "noscript", "textarea", "select",
    "video", "audio", "source", "marquee", "isindex",
];
const TEXT_ATTRIBUTES: &[&str] = &["title", "alt", "aria-label", "data-heading-content"];
const URL_ATTRIBUTES: &[&str] = &[
    "href",
    "src",
    "action",
    "formaction",
    "data",
    "srcset",
    "poster",
    "background",
    "xlink:href",
];

fn payloads() -> Vec<String> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/xss/payloads.txt");
    let text = std::fs::read_to_string(&file).expect("XSS corpus");
    // The file opens with two comment lines; payloads follow, separated by "=====" lines.
    let body: String = text.lines().skip(2).map(|l| format!("{l}\n")).collect();
    body.split("=====\n")
        .map(str::to_string)
        .filter(|p| !p.trim().is_empty())
        .collect()
}

/// Fails if the HTML fragment (or the part of a document under `scope`) could run script.
fn assert_inert(body: &str, scope: &str, payload: &str) {
    let doc = html(body);
    let selector = scraper::Selector::parse(scope).expect("scope selector");
    let root = doc
        .select(&selector)
        .next()
        .unwrap_or_else(|| panic!("no {scope} in output of {payload:?}:\n{body}"));
    // The scope element itself is the theme's; everything inside came from the payload.
    for node in root.descendants().skip(1) {
        let Some(element) = scraper::ElementRef::wrap(node) else {
            continue;
        };
        let el = element.value();
        let name = el.name();
        assert!(
            !BANNED_ELEMENTS.contains(&name),
            "<{name}> survived for {payload:?}:\n{}",
            root.html()
        );
        if name == "input" {
            assert_eq!(
                el.attr("type"),
                Some("checkbox"),
                "only checkboxes may be inputs: {payload:?}"
            );
        }
        for (attr, value) in el.attrs() {
            let attr = attr.to_ascii_lowercase();
            assert!(
                !attr.starts_with("on"),
                "event handler {attr} survived for {payload:?}:\n{}",
                root.html()
            );
            assert_ne!(attr, "style", "style attribute survived for {payload:?}");
            // Text attributes may hold the payload as (escaped) text; no other attribute may.
            if !TEXT_ATTRIBUTES.contains(&attr.as_str()) {
                assert!(
                    !value.contains("alert(1)"),
                    "payload reached attribute {attr}={value:?} for {payload:?}"
                );
            }
            if attr == "id" {
                assert!(
                    !value.starts_with("holt-"),
                    "user content claimed the theme's id {value} for {payload:?}"
                );
            }
            if URL_ATTRIBUTES.contains(&attr.as_str()) {
                let squashed: String = value
                    .chars()
                    .filter(|c| !c.is_whitespace() && !c.is_control())
                    .collect();
                let lower = squashed.to_ascii_lowercase();
                for scheme in ["javascript:", "vbscript:", "data:"] {
                    assert!(
                        !lower.starts_with(scheme),
                        "{attr}={value:?} survived for {payload:?}"
                    );
                }
            }
        }
    }
}

#[test]
fn the_xss_corpus_renders_inert() {
    let payloads = payloads();
    assert!(
        payloads.len() >= 75,
        "the corpus has {} payloads",
        payloads.len()
    );
    let server = Server::start();
    for (i, payload) in payloads.iter().enumerate() {
        let page = format!("Xss/{i}");
        server.create(&page, payload);
        let view = server.get(&format!("/{page}"));
        assert_eq!(view.status, 200, "view of payload {i}");
        assert_inert(&view.body, "#holt-content", payload);
        // Outside the content, the payload may only appear as escaped text.
        assert!(
            !view.body.contains("<script>alert(1)"),
            "raw script in page {i}"
        );

        let preview = server.post_form(&format!("/{page}/-/preview"), &[("content", payload)]);
        assert_eq!(preview.status, 200);
        let wrapped = format!("<div id=\"preview-root\">{}</div>", preview.body);
        assert_inert(&wrapped, "#preview-root", payload);
    }
    // Every payload left the rest of the wiki intact.
    assert_eq!(server.get("/-/index").status, 200);
    let search = server.get("/-/search?q=alert");
    assert_eq!(search.status, 200);
    assert_inert(&search.body, "ol.search-results", "search results");
}

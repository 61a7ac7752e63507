//! Markdown to safe HTML (comrak, then ammonia), and the facts the index keeps about a page.
//!
//! Rendering knows nothing about storage: the caller says which pages exist, so links to
//! missing pages can be styled as "create" links.

pub mod highlight;
pub mod links;
pub mod sanitize;

use std::fmt::Write as _;
use std::ops::Range;

use comrak::adapters::CodefenceRendererAdapter;
use comrak::nodes::{AstNode, NodeValue};
use comrak::options::Plugins;
use comrak::{Arena, Options, parse_document};

use crate::store::PagePath;
use links::{markdown_link_target, page_url, wikilink_target};

/// Marks a resolved wikilink whose page does not exist (stripped again by the formatter).
const MISSING: char = '\u{1}';
/// Marks a wikilink whose target is not a valid page name; it renders as plain text.
const INVALID: char = '\u{2}';

/// A heading, for tables of contents and the page index.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Heading {
    pub level: u8,
    pub text: String,
    pub anchor: String,
}

/// A page rendered for display.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// Sanitized HTML of the page body.
    pub html: String,
    pub toc: Vec<Heading>,
    /// The page has `$math$`, so the view loads the math renderer.
    pub has_math: bool,
    /// The page has mermaid diagrams, so the view loads mermaid.
    pub has_mermaid: bool,
}

/// What the index records about a page's content.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageFacts {
    /// The text of the first level-1 heading, if any.
    pub title: Option<String>,
    pub headings: Vec<Heading>,
    /// Pages this page links to (wikilinks and relative Markdown links), without duplicates.
    pub links: Vec<PagePath>,
    /// The page as plain text, for full-text search.
    pub text: String,
    /// Tags and categories from the front matter (`tags: [a, b]`, `category: x`).
    pub tags: Vec<String>,
}

/// Plugins' hooks around rendering, as the engine sees them (it knows nothing of plugins).
pub trait RenderHooks: Sync {
    /// Whether any hook runs at all.
    fn active(&self) -> bool;
    /// Tells apart renderings that may differ (the viewer, the wiki's version); empty when no
    /// hook is active.
    fn cache_key(&self) -> String;
    fn preprocess(&self, path: &str, markdown: String) -> String;
    fn postprocess(&self, path: &str, html: String) -> String;
}

/// No hooks: rendering is a function of the Markdown and the set of pages alone.
pub struct NoHooks;

impl RenderHooks for NoHooks {
    fn active(&self) -> bool {
        false
    }
    fn cache_key(&self) -> String {
        String::new()
    }
    fn preprocess(&self, _path: &str, markdown: String) -> String {
        markdown
    }
    fn postprocess(&self, _path: &str, html: String) -> String {
        html
    }
}

/// Renders Markdown; one instance is shared by every wiki and thread.
pub struct Renderer {
    sanitizer: ammonia::Builder<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    pub fn new() -> Self {
        Renderer {
            sanitizer: sanitize::sanitizer(),
        }
    }

    /// Renders `markdown`; `exists` answers whether a linked page exists.
    pub fn render(&self, markdown: &str, exists: &dyn Fn(&PagePath) -> bool) -> Rendered {
        let options = options();
        let arena = Arena::new();
        let root = parse_document(&arena, markdown, &options);
        let mut has_math = false;
        let mut has_mermaid = false;
        for node in root.descendants() {
            let mut data = node.data_mut();
            match &mut data.value {
                NodeValue::WikiLink(link) => {
                    link.url = match wikilink_target(&link.url) {
                        Some(target) => {
                            let anchor = target.anchor.map(|a| format!("#{a}")).unwrap_or_default();
                            let marker = if exists(&target.page) { "" } else { "\u{1}" };
                            format!("{marker}{}{anchor}", page_url(target.page.as_str()))
                        }
                        None => INVALID.to_string(),
                    };
                }
                NodeValue::Math(_) => has_math = true,
                NodeValue::CodeBlock(block) => {
                    let lang = block.info.split_whitespace().next().unwrap_or_default();
                    has_mermaid |= lang == "mermaid";
                    has_math |= lang == "math";
                }
                _ => {}
            }
        }
        let toc = headings(root);
        let mut plugins = Plugins::default();
        let highlighter = highlight::Highlighter;
        plugins.render.codefence_syntax_highlighter = Some(&highlighter);
        plugins
            .render
            .codefence_renderers
            .insert("mermaid".to_string(), &Mermaid);
        let mut html = String::with_capacity(markdown.len() * 2);
        // Writing to a String cannot fail.
        let _ = HoltHtml::format_document_with_plugins(root, &options, &mut html, &plugins);
        Rendered {
            html: self.clean(&html),
            toc,
            has_math,
            has_mermaid,
        }
    }

    /// Sanitizes HTML from any source (rendered Markdown, a plugin's post-processing).
    pub fn clean(&self, html: &str) -> String {
        self.sanitizer.clean(html).to_string()
    }

    /// Extracts the title, headings, links and text of `page` for the index.
    pub fn analyze(&self, page: &PagePath, markdown: &str) -> PageFacts {
        let options = options();
        let arena = Arena::new();
        let root = parse_document(&arena, markdown, &options);
        let headings = headings(root);
        let title = root
            .descendants()
            .find_map(|node| match &node.data().value {
                NodeValue::Heading(h) if h.level == 1 => {
                    Some(node.collect_text().trim().to_string())
                }
                _ => None,
            });
        let mut links: Vec<PagePath> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for node in root.descendants() {
            let target = match &node.data().value {
                NodeValue::WikiLink(link) => wikilink_target(&link.url).map(|t| t.page),
                NodeValue::Link(link) => markdown_link_target(page, &link.url),
                _ => None,
            };
            if let Some(target) = target
                && target.key() != page.key()
                && seen.insert(target.key())
            {
                links.push(target);
            }
        }
        let tags = root
            .children()
            .find_map(|node| match &node.data().value {
                NodeValue::FrontMatter(raw) => Some(front_matter_tags(raw)),
                _ => None,
            })
            .unwrap_or_default();
        PageFacts {
            title: title.filter(|t| !t.is_empty()),
            headings,
            links,
            text: plain_text(root),
            tags,
        }
    }
}

/// Byte ranges of every `[[wikilink]]` in `markdown`, outside code spans and blocks.
pub fn wikilink_spans(markdown: &str) -> Vec<Range<usize>> {
    let options = options();
    let arena = Arena::new();
    let root = parse_document(&arena, markdown, &options);
    let mut line_starts = vec![0usize];
    line_starts.extend(markdown.match_indices('\n').map(|(i, _)| i + 1));
    let offset = |line: usize, column: usize| -> Option<usize> {
        let start = *line_starts.get(line.checked_sub(1)?)?;
        Some(start + column.checked_sub(1)?)
    };
    let mut spans = Vec::new();
    for node in root.descendants() {
        if !matches!(node.data().value, NodeValue::WikiLink(_)) {
            continue;
        }
        let pos = node.data().sourcepos;
        let (Some(start), Some(end)) = (
            offset(pos.start.line, pos.start.column),
            offset(pos.end.line, pos.end.column),
        ) else {
            continue;
        };
        let end = end + 1;
        if markdown.get(start..start + 2) == Some("[[")
            && markdown.get(end.saturating_sub(2)..end) == Some("]]")
        {
            spans.push(start..end);
        }
    }
    spans
}

/// Reads `tags`, `tag`, `category` and `categories` from YAML-style front matter, as inline
/// lists (`tags: [a, b]`, `tags: a, b`) or block lists (`tags:` then `- a` lines).
fn front_matter_tags(raw: &str) -> Vec<String> {
    let mut tags: Vec<String> = Vec::new();
    let mut push = |item: &str| {
        let item = item.trim().trim_matches(|c| c == '"' || c == '\'');
        if !item.is_empty() && !tags.iter().any(|t| t.eq_ignore_ascii_case(item)) {
            tags.push(item.to_string());
        }
    };
    let mut in_list = false;
    for line in raw.lines() {
        if line.trim() == "---" {
            continue;
        }
        if in_list {
            if let Some(item) = line.trim_start().strip_prefix("- ") {
                push(item);
                continue;
            }
            in_list = false;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if line.starts_with(char::is_whitespace) {
            continue;
        }
        if matches!(
            key.trim().to_ascii_lowercase().as_str(),
            "tags" | "tag" | "category" | "categories"
        ) {
            let value = value.trim();
            if value.is_empty() {
                in_list = true;
            } else {
                value
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .split(',')
                    .for_each(&mut push);
            }
        }
    }
    tags
}

fn options() -> Options<'static> {
    let mut options = Options::default();
    let ext = &mut options.extension;
    ext.strikethrough = true;
    ext.table = true;
    ext.autolink = true;
    ext.tasklist = true;
    ext.footnotes = true;
    ext.header_id_prefix = Some(String::new());
    ext.front_matter_delimiter = Some("---".to_string());
    ext.alerts = true;
    ext.math_dollars = true;
    ext.math_code = true;
    ext.wikilinks_title_before_pipe = true;
    // Raw HTML is allowed through to the sanitizer, which keeps only the safe part of it.
    options.render.r#unsafe = true;
    options.render.tasklist_classes = true;
    options
}

fn headings<'a>(root: &'a AstNode<'a>) -> Vec<Heading> {
    let mut anchorizer = comrak::Anchorizer::new();
    let mut out = Vec::new();
    for node in root.descendants() {
        let level = match &node.data().value {
            NodeValue::Heading(h) => h.level,
            _ => continue,
        };
        let text = node.collect_text();
        let anchor = anchorizer.anchorize(&text);
        out.push(Heading {
            level,
            text: text.trim().to_string(),
            anchor,
        });
    }
    out
}

fn plain_text<'a>(root: &'a AstNode<'a>) -> String {
    let mut text = String::new();
    for node in root.descendants() {
        match &node.data().value {
            NodeValue::Text(t) => text.push_str(t),
            NodeValue::Code(code) => text.push_str(&code.literal),
            NodeValue::CodeBlock(block) => {
                text.push('\n');
                text.push_str(&block.literal);
            }
            NodeValue::WikiLink(_) | NodeValue::SoftBreak | NodeValue::LineBreak => text.push(' '),
            NodeValue::Paragraph
            | NodeValue::Heading(_)
            | NodeValue::Item(_)
            | NodeValue::TableRow(_) => text.push('\n'),
            NodeValue::TableCell => text.push(' '),
            _ => {}
        }
    }
    text.trim().to_string()
}

/// Renders ```` ```mermaid ```` blocks for mermaid.js to draw in the browser.
struct Mermaid;

impl CodefenceRendererAdapter for Mermaid {
    fn write(
        &self,
        output: &mut dyn std::fmt::Write,
        _lang: &str,
        _meta: &str,
        code: &str,
        _sourcepos: Option<comrak::nodes::Sourcepos>,
    ) -> std::fmt::Result {
        output.write_str("<pre class=\"mermaid\">")?;
        comrak::html::escape(output, code)?;
        output.write_str("</pre>\n")
    }
}

comrak::create_formatter!(HoltHtml, {
    NodeValue::WikiLink(ref link) => |context, entering| {
        if link.url.starts_with(INVALID) {
            let tag = if entering { "<span class=\"wikilink invalid\">" } else { "</span>" };
            context.write_str(tag)?;
        } else if entering {
            let (class, url) = match link.url.strip_prefix(MISSING) {
                Some(url) => ("wikilink missing", url),
                None => ("wikilink", link.url.as_str()),
            };
            write!(context, "<a class=\"{class}\" href=\"")?;
            context.escape_href(url)?;
            context.write_str("\">")?;
        } else {
            context.write_str("</a>")?;
        }
    },
});

#[cfg(test)]
mod tests {
    use super::*;

    fn page(p: &str) -> PagePath {
        PagePath::parse(p).unwrap()
    }

    fn render(md: &str) -> Rendered {
        Renderer::new().render(md, &|p: &PagePath| p.key() == "existing")
    }

    #[test]
    fn wikilinks_resolve_and_mark_missing_pages() {
        let html = render("[[Existing]] [[Docs|missing/page#part]] [[bad|../x]]").html;
        assert!(
            html.contains(
                r#"<a class="wikilink" href="/Existing" rel="noopener noreferrer">Existing</a>"#
            ),
            "{html}"
        );
        assert!(html.contains(r#"<a class="wikilink missing" href="/missing/page#part" rel="noopener noreferrer">Docs</a>"#), "{html}");
        assert!(
            html.contains(r#"<span class="wikilink invalid">bad</span>"#),
            "{html}"
        );
    }

    #[test]
    fn gfm_extensions_render() {
        let md = "# Title\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- [x] done\n- [ ] todo\n\n~~gone~~ https://example.org\n\nNote[^1].\n\n[^1]: Footnote.\n\n> [!NOTE]\n> Heads up\n\n$x^2$\n\n```mermaid\ngraph TD; A-->B\n```\n\n```rust\nfn main() {}\n```\n";
        let r = render(md);
        let html = &r.html;
        for needle in [
            "<table>",
            "<del>gone</del>",
            "<a href=\"https://example.org\"",
            "data-footnote-ref",
            "markdown-alert-note",
            "data-math-style=\"inline\"",
            "<pre class=\"mermaid\">graph TD; A--&gt;B\n</pre>",
            "hl-source hl-rust",
            "<h1 id=\"title\">",
        ] {
            assert!(html.contains(needle), "missing {needle:?} in {html}");
        }
        let input = html
            .split("<input")
            .nth(1)
            .and_then(|rest| rest.split('>').next())
            .unwrap_or_default();
        for attribute in [
            "class=\"task-list-item-checkbox\"",
            "checked=\"\"",
            "type=\"checkbox\"",
            "disabled=\"\"",
        ] {
            assert!(
                input.contains(attribute),
                "task checkbox lacks {attribute}: {input}"
            );
        }
        assert!(r.has_math && r.has_mermaid);
        assert_eq!(
            r.toc,
            vec![Heading {
                level: 1,
                text: "Title".into(),
                anchor: "title".into()
            }]
        );
    }

    #[test]
    fn analysis_finds_title_links_and_text() {
        let md = "---\ntags: [a]\n---\n# My Page\n\nSee [[Other]], [[Text|Folder/Sub#x]], [rel](sibling) and [[other]] again.\n\n```\n[[NotALink]]\n```\n## Part two\n";
        let facts = Renderer::new().analyze(&page("dir/me"), md);
        assert_eq!(facts.title.as_deref(), Some("My Page"));
        let links: Vec<&str> = facts.links.iter().map(|p| p.as_str()).collect();
        assert_eq!(links, vec!["Other", "Folder/Sub", "dir/sibling"]);
        assert_eq!(facts.headings.len(), 2);
        assert_eq!(facts.headings[1].anchor, "part-two");
        assert!(facts.text.contains("My Page") && facts.text.contains("[[NotALink]]"));
        assert!(!facts.text.contains("tags:"));
    }

    #[test]
    fn front_matter_tags_in_every_style() {
        assert_eq!(
            front_matter_tags("---\ntags: [a, \"b\"]\ncategory: c\n---\n"),
            vec!["a", "b", "c"]
        );
        assert_eq!(
            front_matter_tags("---\ntitle: x\ntags:\n  - one\n  - two\nother: y\n---\n"),
            vec!["one", "two"]
        );
        assert_eq!(
            front_matter_tags("---\ntags: a, A, b\n---\n"),
            vec!["a", "b"]
        );
        assert!(front_matter_tags("---\ntitle: no tags\n---\n").is_empty());
        let facts = Renderer::new().analyze(&page("p"), "---\ntags: [ops]\n---\n# P\n");
        assert_eq!(facts.tags, vec!["ops"]);
    }

    #[test]
    fn wikilink_spans_cover_the_brackets() {
        let md = "a [[One]] b\n\n`[[code]]` [[Two|x y]]";
        let spans: Vec<&str> = wikilink_spans(md).into_iter().map(|r| &md[r]).collect();
        assert_eq!(spans, vec!["[[One]]", "[[Two|x y]]"]);
    }
}

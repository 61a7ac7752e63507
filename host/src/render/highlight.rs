//! Code highlighting with syntect, emitting CSS classes so light and dark themes are only CSS.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::OnceLock;

use comrak::adapters::SyntaxHighlighterAdapter;
use syntect::html::{ClassStyle, ClassedHTMLGenerator, css_for_theme_with_class_style};
use syntect::parsing::SyntaxSet;
use syntect::util::LinesWithEndings;

/// Class prefix of highlighted tokens, so they never collide with the theme's own classes.
const CLASS_STYLE: ClassStyle = ClassStyle::SpacedPrefixed { prefix: "hl-" };
/// Code blocks longer than this are shown plain: highlighting them would cost more than it helps.
const MAX_HIGHLIGHT_BYTES: usize = 256 * 1024;

static SYNTAXES: OnceLock<SyntaxSet> = OnceLock::new();

/// The syntax definitions, loaded on first use (or by `warm_up` in the background at start).
fn syntaxes() -> &'static SyntaxSet {
    SYNTAXES.get_or_init(SyntaxSet::load_defaults_newlines)
}

/// Loads the syntax definitions ahead of the first code block, off the request path.
pub fn warm_up() {
    let _ = syntaxes();
}

/// Highlights fenced code blocks by language token (`rust`, `py`, `sh`, ...).
pub struct Highlighter;

impl SyntaxHighlighterAdapter for Highlighter {
    fn write_highlighted(
        &self,
        output: &mut dyn fmt::Write,
        lang: Option<&str>,
        code: &str,
    ) -> fmt::Result {
        let syntaxes = syntaxes();
        let syntax = lang
            .filter(|_| code.len() <= MAX_HIGHLIGHT_BYTES)
            .and_then(|lang| syntaxes.find_syntax_by_token(lang));
        let Some(syntax) = syntax else {
            return comrak::html::escape(output, code);
        };
        let mut generator =
            ClassedHTMLGenerator::new_with_class_style(syntax, syntaxes, CLASS_STYLE);
        for line in LinesWithEndings::from(code) {
            if generator
                .parse_html_for_line_which_includes_newline(line)
                .is_err()
            {
                return comrak::html::escape(output, code);
            }
        }
        output.write_str(&generator.finalize())
    }

    fn write_pre_tag(
        &self,
        output: &mut dyn fmt::Write,
        attributes: HashMap<&'static str, Cow<'_, str>>,
    ) -> fmt::Result {
        comrak::html::write_opening_tag(output, "pre", sorted(attributes))
    }

    fn write_code_tag(
        &self,
        output: &mut dyn fmt::Write,
        attributes: HashMap<&'static str, Cow<'_, str>>,
    ) -> fmt::Result {
        comrak::html::write_opening_tag(output, "code", sorted(attributes))
    }
}

/// Attributes in a stable order, so the same Markdown always renders to the same bytes.
fn sorted<'a>(
    attributes: HashMap<&'static str, Cow<'a, str>>,
) -> Vec<(&'static str, Cow<'a, str>)> {
    let mut list: Vec<_> = attributes.into_iter().collect();
    list.sort_by_key(|(k, _)| *k);
    list
}

/// The stylesheet for highlighted code: a light theme, and a dark one under `prefers-color-scheme`.
pub fn stylesheet() -> String {
    let themes = syntect::highlighting::ThemeSet::load_defaults();
    let light = css_for_theme_with_class_style(&themes.themes["InspiredGitHub"], CLASS_STYLE)
        .unwrap_or_default();
    let dark = css_for_theme_with_class_style(&themes.themes["base16-ocean.dark"], CLASS_STYLE)
        .unwrap_or_default();
    format!("{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n")
}

//! Sections of a Markdown note, addressed by heading paths such as `Setup > Linux`.
//!
//! Only ATX headings (`#` to `######`) count, and lines inside fenced code blocks or the front
//! matter are skipped, so a `# comment` in a shell snippet or YAML is never taken for a heading.
//! A section runs from its heading to the next heading of the same or a higher level: its
//! subsections are part of it.

use std::ops::Range;

/// A heading and the extent of its section.
#[derive(Debug, Clone)]
pub struct Heading {
    pub level: usize,
    pub text: String,
    /// Byte offsets: the heading line (with its line break).
    pub line: Range<usize>,
    /// Byte offset where the section ends (the next heading at this level or higher, or EOF).
    pub end: usize,
}

/// Every heading of `markdown`, in order, with its section's extent.
pub fn headings(markdown: &str) -> Vec<Heading> {
    let mut found: Vec<Heading> = Vec::new();
    let mut fence: Option<(char, usize)> = None;
    let mut offset = 0;
    let mut in_front_matter = markdown.starts_with("---\n") || markdown.starts_with("---\r\n");
    let mut first = true;
    for line in markdown.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let content = line.trim_end_matches(['\n', '\r']);
        if in_front_matter {
            if !first && (content == "---" || content == "...") {
                in_front_matter = false;
            }
            first = false;
            continue;
        }
        if let Some((marker, length)) = fence_marker(content) {
            match fence {
                None => fence = Some((marker, length)),
                Some((open, open_length)) if open == marker && length >= open_length => {
                    fence = None
                }
                Some(_) => {}
            }
            continue;
        }
        if fence.is_some() {
            continue;
        }
        if let Some((level, text)) = atx_heading(content) {
            found.push(Heading {
                level,
                text,
                line: start..offset,
                end: markdown.len(),
            });
        }
    }
    // A section ends where the next heading of the same or a higher level starts.
    for i in 0..found.len() {
        let level = found[i].level;
        if let Some(next) = found[i + 1..].iter().find(|h| h.level <= level) {
            found[i].end = next.line.start;
        }
    }
    found
}

/// A code fence opening or closing line: its character and length.
fn fence_marker(line: &str) -> Option<(char, usize)> {
    let trimmed = line.strip_prefix("   ").or_else(|| line.strip_prefix("  "));
    let trimmed = trimmed.or_else(|| line.strip_prefix(' ')).unwrap_or(line);
    let marker = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let length = trimmed.chars().take_while(|c| *c == marker).count();
    (length >= 3).then_some((marker, length))
}

/// An ATX heading's level and text, without the closing `#`s.
fn atx_heading(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.chars().take_while(|c| *c == '#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !after.is_empty() && !after.starts_with([' ', '\t']) {
        return None;
    }
    let mut text = after.trim();
    // A closing sequence of `#`s, preceded by a space, is not part of the text.
    let without_hashes = text.trim_end_matches('#');
    if without_hashes.is_empty() || without_hashes.ends_with([' ', '\t']) {
        text = without_hashes.trim_end();
    }
    Some((level, text.to_string()))
}

/// Finds the section at `path` (`Setup > Linux`): each step is a heading nested (at any
/// depth) in the previous one, names compared case-insensitively; the first match wins.
pub fn find<'a>(all: &'a [Heading], path: &str) -> Result<&'a Heading, String> {
    let steps: Vec<&str> = path
        .split('>')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if steps.is_empty() {
        return Err("The section is empty; give a heading such as `Setup > Linux`.".into());
    }
    let mut within: Option<&Heading> = None;
    for step in &steps {
        let next = all.iter().find(|h| {
            same_name(&h.text, step)
                && within.is_none_or(|outer| {
                    h.level > outer.level
                        && h.line.start > outer.line.start
                        && h.line.start < outer.end
                })
        });
        match next {
            Some(h) => within = Some(h),
            None => {
                return Err(format!(
                    "There is no section '{}' in this note. Its headings are: {}.",
                    path.trim(),
                    outline(all)
                ));
            }
        }
    }
    within.ok_or_else(|| "The section was not found.".into())
}

fn same_name(heading: &str, wanted: &str) -> bool {
    heading.to_lowercase() == wanted.to_lowercase()
}

/// The note's headings as heading paths, for telling an assistant what exists.
pub fn outline(all: &[Heading]) -> String {
    if all.is_empty() {
        return "none (the note has no `#` headings)".into();
    }
    let mut out = Vec::new();
    let mut stack: Vec<&Heading> = Vec::new();
    for heading in all {
        stack.retain(|outer| outer.level < heading.level);
        stack.push(heading);
        let path: Vec<&str> = stack.iter().map(|h| h.text.as_str()).collect();
        out.push(format!("`{}`", path.join(" > ")));
    }
    out.join(", ")
}

/// `markdown` with the body of `section` (everything after its heading line, up to its end)
/// replaced by `body`, keeping a blank line before the next heading.
pub fn replace_body(markdown: &str, section: &Heading, body: &str) -> String {
    let mut out = String::with_capacity(markdown.len() + body.len());
    out.push_str(&markdown[..section.line.end]);
    if !out.ends_with('\n') {
        out.push('\n');
    }
    let body = body.trim_matches('\n');
    if !body.is_empty() {
        out.push('\n');
        out.push_str(body);
        out.push('\n');
    }
    let rest = &markdown[section.end..];
    if !rest.is_empty() {
        out.push('\n');
        out.push_str(rest);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOTE: &str = "---\ntitle: x\n# not a heading\n---\n# Setup\n\nintro\n\n## Linux\n\napt install\n\n```sh\n# not a heading either\n```\n\n## macOS ##\n\nbrew\n\n# Usage\n\nrun it\n";

    #[test]
    fn finds_nested_sections() {
        let all = headings(NOTE);
        let names: Vec<&str> = all.iter().map(|h| h.text.as_str()).collect();
        assert_eq!(names, ["Setup", "Linux", "macOS", "Usage"]);
        let linux = find(&all, "Setup > linux").unwrap();
        let text = &NOTE[linux.line.start..linux.end];
        assert!(text.starts_with("## Linux\n") && text.contains("# not a heading either"));
        assert!(!text.contains("brew"));
        let setup = find(&all, "Setup").unwrap();
        assert!(NOTE[setup.line.start..setup.end].contains("brew"));
        assert!(find(&all, "Usage > Linux").is_err());
        let err = find(&all, "Windows").unwrap_err();
        assert!(err.contains("`Setup > Linux`"), "{err}");
    }

    #[test]
    fn replaces_a_body() {
        let all = headings(NOTE);
        let linux = find(&all, "Setup > Linux").unwrap();
        let out = replace_body(NOTE, linux, "dnf install");
        assert!(
            out.contains("## Linux\n\ndnf install\n\n## macOS ##"),
            "{out}"
        );
        let usage = find(&all, "Usage").unwrap();
        let out = replace_body(NOTE, usage, "new\n");
        assert!(out.ends_with("# Usage\n\nnew\n"), "{out}");
    }
}

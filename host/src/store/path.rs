//! Page and attachment names: the one place that decides what a name may look like.
//!
//! A page `Folder/Page Name` is stored as the file `Folder/Page Name.md`; its attachments live in
//! the folder `Folder/Page Name/` beside it (An Otter Wiki's layout, so imported repos just work).

use std::fmt;

/// Longest allowed single segment, in bytes (file systems stop at 255; `.md` needs room).
pub const MAX_SEGMENT_BYTES: usize = 120;
/// Longest allowed page path, in bytes.
pub const MAX_PATH_BYTES: usize = 400;
/// Deepest allowed folder nesting.
pub const MAX_DEPTH: usize = 16;

/// First segments the router owns, so no page can shadow them (compared case-insensitively).
pub const RESERVED_FIRST_SEGMENTS: &[&str] = &[
    "-",
    "api",
    "mcp",
    "repo.git",
    "robots.txt",
    "favicon.ico",
    "sitemap.xml",
];

/// Characters refused in names: link syntax (`[ ] | #`), URL syntax (`?`), and names that
/// cannot be checked out on Windows (`\ : * " < >`).
const FORBIDDEN: &[char] = &['\\', ':', '*', '?', '"', '<', '>', '|', '#', '[', ']'];

/// Why a page or attachment name was refused; the message is shown to the user with a 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("the name is empty")]
    Empty,
    #[error("the name may not start with '/' (page names are relative to the wiki root)")]
    Absolute,
    #[error("the name may not contain '.' or '..' segments")]
    DotSegment,
    #[error("the name may not contain an empty segment ('//' or a trailing '/')")]
    EmptySegment,
    #[error("the segment '{0}' starts with '.', which is reserved (for example .git)")]
    Hidden(String),
    #[error("the name may not contain control characters")]
    Control,
    #[error("the name may not contain '{0}'")]
    Forbidden(char),
    #[error("a segment is longer than {MAX_SEGMENT_BYTES} bytes")]
    SegmentTooLong,
    #[error("the name is longer than {MAX_PATH_BYTES} bytes")]
    TooLong,
    #[error("the name has more than {MAX_DEPTH} folder levels")]
    TooDeep,
    #[error("a segment may not begin or end with a space")]
    Whitespace,
    #[error("'{0}' is reserved for the wiki's own pages")]
    Reserved(String),
    #[error("the name may not end in '.md'; the extension is added for you")]
    MarkdownSuffix,
    #[error("an attachment name may not contain '/'")]
    AttachmentFolder,
}

/// A validated page path (`Folder/Page Name`), safe to use as a git path and in URLs.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PagePath(String);

impl PagePath {
    /// Validates a page name as typed by a user or sent by a client.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.starts_with('/') {
            return Err(PathError::Absolute);
        }
        if raw.len() > MAX_PATH_BYTES {
            return Err(PathError::TooLong);
        }
        let segments: Vec<&str> = raw.split('/').collect();
        if segments.len() > MAX_DEPTH {
            return Err(PathError::TooDeep);
        }
        for segment in &segments {
            check_segment(segment)?;
        }
        let first = segments[0].to_ascii_lowercase();
        if RESERVED_FIRST_SEGMENTS.contains(&first.as_str()) {
            return Err(PathError::Reserved(segments[0].to_string()));
        }
        if segments.contains(&"-") {
            return Err(PathError::Reserved("-".into()));
        }
        if raw.to_ascii_lowercase().ends_with(".md") {
            return Err(PathError::MarkdownSuffix);
        }
        Ok(PagePath(raw.to_string()))
    }

    /// The page for a git file path such as `a/b.md`, if it is a Markdown file with a valid name.
    pub fn from_file(file: &str) -> Option<Self> {
        let stem = file.strip_suffix(".md")?;
        PagePath::parse(stem).ok()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The Markdown file that stores this page.
    pub fn file(&self) -> String {
        format!("{}.md", self.0)
    }

    /// The folder holding this page's attachments (no trailing slash).
    pub fn attachment_dir(&self) -> &str {
        &self.0
    }

    /// The git path of one attachment of this page.
    pub fn attachment_file(&self, name: &AttachmentName) -> String {
        format!("{}/{}", self.0, name.as_str())
    }

    /// The last segment, used as the title when a page has no heading.
    pub fn name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The folder the page is in, or `None` at the wiki root.
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(dir, _)| dir)
    }

    /// The case-folded key under which pages are looked up (`Home` and `home` are one page).
    pub fn key(&self) -> String {
        self.0.to_lowercase()
    }
}

impl fmt::Display for PagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for PagePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PagePath({:?})", self.0)
    }
}

/// A validated attachment file name: one segment, never a Markdown page.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct AttachmentName(String);

impl AttachmentName {
    /// Validates an uploaded or requested attachment file name.
    pub fn parse(raw: &str) -> Result<Self, PathError> {
        if raw.is_empty() {
            return Err(PathError::Empty);
        }
        if raw.contains('/') {
            return Err(PathError::AttachmentFolder);
        }
        check_segment(raw)?;
        if raw.to_ascii_lowercase().ends_with(".md") {
            return Err(PathError::MarkdownSuffix);
        }
        Ok(AttachmentName(raw.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_segment(segment: &str) -> Result<(), PathError> {
    if segment.is_empty() {
        return Err(PathError::EmptySegment);
    }
    if segment == "." || segment == ".." {
        return Err(PathError::DotSegment);
    }
    if segment.starts_with('.') {
        return Err(PathError::Hidden(segment.to_string()));
    }
    if segment.len() > MAX_SEGMENT_BYTES {
        return Err(PathError::SegmentTooLong);
    }
    if let Some(c) = segment.chars().find(|c| c.is_control()) {
        let _ = c;
        return Err(PathError::Control);
    }
    if let Some(c) = segment.chars().find(|c| FORBIDDEN.contains(c)) {
        return Err(PathError::Forbidden(c));
    }
    if segment.starts_with(char::is_whitespace) || segment.ends_with(char::is_whitespace) {
        return Err(PathError::Whitespace);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_and_nested_names() {
        for ok in [
            "Home",
            "Folder/Page Name",
            "a/b/c/d",
            "Ünïcode page",
            "100% done",
            "v1.2",
        ] {
            assert_eq!(PagePath::parse(ok).unwrap().as_str(), ok);
        }
        let p = PagePath::parse("Guides/Setup").unwrap();
        assert_eq!(p.file(), "Guides/Setup.md");
        assert_eq!(p.name(), "Setup");
        assert_eq!(p.parent(), Some("Guides"));
        assert_eq!(p.key(), "guides/setup");
    }

    #[test]
    fn refuses_escapes_and_git_internals() {
        use PathError::*;
        let cases: &[(&str, PathError)] = &[
            ("", Empty),
            ("/etc/passwd", Absolute),
            ("a/../b", DotSegment),
            ("..", DotSegment),
            ("./a", DotSegment),
            ("a//b", EmptySegment),
            ("a/", EmptySegment),
            (".git", Hidden(".git".into())),
            ("a/.git/config", Hidden(".git".into())),
            ("a\u{0}b", Control),
            ("line\nbreak", Control),
            ("a\\b", Forbidden('\\')),
            ("what?", Forbidden('?')),
            ("x#y", Forbidden('#')),
            ("[[x]]", Forbidden('[')),
            (" padded", Whitespace),
            ("-/index", Reserved("-".into())),
            ("a/-/b", Reserved("-".into())),
            ("API/v1", Reserved("API".into())),
            ("mcp", Reserved("mcp".into())),
            ("page.md", MarkdownSuffix),
        ];
        for (raw, want) in cases {
            assert_eq!(PagePath::parse(raw).unwrap_err(), *want, "{raw:?}");
        }
    }

    #[test]
    fn refuses_over_long_names() {
        assert_eq!(
            PagePath::parse(&"a".repeat(121)).unwrap_err(),
            PathError::SegmentTooLong
        );
        let long = vec!["abcdefghij"; 40].join("/");
        assert_eq!(PagePath::parse(&long).unwrap_err(), PathError::TooLong);
        let deep = vec!["a"; 17].join("/");
        assert_eq!(PagePath::parse(&deep).unwrap_err(), PathError::TooDeep);
    }

    #[test]
    fn attachment_names_are_single_segments() {
        assert!(AttachmentName::parse("photo.png").is_ok());
        assert_eq!(
            AttachmentName::parse("a/b.png").unwrap_err(),
            PathError::AttachmentFolder
        );
        assert_eq!(
            AttachmentName::parse("..").unwrap_err(),
            PathError::DotSegment
        );
        assert_eq!(
            AttachmentName::parse("notes.md").unwrap_err(),
            PathError::MarkdownSuffix
        );
        assert_eq!(
            AttachmentName::parse(".htaccess").unwrap_err(),
            PathError::Hidden(".htaccess".into())
        );
    }

    #[test]
    fn from_file_maps_markdown_only() {
        assert_eq!(PagePath::from_file("a/b.md").unwrap().as_str(), "a/b");
        assert!(PagePath::from_file("a/b.png").is_none());
    }
}

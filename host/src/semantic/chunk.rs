//! `chunk`: how a page is cut into the passages semantic search embeds.
//!
//! A page is split at its headings (never at a `#` line inside a fenced code block); each
//! passage carries its heading path, and is embedded with a breadcrumb prefix
//! `[Title > H1 > H2]` so a passage keeps the context its words lean on. Sections under
//! [`MIN_WORDS`] are merged with what follows (their breadcrumb is what the merged sections
//! share); sections over [`MAX_WORDS`] are packed paragraph by paragraph, each passage
//! repeating the last [`OVERLAP_WORDS`] of the one before, so no sentence loses its neighbour
//! at a cut. Front matter is kept as metadata, not embedded.

/// Sections shorter than this are merged with the next one.
pub const MIN_WORDS: usize = 50;
/// Passages are packed up to about this many words.
pub const MAX_WORDS: usize = 150;
/// Words a passage repeats from the one before it.
pub const OVERLAP_WORDS: usize = 35;

/// One passage of a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Its place in the page (0, 1, ...).
    pub ordinal: usize,
    /// The headings it is under, outermost first, joined with ` > ` (empty: the page's top).
    pub heading: String,
    /// The passage itself.
    pub text: String,
    /// What is embedded: `[Title > headings] text`.
    pub embed_text: String,
}

/// A page, cut.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ChunkedPage {
    /// Top-level `key: value` pairs of the front matter.
    pub metadata: Vec<(String, String)>,
    pub chunks: Vec<Chunk>,
}

/// A run of text under one heading path.
#[derive(Debug, Clone)]
struct Section {
    path: Vec<String>,
    text: String,
}

impl Section {
    fn words(&self) -> usize {
        self.text.split_whitespace().count()
    }
}

/// Cuts `markdown` (the page titled `title`) into passages.
pub fn chunk_page(title: &str, markdown: &str) -> ChunkedPage {
    let (metadata, body) = split_front_matter(markdown);
    let sections = merge_small(split_sections(body));
    let mut chunks = Vec::new();
    for mut section in sections {
        // The page's own `# Title` heading would only repeat the title.
        if section
            .path
            .first()
            .is_some_and(|h1| h1.trim().eq_ignore_ascii_case(title.trim()))
        {
            section.path.remove(0);
        }
        for text in pack(&section.text) {
            let heading = section.path.join(" > ");
            let crumb = std::iter::once(title.trim())
                .chain(section.path.iter().map(String::as_str))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(" > ");
            chunks.push(Chunk {
                ordinal: chunks.len(),
                embed_text: format!("[{crumb}] {text}"),
                heading,
                text,
            });
        }
    }
    if chunks.is_empty() && !title.trim().is_empty() {
        // An empty page is still found by its title.
        chunks.push(Chunk {
            ordinal: 0,
            heading: String::new(),
            text: String::new(),
            embed_text: format!("[{}]", title.trim()),
        });
    }
    ChunkedPage { metadata, chunks }
}

/// Separates `---` front matter from the body, reading its top-level `key: value` lines.
fn split_front_matter(markdown: &str) -> (Vec<(String, String)>, &str) {
    let Some(rest) = markdown
        .strip_prefix("---\n")
        .or_else(|| markdown.strip_prefix("---\r\n"))
    else {
        return (Vec::new(), markdown);
    };
    let mut offset = 0;
    for line in rest.split_inclusive('\n') {
        if line.trim_end() == "---" {
            let raw = &rest[..offset];
            let body = &rest[offset + line.len()..];
            let metadata = raw
                .lines()
                .filter(|l| !l.starts_with(char::is_whitespace) && !l.starts_with('-'))
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .filter(|(k, _)| !k.is_empty())
                .collect();
            return (metadata, body);
        }
        offset += line.len();
    }
    (Vec::new(), markdown)
}

/// An ATX heading's level and text, if `line` is one.
fn heading(line: &str) -> Option<(usize, String)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let level = trimmed.bytes().take_while(|b| *b == b'#').count();
    let rest = &trimmed[level..];
    if !(1..=6).contains(&level) || !(rest.is_empty() || rest.starts_with([' ', '\t'])) {
        return None;
    }
    let text = rest.trim().trim_end_matches('#').trim_end().to_string();
    Some((level, text))
}

/// The fence a line opens or closes (its character and length), if it is one.
fn fence(line: &str) -> Option<(char, usize)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let c = trimmed.chars().next().filter(|c| *c == '`' || *c == '~')?;
    let n = trimmed.chars().take_while(|x| *x == c).count();
    (n >= 3).then_some((c, n))
}

/// Splits the body at its headings (outside fenced code).
fn split_sections(body: &str) -> Vec<Section> {
    let mut sections = vec![Section {
        path: Vec::new(),
        text: String::new(),
    }];
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut open_fence: Option<(char, usize)> = None;
    for line in body.lines() {
        if let Some((c, n)) = fence(line) {
            open_fence = match open_fence {
                None => Some((c, n)),
                Some((oc, on)) if oc == c && n >= on && line.trim().chars().all(|x| x == c) => None,
                other => other,
            };
        } else if open_fence.is_none()
            && let Some((level, text)) = heading(line)
        {
            stack.retain(|(l, _)| *l < level);
            stack.push((level, text));
            sections.push(Section {
                path: stack.iter().map(|(_, t)| t.clone()).collect(),
                text: String::new(),
            });
            continue;
        }
        if let Some(section) = sections.last_mut() {
            section.text.push_str(line);
            section.text.push('\n');
        }
    }
    sections.retain(|s| s.words() > 0);
    sections
}

/// Merges each section under [`MIN_WORDS`] with the ones after it, under the headings they
/// share. A short last section joins the one before it.
fn merge_small(sections: Vec<Section>) -> Vec<Section> {
    let mut merged: Vec<Section> = Vec::new();
    let mut pending: Option<Section> = None;
    for section in sections {
        pending = Some(match pending.take() {
            None => section,
            // A heading with nothing under it but subsections adds nothing its subsections'
            // breadcrumbs do not already say: keep theirs whole rather than cut it back.
            Some(empty) if empty.words() == 0 && section.path.starts_with(&empty.path) => section,
            Some(mut short) => {
                absorb(&mut short, section);
                short
            }
        });
        if pending.as_ref().is_some_and(|s| s.words() >= MIN_WORDS) {
            merged.extend(pending.take());
        }
    }
    if let Some(short) = pending {
        match merged.last_mut() {
            Some(last) if short.words() < MIN_WORDS => absorb(last, short),
            _ => merged.push(short),
        }
    }
    merged
}

/// Appends `next` to `into`, which keeps only the headings both are under; the heading
/// `next` loses from the breadcrumb stays in the text.
fn absorb(into: &mut Section, next: Section) {
    let shared = into
        .path
        .iter()
        .zip(&next.path)
        .take_while(|(a, b)| a == b)
        .count();
    if let Some(title) = next.path.get(shared..).and_then(|p| p.last()) {
        into.text.push_str(title);
        into.text.push('\n');
    }
    into.text.push_str(&next.text);
    into.path.truncate(shared);
}

/// Paragraphs (blank-line separated; a fenced block stays whole).
fn paragraphs(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut open_fence: Option<(char, usize)> = None;
    for line in text.lines() {
        if let Some((c, n)) = fence(line) {
            open_fence = match open_fence {
                None => Some((c, n)),
                Some((oc, on)) if oc == c && n >= on => None,
                other => other,
            };
        }
        if line.trim().is_empty() && open_fence.is_none() {
            if !current.trim().is_empty() {
                out.push(std::mem::take(&mut current));
            }
            current.clear();
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        out.push(current);
    }
    out
}

/// Packs a section's text into passages of about [`MAX_WORDS`], with overlap.
fn pack(text: &str) -> Vec<String> {
    let words = |s: &str| s.split_whitespace().count();
    if words(text) <= MAX_WORDS {
        return vec![normalise(text)];
    }
    // Units of at most MAX_WORDS: paragraphs, and windows of any longer paragraph (a window
    // after the first already repeats the end of the one before).
    let mut units: Vec<(String, bool)> = Vec::new();
    for paragraph in paragraphs(text) {
        let ws: Vec<&str> = paragraph.split_whitespace().collect();
        if ws.len() <= MAX_WORDS {
            units.push((normalise(&paragraph), false));
        } else {
            let step = MAX_WORDS - OVERLAP_WORDS;
            let mut start = 0;
            loop {
                let end = (start + MAX_WORDS).min(ws.len());
                units.push((ws[start..end].join(" "), start > 0));
                if end == ws.len() {
                    break;
                }
                start += step;
            }
        }
    }
    let mut passages: Vec<String> = Vec::new();
    let mut current: Vec<String> = Vec::new();
    let mut count = 0;
    for (unit, overlaps) in units {
        let n = words(&unit);
        if count > 0 && count + n > MAX_WORDS {
            let passage = current.join("\n\n");
            current.clear();
            count = 0;
            if !overlaps {
                // The next passage opens with the end of this one.
                let tail: Vec<&str> = passage.split_whitespace().collect();
                let overlap = tail[tail.len().saturating_sub(OVERLAP_WORDS)..].join(" ");
                count = words(&overlap);
                current.push(overlap);
            }
            passages.push(passage);
        }
        count += n;
        current.push(unit);
    }
    if !current.is_empty() {
        passages.push(current.join("\n\n"));
    }
    passages
}

/// Trims each line and drops blank runs (the embedding does not see layout).
fn normalise(text: &str) -> String {
    text.lines()
        .map(str::trim_end)
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_title_heading_is_not_repeated_and_empty_parents_keep_their_childrens_headings() {
        let words = |n: usize, w: &str| vec![w; n].join(" ");
        let page = format!(
            "# Gardening\n\n## Watering\n\n{}\n\n## Pests\n\n{}\n",
            words(60, "water"),
            words(60, "aphid")
        );
        let chunks = chunk_page("Gardening", &page).chunks;
        let headings: Vec<&str> = chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(headings, ["Watering", "Pests"]);
        assert!(
            chunks[0]
                .embed_text
                .starts_with("[Gardening > Watering] water")
        );
        // Another first heading than the title stays in the path.
        let chunks = chunk_page("Notes", &page).chunks;
        assert_eq!(chunks[0].heading, "Gardening > Watering");
    }

    fn words(n: usize, word: &str) -> String {
        vec![word; n].join(" ")
    }

    #[test]
    fn headings_split_sections_with_breadcrumbs_but_not_inside_code() {
        let page = format!(
            "---\ntitle: Setup\ntags: [a, b]\n  nested: x\n---\nIntro {}\n\n# Install\n{}\n```sh\n# not a heading\n```\n## Linux\n{}\n",
            words(60, "intro"),
            words(60, "install"),
            words(60, "linux")
        );
        let chunked = chunk_page("Guide", &page);
        assert_eq!(
            chunked.metadata,
            vec![
                ("title".to_string(), "Setup".to_string()),
                ("tags".to_string(), "[a, b]".to_string())
            ]
        );
        let headings: Vec<&str> = chunked.chunks.iter().map(|c| c.heading.as_str()).collect();
        assert_eq!(headings, vec!["", "Install", "Install > Linux"]);
        assert!(chunked.chunks[1].text.contains("# not a heading"));
        assert!(
            chunked.chunks[2]
                .embed_text
                .starts_with("[Guide > Install > Linux] linux")
        );
        assert!(
            !chunked.chunks[0].text.contains("title: Setup"),
            "front matter is not embedded"
        );
        let ordinals: Vec<usize> = chunked.chunks.iter().map(|c| c.ordinal).collect();
        assert_eq!(ordinals, vec![0, 1, 2]);
    }

    #[test]
    fn short_sections_merge_under_the_headings_they_share() {
        let page = format!(
            "# A\n## B\n{}\n## C\n{}\n# D\n{}\n",
            words(10, "bee"),
            words(45, "sea"),
            words(70, "dee")
        );
        let chunks = chunk_page("T", &page).chunks;
        assert_eq!(chunks.len(), 2, "{chunks:#?}");
        assert_eq!(chunks[0].heading, "A", "B and C merge under A");
        assert!(chunks[0].text.contains("bee") && chunks[0].text.contains("sea"));
        assert!(
            chunks[0].text.contains("C\n"),
            "the lost heading stays in the text"
        );
        assert_eq!(chunks[1].heading, "D");
        // A short last section joins the one before it.
        let tail = format!("# A\n{}\n# B\n{}\n", words(80, "aa"), words(5, "bb"));
        let chunks = chunk_page("T", &tail).chunks;
        assert_eq!(chunks.len(), 1);
        assert!(chunks[0].text.ends_with("bb"));
    }

    #[test]
    fn long_sections_pack_by_paragraph_with_overlap() {
        let paragraphs: Vec<String> = (0..8).map(|i| words(40, &format!("p{i}"))).collect();
        let page = format!("# Long\n{}\n", paragraphs.join("\n\n"));
        let chunks = chunk_page("T", &page).chunks;
        assert!(chunks.len() >= 3, "{}", chunks.len());
        for chunk in &chunks {
            let n = chunk.text.split_whitespace().count();
            assert!(n <= MAX_WORDS + OVERLAP_WORDS, "{n} words");
            assert_eq!(chunk.heading, "Long");
        }
        // Each passage after the first opens with the last words of the one before.
        for pair in chunks.windows(2) {
            let prev: Vec<&str> = pair[0].text.split_whitespace().collect();
            let next: Vec<&str> = pair[1].text.split_whitespace().collect();
            assert_eq!(&next[..OVERLAP_WORDS], &prev[prev.len() - OVERLAP_WORDS..]);
        }
        // Every paragraph's words are somewhere.
        for i in 0..8 {
            assert!(chunks.iter().any(|c| c.text.contains(&format!("p{i}"))));
        }
    }

    #[test]
    fn one_huge_paragraph_is_windowed() {
        let page = (0..400)
            .map(|i| format!("w{i}"))
            .collect::<Vec<_>>()
            .join(" ");
        let chunks = chunk_page("T", &page).chunks;
        assert!(chunks.len() >= 3);
        assert!(
            chunks
                .iter()
                .all(|c| c.text.split_whitespace().count() <= MAX_WORDS + OVERLAP_WORDS)
        );
        assert!(chunks.last().unwrap().text.contains("w399"));
        assert!(chunks[0].text.starts_with("w0 "));
        // Windows overlap once, not twice: no word appears more than twice in a row of
        // passages, and each passage after the first starts 115 words after the one before.
        let firsts: Vec<&str> = chunks
            .iter()
            .map(|c| c.text.split_whitespace().next().unwrap())
            .collect();
        assert_eq!(firsts[..3], ["w0", "w115", "w230"]);
    }

    #[test]
    fn empty_pages_keep_their_title_and_odd_front_matter_is_text() {
        let chunks = chunk_page("Empty", "").chunks;
        assert_eq!(chunks.len(), 1);
        assert_eq!(chunks[0].embed_text, "[Empty]");
        // An unclosed front matter block is ordinary text.
        let chunked = chunk_page("T", "---\nkey: value\nno end");
        assert!(chunked.metadata.is_empty());
        assert!(chunked.chunks[0].text.contains("key: value"));
        // `#hashtag` is not a heading; seven hashes are not either.
        let chunked = chunk_page("T", "#hashtag\n####### seven\ntext");
        assert_eq!(chunked.chunks.len(), 1);
        assert_eq!(chunked.chunks[0].heading, "");
    }
}

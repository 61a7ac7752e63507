//! Full-text search: FTS5 ranks (bm25, titles weighted), Rust builds the snippets.
//!
//! FTS5's own `snippet()` re-tokenizes every matching document; finding the best window in the
//! stored text here costs a scan of the few documents shown, so a common word stays cheap.

use rust_stemmers::{Algorithm, Stemmer};

use super::{Result, SearchHit, WikiIndex};

/// Words of context in a snippet.
const SNIPPET_WORDS: usize = 28;
/// Words shown before the first match in a snippet window.
const LEAD_WORDS: usize = 6;
/// Most words of a query that count.
const MAX_TERMS: usize = 16;

impl WikiIndex {
    /// Full-text search, best matches first. Words are ANDed and stemmed; the last one also
    /// matches as a prefix (so results appear while a word is still being typed).
    pub fn search(&self, query: &str, limit: u32, offset: u32) -> Result<Vec<SearchHit>> {
        let words = words(query);
        let Some(fts) = fts_query(&words) else {
            return Ok(Vec::new());
        };
        let marker = Marker::new(&words);
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "WITH top AS (
                 SELECT rowid, bm25(pages_fts, 10.0, 1.0) AS score FROM pages_fts
                 WHERE pages_fts MATCH ?1 ORDER BY score LIMIT ?2 OFFSET ?3
             )
             SELECT p.path, p.title, f.body FROM top
             JOIN pages p ON p.id = top.rowid
             JOIN pages_fts f ON f.rowid = top.rowid
             ORDER BY top.score",
        )?;
        let rows = stmt.query_map(rusqlite::params![fts, limit, offset], |r| {
            let path: String = r.get(0)?;
            let title: String = r.get(1)?;
            let body: String = r.get(2)?;
            Ok(SearchHit {
                title_html: marker.mark_all(&title),
                snippet: marker.snippet(&body),
                path,
                title,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

/// The words of a query: letters and digits (with `'`, `-`, `_` inside words).
fn words(query: &str) -> Vec<String> {
    query
        .split(|c: char| {
            c.is_whitespace() || (c.is_ascii_punctuation() && c != '\'' && c != '-' && c != '_')
        })
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .take(MAX_TERMS)
        .map(str::to_string)
        .collect()
}

/// Turns words into an FTS5 query: every word quoted (no operator injection), all required,
/// the last also as a prefix. (FTS5 refuses an implicit AND before a parenthesized group, so
/// the query stays a flat list of phrases; a prefix phrase also matches the whole word.)
fn fts_query(words: &[String]) -> Option<String> {
    let (last, rest) = words.split_last()?;
    let quote = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
    let mut out: Vec<String> = rest.iter().map(|w| quote(w)).collect();
    out.push(format!("{}*", quote(last)));
    Some(out.join(" "))
}

/// Finds and marks the query's words in text, by stem (so "restarting" marks "restart").
struct Marker {
    /// Lowercase stems; a word matches when it starts with one (short ones must be equal).
    stems: Vec<String>,
}

impl Marker {
    fn new(words: &[String]) -> Self {
        let stemmer = Stemmer::create(Algorithm::English);
        let mut stems: Vec<String> = words
            .iter()
            .map(|w| stemmer.stem(&w.to_lowercase()).into_owned())
            .collect();
        stems.sort();
        stems.dedup();
        Marker { stems }
    }

    /// Which stem (by index) `word` matches, if any.
    fn matching(&self, word: &str) -> Option<usize> {
        let bytes = word.as_bytes();
        self.stems.iter().position(|stem| {
            let stem = stem.as_bytes();
            if stem.len() < 3 {
                bytes.eq_ignore_ascii_case(stem)
            } else {
                bytes.len() >= stem.len() && bytes[..stem.len()].eq_ignore_ascii_case(stem)
            }
        })
    }

    /// `text` as HTML with every matching word marked.
    fn mark_all(&self, text: &str) -> String {
        let spans = word_spans(text);
        self.render(text, &spans, 0, spans.len(), 0, text.len())
    }

    /// The window of `text` with the most distinct matching words, as HTML: the first window
    /// that starts a few words before a match and holds as many distinct stems as any other.
    /// The text is read only until a window holds every stem (no later one could win), so a
    /// common word's snippet costs a few words of a long page, not all of it.
    fn snippet(&self, text: &str) -> String {
        let every = self.stems.len().min(64);
        let mut words = WordSpans::new(text);
        let mut spans: Vec<(usize, usize)> = Vec::new();
        // Matches as (word, stem); windows are weighed in order once the text is read past them.
        let mut hits: Vec<(usize, usize)> = Vec::new();
        let mut weighed = 0;
        let mut best = (0usize, 0usize); // (start word, distinct stems)
        loop {
            let next = words.next();
            if let Some((s, e)) = next {
                if let Some(stem) = self.matching(&text[s..e]) {
                    hits.push((spans.len(), stem));
                }
                spans.push((s, e));
            }
            // A window is final once a word beyond it has been read (or the text has ended).
            while let Some(&(i, _)) = hits.get(weighed) {
                let start = i.saturating_sub(LEAD_WORDS);
                if next.is_some() && spans.len() <= start + SNIPPET_WORDS {
                    break;
                }
                let mut seen = 0u64;
                for (j, stem) in &hits {
                    if *j >= start && *j < start + SNIPPET_WORDS {
                        seen |= 1 << (*stem % 64);
                    }
                }
                let distinct = seen.count_ones() as usize;
                if distinct > best.1 {
                    best = (start, distinct);
                }
                weighed += 1;
            }
            if next.is_none() || (best.1 == every && spans.len() > best.0 + SNIPPET_WORDS) {
                break;
            }
        }
        if spans.is_empty() {
            return String::new();
        }
        let more = words.next().is_some() || spans.len() > best.0 + SNIPPET_WORDS;
        let start = best.0;
        let end = (start + SNIPPET_WORDS).min(spans.len());
        let from = if start == 0 { 0 } else { spans[start].0 };
        let to = if more { spans[end - 1].1 } else { text.len() };
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        out.push_str(&self.render(text, &spans, start, end, from, to));
        if more {
            out.push('…');
        }
        out
    }

    /// Escapes `text[from..to]`, marking the matching words among `spans[first..last]`.
    fn render(
        &self,
        text: &str,
        spans: &[(usize, usize)],
        first: usize,
        last: usize,
        from: usize,
        to: usize,
    ) -> String {
        let mut out = String::with_capacity(to - from + 32);
        let mut at = from;
        for (s, e) in &spans[first..last] {
            if self.matching(&text[*s..*e]).is_some() {
                escape_into(&mut out, &text[at..*s]);
                out.push_str("<mark>");
                escape_into(&mut out, &text[*s..*e]);
                out.push_str("</mark>");
                at = *e;
            }
        }
        escape_into(&mut out, &text[at..to]);
        out
    }
}

/// Byte ranges of the words (runs of letters and digits) of `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    WordSpans::new(text).collect()
}

/// The words of a text as byte ranges, read as they are asked for.
struct WordSpans<'a> {
    text: &'a str,
    chars: std::str::CharIndices<'a>,
}

impl<'a> WordSpans<'a> {
    fn new(text: &'a str) -> Self {
        WordSpans {
            text,
            chars: text.char_indices(),
        }
    }
}

impl Iterator for WordSpans<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        let start = self.chars.find(|(_, c)| c.is_alphanumeric())?.0;
        match self.chars.find(|(_, c)| !c.is_alphanumeric()) {
            Some((end, _)) => Some((start, end)),
            None => Some((start, self.text.len())),
        }
    }
}

/// Escapes text for HTML; line breaks become spaces (snippets are one line).
fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\n' | '\r' | '\t' => out.push(' '),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(q: &str) -> Option<String> {
        fts_query(&words(q))
    }

    #[test]
    fn fts_queries_quote_every_word() {
        assert_eq!(query("cache cluster").unwrap(), "\"cache\" \"cluster\"*");
        assert_eq!(query("a\"b OR c").unwrap(), "\"a\" \"b\" \"OR\" \"c\"*");
        assert!(query("  ** ").is_none());
    }

    #[test]
    fn snippets_mark_stems_and_escape() {
        let marker = Marker::new(&words("restarting <cluster>"));
        let text =
            "Intro words here. To restart a <b>cluster</b>, first drain it. Later text follows.";
        assert_eq!(
            marker.snippet(text),
            "Intro words here. To <mark>restart</mark> a &lt;b&gt;<mark>cluster</mark>&lt;/b&gt;, first drain it. Later text follows."
        );
        assert_eq!(
            marker.mark_all("Cluster setup"),
            "<mark>Cluster</mark> setup"
        );
    }

    #[test]
    fn snippets_pick_the_window_with_most_terms() {
        let filler = "lorem ".repeat(60);
        let text = format!("alpha {filler} alpha beta together {filler}");
        let marker = Marker::new(&words("alpha beta"));
        let snippet = marker.snippet(&text);
        assert!(
            snippet.starts_with('…') && snippet.ends_with('…'),
            "{snippet}"
        );
        assert!(
            snippet.contains("<mark>alpha</mark> <mark>beta</mark> together"),
            "{snippet}"
        );
    }

    /// The snippet as a full read of the text would choose it: the first window (starting
    /// `LEAD_WORDS` before a match) with the most distinct stems.
    fn snippet_by_full_read(marker: &Marker, text: &str) -> String {
        let spans = word_spans(text);
        if spans.is_empty() {
            return String::new();
        }
        let hits: Vec<(usize, usize)> = (0..spans.len())
            .filter_map(|i| {
                let (s, e) = spans[i];
                marker.matching(&text[s..e]).map(|stem| (i, stem))
            })
            .collect();
        let mut best = (0, 0);
        for (i, _) in &hits {
            let start = i.saturating_sub(LEAD_WORDS);
            let mut stems: Vec<usize> = hits
                .iter()
                .filter(|(j, _)| *j >= start && *j < start + SNIPPET_WORDS)
                .map(|(_, stem)| *stem)
                .collect();
            stems.sort();
            stems.dedup();
            if stems.len() > best.1 {
                best = (start, stems.len());
            }
        }
        let end = (best.0 + SNIPPET_WORDS).min(spans.len());
        let from = if best.0 == 0 { 0 } else { spans[best.0].0 };
        let to = if end == spans.len() {
            text.len()
        } else {
            spans[end - 1].1
        };
        let body = marker.render(text, &spans, best.0, end, from, to);
        let lead = if best.0 > 0 { "…" } else { "" };
        let tail = if end < spans.len() { "…" } else { "" };
        format!("{lead}{body}{tail}")
    }

    #[test]
    fn snippets_read_only_as_far_as_needed_and_choose_as_a_full_read_would() {
        let words_of = |n: usize, seed: usize| -> String {
            let vocabulary = ["alpha", "beta", "gamma", "lorem", "ipsum", "dolor", "sit"];
            (0..n)
                .map(|i| vocabulary[(i * 7 + seed * 3 + i / 5) % vocabulary.len()])
                .collect::<Vec<_>>()
                .join(" ")
        };
        let queries = [
            "alpha",
            "alpha beta",
            "gamma beta alpha",
            "zeta",
            "sit alpha",
        ];
        for n in [0, 1, 5, 27, 28, 29, 34, 35, 36, 80, 300] {
            for seed in 0..4 {
                let text = format!("{}. {}", words_of(n, seed), words_of(n / 2, seed + 1));
                for q in queries {
                    let marker = Marker::new(&words(q));
                    assert_eq!(
                        marker.snippet(&text),
                        snippet_by_full_read(&marker, &text),
                        "query {q:?} on {n} words (seed {seed})"
                    );
                }
            }
        }
    }

    #[test]
    fn short_terms_match_whole_words_only() {
        let marker = Marker::new(&words("a"));
        assert_eq!(marker.mark_all("a apple"), "<mark>a</mark> apple");
    }
}

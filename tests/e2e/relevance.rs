//! Relevance on real prose: a wiki of the machine's own manual pages (`man1`), and twenty
//! questions that say what one page is for in other words. Search by meaning must find the page
//! in its first five results more often than full-text search does (recall@5), and for most of
//! the questions, with both builds of the model; the int8 build (the default) must keep the
//! fp32 build's recall, give or take one question. The tables of ranks are printed
//! (`cargo test ... relevance -- --nocapture`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::{Value, json};

use crate::util::{Server, http_client};

/// The manual pages made into wiki pages (all in `/usr/share/man/man1`; a missing one fails the
/// test, it is never skipped).
const COMMANDS: &[&str] = &[
    "base64", "cat", "chmod", "chown", "cp", "curl", "cut", "date", "df", "diff", "du", "env",
    "find", "git", "grep", "gzip", "head", "kill", "less", "ln", "ls", "make", "md5sum", "mkdir",
    "mv", "nice", "patch", "ps", "rm", "sed", "sleep", "sort", "split", "ssh", "tail", "tar",
    "tee", "touch", "tr", "uniq", "wc", "xargs",
];

/// Each question and the page it is about: what the command is for, in words its page (mostly)
/// does not use.
const QUERIES: &[(&str, &str)] = &[
    ("how much room do these folders take up", "du"),
    (
        "shrink something so it occupies less space in storage",
        "gzip",
    ),
    ("how much free capacity is left on my drives", "df"),
    ("force a frozen application to quit", "kill"),
    ("wait a while before continuing with the script", "sleep"),
    ("measure how long an essay is", "wc"),
    ("put a list of names in alphabetical sequence", "sort"),
    ("get rid of duplicates appearing one after another", "uniq"),
    ("let colleagues open my document but not alter it", "chmod"),
    ("give a document to a different account holder", "chown"),
    ("create a shortcut pointing to another document", "ln"),
    ("what is my computer busy with at the moment", "ps"),
    ("spot what changed between an old and a new draft", "diff"),
    ("download a web page from a remote site", "curl"),
    (
        "work on a faraway computer without anyone eavesdropping",
        "ssh",
    ),
    ("roll up a whole folder into one bundle for backup", "tar"),
    ("what is the current clock reading", "date"),
    ("verify a download was not corrupted", "md5sum"),
    ("peek at the beginning of a huge log", "head"),
    ("show which rows of a text mention a given word", "grep"),
];

/// The folder of the wiki the manual pages go in.
const FOLDER: &str = "man";
/// Words of a manual page's description kept (about three passages of the semantic index).
const MAX_WORDS: usize = 300;
/// How long embedding the pages may take: ~100 passages at 20–30 a second, with room for a
/// loaded machine.
const INDEXED_WITHIN: Duration = Duration::from_secs(300);
/// Results that count: a question scores when its page is among the first this many.
const K: usize = 5;
/// The share of questions semantic search must answer within the first K results.
const SEMANTIC_FLOOR: f64 = 0.6;

/// The installed manual page of `name` (section 1).
fn man_file(name: &str) -> PathBuf {
    let dir = PathBuf::from("/usr/share/man/man1");
    let candidates = [format!("{name}.1.gz"), format!("{name}.1")];
    candidates
        .iter()
        .map(|file| dir.join(file))
        .find(|path| path.exists())
        .unwrap_or_else(|| {
            panic!(
                "the manual page of `{name}` is not installed (no {}/{{{}}}): this test builds \
                 its wiki from the machine's manual pages; install the package that ships it, \
                 or choose another command in COMMANDS (and QUERIES)",
                dir.display(),
                candidates.join(",")
            )
        })
}

/// `name`'s manual page as plain text, formatted 1000 columns wide (so hardly a paragraph
/// wraps) without hyphenation or justification.
fn render(name: &str) -> String {
    let file = man_file(name);
    let out = Command::new("man")
        .args(["--nh", "--nj", "-P", "cat", "-l"])
        .arg(&file)
        .env("MANWIDTH", "1000")
        .env("LANG", "C.UTF-8")
        .env_remove("MANOPT")
        .env_remove("MAN_KEEP_FORMATTING")
        .output()
        .unwrap_or_else(|e| panic!("running `man` (man-db) to read {}: {e}", file.display()));
    assert!(
        out.status.success(),
        "`man -l {}` failed: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    // What `col -b` does: drop overstrikes (bold and underline), keeping the last character.
    let mut text = String::new();
    for c in String::from_utf8_lossy(&out.stdout).chars() {
        if c == '\u{8}' {
            text.pop();
        } else {
            text.push(c);
        }
    }
    text
}

/// The paragraphs of each section of a rendered manual page. Sections start at the unindented
/// lines (`NAME`, `DESCRIPTION`, ...); a subsection's title (indented less than the text) is a
/// paragraph of its own. An option's paragraph starts with its flags in backticks.
fn sections(text: &str) -> Vec<(String, Vec<String>)> {
    let mut sections: Vec<(String, Vec<Vec<String>>)> = Vec::new();
    let mut blank = true;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        if line.trim().is_empty() {
            blank = true;
        } else if indent == 0 {
            sections.push((line.trim().to_string(), Vec::new()));
            blank = true;
        } else if let Some((_, paragraphs)) = sections.last_mut() {
            if blank || paragraphs.is_empty() {
                paragraphs.push(Vec::new());
            }
            paragraphs
                .last_mut()
                .expect("a paragraph")
                .push(line.trim().to_string());
            // Text is indented 7 columns; a subsection title (`.SS`) 3.
            blank = indent < 7;
        }
    }
    sections
        .into_iter()
        .map(|(name, paragraphs)| (name, paragraphs.iter().map(|p| paragraph(p)).collect()))
        .collect()
}

/// One paragraph as a line of Markdown.
fn paragraph(lines: &[String]) -> String {
    let words = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let first = &lines[0];
    if first.starts_with('-') {
        // An option: its flags on a line of their own, or before its text on the same line
        // (after a run of spaces, or a single one: `-a, --all write counts ...`).
        let (flags, text) = if let Some((flags, text)) = first.split_once("  ") {
            (
                flags.to_string(),
                format!("{text} {}", lines[1..].join(" ")),
            )
        } else if lines.len() > 1 {
            (first.clone(), lines[1..].join(" "))
        } else {
            let tokens: Vec<&str> = first.split_whitespace().collect();
            let n = 1 + tokens
                .iter()
                .take_while(|t| t.ends_with(','))
                .count()
                .min(tokens.len() - 1);
            (tokens[..n].join(" "), tokens[n..].join(" "))
        };
        let text = words(&text);
        let flags = words(&flags);
        return if text.is_empty() {
            format!("`{flags}`")
        } else {
            format!("`{flags}`: {text}")
        };
    }
    let text = words(&lines.join(" "));
    // Nothing at the start of a paragraph may read as Markdown structure (a heading, a list).
    if text.starts_with(['#', '>', '*', '+', '=', '|']) {
        format!("\\{text}")
    } else {
        text
    }
}

/// `name`'s manual page as a wiki page: its NAME line and the first [`MAX_WORDS`] words of its
/// DESCRIPTION.
fn page_markdown(name: &str) -> String {
    let text = render(name);
    let sections = sections(&text);
    let section = |title: &str| {
        sections
            .iter()
            .find(|(t, _)| t == title)
            .map(|(_, paragraphs)| paragraphs.clone())
            .filter(|paragraphs| !paragraphs.is_empty())
            .unwrap_or_else(|| {
                panic!("the manual page of `{name}` has no {title} section; it reads:\n{text}")
            })
    };
    let summary = section("NAME").join(" ");
    let mut kept = Vec::new();
    let mut count = 0;
    for paragraph in section("DESCRIPTION") {
        let words: Vec<&str> = paragraph.split_whitespace().collect();
        if count + words.len() > MAX_WORDS {
            let room = MAX_WORDS - count;
            if room >= 10 {
                kept.push(words[..room].join(" "));
            }
            break;
        }
        count += words.len();
        kept.push(paragraph);
    }
    format!(
        "# {name}\n\n{summary}\n\n## Description\n\n{}\n",
        kept.join("\n\n")
    )
}

fn get_json(client: &Client, server: &Server, path: &str, query: &[(&str, &str)]) -> Value {
    let resp = client
        .get(server.url(path))
        .query(query)
        .send()
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    let status = resp.status().as_u16();
    let body = resp.text().expect("body");
    assert_eq!(status, 200, "GET {path} {query:?}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
}

fn semantic_status(client: &Client, server: &Server) -> Value {
    get_json(client, server, "/api/v1/reindex/status", &[])["semantic"].clone()
}

/// The distinct pages of a result list, in order.
fn pages_of(results: &Value) -> Vec<String> {
    let mut pages: Vec<String> = Vec::new();
    for hit in results.as_array().expect("a results array") {
        let path = hit["path"].as_str().expect("a result's path").to_string();
        if !pages.contains(&path) {
            pages.push(path);
        }
    }
    pages
}

/// The rank (1-based) of `target` among the first [`K`] pages, if it is there.
fn rank(pages: &[String], target: &str) -> Option<usize> {
    pages
        .iter()
        .take(K)
        .position(|p| p == target)
        .map(|i| i + 1)
}

#[test]
fn search_by_meaning_finds_paraphrased_manual_pages_better_than_full_text() {
    for (query, target) in QUERIES {
        assert!(
            COMMANDS.contains(target),
            "{query:?}: {target} is not in COMMANDS"
        );
    }
    let pages: Vec<(&str, String)> = COMMANDS.iter().map(|c| (*c, page_markdown(c))).collect();
    let fp32 = recall(&pages, "fp32");
    let int8 = recall(&pages, "int8");
    for (precision, (semantic, full_text, report)) in [("fp32", &fp32), ("int8", &int8)] {
        eprintln!("model {precision}:\n{report}\n");
        assert!(
            semantic > full_text,
            "search by meaning ({precision}) should find more of the paraphrased pages than full-text search:\n{report}"
        );
        assert!(
            *semantic >= SEMANTIC_FLOOR,
            "search by meaning ({precision}) should find at least {SEMANTIC_FLOOR} of the pages in its first {K}:\n{report}"
        );
    }
    let one = 1.0 / QUERIES.len() as f64;
    assert!(
        int8.0 + one + 1e-9 >= fp32.0,
        "the int8 model loses recall: {:.2} against fp32's {:.2}",
        int8.0,
        fp32.0
    );
}

/// Semantic and full-text recall@K on a wiki of `pages`, served with the model's `precision`
/// build, and the table of ranks.
fn recall(pages: &[(&str, String)], precision: &str) -> (f64, f64, String) {
    let started = Instant::now();
    let words: usize = pages
        .iter()
        .map(|(_, md)| md.split_whitespace().count())
        .sum();
    let server = Server::start_with(
        tempfile::tempdir().expect("temp dir"),
        &[
            ("HOLT_SEMANTIC__ENABLED", "true"),
            ("HOLT_SEMANTIC__PRECISION", precision),
        ],
    );
    let client = http_client()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("client");
    let status = semantic_status(&client, &server);
    assert_eq!(
        status["enabled"], true,
        "semantic search is off ({}): ./dev.sh test installs the model (tools/model/fetch.sh)",
        status["reason"]
    );
    for (name, markdown) in pages {
        let path = format!("/api/v1/pages/{FOLDER}/{name}");
        let resp = client
            .put(server.url(&path))
            .json(&json!({"content": markdown, "message": format!("Add the manual of {name}")}))
            .send()
            .unwrap_or_else(|e| panic!("PUT {path}: {e}"));
        let code = resp.status().as_u16();
        assert_eq!(code, 201, "PUT {path}: {}", resp.text().unwrap_or_default());
    }
    let total = get_json(&client, &server, "/api/v1/pages", &[])["pages"]
        .as_array()
        .expect("a pages array")
        .len();
    let created = started.elapsed();

    // Every page (ours and the wiki's own) embedded.
    let waiting = Instant::now();
    let indexed = loop {
        let status = semantic_status(&client, &server);
        if status["pending"] == 0 && status["pages"].as_u64() == Some(total as u64) {
            break status;
        }
        assert!(
            waiting.elapsed() < INDEXED_WITHIN,
            "the semantic index did not take in all {total} pages within {INDEXED_WITHIN:?}; \
             last status: {status}"
        );
        std::thread::sleep(Duration::from_millis(250));
    };
    let embedding = waiting.elapsed();
    // Full-text search has every page too: each is found by its command's name.
    for (_, target) in QUERIES {
        let found = get_json(
            &client,
            &server,
            "/api/v1/search",
            &[("q", target), ("limit", &K.to_string())],
        );
        assert!(
            rank(&pages_of(&found["results"]), &format!("{FOLDER}/{target}")).is_some(),
            "full-text search for {target:?} does not find its page: {found}"
        );
    }

    let mut table = format!(
        "{:<58} {:<7} {:>8} {:>9}\n",
        "query", "target", "semantic", "full-text"
    );
    let (mut semantic_hits, mut full_text_hits) = (0, 0);
    let show = |rank: Option<usize>| rank.map_or("-".to_string(), |r| r.to_string());
    for (query, target) in QUERIES {
        let page = format!("{FOLDER}/{target}");
        let n = K.to_string();
        let semantic = get_json(
            &client,
            &server,
            "/api/v1/semantic-search",
            &[("q", query), ("n", &n), ("max_per_page", "1")],
        );
        let semantic = rank(&pages_of(&semantic["results"]), &page);
        let full_text = get_json(
            &client,
            &server,
            "/api/v1/search",
            &[("q", query), ("limit", &n)],
        );
        let full_text = rank(&pages_of(&full_text["results"]), &page);
        semantic_hits += usize::from(semantic.is_some());
        full_text_hits += usize::from(full_text.is_some());
        table += &format!(
            "{query:<58} {target:<7} {:>8} {:>9}\n",
            show(semantic),
            show(full_text)
        );
    }
    let semantic_recall = semantic_hits as f64 / QUERIES.len() as f64;
    let full_text_recall = full_text_hits as f64 / QUERIES.len() as f64;
    let report = format!(
        "{table}\nrecall@{K} over {} questions: semantic {semantic_recall:.2}, full-text \
         {full_text_recall:.2}\n{} manual pages ({words} words) made in {created:.1?}; \
         embedded in {embedding:.1?} ({indexed}); total {:.1?}",
        QUERIES.len(),
        pages.len(),
        started.elapsed()
    );
    (semantic_recall, full_text_recall, report)
}

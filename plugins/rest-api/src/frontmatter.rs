//! A page's YAML front matter as a JSON object: enough YAML for wiki metadata, not all of it.
//! `key: value` scalars (true/false and whole numbers typed, quotes removed), `key: [a, b]`
//! flow lists and `key:` followed by `- item` lines; anything else (nested maps, multi-line
//! strings) is skipped rather than guessed at.

use serde_json::{Map, Value};

/// The front matter of `content` (between a leading `---` line and the next `---` or `...`
/// line), `{}` when there is none.
pub fn parse(content: &str) -> Map<String, Value> {
    let mut out = Map::new();
    let mut lines = content.lines();
    if lines.next().map(str::trim_end) != Some("---") {
        return out;
    }
    let mut block = Vec::new();
    let mut closed = false;
    for line in lines {
        if matches!(line.trim_end(), "---" | "...") {
            closed = true;
            break;
        }
        block.push(line);
    }
    if !closed {
        return out;
    }
    let mut list_key: Option<String> = None;
    for line in block {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(item) = trimmed
            .strip_prefix("- ")
            .or((trimmed == "-").then_some(""))
        {
            if let Some(Value::Array(items)) = list_key.as_ref().and_then(|k| out.get_mut(k)) {
                items.push(scalar(item));
            }
            continue;
        }
        list_key = None;
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((key, value)) = trimmed.split_once(':') else {
            continue;
        };
        let (key, value) = (unquote(key.trim()).to_string(), value.trim());
        if value.is_empty() {
            out.insert(key.clone(), Value::Array(Vec::new()));
            list_key = Some(key);
        } else if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            let items = inner
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(scalar)
                .collect();
            out.insert(key, Value::Array(items));
        } else {
            out.insert(key, scalar(value));
        }
    }
    out
}

/// A scalar: booleans and whole numbers typed, everything else a string without its quotes
/// or trailing comment.
fn scalar(text: &str) -> Value {
    let quoted = text.starts_with(['"', '\'']);
    let text = if quoted {
        unquote(text)
    } else {
        text.split(" #").next().unwrap_or(text).trim()
    };
    if !quoted {
        match text {
            "true" => return Value::Bool(true),
            "false" => return Value::Bool(false),
            "null" | "~" => return Value::Null,
            _ => {}
        }
        if let Ok(n) = text.parse::<i64>() {
            return Value::from(n);
        }
    }
    Value::String(text.to_string())
}

fn unquote(text: &str) -> &str {
    for quote in ['"', '\''] {
        if let Some(inner) = text.strip_prefix(quote).and_then(|t| t.strip_suffix(quote)) {
            return inner;
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_and_both_kinds_of_lists() {
        let page = "---\ntitle: \"Setup: Linux\"\ntags: [ops, linux]\ndraft: false\n\
                    order: 3\naliases:\n  - Install\n  - 'Get started'\n---\n# Body\n";
        assert_eq!(
            Value::Object(parse(page)),
            json!({"title": "Setup: Linux", "tags": ["ops", "linux"], "draft": false,
                   "order": 3, "aliases": ["Install", "Get started"]})
        );
    }

    #[test]
    fn no_front_matter_is_an_empty_object() {
        assert!(parse("# Title\n---\nkey: value\n").is_empty());
        assert!(parse("---\nkey: value\n").is_empty(), "never closed");
    }
}

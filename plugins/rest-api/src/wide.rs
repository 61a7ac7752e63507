//! Wiki-wide routes: health, the page listing, the changelog, full-text and semantic search
//! (and the semantic index's state), the link graph and the OpenAPI document.

use holt_plugin_sdk::{Request, Response, context, pages, search as host_search};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::input;

/// The OpenAPI 3.1 document of this API, built into the component so it always matches.
const OPENAPI: &str = include_str!("../openapi.json");

/// A JSON response.
pub fn json(status: u16, value: &Value) -> Response {
    Response::json(status, &value.to_string())
}

/// `GET /openapi.json`: the same for everyone, so it needs no permission.
pub fn openapi() -> Response {
    Response::json(200, OPENAPI)
}

/// `GET /health`: the API answers, and the caller may read this wiki (a monitor of a private
/// wiki sends a read token).
pub fn health() -> Result<Response, ApiError> {
    ApiError::check(context::whoami().can_read, "read pages")?;
    let wiki = context::wiki();
    Ok(json(
        200,
        &json!({"status": "ok", "wiki": wiki.slug, "api": "v1"}),
    ))
}

/// `GET /pages?prefix=&tag=&updated_since=&limit=`.
pub fn list_pages(request: &Request) -> Result<Response, ApiError> {
    let updated_since = match input::optional(request, "updated_since") {
        None => None,
        Some(text) => Some(input::timestamp(&text).ok_or_else(|| {
            ApiError::query(format!(
                "'updated_since' must be Unix seconds or a UTC time like 2026-11-01T00:00:00Z, not '{text}'."
            ))
        })?),
    };
    let query = pages::ListQuery {
        prefix: input::optional(request, "prefix"),
        tag: input::optional(request, "tag"),
        updated_since,
        limit: input::number(request, "limit", 1000, 1, 1000)?,
    };
    let listed: Vec<Value> = pages::list(&query)?
        .into_iter()
        .map(|p| {
            json!({"path": p.path, "title": p.title, "revision": p.revision,
                   "updated": p.updated, "size": p.size})
        })
        .collect();
    Ok(json(200, &json!({ "pages": listed })))
}

/// `GET /changelog?limit=&offset=`: the wiki's commits, newest first.
pub fn changelog(request: &Request) -> Result<Response, ApiError> {
    let limit = input::number(request, "limit", 50, 1, 1000)?;
    let offset = input::number(request, "offset", 0, 0, u32::MAX)?;
    let changes: Vec<Value> = pages::recent_changes(limit, offset)?
        .into_iter()
        .map(|c| {
            json!({"commit": c.commit, "author": c.author, "time": c.time,
                   "message": c.message, "files": c.files})
        })
        .collect();
    Ok(json(200, &json!({ "changes": changes })))
}

/// `GET /search?q=&limit=&offset=`: full-text search.
pub fn search(request: &Request) -> Result<Response, ApiError> {
    let q = input::required(request, "q", "the words to search for")?;
    let limit = input::number(request, "limit", 20, 1, 100)?;
    let offset = input::number(request, "offset", 0, 0, u32::MAX)?;
    let results: Vec<Value> = host_search::full_text(&q, limit, offset)?
        .into_iter()
        .map(|h| json!({"path": h.path, "title": h.title, "snippet": h.snippet}))
        .collect();
    Ok(json(200, &json!({ "results": results })))
}

/// `GET /semantic-search?q=&n=&max_per_page=`: the passages closest in meaning to `q`, best
/// first. Where semantic search is off the host says why, answered as 503 `unavailable`.
pub fn semantic_search(request: &Request) -> Result<Response, ApiError> {
    let q = input::required(request, "q", "what to search for, in plain words")?;
    let n = input::number(request, "n", 10, 1, 50)?;
    let max_per_page = input::number(request, "max_per_page", 3, 1, 10)?;
    let results: Vec<Value> = host_search::semantic_search(&q, n, max_per_page)?
        .into_iter()
        .map(|h| {
            json!({"path": h.path, "title": h.title, "heading": h.heading,
                   "snippet": h.text, "score": score(h.score)})
        })
        .collect();
    Ok(json(200, &json!({"query": q, "results": results})))
}

/// A similarity as JSON: the shortest decimal that reads back as the same `f32` (`0.82`, not
/// `0.8199999928474426`).
fn score(value: f32) -> Value {
    value
        .to_string()
        .parse::<f64>()
        .ok()
        .and_then(serde_json::Number::from_f64)
        .map_or(Value::Null, Value::Number)
}

/// `GET /reindex/status`: the state of the semantic index (on or off and why, the model, the
/// pages waiting to be embedded, what the index holds).
pub fn reindex_status() -> Result<Response, ApiError> {
    ApiError::check(context::whoami().can_read, "read pages")?;
    let status = host_search::reindex_status()?;
    Ok(json(
        200,
        &json!({"semantic": {
            "enabled": status.enabled,
            "reason": status.reason,
            "model": status.model,
            "pending": status.pending,
            "pages": status.pages,
            "chunks": status.chunks,
        }}),
    ))
}

/// `GET /links`: every page and every link between pages.
pub fn graph() -> Result<Response, ApiError> {
    let graph = pages::graph()?;
    let edges: Vec<Value> = graph
        .edges
        .into_iter()
        .map(|l| json!({"from": l.from, "to": l.to}))
        .collect();
    Ok(json(200, &json!({"nodes": graph.nodes, "edges": edges})))
}

//! Wiki-wide routes: health, the page listing, the changelog, search, the link graph and the
//! OpenAPI document.

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

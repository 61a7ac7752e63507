//! Routes on one page: read, create or update, edit by replacement, delete, rename, and its
//! history, diffs and links.

use holt_plugin_sdk::{ChangeKind, Error, Request, Response, context, pages as host};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::frontmatter;
use crate::input;
use crate::wide::json;

/// `GET /pages/{path}?revision=`: the page with its front matter as `metadata`, and its
/// revision as the ETag (send it back as `If-Match` to update).
pub fn get(request: &Request, path: &str) -> Result<Response, ApiError> {
    let revision = input::optional(request, "revision");
    let page = host::read(path, revision.as_deref())?;
    let metadata = frontmatter::parse(&page.content);
    let mut response = json(
        200,
        &json!({"path": page.path, "title": page.title, "content": page.content,
                "revision": page.revision, "updated": page.updated, "metadata": metadata}),
    );
    response
        .headers
        .push(("etag".into(), format!("\"{}\"", page.revision)));
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PutBody {
    content: String,
    revision: Option<String>,
    message: Option<String>,
}

/// `PUT /pages/{path}`: creates the page (201), or updates it (200) from the revision the
/// caller based the change on, so that nobody overwrites an edit they have not seen.
pub fn put(request: &Request, path: &str) -> Result<Response, ApiError> {
    require_write()?;
    let body: PutBody = input::json_body(request)?;
    let base = input::base_revision(request, body.revision)?;
    // Whether the page exists decides between create and update (a base revision alone does
    // not: the page may have been deleted since).
    let created = match host::read(path, None) {
        Ok(page) if base.is_none() => {
            return Err(ApiError {
                current_revision: Some(page.revision),
                ..ApiError::new(
                    409,
                    "revision_required",
                    format!(
                        "The page '{path}' exists: send the revision your change is based on \
                         (\"revision\" in the body or an If-Match header), e.g. current_revision."
                    ),
                )
            });
        }
        Ok(_) => false,
        Err(Error::NotFound(_)) => true,
        Err(err) => return Err(err.into()),
    };
    let message = body.message.unwrap_or_default();
    let revision = host::save(path, &body.content, base.as_deref(), &message)?;
    let mut response = json(
        if created { 201 } else { 200 },
        &json!({"path": path, "revision": revision, "created": created}),
    );
    response
        .headers
        .push(("etag".into(), format!("\"{revision}\"")));
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PatchBody {
    old_string: String,
    new_string: String,
    revision: Option<String>,
    message: Option<String>,
}

/// `PATCH /pages/{path}`: replaces the one occurrence of `old_string`, saving on the revision
/// that was read (or the one given, which must still be current).
pub fn patch(request: &Request, path: &str) -> Result<Response, ApiError> {
    require_write()?;
    let body: PatchBody = input::json_body(request)?;
    let base = input::base_revision(request, body.revision)?;
    if body.old_string.is_empty() {
        return Err(ApiError::new(
            400,
            "invalid",
            "'old_string' is empty: give the exact text to replace (PUT replaces a whole page).",
        ));
    }
    let page = host::read(path, None)?;
    match page.content.matches(&body.old_string).count() {
        1 => {}
        0 => {
            return Err(ApiError::new(
                422,
                "no_match",
                "'old_string' does not occur in the page: re-read it and copy the text exactly.",
            ));
        }
        n => {
            return Err(ApiError::new(
                422,
                "ambiguous_match",
                format!(
                    "'old_string' occurs {n} times in the page: include more of the surrounding text so it occurs once."
                ),
            ));
        }
    }
    let content = page.content.replacen(&body.old_string, &body.new_string, 1);
    let base = base.unwrap_or(page.revision);
    let message = body.message.unwrap_or_default();
    let revision = host::save(path, &content, Some(&base), &message)?;
    Ok(json(200, &json!({"path": path, "revision": revision})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteBody {
    message: Option<String>,
}

/// `DELETE /pages/{path}`: the commit message from an optional JSON body or `?message=`.
pub fn delete(request: &Request, path: &str) -> Result<Response, ApiError> {
    require_write()?;
    let from_body = if request.body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        input::json_body::<DeleteBody>(request)?.message
    };
    let message = from_body
        .or_else(|| request.query_param("message"))
        .unwrap_or_default();
    let revision = host::delete(path, &message)?;
    Ok(json(200, &json!({"path": path, "revision": revision})))
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameBody {
    to: String,
    #[serde(default = "yes")]
    rewrite_links: bool,
    message: Option<String>,
}

/// `POST /pages/{path}/-/rename`: moves the page and its attachments, rewriting `[[links]]`
/// to it unless `rewrite_links` is false.
pub fn rename(request: &Request, path: &str) -> Result<Response, ApiError> {
    require_write()?;
    let body: RenameBody = input::json_body(request)?;
    let message = body.message.unwrap_or_default();
    let revision = host::rename(path, &body.to, body.rewrite_links, &message)?;
    Ok(json(
        200,
        &json!({"from": path, "to": body.to, "revision": revision}),
    ))
}

/// `GET /pages/{path}/-/history?limit=&offset=`: newest first, following renames.
pub fn history(request: &Request, path: &str) -> Result<Response, ApiError> {
    let limit = input::number(request, "limit", 50, 1, 1000)?;
    let offset = input::number(request, "offset", 0, 0, u32::MAX)?;
    let history: Vec<Value> = host::history(path, limit, offset)?
        .into_iter()
        .map(|r| {
            let kind = match r.kind {
                ChangeKind::Added => "added",
                ChangeKind::Modified => "modified",
                ChangeKind::Deleted => "deleted",
                ChangeKind::Renamed => "renamed",
            };
            json!({"commit": r.commit, "author": r.author, "time": r.time,
                   "message": r.message, "path": r.path, "kind": kind})
        })
        .collect();
    Ok(json(200, &json!({ "history": history })))
}

/// `GET /pages/{path}/-/diff?from=&to=`: a unified diff; `to` defaults to the current revision.
pub fn diff(request: &Request, path: &str) -> Result<Response, ApiError> {
    let from = input::required(request, "from", "the revision to compare from")?;
    let to = match input::optional(request, "to") {
        Some(to) => to,
        None => host::read(path, None)?.revision,
    };
    let diff = host::diff(path, &from, &to)?;
    Ok(json(200, &json!({ "diff": diff })))
}

/// `GET /pages/{path}/-/links`: the pages it links to and the pages linking to it.
pub fn links(path: &str) -> Result<Response, ApiError> {
    let links = host::links(path)?;
    let backlinks = host::backlinks(path)?;
    Ok(json(200, &json!({"links": links, "backlinks": backlinks})))
}

fn require_write() -> Result<(), ApiError> {
    ApiError::check(context::whoami().can_write, "edit pages")
}

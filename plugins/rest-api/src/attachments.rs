//! Routes on a page's attachments: list, upload (the raw body is the file), download, delete.

use holt_plugin_sdk::{Request, Response, attachments as host, context};
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::input;
use crate::mime;
use crate::wide::json;

/// `GET /pages/{path}/-/attachments`.
pub fn list(path: &str) -> Result<Response, ApiError> {
    let attachments: Vec<Value> = host::list(path)?
        .into_iter()
        .map(|a| json!({"name": a.name, "size": a.size}))
        .collect();
    Ok(json(200, &json!({ "attachments": attachments })))
}

/// `PUT /pages/{path}/-/attachments/{name}`: the body, whatever its content type, is the file.
pub fn put(request: &Request, path: &str, name: &str) -> Result<Response, ApiError> {
    ApiError::check(context::whoami().can_upload, "manage attachments")?;
    let message = request.query_param("message").unwrap_or_default();
    let revision = host::write(path, name, &request.body, &message)?;
    Ok(json(
        201,
        &json!({"page": path, "name": name, "revision": revision, "size": request.body.len()}),
    ))
}

/// `GET /pages/{path}/-/attachments/{name}?revision=`: the file itself. Images and plain text
/// may show inline; everything else is a download.
pub fn get(request: &Request, path: &str, name: &str) -> Result<Response, ApiError> {
    let revision = input::optional(request, "revision");
    let bytes = host::read(path, name, revision.as_deref())?;
    let (content_type, inline) = mime::guess(name);
    let mut response = Response::new(200, content_type, bytes);
    if !inline {
        response.headers.push((
            "content-disposition".into(),
            mime::attachment_disposition(name),
        ));
    }
    Ok(response)
}

/// `DELETE /pages/{path}/-/attachments/{name}?message=`.
pub fn delete(request: &Request, path: &str, name: &str) -> Result<Response, ApiError> {
    ApiError::check(context::whoami().can_upload, "manage attachments")?;
    let message = request.query_param("message").unwrap_or_default();
    let revision = host::delete(path, name, &message)?;
    Ok(json(200, &json!({ "revision": revision })))
}

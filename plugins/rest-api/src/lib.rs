//! Holt's REST API, `/api/v1` on every wiki: pages, history, changelog, search (full-text and
//! semantic), links and attachments as JSON, for scripts and integrations.
//!
//! The host has already authenticated the caller (a wiki token or a session cookie) and every
//! host call acts with the caller's permissions, so this plugin only translates HTTP to host
//! calls and host errors back to HTTP. The modules, one concept each:
//!
//! - [`route`]: which route a method and path name (and what a path is allowed);
//! - [`pages`], [`attachments`], [`wide`]: the handlers, by what they act on;
//! - [`input`]: reading query parameters, JSON bodies and page paths from a request;
//! - [`error`]: the `{"error": {"code", "message"}}` answers, from host errors and bad input;
//! - [`frontmatter`]: a page's YAML front matter as a JSON object;
//! - [`mime`]: the content type of an attachment, from its name.
//!
//! The OpenAPI document (`openapi.json`, served at `/openapi.json`) describes exactly these
//! routes; the end-to-end tests check that the two agree.

mod attachments;
mod error;
mod frontmatter;
mod input;
mod mime;
mod pages;
mod route;
mod wide;

use holt_plugin_sdk::{Plugin, Request, Response, register_plugin};

use crate::error::ApiError;
use crate::route::Route;

struct RestApi;

impl Plugin for RestApi {
    fn new() -> Self {
        RestApi
    }

    fn handle_http(&self, request: Request) -> Response {
        serve(&request).unwrap_or_else(ApiError::into_response)
    }
}

/// Routes a request to its handler.
fn serve(request: &Request) -> Result<Response, ApiError> {
    let route = route::parse(&request.path)?;
    let method = request.method.as_str();
    if !route.allows(method) {
        return Err(ApiError::method_not_allowed(method, route.methods()));
    }
    match (method, route) {
        (_, Route::OpenApi) => Ok(wide::openapi()),
        (_, Route::Health) => wide::health(),
        (_, Route::Pages) => wide::list_pages(request),
        (_, Route::Changelog) => wide::changelog(request),
        (_, Route::Search) => wide::search(request),
        (_, Route::SemanticSearch) => wide::semantic_search(request),
        (_, Route::ReindexStatus) => wide::reindex_status(),
        (_, Route::Graph) => wide::graph(),
        ("GET", Route::Page(path)) => pages::get(request, &path),
        ("PUT", Route::Page(path)) => pages::put(request, &path),
        ("PATCH", Route::Page(path)) => pages::patch(request, &path),
        ("DELETE", Route::Page(path)) => pages::delete(request, &path),
        (_, Route::Rename(path)) => pages::rename(request, &path),
        (_, Route::History(path)) => pages::history(request, &path),
        (_, Route::Diff(path)) => pages::diff(request, &path),
        (_, Route::Links(path)) => pages::links(&path),
        (_, Route::Attachments(path)) => attachments::list(&path),
        ("GET", Route::Attachment(path, name)) => attachments::get(request, &path, &name),
        ("PUT", Route::Attachment(path, name)) => attachments::put(request, &path, &name),
        ("DELETE", Route::Attachment(path, name)) => attachments::delete(request, &path, &name),
        (method, route) => Err(ApiError::method_not_allowed(method, route.methods())),
    }
}

register_plugin!(RestApi);

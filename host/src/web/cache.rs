//! The response cache: whole GET responses, keyed by the wiki's version.
//!
//! Every view is a function of the wiki's state, the URL and the viewer, and a write bumps the
//! wiki's version once the index shows it. Keying entries by that version means a cached
//! response can be served until the wiki changes, and never after: no invalidation to forget.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::AppState;
use crate::tenancy::RequestContext;

/// Marks a response as a pure function of (wiki version, URL, viewer), so it may be cached.
#[derive(Debug, Clone, Copy)]
pub struct Cacheable;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    wiki: String,
    version: u64,
    viewer: String,
    host: String,
    uri: String,
}

struct Cached {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

/// Responses larger than this share of the cache are not kept (one attachment must not
/// evict a thousand pages).
const LARGEST_SHARE: u64 = 16;

#[derive(Clone)]
struct BodyBytes;

impl Weighter<Key, Arc<Cached>> for BodyBytes {
    fn weight(&self, key: &Key, value: &Arc<Cached>) -> u64 {
        (value.body.len() + key.uri.len() + key.host.len() + 128) as u64
    }
}

/// Cached responses, bounded in bytes.
pub struct ResponseCache {
    entries: Option<Cache<Key, Arc<Cached>, BodyBytes>>,
    largest: u64,
}

impl ResponseCache {
    /// A cache holding up to `bytes` of responses; 0 disables it.
    pub fn new(bytes: u64) -> Self {
        let entries = (bytes > 0).then(|| {
            // quick_cache wants an estimate of the item count; pages average a few tens of KB.
            let items = (bytes / 16384).max(16) as usize;
            Cache::with_weighter(items, bytes, BodyBytes)
        });
        ResponseCache {
            entries,
            largest: bytes / LARGEST_SHARE,
        }
    }
}

/// Middleware: answers GETs from the cache, and stores responses marked `Cacheable`.
pub async fn responses(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let Some(entries) = &state.responses.entries else {
        return next.run(request).await;
    };
    if request.method() != Method::GET {
        return next.run(request).await;
    }
    let Some(ctx) = request.extensions().get::<RequestContext>().cloned() else {
        return next.run(request).await;
    };
    let key = Key {
        wiki: ctx.wiki.slug().to_string(),
        version: ctx.wiki.version(),
        viewer: ctx.viewer_key(),
        host: request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string(),
        uri: request.uri().to_string(),
    };
    if let Some(hit) = entries.get(&key) {
        return respond(&hit, "hit");
    }
    let response = next.run(request).await;
    if response.extensions().get::<Cacheable>().is_none() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::TRANSFER_ENCODING);
    let body = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(error = %err, "reading a response to cache it");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let cached = Arc::new(Cached {
        status: parts.status,
        headers: parts.headers,
        body,
    });
    if cached.body.len() as u64 > state.responses.largest {
        return respond(&cached, "skip");
    }
    entries.insert(key, cached.clone());
    respond(&cached, "miss")
}

fn respond(cached: &Cached, outcome: &'static str) -> Response {
    let mut response = Response::new(Body::from(cached.body.clone()));
    *response.status_mut() = cached.status;
    let headers = response.headers_mut();
    headers.clone_from(&cached.headers);
    headers.insert("x-holt-cache", HeaderValue::from_static(outcome));
    response
}

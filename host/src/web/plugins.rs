//! Plugins on the web: their HTTP routes, their render hooks, and the status page.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::AppError;
use super::{AppState, Site};
use crate::plugins::{HttpRequest, PluginError, PluginHost};
use crate::render::RenderHooks;
use crate::tenancy::RequestContext;

/// Request headers a plugin never sees: the host has already turned them into the principal.
const WITHHELD_REQUEST_HEADERS: &[&str] = &["cookie", "authorization", "proxy-authorization"];
/// Response headers a plugin may set; the rest (cookies, security policy, CORS) are the host's.
const ALLOWED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "location",
    "etag",
    "last-modified",
    "content-disposition",
    "content-language",
    "vary",
    "link",
    "www-authenticate",
    "retry-after",
];

/// The base URL of the wiki as this request named it.
pub fn base_url(headers: &HeaderMap) -> String {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let https = headers
        .get("x-forwarded-proto")
        .is_some_and(|p| p.as_bytes() == b"https");
    format!("{}://{host}", if https { "https" } else { "http" })
}

/// Serves a request under a plugin's prefix with its `http-handler`.
pub async fn http(
    state: AppState,
    ctx: RequestContext,
    plugin: &str,
    prefix: &str,
    request: Request,
) -> Response {
    let api = prefix.starts_with("/api/");
    match serve_http(state, ctx, plugin, prefix, request).await {
        Ok(response) => response,
        // An API's clients read JSON errors, in the shape the management API uses.
        Err(err) if api => {
            let (status, message) = err.status_and_message();
            if status.is_server_error() {
                tracing::error!(error = %err, plugin, "plugin request failed");
            }
            let code = match status {
                StatusCode::PAYLOAD_TOO_LARGE => "too_large",
                StatusCode::NOT_FOUND => "not_found",
                StatusCode::GATEWAY_TIMEOUT => "timeout",
                s if s.is_server_error() => "internal",
                _ => "bad_request",
            };
            super::api::ApiError::new(status, code, message).into_response()
        }
        Err(err) => err.into_response(),
    }
}

async fn serve_http(
    state: AppState,
    ctx: RequestContext,
    plugin: &str,
    prefix: &str,
    request: Request,
) -> Result<Response, AppError> {
    let (parts, body) = request.into_parts();
    let limit = state
        .settings
        .limits
        .max_page_bytes
        .max(state.settings.limits.max_attachment_bytes) as usize
        + 65536;
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| {
        AppError::TooLarge("The request body is larger than the server accepts.".into())
    })?;
    let path = parts.uri.path().strip_prefix(prefix).unwrap_or("/");
    let path = if path.is_empty() {
        "/".to_string()
    } else {
        path.to_string()
    };
    let headers = parts
        .headers
        .iter()
        .filter(|(name, _)| !WITHHELD_REQUEST_HEADERS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect();
    let request = HttpRequest {
        method: parts.method.as_str().to_string(),
        path,
        query: parts.uri.query().unwrap_or_default().to_string(),
        headers,
        body: body.to_vec(),
    };
    let base = base_url(&parts.headers);
    let cacheable = parts.method == axum::http::Method::GET
        && state
            .plugins
            .get(plugin)
            .is_ok_and(|p| p.manifest.provides.cacheable_reads);
    let reply = state.plugins.http(plugin, &ctx, &base, request).await?;
    let status = StatusCode::from_u16(reply.status).map_err(|_| {
        AppError::Plugin(PluginError::Trapped {
            plugin: plugin.to_string(),
            reason: format!("it answered with the invalid status {}", reply.status),
        })
    })?;
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = status;
    for (name, value) in reply.headers {
        let name = name.to_ascii_lowercase();
        if !ALLOWED_RESPONSE_HEADERS.contains(&name.as_str()) {
            continue;
        }
        if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
            response.headers_mut().append(name, value);
        }
    }
    if cacheable && status == StatusCode::OK {
        response.extensions_mut().insert(super::cache::Cacheable);
    }
    Ok(response)
}

/// The plugins' render hooks for one request, called from the blocking thread that renders.
pub struct PluginHooks {
    host: Arc<PluginHost>,
    ctx: RequestContext,
    base_url: String,
    runtime: tokio::runtime::Handle,
    key: String,
}

impl PluginHooks {
    pub fn new(host: Arc<PluginHost>, ctx: RequestContext, base_url: String) -> Self {
        let key = if host.has_render_hooks() {
            format!("{}:{}", ctx.wiki.version(), ctx.viewer_key())
        } else {
            String::new()
        };
        PluginHooks {
            host,
            ctx,
            base_url,
            runtime: tokio::runtime::Handle::current(),
            key,
        }
    }
}

impl RenderHooks for PluginHooks {
    fn active(&self) -> bool {
        !self.key.is_empty()
    }

    fn cache_key(&self) -> String {
        self.key.clone()
    }

    fn preprocess(&self, path: &str, markdown: String) -> String {
        self.runtime.block_on(
            self.host
                .preprocess(&self.ctx, &self.base_url, path, markdown),
        )
    }

    fn postprocess(&self, path: &str, html: String) -> String {
        self.runtime
            .block_on(self.host.postprocess(&self.ctx, &self.base_url, path, html))
    }
}

/// `/-/plugins`: what is loaded, what it may do, and how its calls went.
pub async fn status(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> Result<Response, AppError> {
    ctx.require(crate::tenancy::Permission::Read)?;
    #[derive(Serialize)]
    struct Entry {
        name: String,
        version: String,
        description: String,
        api: String,
        capabilities: Vec<String>,
        http: Vec<String>,
        mcp_tools: bool,
        hooks: Vec<&'static str>,
        timeout_ms: u128,
        memory_mib: u64,
        calls: u64,
        failures: u64,
        timeouts: u64,
        over_limit: u64,
    }
    #[derive(Serialize)]
    struct Status {
        site: Site,
        plugins: Vec<Entry>,
    }
    let plugins = state
        .plugins
        .plugins()
        .iter()
        .map(|p| Entry {
            name: p.manifest.name.clone(),
            version: p.manifest.version.clone(),
            description: p.manifest.description.clone(),
            api: p.manifest.api.clone(),
            capabilities: p.grants.iter().map(|c| c.to_string()).collect(),
            http: p.manifest.provides.http.clone(),
            mcp_tools: p.manifest.provides.mcp_tools,
            hooks: p
                .manifest
                .provides
                .hooks
                .iter()
                .map(|h| h.interface())
                .collect(),
            timeout_ms: p.limits.timeout.as_millis(),
            memory_mib: p.limits.memory_bytes >> 20,
            calls: p.stats.calls.load(Ordering::Relaxed),
            failures: p.stats.failures.load(Ordering::Relaxed),
            timeouts: p.stats.timeouts.load(Ordering::Relaxed),
            over_limit: p.stats.over_limit.load(Ordering::Relaxed),
        })
        .collect();
    // Counters change without the wiki changing: this page is never cached.
    let body = state.theme.render(
        "plugins.html",
        &Status {
            site: state.site(&ctx),
            plugins,
        },
    )?;
    Ok(axum::response::Html(body).into_response())
}

//! The HTTP server: every route in one place, shared state, and the tenant dispatch.
//!
//! Each request is resolved once (Host → apex or wiki → principal → permissions); the result
//! goes into the request's extensions and the request to the apex's routes or a wiki's.

mod admin;
mod apex;
mod api;
mod attachments;
mod cache;
mod error;
mod git;
mod oauth;
mod pages;
mod plugins;
mod rate;
mod signin;
mod theme;
mod wide;

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{DefaultBodyLimit, FromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{any, get, post};
use serde::Serialize;
use tower::ServiceExt as _;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;

pub use cache::ResponseCache;
pub use error::AppError;
pub use rate::RateLimiter;
pub use theme::{Theme, ThemeError};

use crate::config::Settings;
use crate::tenancy::{
    ApexContext, Credential, HostKind, RequestContext, ResolveError, Resolved, TenantResolver,
};

/// State shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub resolver: Arc<TenantResolver>,
    pub theme: Arc<Theme>,
    pub settings: Arc<Settings>,
    pub responses: Arc<ResponseCache>,
    pub plugins: Arc<crate::plugins::PluginHost>,
    pub rate: Arc<RateLimiter>,
    /// The address Holt listens on (the development sign-in needs it to be loopback).
    pub listen: SocketAddr,
    /// Signing in with ATProto (platform mode).
    pub signin: Option<Arc<crate::atproto::AtprotoSignIn>>,
    /// The MCP OAuth authorization server (platform mode).
    pub oauth: Option<Arc<crate::oauth::AuthorizationServer>>,
}

impl FromRequestParts<AppState> for RequestContext {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<RequestContext>()
            .cloned()
            .ok_or_else(|| AppError::NotFound("This page belongs to a wiki.".into()))
    }
}

impl FromRequestParts<AppState> for ApexContext {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, AppError> {
        parts
            .extensions
            .get::<ApexContext>()
            .cloned()
            .ok_or_else(|| AppError::NotFound("This page belongs to the platform.".into()))
    }
}

/// The whole server: requests resolved to the apex's routes or a wiki's.
pub fn app(state: AppState) -> Router {
    let wiki = wiki_routes(&state).with_state(state.clone());
    let apex = apex_routes(&state).with_state(state.clone());
    let dispatch = tower::service_fn(move |mut request: Request| {
        let (state, wiki, apex) = (state.clone(), wiki.clone(), apex.clone());
        async move {
            let response = match state.resolver.resolve(request.headers()) {
                Ok(Resolved::Wiki(ctx))
                    if matches!(ctx.credential, Credential::OAuth(_))
                        && request.uri().path() != crate::mcp::PATH =>
                {
                    // An access token's audience is the MCP endpoint; nothing else takes it.
                    let refused = bad_token(
                        Some(&ctx.url),
                        "this access token is for the wiki's MCP endpoint only",
                    );
                    answered_early(request, refused).await
                }
                Ok(Resolved::Wiki(ctx)) => {
                    request.extensions_mut().insert(ctx);
                    wiki.oneshot(request).await.into_response()
                }
                Ok(Resolved::Apex(ctx)) => {
                    request.extensions_mut().insert(ctx);
                    apex.oneshot(request).await.into_response()
                }
                Err(err) => {
                    let refused = unresolved(&state, request.headers(), err);
                    answered_early(request, refused).await
                }
            };
            Ok::<_, Infallible>(response)
        }
    });
    Router::new()
        .fallback_service(dispatch)
        .layer(middleware::from_fn(same_origin_writes))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("SAMEORIGIN"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        ))
        .layer(TraceLayer::new_for_http())
}

/// Finishes `response` to a request whose body was not read. A small body is read and
/// dropped, so the connection stays usable; a larger one ends the connection after the
/// answer (`Connection: close`), so no client reuses a connection the server will drop.
pub async fn answered_early(request: Request, mut response: Response) -> Response {
    const DRAIN: usize = 64 * 1024;
    let has_body = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0")
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    if has_body
        && axum::body::to_bytes(request.into_body(), DRAIN)
            .await
            .is_err()
    {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

/// The answer to a request that names no known site, or presents a bad credential.
fn unresolved(state: &AppState, headers: &axum::http::HeaderMap, err: ResolveError) -> Response {
    match err {
        ResolveError::UnknownHost(_) => AppError::NotFound(err.to_string()).into_response(),
        ResolveError::NoSuchWiki(slug) => {
            let apex = state.resolver.urls().apex();
            let body = error::error_page(
                StatusCode::NOT_FOUND,
                &format!("There is no wiki named '{slug}'. You can create wikis at {apex}."),
            );
            (StatusCode::NOT_FOUND, Html(body)).into_response()
        }
        ResolveError::BadToken(message) => {
            let urls = state.resolver.urls();
            let host = headers
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .unwrap_or_default();
            let wiki_url = match urls.classify(host) {
                HostKind::Wiki(slug) => Some(urls.wiki(&slug)),
                _ => None,
            };
            bad_token(wiki_url.as_deref(), &message)
        }
        ResolveError::Internal(message) => AppError::Internal(message).into_response(),
    }
}

/// `401` for a credential that is not valid here, with the challenges a client can act on:
/// the MCP endpoint's OAuth resource metadata, and basic auth for git.
fn bad_token(wiki_url: Option<&str>, message: &str) -> Response {
    let mut response = (StatusCode::UNAUTHORIZED, format!("{message}\n")).into_response();
    let headers = response.headers_mut();
    let bearer = match wiki_url {
        Some(url) => crate::mcp::challenge(url, Some(message)),
        None => "Bearer error=\"invalid_token\"".to_string(),
    };
    if let Ok(value) = HeaderValue::from_str(&bearer) {
        headers.append(header::WWW_AUTHENTICATE, value);
    }
    headers.append(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"Holt\""),
    );
    response
}

/// Every route of a wiki's host.
fn wiki_routes(state: &AppState) -> Router<AppState> {
    let limits = &state.settings.limits;
    // Form-encoding can triple a page's size; multipart adds a little to an attachment's.
    let body_limit =
        (limits.max_page_bytes * 3 + 64 * 1024).max(limits.max_attachment_bytes + 1024 * 1024);
    let router = Router::new()
        .route("/", get(pages::home))
        .route("/-/healthz", get(|| async { "ok\n" }))
        .route("/-/static/{file}", get(theme::static_file))
        .route("/-/index", get(wide::page_index))
        .route("/-/changelog", get(wide::changelog))
        .route("/-/changelog/feed.atom", get(wide::feed))
        .route("/-/search", get(wide::search))
        .route("/-/create", get(wide::create_form).post(wide::create))
        .route("/-/commit/{rev}", get(wide::commit))
        .route("/-/revert/{rev}", post(wide::revert))
        .route("/-/orphans", get(wide::orphans))
        .route("/-/plugins", get(plugins::status))
        .route("/-/login", get(apex::wiki_login))
        .route(
            crate::oauth::RESOURCE_METADATA_PATH,
            get(oauth::resource_metadata).options(oauth::preflight),
        )
        .route(
            &format!(
                "{}{}",
                crate::oauth::RESOURCE_METADATA_PATH,
                crate::mcp::PATH
            ),
            get(oauth::resource_metadata).options(oauth::preflight),
        )
        .route("/-/session", get(apex::wiki_session))
        .route("/-/admin", get(admin::panel))
        .route("/-/admin/{action}", post(admin::act))
        .route(crate::mcp::PATH, any(crate::mcp::serve))
        .route("/repo.git", get(git::root))
        .route("/repo.git/info/refs", get(git::info_refs))
        .route("/repo.git/git-upload-pack", post(git::upload_pack))
        .route("/repo.git/git-receive-pack", post(git::receive_pack))
        .route(
            "/robots.txt",
            get(|| async { "User-agent: *\nDisallow: /-/\n" }),
        )
        .route("/{*path}", get(pages::get).post(pages::post));
    plugin_routes(router, state)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            cache::responses,
        ))
        .layer(middleware::from_fn_with_state(state.clone(), rate::writes))
        .layer(DefaultBodyLimit::max(body_limit as usize))
}

/// Every route of the platform's own host.
fn apex_routes(state: &AppState) -> Router<AppState> {
    Router::new()
        .route("/", get(apex::home))
        .route("/-/healthz", get(|| async { "ok\n" }))
        .route("/-/static/{file}", get(theme::static_file))
        .route("/auth/login", get(apex::login_form).post(signin::begin))
        .route(crate::atproto::CALLBACK_PATH, get(signin::callback))
        .route(
            crate::atproto::CLIENT_METADATA_PATH,
            get(signin::client_metadata),
        )
        .route(crate::atproto::JWKS_PATH, get(signin::jwks))
        .route(
            "/auth/welcome",
            get(signin::welcome_form).post(signin::welcome),
        )
        .route("/auth/dev", post(apex::dev_sign_in))
        .route("/auth/logout", post(apex::sign_out))
        .route("/auth/logout-everywhere", post(signin::sign_out_everywhere))
        .route("/account", get(signin::account))
        .route(
            "/.well-known/oauth-authorization-server",
            get(oauth::server_metadata).options(oauth::preflight),
        )
        .route(
            "/oauth/register",
            post(oauth::register).options(oauth::preflight),
        )
        .route(
            "/oauth/authorize",
            get(oauth::authorize).post(oauth::decide),
        )
        .route("/oauth/token", post(oauth::token).options(oauth::preflight))
        .route(
            "/oauth/revoke",
            post(oauth::revoke).options(oauth::preflight),
        )
        .route("/api/me", get(api::me))
        .route("/api/wikis", get(api::list_wikis).post(api::create_wiki))
        .route(
            "/api/wikis/{slug}",
            get(api::get_wiki)
                .patch(api::update_wiki)
                .delete(api::delete_wiki),
        )
        .route(
            "/api/wikis/{slug}/members",
            get(api::list_members).post(api::add_member),
        )
        .route(
            "/api/wikis/{slug}/members/{handle}",
            axum::routing::patch(api::change_member).delete(api::remove_member),
        )
        .route("/api/wikis/{slug}/token", post(api::new_token))
        .route("/api/{*rest}", any(api::unknown))
        .layer(middleware::from_fn_with_state(state.clone(), rate::writes))
        .layer(DefaultBodyLimit::max(api::MAX_BODY))
        .fallback(|| async { AppError::NotFound("There is no such page on the platform.".into()) })
}

/// Routes each plugin's http prefixes (the prefix itself and everything below it) to it.
fn plugin_routes(mut router: Router<AppState>, state: &AppState) -> Router<AppState> {
    for (prefix, plugin) in state.plugins.http_routes() {
        let handler = {
            let prefix = prefix.clone();
            move |State(state): State<AppState>, ctx: RequestContext, request: Request| {
                let (plugin, prefix) = (plugin.clone(), prefix.clone());
                async move { plugins::http(state, ctx, &plugin, &prefix, request).await }
            }
        };
        router = router
            .route(&prefix, any(handler.clone()))
            .route(&format!("{prefix}/"), any(handler.clone()))
            .route(&format!("{prefix}/{{*rest}}"), any(handler));
    }
    router
}

/// Pages may load their own scripts and styles, and KaTeX/mermaid from jsDelivr when a page
/// has math or diagrams; nothing else runs.
const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self' https://cdn.jsdelivr.net; \
     style-src 'self' https://cdn.jsdelivr.net; font-src 'self' https://cdn.jsdelivr.net; \
     img-src 'self' https: data:; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'self'";

async fn same_origin_writes(request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // The OAuth endpoints MCP clients call take no cookie, so no cross-site request can
    // borrow a session there; browser-based clients call them from other origins.
    let cookieless = matches!(
        request.uri().path(),
        "/oauth/token" | "/oauth/register" | "/oauth/revoke"
    );
    if !safe && !cookieless && !is_same_origin(request.headers()) {
        return (
            StatusCode::FORBIDDEN,
            Html(error::error_page(
                StatusCode::FORBIDDEN,
                "Cross-site form submissions are refused.",
            )),
        )
            .into_response();
    }
    next.run(request).await
}

fn is_same_origin(headers: &axum::http::HeaderMap) -> bool {
    let sec_fetch_site = HeaderName::from_static("sec-fetch-site");
    if let Some(site) = headers.get(&sec_fetch_site) {
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Some(host) = headers.get(header::HOST) else {
        return false;
    };
    let origin = origin.to_str().unwrap_or_default();
    let origin_host = origin
        .split_once("://")
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    origin_host.as_bytes() == host.as_bytes()
}

/// Runs blocking work (git, SQLite) off the async workers. At most a few such jobs run at
/// once (twice the cores): more would only contend for the CPU and hold more connections.
pub async fn blocking<T, F>(work: F) -> Result<T, AppError>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T, AppError> + Send + 'static,
{
    static SLOTS: std::sync::OnceLock<tokio::sync::Semaphore> = std::sync::OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        tokio::sync::Semaphore::new((2 * cores).max(4))
    });
    let _slot = slots
        .acquire()
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?;
    tokio::task::spawn_blocking(work).await?
}

/// Site-wide values every template gets as `site`.
#[derive(Debug, Clone, Serialize)]
pub struct Site {
    pub name: String,
    pub assets: String,
    pub can_write: bool,
    pub can_upload: bool,
    pub can_admin: bool,
    /// The signed-in user's handle, if any.
    pub user: Option<String>,
    /// Where to sign in (and the platform's own pages), in platform mode.
    pub apex: Option<String>,
}

impl AppState {
    /// The wiki's display name.
    pub fn site_name(&self, ctx: &RequestContext) -> String {
        ctx.display_name(&self.settings.wiki.name).to_string()
    }

    fn site(&self, ctx: &RequestContext) -> Site {
        let user = match &ctx.principal {
            crate::tenancy::Principal::User { handle, .. } => Some(handle.clone()),
            crate::tenancy::Principal::Anonymous => None,
        };
        Site {
            name: self.site_name(ctx),
            assets: self.theme.version.clone(),
            can_write: ctx.permissions.write,
            can_upload: ctx.permissions.upload,
            can_admin: ctx.permissions.admin,
            user,
            apex: self
                .resolver
                .is_platform()
                .then(|| self.resolver.urls().apex()),
        }
    }

    /// Renders a template into an HTML response with `status`. Views are functions of the
    /// wiki's version, the URL and the viewer, so a GET's response may be cached.
    fn html(
        &self,
        status: StatusCode,
        template: &str,
        context: &impl Serialize,
    ) -> Result<Response, AppError> {
        let body = self.theme.render(template, context)?;
        let mut response = (status, Html(body)).into_response();
        response.extensions_mut().insert(cache::Cacheable);
        Ok(response)
    }
}

/// Runs the server on `listener` until `shutdown` resolves.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cross_site_writes_are_recognized() {
        let mut headers = axum::http::HeaderMap::new();
        assert!(
            is_same_origin(&headers),
            "non-browser clients send neither header"
        );
        headers.insert(header::HOST, HeaderValue::from_static("wiki.example.org"));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://wiki.example.org"),
        );
        assert!(is_same_origin(&headers));
        headers.insert(
            header::ORIGIN,
            HeaderValue::from_static("https://evil.example"),
        );
        assert!(!is_same_origin(&headers));
        headers.insert(
            HeaderName::from_static("sec-fetch-site"),
            HeaderValue::from_static("cross-site"),
        );
        assert!(!is_same_origin(&headers));
        headers.insert(
            HeaderName::from_static("sec-fetch-site"),
            HeaderValue::from_static("same-origin"),
        );
        assert!(is_same_origin(&headers));
    }
}

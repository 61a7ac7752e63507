//! The platform's own pages: its home, signing in and out. (The full management web app comes
//! with a later wave; the management API is in `api.rs`.)

use std::net::SocketAddr;

use axum::Form;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::AppError;
use crate::auth;
use crate::tenancy::{ApexContext, HostKind, RequestContext, is_loopback};

/// A `return_to` target, if it stays on this platform (the apex or one of its wikis).
pub fn safe_return(state: &AppState, target: Option<&str>) -> Option<String> {
    let target = target?.trim();
    if target.starts_with('/') && !target.starts_with("//") && !target.contains('\\') {
        return Some(target.to_string());
    }
    let urls = state.resolver.urls();
    let scheme = if urls.secure() { "https://" } else { "http://" };
    let rest = target.strip_prefix(scheme)?;
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.contains('@') {
        return None;
    }
    match urls.classify(authority) {
        HostKind::Apex | HostKind::Wiki(_) => Some(target.to_string()),
        HostKind::Other => None,
    }
}

#[derive(Serialize)]
pub(super) struct ApexPage {
    assets: String,
    apex: String,
    user: Option<crate::platform::User>,
    wikis: Vec<WikiLink>,
    dev_sign_in: bool,
    atproto_sign_in: bool,
    return_to: String,
    error: Option<String>,
}

#[derive(Serialize)]
struct WikiLink {
    slug: String,
    name: String,
    url: String,
    role: &'static str,
    public: bool,
}

pub(super) fn page(
    state: &AppState,
    ctx: &ApexContext,
    return_to: Option<String>,
    error: Option<String>,
) -> Result<ApexPage, AppError> {
    let platform = state
        .resolver
        .platform()
        .ok_or_else(|| AppError::NotFound("No platform here.".into()))?;
    let wikis = match &ctx.user {
        Some(user) => platform
            .wikis_of(user.id)
            .map_err(|e| AppError::Internal(e.to_string()))?
            .into_iter()
            .map(|(w, role)| WikiLink {
                url: state.resolver.urls().wiki(&w.slug),
                slug: w.slug,
                name: w.display_name,
                role: role.as_str(),
                public: w.public,
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(ApexPage {
        assets: state.theme.version.clone(),
        apex: state.resolver.urls().apex(),
        user: ctx.user.clone(),
        wikis,
        dev_sign_in: dev_sign_in_allowed(state),
        atproto_sign_in: state.signin.is_some(),
        return_to: return_to.unwrap_or_default(),
        error,
    })
}

pub(super) fn render(
    state: &AppState,
    status: StatusCode,
    template: &str,
    page: &ApexPage,
) -> Result<Response, AppError> {
    let body = state.theme.render(template, page)?;
    Ok((status, axum::response::Html(body)).into_response())
}

pub async fn home(State(state): State<AppState>, ctx: ApexContext) -> Result<Response, AppError> {
    render(
        &state,
        StatusCode::OK,
        "apex.html",
        &page(&state, &ctx, None, None)?,
    )
}

#[derive(Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
}

pub async fn login_form(
    State(state): State<AppState>,
    ctx: ApexContext,
    Query(query): Query<ReturnTo>,
) -> Result<Response, AppError> {
    let return_to = safe_return(&state, query.return_to.as_deref());
    // Already signed in: straight back to where the visitor came from.
    if let (Some(user), Some(sid), Some(target)) = (&ctx.user, &ctx.session, &return_to) {
        return Ok(Redirect::to(&handoff_target(&state, user.id, sid, target)).into_response());
    }
    render(
        &state,
        StatusCode::OK,
        "login.html",
        &page(&state, &ctx, return_to, None)?,
    )
}

/// The development sign-in is only ever offered on a loopback address.
pub(super) fn dev_sign_in_allowed(state: &AppState) -> bool {
    state.settings.platform.dev_sign_in && is_loopback(&state.listen)
}

#[derive(Deserialize)]
pub struct DevSignIn {
    handle: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    return_to: Option<String>,
}

/// Signs in as any handle without a password: development only, loopback only.
pub async fn dev_sign_in(
    State(state): State<AppState>,
    ctx: ApexContext,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Form(form): Form<DevSignIn>,
) -> Result<Response, AppError> {
    if !dev_sign_in_allowed(&state) || !is_loopback(&peer) {
        return Err(AppError::Forbidden(
            "The development sign-in only works when Holt listens on, and is reached from, a loopback address."
                .into(),
        ));
    }
    let handle = form
        .handle
        .trim()
        .trim_start_matches('@')
        .to_ascii_lowercase();
    let handle_ok = !handle.is_empty()
        && handle.len() <= 253
        && handle
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    if !handle_ok {
        let error = Some(
            "A handle has letters, digits, dots and hyphens, like alice.bsky.social.".to_string(),
        );
        return render(
            &state,
            StatusCode::BAD_REQUEST,
            "login.html",
            &page(&state, &ctx, form.return_to, error)?,
        );
    }
    let platform = state
        .resolver
        .platform()
        .ok_or_else(|| AppError::NotFound("No platform here.".into()))?;
    let display = if form.display_name.trim().is_empty() {
        handle.clone()
    } else {
        form.display_name.trim().to_string()
    };
    let user = platform
        .upsert_user(&format!("did:web:{handle}"), &handle, &display)
        .map_err(|e| AppError::BadRequest(e.to_string()))?;
    let target = safe_return(&state, form.return_to.as_deref()).unwrap_or_else(|| "/".into());
    start_session(&state, user.id, &target)
}

/// Creates a session for `user` and redirects to `target` with its cookie set.
pub fn start_session(state: &AppState, user: i64, target: &str) -> Result<Response, AppError> {
    let platform = state
        .resolver
        .platform()
        .ok_or_else(|| AppError::NotFound("No platform here.".into()))?;
    let keys = state
        .resolver
        .keys()
        .ok_or_else(|| AppError::NotFound("No platform here.".into()))?;
    let seconds = i64::from(state.settings.platform.session_days.max(1)) * 86_400;
    let sid = auth::random_id();
    platform
        .create_session(&sid, user, seconds)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let jwt = keys.issue(user, &sid, seconds);
    let urls = state.resolver.urls();
    let cookie = auth::session_cookie(&jwt, urls.domain(), urls.secure(), seconds);
    let mut response = Redirect::to(&handoff_target(state, user, &sid, target)).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Ends this session (the cookie is cleared and the session revoked).
pub async fn sign_out(
    State(state): State<AppState>,
    ctx: ApexContext,
) -> Result<Response, AppError> {
    if let (Some(platform), Some(session)) = (state.resolver.platform(), &ctx.session) {
        platform
            .revoke_session(session)
            .map_err(|e| AppError::Internal(e.to_string()))?;
    }
    let urls = state.resolver.urls();
    let mut response = Redirect::to("/").into_response();
    if let Ok(value) =
        HeaderValue::from_str(&auth::session_cookie("", urls.domain(), urls.secure(), 0))
    {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// `/-/login` on a wiki's host: off to the platform's sign-in, and back here afterwards.
pub async fn wiki_login(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<ReturnTo>,
) -> Result<Response, AppError> {
    if !state.resolver.is_platform() {
        return Err(AppError::NotFound(
            "This wiki has no accounts (single-wiki mode).".into(),
        ));
    }
    let path = query
        .return_to
        .filter(|p| p.starts_with('/') && !p.starts_with("//"))
        .unwrap_or_else(|| "/".into());
    let back = format!("{}{path}", ctx.url);
    let target = format!(
        "{}/auth/login?return_to={}",
        state.resolver.urls().apex(),
        percent_encoding::utf8_percent_encode(&back, percent_encoding::NON_ALPHANUMERIC)
    );
    Ok(Redirect::to(&target).into_response())
}

/// Where to send a browser that just signed in: `target`, by way of the wiki's `/-/session` when
/// the platform's cookie cannot reach the wiki's host (a single-label domain such as `localhost`).
fn handoff_target(state: &AppState, user: i64, sid: &str, target: &str) -> String {
    let urls = state.resolver.urls();
    if urls.domain().contains('.') {
        return target.to_string();
    }
    let (Some(keys), Some((_, rest))) = (state.resolver.keys(), target.split_once("://")) else {
        return target.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let HostKind::Wiki(slug) = urls.classify(authority) else {
        return target.to_string();
    };
    let encode = |s: &str| {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    };
    format!(
        "{}/-/session?code={}&return_to={}",
        urls.wiki(&slug),
        encode(&keys.issue_handoff(user, sid, &slug)),
        encode(path)
    )
}

#[derive(Deserialize)]
pub struct Handoff {
    code: String,
    return_to: Option<String>,
}

/// `/-/session` on a wiki's host: redeems a hand-off code from the apex into a cookie for this
/// host, then continues to the page the visitor was going to.
pub async fn wiki_session(
    State(state): State<AppState>,
    ctx: RequestContext,
    Query(query): Query<Handoff>,
) -> Result<Response, AppError> {
    let (Some(platform), Some(keys)) = (state.resolver.platform(), state.resolver.keys()) else {
        return Err(AppError::NotFound(
            "This wiki has no accounts (single-wiki mode).".into(),
        ));
    };
    let slug = ctx
        .record
        .as_ref()
        .map(|r| r.slug.as_str())
        .unwrap_or_default();
    let claims = keys.verify_handoff(&query.code, slug).map_err(|_| {
        AppError::BadRequest(
            "This sign-in link has expired or is not for this wiki; sign in again.".into(),
        )
    })?;
    let user = platform
        .session_user(&claims.sid)
        .map_err(|e| AppError::Internal(e.to_string()))?
        .filter(|u| u.id.to_string() == claims.sub)
        .ok_or_else(|| AppError::BadRequest("That session has ended; sign in again.".into()))?;
    let seconds = i64::from(state.settings.platform.session_days.max(1)) * 86_400;
    let jwt = keys.issue(user.id, &claims.sid, seconds);
    let cookie = auth::session_cookie(&jwt, "", state.resolver.urls().secure(), seconds);
    let path = query
        .return_to
        .filter(|p| p.starts_with('/') && !p.starts_with("//") && !p.contains('\\'))
        .unwrap_or_else(|| "/".into());
    let mut response = Redirect::to(&path).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

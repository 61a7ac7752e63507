//! Signing in with ATProto on the platform's host: the login form's POST, the callback
//! from the visitor's PDS, choosing a username at the first sign-in, the account page and
//! signing out everywhere. The protocol itself is in `crate::atproto`.

use axum::Form;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::apex::{page, render, safe_return, start_session};
use super::error::AppError;
use crate::atproto::{AtprotoSignIn, CallbackQuery, PENDING_FOR, SIGN_IN_COOKIE, SignInError};
use crate::platform::{Platform, PlatformError, User};
use crate::tenancy::{ApexContext, cookie};

fn signin(state: &AppState) -> Result<&std::sync::Arc<AtprotoSignIn>, AppError> {
    state
        .signin
        .as_ref()
        .ok_or_else(|| AppError::NotFound("This server has no accounts (single-wiki mode).".into()))
}

fn platform(state: &AppState) -> Result<&std::sync::Arc<Platform>, AppError> {
    state
        .resolver
        .platform()
        .ok_or_else(|| AppError::NotFound("No platform here.".into()))
}

/// The login page again, with what went wrong.
fn login_error(
    state: &AppState,
    ctx: &ApexContext,
    status: StatusCode,
    return_to: Option<String>,
    message: String,
) -> Result<Response, AppError> {
    render(
        state,
        status,
        "login.html",
        &page(state, ctx, return_to, Some(message))?,
    )
}

/// A `Set-Cookie` for the sign-in under way (or its removal).
fn sign_in_cookie(state: &AppState, value: &str, max_age: u64) -> String {
    let secure = if state.resolver.urls().secure() {
        "; Secure"
    } else {
        ""
    };
    format!(
        "{SIGN_IN_COOKIE}={value}; Path=/auth; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}"
    )
}

fn with_cookie(mut response: Response, cookie: &str) -> Response {
    if let Ok(value) = HeaderValue::from_str(cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}

#[derive(Deserialize)]
pub struct SignInForm {
    handle: String,
    #[serde(default)]
    return_to: Option<String>,
}

/// `POST /auth/login`: resolve the handle and send the browser to its PDS to consent.
pub async fn begin(
    State(state): State<AppState>,
    ctx: ApexContext,
    Form(form): Form<SignInForm>,
) -> Result<Response, AppError> {
    let signin = signin(&state)?;
    let return_to = safe_return(&state, form.return_to.as_deref());
    let browser = crate::auth::random_id();
    let target = return_to.clone().unwrap_or_else(|| "/".into());
    match signin.begin(&form.handle, &browser, &target).await {
        Ok(url) => {
            let cookie = sign_in_cookie(&state, &browser, PENDING_FOR.as_secs());
            Ok(with_cookie(Redirect::to(&url).into_response(), &cookie))
        }
        Err(e) => {
            let status = match e {
                SignInError::BadInput(_) => StatusCode::BAD_REQUEST,
                SignInError::Unresolved { .. } => StatusCode::BAD_REQUEST,
                _ => StatusCode::BAD_GATEWAY,
            };
            tracing::info!(handle = %form.handle, error = %e, "sign-in could not start");
            login_error(&state, &ctx, status, return_to, e.to_string())
        }
    }
}

/// `GET /auth/callback`: the PDS sends the browser back here with a code.
pub async fn callback(
    State(state): State<AppState>,
    ctx: ApexContext,
    headers: HeaderMap,
    Query(query): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    let signin = signin(&state)?;
    let browser = cookie(&headers, SIGN_IN_COOKIE);
    let clear = sign_in_cookie(&state, "", 0);
    let signed_in = match signin.finish(query, browser.as_deref()).await {
        Ok(signed_in) => signed_in,
        Err(e) => {
            let status = match e {
                SignInError::StateMismatch => StatusCode::BAD_REQUEST,
                SignInError::Denied(_) => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_GATEWAY,
            };
            tracing::info!(error = %e, "sign-in refused at the callback");
            return Ok(with_cookie(
                login_error(&state, &ctx, status, None, e.to_string())?,
                &clear,
            ));
        }
    };
    let platform = platform(&state)?.clone();
    let (did, handle, name) = (
        signed_in.did.clone(),
        signed_in.handle.clone(),
        signed_in.display_name.clone(),
    );
    let user = super::blocking(move || {
        platform
            .upsert_user(&did, &handle, &name)
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    tracing::info!(did = %user.did, handle = %user.handle, "signed in");
    let target = if user.username.is_none() {
        format!(
            "/auth/welcome?return_to={}",
            percent_encoding::utf8_percent_encode(
                &signed_in.return_to,
                percent_encoding::NON_ALPHANUMERIC
            )
        )
    } else {
        signed_in.return_to
    };
    Ok(with_cookie(
        start_session(&state, user.id, &target)?,
        &clear,
    ))
}

/// `GET /auth/client-metadata.json`: the ATProto client's `client_id` document.
pub async fn client_metadata(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(axum::Json(signin(&state)?.client_metadata().clone()).into_response())
}

/// `GET /auth/jwks.json`: the client's public key.
pub async fn jwks(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(axum::Json(signin(&state)?.jwks()).into_response())
}

#[derive(Serialize)]
struct WelcomePage {
    assets: String,
    user: User,
    username: String,
    return_to: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct ReturnTo {
    return_to: Option<String>,
}

fn signed_in(ctx: &ApexContext, path: &str) -> Result<User, Redirect> {
    ctx.user.clone().ok_or_else(|| {
        Redirect::to(&format!(
            "/auth/login?return_to={}",
            percent_encoding::utf8_percent_encode(path, percent_encoding::NON_ALPHANUMERIC)
        ))
    })
}

/// A username suggested from a handle: its first label, as a slug.
fn suggested_username(handle: &str) -> String {
    let first = handle.split('.').next().unwrap_or_default();
    let slug: String = first
        .chars()
        .map(|c| c.to_ascii_lowercase())
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    slug.trim_matches('-').chars().take(40).collect()
}

/// `GET /auth/welcome`: the first sign-in chooses a username.
pub async fn welcome_form(
    State(state): State<AppState>,
    ctx: ApexContext,
    Query(query): Query<ReturnTo>,
) -> Result<Response, AppError> {
    let user = match signed_in(&ctx, "/auth/welcome") {
        Ok(user) => user,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let return_to = safe_return(&state, query.return_to.as_deref()).unwrap_or_else(|| "/".into());
    if user.username.is_some() {
        return Ok(Redirect::to(&return_to).into_response());
    }
    let body = state.theme.render(
        "welcome.html",
        &WelcomePage {
            assets: state.theme.version.clone(),
            username: suggested_username(&user.handle),
            user,
            return_to,
            error: None,
        },
    )?;
    Ok(axum::response::Html(body).into_response())
}

#[derive(Deserialize)]
pub struct WelcomeForm {
    username: String,
    #[serde(default)]
    return_to: Option<String>,
}

/// `POST /auth/welcome`: takes the username if it is free (not reserved, not another's
/// username, not the address of someone else's wiki).
pub async fn welcome(
    State(state): State<AppState>,
    ctx: ApexContext,
    Form(form): Form<WelcomeForm>,
) -> Result<Response, AppError> {
    let user = match signed_in(&ctx, "/auth/welcome") {
        Ok(user) => user,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let return_to = safe_return(&state, form.return_to.as_deref()).unwrap_or_else(|| "/".into());
    if user.username.is_some() {
        return Ok(Redirect::to(&return_to).into_response());
    }
    let username = form.username.trim().to_ascii_lowercase();
    let platform = platform(&state)?.clone();
    let id = user.id;
    let chosen = username.clone();
    let outcome = super::blocking(move || {
        if let Some(wiki) = platform
            .wiki(&chosen)
            .map_err(|e| AppError::Internal(e.to_string()))?
            && wiki.owner_id != id
        {
            return Ok(Err(PlatformError::Taken(chosen)));
        }
        Ok(platform.set_username(id, &chosen))
    })
    .await?;
    match outcome {
        Ok(_) => Ok(Redirect::to(&return_to).into_response()),
        Err(e @ (PlatformError::InvalidSlug(_) | PlatformError::Taken(_))) => {
            let body = state.theme.render(
                "welcome.html",
                &WelcomePage {
                    assets: state.theme.version.clone(),
                    user,
                    username,
                    return_to,
                    error: Some(format!("{e}. Choose another username.")),
                },
            )?;
            Ok((StatusCode::BAD_REQUEST, axum::response::Html(body)).into_response())
        }
        Err(e) => Err(AppError::Internal(e.to_string())),
    }
}

#[derive(Serialize)]
struct AccountPage {
    assets: String,
    user: User,
    grants: Vec<crate::platform::Grant>,
}

/// `GET /account`: the connected handle, connected applications, sign out everywhere.
pub async fn account(
    State(state): State<AppState>,
    ctx: ApexContext,
) -> Result<Response, AppError> {
    let user = match signed_in(&ctx, "/account") {
        Ok(user) => user,
        Err(redirect) => return Ok(redirect.into_response()),
    };
    let grants = platform(&state)?
        .grants_of(user.id)
        .map_err(|e| AppError::Internal(e.to_string()))?;
    let body = state.theme.render(
        "account.html",
        &AccountPage {
            assets: state.theme.version.clone(),
            user,
            grants,
        },
    )?;
    Ok(axum::response::Html(body).into_response())
}

/// `POST /auth/logout-everywhere`: revokes every session, every application's grant (and so
/// its refresh and access tokens) and the ATProto session Holt holds.
pub async fn sign_out_everywhere(
    State(state): State<AppState>,
    ctx: ApexContext,
) -> Result<Response, AppError> {
    let Some(user) = ctx.user else {
        return Ok(Redirect::to("/").into_response());
    };
    let platform = platform(&state)?.clone();
    let id = user.id;
    super::blocking(move || {
        platform
            .revoke_sessions_of(id)
            .and_then(|()| platform.revoke_grants_of(id))
            .map_err(|e| AppError::Internal(e.to_string()))
    })
    .await?;
    if let Some(signin) = &state.signin {
        signin.revoke(&user.did).await;
    }
    tracing::info!(did = %user.did, "signed out everywhere");
    let urls = state.resolver.urls();
    let cookie = crate::auth::session_cookie("", urls.domain(), urls.secure(), 0);
    Ok(with_cookie(Redirect::to("/").into_response(), &cookie))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_suggested_from_the_handle() {
        assert_eq!(suggested_username("alice.bsky.social"), "alice");
        assert_eq!(suggested_username("Bob_Smith.example.com"), "bob-smith");
        assert_eq!(suggested_username("did-ish--.x"), "did-ish");
    }
}

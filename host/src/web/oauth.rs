//! The MCP authorization server's HTTP side: metadata on the platform's host and on each
//! wiki's, registration, the consent page, the token and revocation endpoints. The rules
//! are in `crate::oauth`; this maps them to HTTP (JSON errors per RFC 6749 §5.2 for
//! machines, pages for people).

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::error::{AppError, error_page};
use crate::oauth::{AuthorizationServer, AuthorizeParams, OAuthError, Registration, TokenForm};
use crate::platform::User;
use crate::tenancy::{ApexContext, RequestContext};

fn server(state: &AppState) -> Result<&std::sync::Arc<AuthorizationServer>, AppError> {
    state.oauth.as_ref().ok_or_else(|| {
        AppError::NotFound(
            "This server has no accounts, so no OAuth (single-wiki mode); MCP clients connect without one."
                .into(),
        )
    })
}

/// A JSON answer no cache may keep (RFC 6749 §5.1), readable from any origin.
fn json(status: StatusCode, body: serde_json::Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    response
}

fn oauth_error(e: &OAuthError) -> Response {
    let status = match e.code {
        "invalid_client" => StatusCode::UNAUTHORIZED,
        "server_error" => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    if status.is_server_error() {
        tracing::error!(error = %e, "OAuth");
    }
    json(status, e.body())
}

/// `OPTIONS` on the metadata documents and the cookieless endpoints: browser-based MCP
/// clients call them from other origins, with JSON bodies and MCP headers.
pub async fn preflight() -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (header::ACCESS_CONTROL_ALLOW_ORIGIN, "*"),
        (header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST, OPTIONS"),
        (
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            "content-type, authorization, mcp-protocol-version",
        ),
        (header::ACCESS_CONTROL_MAX_AGE, "86400"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

/// `GET /.well-known/oauth-authorization-server` (RFC 8414).
pub async fn server_metadata(State(state): State<AppState>) -> Result<Response, AppError> {
    Ok(json(StatusCode::OK, server(&state)?.metadata()))
}

/// `GET /.well-known/oauth-protected-resource[/mcp]` on a wiki's host (RFC 9728).
pub async fn resource_metadata(
    State(state): State<AppState>,
    ctx: RequestContext,
) -> Result<Response, AppError> {
    let server = server(&state)?;
    let record = ctx
        .record
        .as_ref()
        .ok_or_else(|| AppError::NotFound("No platform here.".into()))?;
    Ok(json(
        StatusCode::OK,
        server.resource_metadata(&record.slug, &record.display_name),
    ))
}

/// `POST /oauth/register` (RFC 7591).
pub async fn register(
    State(state): State<AppState>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    let server = server(&state)?;
    let request: Registration = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => {
            return Ok(oauth_error(&OAuthError::new(
                "invalid_client_metadata",
                format!("the body must be a JSON object of client metadata ({e})"),
            )));
        }
    };
    let server = server.clone();
    let answer = super::blocking(move || Ok(server.register(request))).await?;
    Ok(match answer {
        Ok(client) => json(StatusCode::CREATED, client),
        Err(e) => oauth_error(&e),
    })
}

#[derive(Serialize)]
struct ConsentPage {
    assets: String,
    user: User,
    client_name: String,
    client_uri: Option<String>,
    redirect_host: String,
    wiki_name: String,
    wiki_url: String,
    access: &'static str,
    write: bool,
    fields: Vec<(&'static str, String)>,
}

/// Ties a consent form to the session that was shown it.
fn consent_token(session: &str, params: &AuthorizeParams) -> String {
    let bound = format!(
        "consent\n{session}\n{}\n{}\n{}",
        params.client_id.as_deref().unwrap_or_default(),
        params.resource.as_deref().unwrap_or_default(),
        params.code_challenge.as_deref().unwrap_or_default(),
    );
    crate::auth::token_hash(&bound)[..32].to_string()
}

/// Why a signed-in person cannot grant anything: they may not read the wiki.
const NO_ACCESS: &str = "the user has no access to this wiki";

fn bad_authorize(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Html(error_page(StatusCode::BAD_REQUEST, message)),
    )
        .into_response()
}

/// Checks an authorization request: a bad client or redirect URI is told to the person, any
/// other fault goes back to the client.
fn checked_request(
    server: &AuthorizationServer,
    params: &AuthorizeParams,
) -> Result<crate::oauth::AuthorizeRequest, Box<Response>> {
    let target = server
        .client_redirect(params)
        .map_err(|message| Box::new(bad_authorize(&message)))?;
    server.authorize_request(target, params).map_err(|refused| {
        let (target, e) = *refused;
        let url = server.redirect(
            &target,
            &[("error", e.code), ("error_description", &e.description)],
        );
        Box::new(Redirect::to(&url).into_response())
    })
}

/// `GET /oauth/authorize`: checks the request, has the person sign in if needed, and asks
/// them to allow or deny.
pub async fn authorize(
    State(state): State<AppState>,
    ctx: ApexContext,
    RawQuery(raw): RawQuery,
    Query(params): Query<AuthorizeParams>,
) -> Result<Response, AppError> {
    let server = server(&state)?.clone();
    let request = match checked_request(&server, &params) {
        Ok(request) => request,
        Err(answer) => return Ok(*answer),
    };
    let (Some(user), Some(session)) = (ctx.user, ctx.session) else {
        let back = format!(
            "{}/oauth/authorize?{}",
            server.issuer(),
            raw.unwrap_or_default()
        );
        let login = format!(
            "/auth/login?return_to={}",
            percent_encoding::utf8_percent_encode(&back, percent_encoding::NON_ALPHANUMERIC)
        );
        return Ok(Redirect::to(&login).into_response());
    };
    let scopes = server.grantable(&request, &user).map_err(internal)?;
    if scopes.is_empty() {
        let url = server.denied(&request.target, NO_ACCESS);
        return Ok(Redirect::to(&url).into_response());
    }
    let write = scopes.contains(&"write");
    let mut fields: Vec<(&'static str, String)> = vec![
        ("response_type", "code".into()),
        ("client_id", request.target.client.id.clone()),
        ("redirect_uri", request.target.redirect_uri.clone()),
        ("code_challenge", request.challenge.clone()),
        ("code_challenge_method", "S256".into()),
        ("resource", request.resource.clone()),
        ("scope", request.scopes.join(" ")),
    ];
    if let Some(state) = &request.target.state {
        fields.push(("state", state.clone()));
    }
    fields.push(("consent", consent_token(&session, &params)));
    let redirect_host = request
        .target
        .redirect_uri
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?']).next().unwrap_or_default())
        .unwrap_or(&request.target.redirect_uri)
        .to_string();
    let page = ConsentPage {
        assets: state.theme.version.clone(),
        user,
        client_name: request.target.client.name.clone(),
        client_uri: request.target.client.client_uri.clone(),
        redirect_host,
        wiki_name: request.wiki.display_name.clone(),
        wiki_url: state.resolver.urls().wiki(&request.wiki.slug),
        access: if write { "read and write" } else { "read" },
        write,
        fields,
    };
    let mut response = Html(state.theme.render("consent.html", &page)?).into_response();
    // The consent page must not be framed by another site (clickjacking).
    response
        .headers_mut()
        .insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

fn internal(e: OAuthError) -> AppError {
    AppError::Internal(e.to_string())
}

#[derive(Deserialize)]
pub struct ConsentForm {
    #[serde(flatten)]
    params: AuthorizeParams,
    decision: String,
    consent: String,
}

/// `POST /oauth/authorize`: the person's answer.
pub async fn decide(
    State(state): State<AppState>,
    ctx: ApexContext,
    Form(form): Form<ConsentForm>,
) -> Result<Response, AppError> {
    let server = server(&state)?.clone();
    let (Some(user), Some(session)) = (ctx.user, ctx.session) else {
        return Ok(bad_authorize(
            "Your sign-in ended before you answered. Start connecting the application again.",
        ));
    };
    if form.consent != consent_token(&session, &form.params) {
        return Ok(bad_authorize(
            "This answer does not come from the consent page you were shown. Start connecting the application again.",
        ));
    }
    let request = match checked_request(&server, &form.params) {
        Ok(request) => request,
        Err(answer) => return Ok(*answer),
    };
    if form.decision != "allow" {
        tracing::info!(client = %request.target.client.id, wiki = %request.wiki.slug, "consent denied");
        let url = server.denied(&request.target, "the user denied access");
        return Ok(Redirect::to(&url).into_response());
    }
    let answer = super::blocking(move || {
        let scopes = server.grantable(&request, &user).map_err(internal)?;
        if scopes.is_empty() {
            return Ok(server.denied(&request.target, NO_ACCESS));
        }
        let code = server.approve(&request, &user, &scopes).map_err(internal)?;
        tracing::info!(client = %request.target.client.id, wiki = %request.wiki.slug, scope = %scopes.join(" "), "consent given");
        Ok(server.redirect(&request.target, &[("code", &code)]))
    })
    .await?;
    Ok(Redirect::to(&answer).into_response())
}

/// `POST /oauth/token`.
pub async fn token(
    State(state): State<AppState>,
    form: Result<Form<TokenForm>, FormRejection>,
) -> Result<Response, AppError> {
    let server = server(&state)?.clone();
    let Form(form) = match form {
        Ok(form) => form,
        Err(e) => {
            return Ok(oauth_error(&OAuthError::new(
                "invalid_request",
                format!("send the parameters form-encoded ({e})"),
            )));
        }
    };
    let answer = super::blocking(move || Ok(server.token(form))).await?;
    Ok(match answer {
        Ok(tokens) => json(
            StatusCode::OK,
            serde_json::to_value(tokens).unwrap_or_default(),
        ),
        Err(e) => oauth_error(&e),
    })
}

#[derive(Deserialize)]
pub struct RevokeForm {
    token: Option<String>,
}

/// `POST /oauth/revoke` (RFC 7009).
pub async fn revoke(
    State(state): State<AppState>,
    form: Result<Form<RevokeForm>, FormRejection>,
) -> Result<Response, AppError> {
    let server = server(&state)?.clone();
    let Some(token) = form.ok().and_then(|Form(f)| f.token) else {
        return Ok(oauth_error(&OAuthError::new(
            "invalid_request",
            "send the token to revoke as the form field 'token'",
        )));
    };
    let answer = super::blocking(move || Ok(server.revoke(&token))).await?;
    Ok(match answer {
        Ok(()) => json(StatusCode::OK, serde_json::json!({})),
        Err(e) => oauth_error(&e),
    })
}

//! The management API at the platform's `/api/`: JSON in, JSON out, errors as
//! `{"error": {"code": ..., "message": ...}}`. Signed in by the session cookie.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::AppState;
use crate::auth;
use crate::platform::{Platform, PlatformError, Role, Scope, Tier, User, WikiRecord};
use crate::tenancy::ApexContext;

/// The largest request body the API accepts.
pub const MAX_BODY: usize = 64 * 1024;

/// An API error: an HTTP status, a stable code and a message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(super) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    fn unauthenticated() -> Self {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthenticated",
            "sign in first (the API uses the platform's session)",
        )
    }

    fn forbidden(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    fn internal(err: impl std::fmt::Display) -> Self {
        tracing::error!(error = %err, "management API request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side; it has been logged",
        )
    }
}

impl From<PlatformError> for ApiError {
    fn from(err: PlatformError) -> Self {
        match err {
            PlatformError::InvalidSlug(e) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_name", e.to_string())
            }
            PlatformError::Taken(name) => ApiError::new(
                StatusCode::CONFLICT,
                "taken",
                format!("the name '{name}' is taken; choose another"),
            ),
            PlatformError::Limit(message) => ApiError::new(StatusCode::FORBIDDEN, "limit", message),
            PlatformError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            PlatformError::Invalid(message) => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid", message)
            }
            other => ApiError::internal(other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}

/// A JSON body with unknown fields refused, and every failure a clear 4xx.
pub struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match Json::<T>::from_request(request, state).await {
            Ok(Json(value)) => Ok(Body(value)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "content_type",
                    "send the body as JSON (Content-Type: application/json)",
                ),
                JsonRejection::JsonSyntaxError(e) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_json",
                    format!("the body is not valid JSON: {}", e.body_text()),
                ),
                JsonRejection::JsonDataError(e) => ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "bad_request",
                    format!("the body does not fit: {}", e.body_text()),
                ),
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        format!("the body is larger than {MAX_BODY} bytes"),
                    )
                }
                other => ApiError::new(other.status(), "bad_request", other.body_text()),
            }),
        }
    }
}

type ApiResult<T> = Result<T, ApiError>;

fn platform(state: &AppState) -> ApiResult<&Platform> {
    state
        .resolver
        .platform()
        .map(|p| p.as_ref())
        .ok_or_else(|| ApiError::not_found("there is no platform here"))
}

fn signed_in(ctx: &ApexContext) -> ApiResult<&User> {
    ctx.user.as_ref().ok_or_else(ApiError::unauthenticated)
}

fn tier(state: &AppState) -> Tier {
    let p = &state.settings.platform;
    Tier {
        wikis_per_user: p.wikis_per_user,
        collaborators_per_wiki: p.collaborators_per_wiki,
    }
}

/// A wiki as the API shows it.
#[derive(Serialize)]
struct WikiJson {
    slug: String,
    display_name: String,
    public: bool,
    role: &'static str,
    url: String,
    mcp_url: String,
    git_url: String,
    page_count: i64,
    bytes: i64,
    created: i64,
}

fn wiki_json(state: &AppState, wiki: &WikiRecord, role: Role) -> WikiJson {
    let url = state.resolver.urls().wiki(&wiki.slug);
    WikiJson {
        slug: wiki.slug.clone(),
        display_name: wiki.display_name.clone(),
        public: wiki.public,
        role: role.as_str(),
        mcp_url: format!("{url}/mcp"),
        git_url: format!("{url}/repo.git"),
        url,
        page_count: wiki.page_count,
        bytes: wiki.bytes,
        created: wiki.created,
    }
}

/// The wiki `slug` and the caller's role on it (404 if they may not see it at all).
fn wiki_for(state: &AppState, user: &User, slug: &str) -> ApiResult<(WikiRecord, Role)> {
    let platform = platform(state)?;
    let wiki = platform
        .wiki(slug)?
        .ok_or_else(|| ApiError::not_found(format!("wiki '{slug}' not found")))?;
    match platform.role(&wiki, user.id)? {
        Some(role) => Ok((wiki, role)),
        None => Err(ApiError::not_found(format!("wiki '{slug}' not found"))),
    }
}

fn owner_only(role: Role, what: &str) -> ApiResult<()> {
    if role == Role::Owner {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!(
            "only the wiki's owner may {what}"
        )))
    }
}

pub async fn me(State(state): State<AppState>, ctx: ApexContext) -> ApiResult<Response> {
    let user = signed_in(&ctx)?;
    let wikis: Vec<WikiJson> = platform(&state)?
        .wikis_of(user.id)?
        .iter()
        .map(|(w, role)| wiki_json(&state, w, *role))
        .collect();
    Ok(Json(json!({"user": user, "wikis": wikis})).into_response())
}

pub async fn list_wikis(State(state): State<AppState>, ctx: ApexContext) -> ApiResult<Response> {
    let user = signed_in(&ctx)?;
    let wikis: Vec<WikiJson> = platform(&state)?
        .wikis_of(user.id)?
        .iter()
        .map(|(w, role)| wiki_json(&state, w, *role))
        .collect();
    Ok(Json(json!({"wikis": wikis})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWiki {
    slug: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    public: bool,
}

/// Creates a wiki and gives it its starter pages (from the bootstrap plugin).
pub async fn create_wiki(
    State(state): State<AppState>,
    ctx: ApexContext,
    Body(body): Body<NewWiki>,
) -> ApiResult<Response> {
    let user = signed_in(&ctx)?.clone();
    let record = {
        let state = state.clone();
        let user = user.clone();
        tokio::task::spawn_blocking(move || {
            platform(&state)?
                .create_wiki(
                    user.id,
                    body.slug.trim(),
                    &body.display_name,
                    body.public,
                    tier(&state),
                )
                .map_err(ApiError::from)
        })
        .await
        .map_err(ApiError::internal)??
    };
    if let Err(err) =
        crate::server::bootstrap_wiki(&state.resolver, &state.plugins, &record, &user).await
    {
        // Undo the half-made wiki: nothing of it stays.
        let _ = platform(&state)?.delete_wiki(user.id, &record.slug);
        let _ = state.resolver.wikis().remove(&record.slug);
        return Err(ApiError::internal(err));
    }
    let record = platform(&state)?.wiki(&record.slug)?.unwrap_or(record);
    Ok((
        StatusCode::CREATED,
        Json(json!({"wiki": wiki_json(&state, &record, Role::Owner)})),
    )
        .into_response())
}

pub async fn get_wiki(
    State(state): State<AppState>,
    ctx: ApexContext,
    Path(slug): Path<String>,
) -> ApiResult<Response> {
    let user = signed_in(&ctx)?;
    let (wiki, role) = wiki_for(&state, user, &slug)?;
    Ok(Json(json!({"wiki": wiki_json(&state, &wiki, role)})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WikiUpdate {
    display_name: Option<String>,
    public: Option<bool>,
}

pub async fn update_wiki(
    State(state): State<AppState>,
    ctx: ApexContext,
    Path(slug): Path<String>,
    Body(body): Body<WikiUpdate>,
) -> ApiResult<Response> {
    let user = signed_in(&ctx)?;
    let (_, role) = wiki_for(&state, user, &slug)?;
    owner_only(role, "change its settings")?;
    let wiki =
        platform(&state)?.update_wiki(user.id, &slug, body.display_name.as_deref(), body.public)?;
    Ok(Json(json!({"wiki": wiki_json(&state, &wiki, role)})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Confirm {
    /// The wiki's name, typed back.
    confirm: String,
}

/// Deletes a wiki: its rows, its repository and everything in its folder.
pub async fn delete_wiki(
    State(state): State<AppState>,
    ctx: ApexContext,
    Path(slug): Path<String>,
    Body(body): Body<Confirm>,
) -> ApiResult<Response> {
    let user = signed_in(&ctx)?;
    let (_, role) = wiki_for(&state, user, &slug)?;
    owner_only(role, "delete it")?;
    if body.confirm != slug {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "confirm",
            format!("to delete the wiki, send {{\"confirm\": \"{slug}\"}}"),
        ));
    }
    crate::server::delete_wiki(&state.resolver, user.id, &slug).map_err(ApiError::internal)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Serialize)]
struct MemberJson {
    handle: String,
    display_name: String,
    did: String,
    role: &'static str,
}

pub async fn list_members(
    State(state): State<AppState>,
    ctx: ApexContext,
    Path(slug): Path<String>,
) -> ApiResult<Response> {
    let user = signed_in(&ctx)?;
    let (wiki, _) = wiki_for(&state, user, &slug)?;
    let platform = platform(&state)?;
    let owner = platform.user(wiki.owner_id)?;
    let mut members: Vec<MemberJson> = owner
        .into_iter()
        .map(|u| MemberJson {
            handle: u.handle,
            display_name: u.display_name,
            did: u.did,
            role: "owner",
        })
        .collect();
    members.extend(platform.members(wiki.id)?.into_iter().map(|m| MemberJson {
        handle: m.user.handle,
        display_name: m.user.display_name,
        did: m.user.did,
        role: m.role.as_str(),
    }));
    Ok(Json(json!({"members": members})).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMember {
    handle: String,
    role: Role,
}

pub async fn add_member(
    State(state): State<AppState>,
    ctx: ApexContext,
    Path(slug): Path<String>,
    Body(body): Body<NewMember>,
) -> ApiResult<Response> {
    set_member(&state, &ctx, &slug, &body.handle, body.role)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoleChange {
    role: Role,
}

pub async fn change_member(
    State(state): State<AppState>,
    ctx: ApexContext,
    Path((slug, handle)): Path<(String, String)>,
    Body(body): Body<RoleChange>,
) -> ApiResult<Response> {
    set_member(&state, &ctx, &slug, &handle, body.role)
}

fn set_member(
    state: &AppState,
    ctx: &ApexContext,
    slug: &str,
    handle: &str,
    role: Role,
) -> ApiResult<Response> {
    let user = signed_in(ctx)?;
    let (wiki, my_role) = wiki_for(state, user, slug)?;
    owner_only(my_role, "manage its collaborators")?;
    let platform = platform(state)?;
    let member = platform.user_by_handle(handle)?.ok_or_else(|| {
        ApiError::not_found(format!(
            "no user with the handle '{handle}' (they must sign in once first)"
        ))
    })?;
    platform.set_member(user.id, &wiki, &member, role, tier(state))?;
    Ok(Json(json!({"member": {"handle": member.handle, "role": role.as_str()}})).into_response())
}

pub async fn remove_member(
    State(state): State<AppState>,
    ctx: ApexContext,
    Path((slug, handle)): Path<(String, String)>,
) -> ApiResult<Response> {
    let user = signed_in(&ctx)?;
    let (wiki, role) = wiki_for(&state, user, &slug)?;
    owner_only(role, "manage its collaborators")?;
    let platform = platform(&state)?;
    let member = platform
        .user_by_handle(&handle)?
        .ok_or_else(|| ApiError::not_found(format!("no user with the handle '{handle}'")))?;
    platform.remove_member(user.id, &wiki, &member)?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct NewToken {
    #[serde(default)]
    scope: Option<Scope>,
}

/// A new bearer token for the caller on this wiki (for MCP, REST and git); shown once, stored
/// hashed; it replaces the caller's previous token for the wiki.
pub async fn new_token(
    State(state): State<AppState>,
    ctx: ApexContext,
    Path(slug): Path<String>,
    Body(body): Body<NewToken>,
) -> ApiResult<Response> {
    let user = signed_in(&ctx)?;
    let (wiki, role) = wiki_for(&state, user, &slug)?;
    let scope = body.scope.unwrap_or(if role == Role::Viewer {
        Scope::Read
    } else {
        Scope::Write
    });
    if scope == Scope::Write && role == Role::Viewer {
        return Err(ApiError::forbidden("a viewer's token can only read"));
    }
    let token = auth::new_token();
    platform(&state)?.replace_token(&wiki, user.id, &auth::token_hash(&token), scope)?;
    let url = state.resolver.urls().wiki(&wiki.slug);
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "token": token,
            "scope": scope.as_str(),
            "wiki": wiki.slug,
            "mcp_url": format!("{url}/mcp"),
            "note": "this token is shown once; keep it secret. Making a new one revokes it."
        })),
    )
        .into_response())
}

pub async fn unknown() -> ApiError {
    ApiError::not_found("there is no such API route; see GET /api/me")
}

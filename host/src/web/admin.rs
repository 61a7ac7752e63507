//! A wiki's admin panel (`/-/admin`): settings, collaborators, plugins, access token, and the
//! danger zone; plus the sections a platform owns (accounts, mail, repository remotes), which
//! the admin-hiding plugin hides in platform mode, as An Otter Wiki's PLATFORM_MODE did.

use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::{Deserialize, Serialize};

use super::error::AppError;
use super::plugins::base_url;
use super::{AppState, Site};
use crate::auth;
use crate::platform::{Role, Scope, Tier};
use crate::tenancy::{Permission, Principal, RequestContext};

/// Every section of the panel, in order: (id, title, owned by the platform).
const SECTIONS: &[(&str, &str, bool)] = &[
    ("settings", "Settings", false),
    ("members", "Collaborators", false),
    ("plugins", "Plugins", false),
    ("token", "Access token", false),
    ("accounts", "Accounts", true),
    ("mail", "Mail", true),
    ("remotes", "Repository remotes", true),
    ("danger", "Danger zone", false),
];

#[derive(Serialize)]
struct MemberRow {
    handle: String,
    role: &'static str,
}

#[derive(Serialize)]
struct PluginRow {
    name: String,
    description: String,
    enabled: bool,
    switchable: bool,
}

#[derive(Serialize)]
struct Panel {
    site: Site,
    platform: bool,
    sections: Vec<(&'static str, &'static str)>,
    slug: String,
    display_name: String,
    public: bool,
    members: Vec<MemberRow>,
    plugins: Vec<PluginRow>,
    clone_url: String,
    mcp_url: String,
    anonymous: String,
    notice: Option<String>,
    token: Option<String>,
    error: Option<String>,
}

/// `GET /-/admin`.
pub async fn panel(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    render(&state, &ctx, &headers, StatusCode::OK, None, None, None).await
}

async fn render(
    state: &AppState,
    ctx: &RequestContext,
    headers: &HeaderMap,
    status: StatusCode,
    notice: Option<String>,
    token: Option<String>,
    error: Option<String>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Admin)?;
    let listed: Vec<(String, String)> = SECTIONS
        .iter()
        .map(|(id, title, _)| (id.to_string(), title.to_string()))
        .collect();
    let shown = state
        .plugins
        .admin_sections(ctx, &base_url(headers), listed)
        .await;
    let platform = state.resolver.is_platform();
    let sections = SECTIONS
        .iter()
        .filter(|(id, _, _)| shown.contains(*id))
        .map(|(id, title, _)| (*id, *title))
        .collect();
    let (slug, display_name, public, members) = match (&ctx.record, state.resolver.platform()) {
        (Some(record), Some(p)) => {
            let owner = p
                .user(record.owner_id)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            let mut members: Vec<MemberRow> = owner
                .into_iter()
                .map(|u| MemberRow {
                    handle: u.handle,
                    role: "owner",
                })
                .collect();
            let others = p
                .members(record.id)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            members.extend(others.into_iter().map(|m| MemberRow {
                handle: m.user.handle,
                role: m.role.as_str(),
            }));
            (
                record.slug.clone(),
                record.display_name.clone(),
                record.public,
                members,
            )
        }
        _ => (
            ctx.wiki.slug().to_string(),
            state.settings.wiki.name.clone(),
            true,
            Vec::new(),
        ),
    };
    let plugins = state
        .plugins
        .plugins()
        .iter()
        .map(|p| PluginRow {
            name: p.name().to_string(),
            description: p.manifest.description.clone(),
            enabled: ctx.plugin_enabled(p.name()),
            switchable: platform
                && state
                    .settings
                    .plugins
                    .get(p.name())
                    .is_some_and(|s| s.owners_may_disable),
        })
        .collect();
    let page = Panel {
        site: state.site(ctx),
        platform,
        sections,
        slug,
        display_name,
        public,
        members,
        plugins,
        clone_url: format!("{}/repo.git", ctx.url),
        mcp_url: format!("{}/mcp", ctx.url),
        anonymous: format!("{:?}", state.settings.wiki.anonymous).to_lowercase(),
        notice,
        token,
        error,
    };
    let body = state.theme.render("admin.html", &page)?;
    Ok((status, axum::response::Html(body)).into_response())
}

#[derive(Deserialize)]
pub struct AdminForm {
    #[serde(default)]
    display_name: Option<String>,
    #[serde(default)]
    public: Option<String>,
    #[serde(default)]
    handle: Option<String>,
    #[serde(default)]
    role: Option<String>,
    #[serde(default)]
    plugin: Option<String>,
    #[serde(default)]
    enabled: Option<String>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
}

/// `POST /-/admin/{action}`.
pub async fn act(
    State(state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    Path(action): Path<String>,
    Form(form): Form<AdminForm>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Admin)?;
    let (Some(record), Some(platform)) = (ctx.record.clone(), state.resolver.platform().cloned())
    else {
        return Err(AppError::BadRequest(
            "This wiki runs in single-wiki mode: its settings live in holt.toml.".into(),
        ));
    };
    let Principal::User { id: actor, .. } = ctx.principal.clone() else {
        return Err(AppError::Forbidden(
            "Sign in to administer the wiki.".into(),
        ));
    };
    let tier = Tier {
        wikis_per_user: state.settings.platform.wikis_per_user,
        collaborators_per_wiki: state.settings.platform.collaborators_per_wiki,
    };
    let result: Result<String, String> = match action.as_str() {
        "settings" => platform
            .update_wiki(
                actor,
                &record.slug,
                form.display_name.as_deref(),
                Some(form.public.is_some()),
            )
            .map(|_| "Settings saved.".to_string())
            .map_err(|e| e.to_string()),
        "member" => {
            let handle = form.handle.unwrap_or_default();
            let role = match form.role.as_deref() {
                Some("editor") => Role::Editor,
                Some("viewer") => Role::Viewer,
                _ => {
                    return Err(AppError::BadRequest(
                        "A collaborator is an editor or a viewer.".into(),
                    ));
                }
            };
            match platform
                .user_by_handle(&handle)
                .map_err(|e| AppError::Internal(e.to_string()))?
            {
                Some(user) => platform
                    .set_member(actor, &record, &user, role, tier)
                    .map(|_| format!("{} is now {}.", user.handle, role.as_str()))
                    .map_err(|e| e.to_string()),
                None => Err(format!(
                    "No user has the handle '{handle}' (they must sign in once first)."
                )),
            }
        }
        "member-remove" => {
            let handle = form.handle.unwrap_or_default();
            match platform
                .user_by_handle(&handle)
                .map_err(|e| AppError::Internal(e.to_string()))?
            {
                Some(user) => platform
                    .remove_member(actor, &record, &user)
                    .map(|_| format!("{} was removed.", user.handle))
                    .map_err(|e| e.to_string()),
                None => Err(format!("No user has the handle '{handle}'.")),
            }
        }
        "plugin" => {
            let name = form.plugin.unwrap_or_default();
            let allowed = state
                .settings
                .plugins
                .get(&name)
                .is_some_and(|s| s.owners_may_disable);
            if !allowed {
                return Err(AppError::Forbidden(format!(
                    "The plugin '{name}' cannot be switched per wiki."
                )));
            }
            let enabled = form.enabled.as_deref() == Some("1");
            platform
                .set_plugin_enabled(actor, &record, &name, enabled)
                .map(|_| format!("{name} is {}.", if enabled { "on" } else { "off" }))
                .map_err(|e| e.to_string())
        }
        "token" => {
            let scope = if form.scope.as_deref() == Some("read") {
                Scope::Read
            } else {
                Scope::Write
            };
            let token = auth::new_token();
            platform
                .replace_token(&record, actor, &auth::token_hash(&token), scope)
                .map_err(|e| AppError::Internal(e.to_string()))?;
            let notice = "Your new token is below. It is shown once: copy it now. It replaced your previous one.";
            return render(
                &state,
                &ctx,
                &headers,
                StatusCode::OK,
                Some(notice.into()),
                Some(token),
                None,
            )
            .await;
        }
        "delete" => {
            if form.confirm.as_deref() != Some(record.slug.as_str()) {
                Err(format!(
                    "Type the wiki's name, {}, to delete it.",
                    record.slug
                ))
            } else {
                crate::server::delete_wiki(&state.resolver, actor, &record.slug)
                    .map_err(AppError::Internal)?;
                return Ok(Redirect::to(&state.resolver.urls().apex()).into_response());
            }
        }
        other => {
            return Err(AppError::NotFound(format!(
                "There is no admin action '{other}'."
            )));
        }
    };
    match result {
        Ok(_) => Ok(Redirect::to("/-/admin").into_response()),
        Err(message) => {
            // Re-read the context so the panel shows the wiki as it is now.
            render(
                &state,
                &ctx,
                &headers,
                StatusCode::BAD_REQUEST,
                None,
                None,
                Some(message),
            )
            .await
        }
    }
}

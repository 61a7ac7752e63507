//! Who is asking, about which wiki, allowed to do what: the `RequestContext` every handler gets.
//!
//! Requests flow one way: resolve tenant (Host → apex or wiki) → authenticate (session cookie,
//! or a wiki token as `Authorization: Bearer` or as the password of HTTP basic auth) → authorize
//! (role → permissions) → handle. Handlers never read credentials themselves.

mod urls;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::http::HeaderMap;
use base64::Engine as _;

pub use urls::{HostKind, Urls};

use crate::auth::{self, SESSION_COOKIE, SessionKeys, TOKEN_PREFIX};
use crate::config::AnonymousAccess;
use crate::platform::{Platform, Role, Scope, User, WikiRecord};
use crate::store::Author;
use crate::wiki::{Wiki, WikiError};
use crate::wikis::Wikis;

/// The identity a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User {
        id: i64,
        handle: String,
        display_name: String,
        did: String,
    },
}

impl Principal {
    fn of(user: &User) -> Principal {
        Principal::User {
            id: user.id,
            handle: user.handle.clone(),
            display_name: user.display_name.clone(),
            did: user.did.clone(),
        }
    }
}

/// How the request proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    None,
    Session,
    /// A wiki token (for scripts, git and AI assistants).
    Token(Scope),
    /// An access token from the MCP authorization server: its audience is the wiki's MCP
    /// endpoint, so it is accepted there only.
    OAuth(Scope),
}

impl Credential {
    /// Whether the request carries a bearer credential (a wiki or OAuth token).
    pub fn is_bearer(self) -> bool {
        matches!(self, Credential::Token(_) | Credential::OAuth(_))
    }
}

/// Something a request may want to do on a wiki.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    Read,
    Write,
    Upload,
    Admin,
}

/// What the principal may do on the resolved wiki.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Permissions {
    pub read: bool,
    pub write: bool,
    pub upload: bool,
    pub admin: bool,
}

impl Permissions {
    pub const NONE: Permissions = Permissions {
        read: false,
        write: false,
        upload: false,
        admin: false,
    };
    pub const READ: Permissions = Permissions {
        read: true,
        write: false,
        upload: false,
        admin: false,
    };
    pub const WRITE: Permissions = Permissions {
        read: true,
        write: true,
        upload: true,
        admin: false,
    };
    pub const ALL: Permissions = Permissions {
        read: true,
        write: true,
        upload: true,
        admin: true,
    };

    pub fn allows(&self, permission: Permission) -> bool {
        match permission {
            Permission::Read => self.read,
            Permission::Write => self.write,
            Permission::Upload => self.upload,
            Permission::Admin => self.admin,
        }
    }

    /// The permissions of a role (or of no role) on a wiki that is public or not.
    pub fn of(role: Option<Role>, public: bool) -> Permissions {
        match role {
            Some(Role::Owner) => Permissions::ALL,
            Some(Role::Editor) => Permissions::WRITE,
            Some(Role::Viewer) => Permissions::READ,
            None if public => Permissions::READ,
            None => Permissions::NONE,
        }
    }
}

/// The request was not allowed; the web layer turns this into 401 (sign in) or 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("you may not {action} on this wiki")]
pub struct AccessDenied {
    pub action: &'static str,
    /// Signing in could help (nobody is signed in, and no token was presented).
    pub may_sign_in: bool,
}

/// The resolved wiki, principal and permissions of one request.
#[derive(Clone)]
pub struct RequestContext {
    pub wiki: Arc<Wiki>,
    /// The platform's record of the wiki (platform mode only).
    pub record: Option<WikiRecord>,
    pub principal: Principal,
    pub role: Option<Role>,
    pub permissions: Permissions,
    pub credential: Credential,
    /// Plugins the wiki's owner switched off.
    pub disabled_plugins: Arc<[String]>,
    /// The wiki's base URL (`http://notes.localhost:8080`).
    pub url: String,
}

impl RequestContext {
    /// Fails unless the principal may do `permission` on this wiki.
    pub fn require(&self, permission: Permission) -> Result<(), AccessDenied> {
        if self.permissions.allows(permission) {
            return Ok(());
        }
        let action = match permission {
            Permission::Read => "read pages",
            Permission::Write => "edit pages",
            Permission::Upload => "manage attachments",
            Permission::Admin => "administer the wiki",
        };
        // Only a platform has accounts to sign in to (its wikis have a record).
        let may_sign_in = self.record.is_some()
            && self.principal == Principal::Anonymous
            && self.credential == Credential::None;
        Err(AccessDenied {
            action,
            may_sign_in,
        })
    }

    /// Identifies everything about the viewer that a rendered view may depend on (the response
    /// cache keeps one copy per viewer key).
    pub fn viewer_key(&self) -> String {
        let p = &self.permissions;
        let bits: String = [p.read, p.write, p.upload, p.admin]
            .iter()
            .map(|b| if *b { '1' } else { '0' })
            .collect();
        match &self.principal {
            Principal::Anonymous => format!("anonymous:{bits}"),
            Principal::User { id, .. } => format!("user:{id}:{bits}"),
        }
    }

    /// The key writes are rate-limited by.
    pub fn rate_key(&self) -> String {
        match &self.principal {
            Principal::Anonymous => "anonymous".to_string(),
            Principal::User { id, .. } => format!("user:{id}"),
        }
    }

    /// The git author of writes made by this request.
    pub fn author(&self) -> Author {
        match &self.principal {
            Principal::Anonymous => Author {
                name: "Anonymous".into(),
                email: "anonymous@holt.invalid".into(),
            },
            Principal::User {
                handle,
                display_name,
                did,
                ..
            } => {
                let name = if display_name.trim().is_empty() {
                    handle.clone()
                } else {
                    display_name.clone()
                };
                Author {
                    name: format!("{name} (@{handle})"),
                    email: did.clone(),
                }
            }
        }
    }

    /// The wiki's display name: the platform's record of it, or `default` for a single wiki.
    pub fn display_name<'a>(&'a self, default: &'a str) -> &'a str {
        self.record.as_ref().map_or(default, |r| &r.display_name)
    }

    /// Whether a plugin runs for this wiki.
    pub fn plugin_enabled(&self, plugin: &str) -> bool {
        !self.disabled_plugins.iter().any(|p| p == plugin)
    }
}

/// The signed-in user (if any) of a request to the platform's own host.
#[derive(Clone, Debug)]
pub struct ApexContext {
    pub user: Option<User>,
    pub session: Option<String>,
}

/// Where a request goes.
pub enum Resolved {
    Apex(ApexContext),
    Wiki(RequestContext),
}

/// Why a request could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("there is no site at {0}")]
    UnknownHost(String),
    #[error("there is no wiki '{0}'")]
    NoSuchWiki(String),
    /// A credential was presented but is not valid (never silently ignored).
    #[error("{0}")]
    BadToken(String),
    #[error("{0}")]
    Internal(String),
}

/// How requests map to wikis and principals.
pub struct TenantResolver {
    urls: Urls,
    wikis: Arc<Wikis>,
    mode: Mode,
}

enum Mode {
    /// One wiki on every host name, no accounts.
    Single {
        wiki: Arc<Wiki>,
        anonymous: AnonymousAccess,
    },
    /// Many wikis; accounts in the platform database.
    Platform {
        platform: Arc<Platform>,
        keys: Arc<SessionKeys>,
    },
}

impl TenantResolver {
    pub fn single(
        wiki: Arc<Wiki>,
        anonymous: AnonymousAccess,
        urls: Urls,
        wikis: Arc<Wikis>,
    ) -> Self {
        TenantResolver {
            urls,
            wikis,
            mode: Mode::Single { wiki, anonymous },
        }
    }

    pub fn for_platform(
        platform: Arc<Platform>,
        keys: Arc<SessionKeys>,
        urls: Urls,
        wikis: Arc<Wikis>,
    ) -> Self {
        TenantResolver {
            urls,
            wikis,
            mode: Mode::Platform { platform, keys },
        }
    }

    pub fn urls(&self) -> &Urls {
        &self.urls
    }

    pub fn wikis(&self) -> &Arc<Wikis> {
        &self.wikis
    }

    /// The platform database (platform mode only).
    pub fn platform(&self) -> Option<&Arc<Platform>> {
        match &self.mode {
            Mode::Platform { platform, .. } => Some(platform),
            Mode::Single { .. } => None,
        }
    }

    /// The session keys (platform mode only).
    pub fn keys(&self) -> Option<&Arc<SessionKeys>> {
        match &self.mode {
            Mode::Platform { keys, .. } => Some(keys),
            Mode::Single { .. } => None,
        }
    }

    pub fn is_platform(&self) -> bool {
        matches!(self.mode, Mode::Platform { .. })
    }

    /// Resolves a request by its headers.
    pub fn resolve(&self, headers: &HeaderMap) -> Result<Resolved, ResolveError> {
        match &self.mode {
            Mode::Single { wiki, anonymous } => {
                Ok(Resolved::Wiki(single_context(wiki, *anonymous, &self.urls)))
            }
            Mode::Platform { platform, keys } => {
                let host = headers
                    .get(axum::http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .unwrap_or_default();
                match self.urls.classify(host) {
                    HostKind::Apex => {
                        let (user, session) = session_user(platform, keys, headers)?;
                        Ok(Resolved::Apex(ApexContext { user, session }))
                    }
                    HostKind::Wiki(slug) => self
                        .wiki_context(platform, keys, &slug, headers)
                        .map(Resolved::Wiki),
                    HostKind::Other => Err(ResolveError::UnknownHost(host.to_string())),
                }
            }
        }
    }

    fn wiki_context(
        &self,
        platform: &Platform,
        keys: &SessionKeys,
        slug: &str,
        headers: &HeaderMap,
    ) -> Result<RequestContext, ResolveError> {
        let record = platform
            .wiki(slug)
            .map_err(|e| ResolveError::Internal(e.to_string()))?
            .ok_or_else(|| ResolveError::NoSuchWiki(slug.to_string()))?;
        let wiki = self.wikis.get(slug).map_err(|e| match e {
            WikiError::NotFound(_) => ResolveError::NoSuchWiki(slug.to_string()),
            other => ResolveError::Internal(other.to_string()),
        })?;
        let (principal, role, permissions, credential) = match presented_token(headers) {
            Some(token) if !is_wiki_token(&token) && token.split('.').count() == 3 => {
                let resource = format!("{}{}", self.urls.wiki(&record.slug), crate::mcp::PATH);
                let (user, scopes) =
                    crate::oauth::verify_access(platform, keys, &record, &resource, &token)
                        .map_err(ResolveError::BadToken)?;
                let scope = if scopes.iter().any(|s| s == "write") {
                    Scope::Write
                } else if scopes.iter().any(|s| s == "read") {
                    Scope::Read
                } else {
                    return Err(ResolveError::BadToken(
                        "the access token grants no scope".into(),
                    ));
                };
                let role = platform
                    .role(&record, user.id)
                    .map_err(|e| ResolveError::Internal(e.to_string()))?;
                let permissions = token_permissions(Permissions::of(role, record.public), scope);
                (
                    Principal::of(&user),
                    role,
                    permissions,
                    Credential::OAuth(scope),
                )
            }
            Some(token) => {
                let grant = platform
                    .token(&auth::token_hash(&token))
                    .map_err(|e| ResolveError::Internal(e.to_string()))?
                    .ok_or_else(|| {
                        ResolveError::BadToken(
                            "the token is not valid (revoked or mistyped)".into(),
                        )
                    })?;
                let _ = platform.touch_token(grant.token_id);
                let principal = Principal::of(&grant.user);
                if grant.wiki_id != record.id {
                    // A token works on its own wiki only, even where anyone may read.
                    (
                        principal,
                        None,
                        Permissions::NONE,
                        Credential::Token(grant.scope),
                    )
                } else {
                    let role = platform
                        .role(&record, grant.user.id)
                        .map_err(|e| ResolveError::Internal(e.to_string()))?;
                    let permissions =
                        token_permissions(Permissions::of(role, record.public), grant.scope);
                    (principal, role, permissions, Credential::Token(grant.scope))
                }
            }
            None => match session_user(platform, keys, headers)? {
                (Some(user), _) => {
                    let role = platform
                        .role(&record, user.id)
                        .map_err(|e| ResolveError::Internal(e.to_string()))?;
                    (
                        Principal::of(&user),
                        role,
                        Permissions::of(role, record.public),
                        Credential::Session,
                    )
                }
                (None, _) => (
                    Principal::Anonymous,
                    None,
                    Permissions::of(None, record.public),
                    Credential::None,
                ),
            },
        };
        let disabled = platform
            .disabled_plugins(record.id)
            .map_err(|e| ResolveError::Internal(e.to_string()))?;
        Ok(RequestContext {
            url: self.urls.wiki(&record.slug),
            wiki,
            record: Some(record),
            principal,
            role,
            permissions,
            credential,
            disabled_plugins: disabled.into(),
        })
    }

    /// The context plugins act in when told about a change by `author` (not a request).
    pub fn for_author(&self, wiki: &Arc<Wiki>, author: &str) -> RequestContext {
        match &self.mode {
            Mode::Single { anonymous, .. } => {
                let mut ctx = single_context(wiki, *anonymous, &self.urls);
                ctx.principal = Principal::User {
                    id: 0,
                    handle: author.to_string(),
                    display_name: author.to_string(),
                    did: String::new(),
                };
                ctx
            }
            Mode::Platform { platform, .. } => {
                let record = platform.wiki(wiki.slug()).ok().flatten();
                let disabled = record
                    .as_ref()
                    .and_then(|r| platform.disabled_plugins(r.id).ok())
                    .unwrap_or_default();
                RequestContext {
                    url: self.urls.wiki(wiki.slug()),
                    wiki: wiki.clone(),
                    principal: Principal::User {
                        id: 0,
                        handle: author.to_string(),
                        display_name: author.to_string(),
                        did: String::new(),
                    },
                    // Events act for the wiki itself: they may read and write it, not administer.
                    permissions: Permissions::WRITE,
                    role: None,
                    credential: Credential::None,
                    record,
                    disabled_plugins: disabled.into(),
                }
            }
        }
    }

    /// The context of the owner of a new wiki (bootstrap runs as them).
    pub fn for_owner(&self, wiki: &Arc<Wiki>, record: &WikiRecord, owner: &User) -> RequestContext {
        RequestContext {
            url: self.urls.wiki(&record.slug),
            wiki: wiki.clone(),
            record: Some(record.clone()),
            principal: Principal::of(owner),
            role: Some(Role::Owner),
            permissions: Permissions::ALL,
            credential: Credential::Session,
            disabled_plugins: Vec::new().into(),
        }
    }
}

fn single_context(wiki: &Arc<Wiki>, anonymous: AnonymousAccess, urls: &Urls) -> RequestContext {
    let permissions = match anonymous {
        AnonymousAccess::None => Permissions::NONE,
        AnonymousAccess::Read => Permissions::READ,
        AnonymousAccess::Write => Permissions::WRITE,
        AnonymousAccess::Admin => Permissions::ALL,
    };
    RequestContext {
        wiki: wiki.clone(),
        record: None,
        principal: Principal::Anonymous,
        role: None,
        permissions,
        credential: Credential::None,
        disabled_plugins: Vec::new().into(),
        url: urls.apex(),
    }
}

/// What a token of `scope` may do, given what its user may: never administer; a read
/// token only reads.
fn token_permissions(of_user: Permissions, scope: Scope) -> Permissions {
    let mut permissions = of_user;
    permissions.admin = false;
    if scope == Scope::Read {
        permissions = Permissions {
            read: permissions.read,
            ..Permissions::NONE
        };
    }
    permissions
}

/// A wiki token presented as `Authorization: Bearer <token>` or as the password of basic auth.
fn presented_token(headers: &HeaderMap) -> Option<String> {
    let value = headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .trim();
    if let Some(token) = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
    {
        return Some(token.trim().to_string());
    }
    let encoded = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .ok()?;
    let decoded = String::from_utf8(decoded).ok()?;
    let (_, password) = decoded.split_once(':')?;
    Some(password.to_string())
}

/// The user of a valid session cookie. An invalid, expired or revoked one counts as none.
fn session_user(
    platform: &Platform,
    keys: &SessionKeys,
    headers: &HeaderMap,
) -> Result<(Option<User>, Option<String>), ResolveError> {
    let Some(jwt) = cookie(headers, SESSION_COOKIE) else {
        return Ok((None, None));
    };
    let Ok(claims) = keys.verify(&jwt) else {
        return Ok((None, None));
    };
    let user = platform
        .session_user(&claims.sid)
        .map_err(|e| ResolveError::Internal(e.to_string()))?;
    match user {
        Some(user) if user.id.to_string() == claims.sub => Ok((Some(user), Some(claims.sid))),
        _ => Ok((None, None)),
    }
}

/// The value of a cookie.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|header| {
            header.split(';').find_map(|pair| {
                let (key, value) = pair.trim().split_once('=')?;
                (key == name).then(|| value.to_string())
            })
        })
}

/// Whether a token looks like one of Holt's wiki tokens.
pub fn is_wiki_token(token: &str) -> bool {
    token.starts_with(TOKEN_PREFIX)
}

/// Whether an address is loopback (the development sign-in is refused anywhere else).
pub fn is_loopback(addr: &SocketAddr) -> bool {
    addr.ip().is_loopback()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_map_to_permissions() {
        assert_eq!(Permissions::of(Some(Role::Owner), false), Permissions::ALL);
        assert_eq!(
            Permissions::of(Some(Role::Editor), false),
            Permissions::WRITE
        );
        assert_eq!(
            Permissions::of(Some(Role::Viewer), false),
            Permissions::READ
        );
        assert_eq!(Permissions::of(None, true), Permissions::READ);
        assert_eq!(Permissions::of(None, false), Permissions::NONE);
    }

    #[test]
    fn tokens_come_from_bearer_or_basic_auth() {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", "Bearer holt_abc".parse().unwrap());
        assert_eq!(presented_token(&headers).as_deref(), Some("holt_abc"));
        let basic = base64::engine::general_purpose::STANDARD.encode("git:holt_xyz");
        headers.insert("authorization", format!("Basic {basic}").parse().unwrap());
        assert_eq!(presented_token(&headers).as_deref(), Some("holt_xyz"));
        headers.insert("cookie", "a=1; holt_session=jwt; b=2".parse().unwrap());
        assert_eq!(cookie(&headers, "holt_session").as_deref(), Some("jwt"));
    }
}

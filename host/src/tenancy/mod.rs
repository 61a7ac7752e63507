//! Who is asking, about which wiki, allowed to do what: the `RequestContext` every handler gets.
//!
//! Requests flow one way: resolve tenant → authenticate → authorize → handle. Handlers never read
//! auth headers themselves; they receive a `RequestContext` and call `require`.

use std::sync::Arc;

use crate::config::AnonymousAccess;
use crate::store::Author;
use crate::wiki::Wiki;

/// The identity a request acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    User { name: String, email: String },
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
    pub fn allows(&self, permission: Permission) -> bool {
        match permission {
            Permission::Read => self.read,
            Permission::Write => self.write,
            Permission::Upload => self.upload,
            Permission::Admin => self.admin,
        }
    }
}

/// The request was not allowed; the web layer turns this into 401 or 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("you may not {action} on this wiki")]
pub struct AccessDenied {
    pub action: &'static str,
    pub signed_in: bool,
}

/// The resolved wiki, principal and permissions of one request.
#[derive(Clone)]
pub struct RequestContext {
    pub wiki: Arc<Wiki>,
    pub principal: Principal,
    pub permissions: Permissions,
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
        Err(AccessDenied {
            action,
            signed_in: self.principal != Principal::Anonymous,
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
            Principal::User { email, .. } => format!("user:{email}:{bits}"),
        }
    }

    /// The git author of writes made by this request.
    pub fn author(&self) -> Author {
        match &self.principal {
            Principal::Anonymous => Author {
                name: "Anonymous".into(),
                email: "anonymous@holt.invalid".into(),
            },
            Principal::User { name, email } => Author {
                name: name.clone(),
                email: email.clone(),
            },
        }
    }
}

/// Maps a request to its wiki and principal. In single-wiki mode every host name serves the
/// one wiki and every visitor is anonymous with the configured access.
pub struct TenantResolver {
    wiki: Arc<Wiki>,
    anonymous: AnonymousAccess,
}

impl TenantResolver {
    pub fn single(wiki: Arc<Wiki>, anonymous: AnonymousAccess) -> Self {
        TenantResolver { wiki, anonymous }
    }

    /// The context of a request (host and credentials are not consulted in single-wiki mode).
    pub fn resolve(&self) -> RequestContext {
        let (read, write) = match self.anonymous {
            AnonymousAccess::None => (false, false),
            AnonymousAccess::Read => (true, false),
            AnonymousAccess::Write => (true, true),
        };
        RequestContext {
            wiki: self.wiki.clone(),
            principal: Principal::Anonymous,
            permissions: Permissions {
                read,
                write,
                upload: write,
                admin: false,
            },
        }
    }

    /// The context plugins act in when told about a change by `author` (not a request).
    pub fn for_author(&self, author: &str) -> RequestContext {
        let mut ctx = self.resolve();
        ctx.principal = Principal::User {
            name: author.to_string(),
            email: String::new(),
        };
        ctx
    }

    /// The wiki served by this resolver (for start-up tasks such as the first Home page).
    pub fn wiki(&self) -> &Arc<Wiki> {
        &self.wiki
    }
}

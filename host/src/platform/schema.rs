//! The platform database's migrations, applied in order at start (`PRAGMA user_version`
//! counts those applied). Never edit a released migration; add the next one.

pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    did TEXT NOT NULL UNIQUE,
    handle TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name TEXT NOT NULL DEFAULT '',
    username TEXT UNIQUE,
    created INTEGER NOT NULL
);

CREATE TABLE wikis (
    id INTEGER PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    owner_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    display_name TEXT NOT NULL,
    public INTEGER NOT NULL DEFAULT 0,
    created INTEGER NOT NULL,
    page_count INTEGER NOT NULL DEFAULT 0,
    bytes INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX wikis_by_owner ON wikis (owner_id);

CREATE TABLE members (
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT NOT NULL CHECK (role IN ('editor', 'viewer')),
    granted_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    granted_at INTEGER NOT NULL,
    PRIMARY KEY (wiki_id, user_id)
) WITHOUT ROWID;
CREATE INDEX members_by_user ON members (user_id);

-- Wiki bearer tokens: only a hash is kept; the token is shown once.
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash TEXT NOT NULL UNIQUE,
    scope TEXT NOT NULL CHECK (scope IN ('read', 'write')),
    created INTEGER NOT NULL,
    last_used INTEGER
);

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created INTEGER NOT NULL,
    expires INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX sessions_by_user ON sessions (user_id);

-- Administrative actions, kept when the wiki or user they name is gone.
CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    at INTEGER NOT NULL,
    actor_id INTEGER REFERENCES users (id) ON DELETE SET NULL,
    wiki_slug TEXT,
    action TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);

-- Plugins a wiki's owner switched on or off (where the operator allows it).
CREATE TABLE wiki_plugins (
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    plugin TEXT NOT NULL,
    enabled INTEGER NOT NULL,
    PRIMARY KEY (wiki_id, plugin)
) WITHOUT ROWID;
"#,
    r#"
-- The ATProto OAuth session Holt holds for each user who signed in (tokens, DPoP key; JSON).
CREATE TABLE atproto_sessions (
    did TEXT PRIMARY KEY,
    data TEXT NOT NULL,
    updated INTEGER NOT NULL
) WITHOUT ROWID;

-- MCP clients registered dynamically (RFC 7591).
CREATE TABLE oauth_clients (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    redirect_uris TEXT NOT NULL,
    client_uri TEXT,
    created INTEGER NOT NULL
) WITHOUT ROWID;

-- What a user allowed a client to do on one wiki. Codes, refresh and access tokens hang off a
-- grant; revoking it ends them all.
CREATE TABLE oauth_grants (
    id INTEGER PRIMARY KEY,
    client_id TEXT NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    wiki_id INTEGER NOT NULL REFERENCES wikis (id) ON DELETE CASCADE,
    scope TEXT NOT NULL,
    resource TEXT NOT NULL,
    created INTEGER NOT NULL,
    revoked INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX oauth_grants_by_user ON oauth_grants (user_id);

-- Authorization codes: single use, short-lived; only a hash is kept.
CREATE TABLE oauth_codes (
    hash TEXT PRIMARY KEY,
    grant_id INTEGER NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    redirect_uri TEXT NOT NULL,
    challenge TEXT NOT NULL,
    expires INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- Refresh tokens: rotated at every use; presenting a used one revokes its grant.
CREATE TABLE oauth_refresh (
    hash TEXT PRIMARY KEY,
    grant_id INTEGER NOT NULL REFERENCES oauth_grants (id) ON DELETE CASCADE,
    expires INTEGER NOT NULL,
    used INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX oauth_refresh_by_grant ON oauth_refresh (grant_id);
"#,
];

//! `Platform`: the platform database (users, wikis, members, tokens, sessions, audit log).
//!
//! One SQLite file (`holt.sqlite` in the data directory), WAL, foreign keys on, migrations
//! applied at start, `synchronous = FULL` (an acknowledged account change survives a power
//! loss). All SQL about the platform lives here.

mod oauth;
mod schema;
pub mod slug;

pub use oauth::{Grant, OAuthClient, RedeemedCode, Refused};

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;

use crate::db::{self, DbError, Pool};
pub use slug::{SlugError, check_slug};

/// A user's role on a wiki.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Editor,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Editor => "editor",
            Role::Viewer => "viewer",
        }
    }

    fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "editor" => Some(Role::Editor),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// What a wiki token may do (at most what its user's role allows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }
}

/// A user of the platform.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub did: String,
    pub handle: String,
    pub display_name: String,
    /// Chosen at the first sign-in; `None` until then.
    pub username: Option<String>,
}

/// A wiki as the platform knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WikiRecord {
    pub id: i64,
    pub slug: String,
    pub owner_id: i64,
    pub display_name: String,
    pub public: bool,
    pub created: i64,
    pub page_count: i64,
    pub bytes: i64,
}

/// A collaborator of a wiki.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub granted_at: i64,
}

/// A wiki token, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub token_id: i64,
    pub wiki_id: i64,
    pub user: User,
    pub scope: Scope,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: i64,
    /// The handle of who did it (gone if the user was deleted).
    pub actor: Option<String>,
    pub action: String,
    pub detail: String,
}

/// The tier's limits, from configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub wikis_per_user: u32,
    pub collaborators_per_wiki: u32,
}

/// Why a platform operation was refused.
#[derive(Debug, thiserror::Error)]
pub enum PlatformError {
    #[error("{0}")]
    InvalidSlug(#[from] SlugError),
    #[error("the name '{0}' is taken")]
    Taken(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("platform database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

pub type Result<T, E = PlatformError> = std::result::Result<T, E>;

/// The platform database.
pub struct Platform {
    writer: Mutex<Connection>,
    readers: Pool,
}

impl Platform {
    /// Opens (or creates) the platform database at `path` and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self> {
        let mut conn = db::open(path)?;
        conn.execute_batch("PRAGMA synchronous = FULL;")?;
        db::migrate(&mut conn, schema::MIGRATIONS)?;
        Ok(Platform {
            writer: Mutex::new(conn),
            readers: Pool::new(path),
        })
    }

    fn writer(&self) -> MutexGuard<'_, Connection> {
        self.writer.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reader(&self) -> Result<db::PooledConn<'_>> {
        Ok(self.readers.get()?)
    }

    // ---- users

    /// Creates a user, or updates the handle and display name of the one with this DID.
    pub fn upsert_user(&self, did: &str, handle: &str, display_name: &str) -> Result<User> {
        if did.trim().is_empty() || handle.trim().is_empty() {
            return Err(PlatformError::Invalid(
                "a user needs a DID and a handle".into(),
            ));
        }
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        // Handles move between accounts; the one that just proved it holds the handle wins.
        tx.execute(
            "UPDATE users SET handle = did WHERE handle = ?1 AND did != ?2",
            params![handle, did],
        )?;
        tx.execute(
            "INSERT INTO users (did, handle, display_name, created) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (did) DO UPDATE SET handle = excluded.handle, display_name = excluded.display_name",
            params![did, handle, display_name, now()],
        )
        .map_err(|e| taken(e, handle))?;
        let user = tx.query_row(&format!("{USER} WHERE did = ?1"), [did], user_row)?;
        tx.commit()?;
        Ok(user)
    }

    /// Sets the username a user chose (refused if reserved or taken).
    pub fn set_username(&self, user: i64, username: &str) -> Result<User> {
        check_slug(username)?;
        let conn = self.writer();
        conn.execute(
            "UPDATE users SET username = ?2 WHERE id = ?1",
            params![user, username],
        )
        .map_err(|e| taken(e, username))?;
        conn.query_row(&format!("{USER} WHERE id = ?1"), [user], user_row)
            .optional()?
            .ok_or_else(|| PlatformError::NotFound("user".into()))
    }

    pub fn user(&self, id: i64) -> Result<Option<User>> {
        Ok(self
            .reader()?
            .query_row(&format!("{USER} WHERE id = ?1"), [id], user_row)
            .optional()?)
    }

    pub fn user_by_handle(&self, handle: &str) -> Result<Option<User>> {
        let handle = handle.trim().trim_start_matches('@');
        Ok(self
            .reader()?
            .query_row(&format!("{USER} WHERE handle = ?1"), [handle], user_row)
            .optional()?)
    }

    // ---- wikis

    /// Creates a wiki owned by `owner`, within the tier's limits.
    pub fn create_wiki(
        &self,
        owner: i64,
        slug: &str,
        display_name: &str,
        public: bool,
        tier: Tier,
    ) -> Result<WikiRecord> {
        check_slug(slug)?;
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let owned: i64 = tx.query_row(
            "SELECT count(*) FROM wikis WHERE owner_id = ?1",
            [owner],
            |r| r.get(0),
        )?;
        if owned >= i64::from(tier.wikis_per_user) {
            return Err(PlatformError::Limit(format!(
                "you already own {owned} wiki(s); the limit is {} per user",
                tier.wikis_per_user
            )));
        }
        let taken_by_user: bool = tx.query_row(
            "SELECT count(*) > 0 FROM users WHERE username = ?1",
            [slug],
            |r| r.get(0),
        )?;
        let own_name: bool = tx.query_row(
            "SELECT count(*) > 0 FROM users WHERE id = ?1 AND username = ?2",
            params![owner, slug],
            |r| r.get(0),
        )?;
        if taken_by_user && !own_name {
            return Err(PlatformError::Taken(slug.to_string()));
        }
        let name = if display_name.trim().is_empty() {
            slug
        } else {
            display_name.trim()
        };
        tx.execute(
            "INSERT INTO wikis (slug, owner_id, display_name, public, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![slug, owner, name, public, now()],
        )
        .map_err(|e| taken(e, slug))?;
        let wiki = tx.query_row(&format!("{WIKI} WHERE slug = ?1"), [slug], wiki_row)?;
        audit(&tx, Some(owner), Some(slug), "create wiki", "")?;
        tx.commit()?;
        Ok(wiki)
    }

    pub fn wiki(&self, slug: &str) -> Result<Option<WikiRecord>> {
        Ok(self
            .reader()?
            .query_row(&format!("{WIKI} WHERE slug = ?1"), [slug], wiki_row)
            .optional()?)
    }

    pub fn wiki_by_id(&self, id: i64) -> Result<Option<WikiRecord>> {
        Ok(self
            .reader()?
            .query_row(&format!("{WIKI} WHERE id = ?1"), [id], wiki_row)
            .optional()?)
    }

    /// The wikis a user owns or collaborates on, with their role.
    pub fn wikis_of(&self, user: i64) -> Result<Vec<(WikiRecord, Role)>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{WIKI_COLUMNS}, CASE WHEN w.owner_id = ?1 THEN 'owner' ELSE m.role END
             FROM wikis w LEFT JOIN members m ON m.wiki_id = w.id AND m.user_id = ?1
             WHERE w.owner_id = ?1 OR m.user_id = ?1 ORDER BY w.slug"
        ))?;
        let rows = stmt.query_map([user], |r| {
            let role: String = r.get(8)?;
            Ok((wiki_row(r)?, Role::parse(&role).unwrap_or(Role::Viewer)))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Changes a wiki's display name and/or visibility.
    pub fn update_wiki(
        &self,
        actor: i64,
        slug: &str,
        display_name: Option<&str>,
        public: Option<bool>,
    ) -> Result<WikiRecord> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        if let Some(name) = display_name {
            let name = name.trim();
            if name.is_empty() || name.chars().count() > 100 {
                return Err(PlatformError::Invalid(
                    "a display name has 1 to 100 characters".into(),
                ));
            }
            tx.execute(
                "UPDATE wikis SET display_name = ?2 WHERE slug = ?1",
                params![slug, name],
            )?;
        }
        if let Some(public) = public {
            tx.execute(
                "UPDATE wikis SET public = ?2 WHERE slug = ?1",
                params![slug, public],
            )?;
        }
        let wiki = tx
            .query_row(&format!("{WIKI} WHERE slug = ?1"), [slug], wiki_row)
            .optional()?
            .ok_or_else(|| PlatformError::NotFound(format!("wiki '{slug}'")))?;
        audit(
            &tx,
            Some(actor),
            Some(slug),
            "update wiki",
            &format!("name={display_name:?} public={public:?}"),
        )?;
        tx.commit()?;
        Ok(wiki)
    }

    /// Deletes a wiki's rows (members, tokens and settings go with it).
    pub fn delete_wiki(&self, actor: i64, slug: &str) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let deleted = tx.execute("DELETE FROM wikis WHERE slug = ?1", [slug])?;
        if deleted == 0 {
            return Err(PlatformError::NotFound(format!("wiki '{slug}'")));
        }
        audit(&tx, Some(actor), Some(slug), "delete wiki", "")?;
        tx.commit()?;
        Ok(())
    }

    /// Records a wiki's size after a change (for the page and byte limits).
    pub fn set_wiki_stats(&self, wiki: i64, page_count: u64, bytes: u64) -> Result<()> {
        self.writer().execute(
            "UPDATE wikis SET page_count = ?2, bytes = ?3 WHERE id = ?1",
            params![wiki, page_count as i64, bytes as i64],
        )?;
        Ok(())
    }

    // ---- members

    /// The role of `user` on `wiki`, if any.
    pub fn role(&self, wiki: &WikiRecord, user: i64) -> Result<Option<Role>> {
        if wiki.owner_id == user {
            return Ok(Some(Role::Owner));
        }
        let role: Option<String> = self
            .reader()?
            .query_row(
                "SELECT role FROM members WHERE wiki_id = ?1 AND user_id = ?2",
                params![wiki.id, user],
                |r| r.get(0),
            )
            .optional()?;
        Ok(role.and_then(|r| Role::parse(&r)))
    }

    pub fn members(&self, wiki: i64) -> Result<Vec<Member>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{USER_COLUMNS}, m.role, m.granted_at FROM members m JOIN users u ON u.id = m.user_id
             WHERE m.wiki_id = ?1 ORDER BY u.handle"
        ))?;
        let rows = stmt.query_map([wiki], |r| {
            let role: String = r.get(5)?;
            Ok(Member {
                user: user_row(r)?,
                role: Role::parse(&role).unwrap_or(Role::Viewer),
                granted_at: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Adds a collaborator (or changes their role), within the tier's limits.
    pub fn set_member(
        &self,
        actor: i64,
        wiki: &WikiRecord,
        user: &User,
        role: Role,
        tier: Tier,
    ) -> Result<()> {
        if role == Role::Owner {
            return Err(PlatformError::Invalid(
                "a wiki has one owner; collaborators are editors or viewers".into(),
            ));
        }
        if user.id == wiki.owner_id {
            return Err(PlatformError::Invalid(
                "the owner is not a collaborator of their own wiki".into(),
            ));
        }
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let existing: bool = tx.query_row(
            "SELECT count(*) > 0 FROM members WHERE wiki_id = ?1 AND user_id = ?2",
            params![wiki.id, user.id],
            |r| r.get(0),
        )?;
        if !existing {
            let count: i64 = tx.query_row(
                "SELECT count(*) FROM members WHERE wiki_id = ?1",
                [wiki.id],
                |r| r.get(0),
            )?;
            if count >= i64::from(tier.collaborators_per_wiki) {
                return Err(PlatformError::Limit(format!(
                    "this wiki already has {count} collaborator(s); the limit is {} per wiki",
                    tier.collaborators_per_wiki
                )));
            }
        }
        tx.execute(
            "INSERT INTO members (wiki_id, user_id, role, granted_by, granted_at) VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (wiki_id, user_id) DO UPDATE SET role = excluded.role, granted_by = excluded.granted_by,
                 granted_at = excluded.granted_at",
            params![wiki.id, user.id, role.as_str(), actor, now()],
        )?;
        audit(
            &tx,
            Some(actor),
            Some(&wiki.slug),
            "set member",
            &format!("{} as {}", user.handle, role.as_str()),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Removes a collaborator (and their tokens for the wiki).
    pub fn remove_member(&self, actor: i64, wiki: &WikiRecord, user: &User) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let removed = tx.execute(
            "DELETE FROM members WHERE wiki_id = ?1 AND user_id = ?2",
            params![wiki.id, user.id],
        )?;
        if removed == 0 {
            return Err(PlatformError::NotFound(format!(
                "collaborator '{}'",
                user.handle
            )));
        }
        tx.execute(
            "DELETE FROM tokens WHERE wiki_id = ?1 AND user_id = ?2",
            params![wiki.id, user.id],
        )?;
        audit(
            &tx,
            Some(actor),
            Some(&wiki.slug),
            "remove member",
            &user.handle,
        )?;
        tx.commit()?;
        Ok(())
    }

    // ---- tokens

    /// Stores a new token for `user` on `wiki` (by its hash), replacing their previous one.
    pub fn replace_token(
        &self,
        wiki: &WikiRecord,
        user: i64,
        hash: &str,
        scope: Scope,
    ) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        tx.execute(
            "DELETE FROM tokens WHERE wiki_id = ?1 AND user_id = ?2",
            params![wiki.id, user],
        )?;
        tx.execute(
            "INSERT INTO tokens (wiki_id, user_id, hash, scope, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![wiki.id, user, hash, scope.as_str(), now()],
        )?;
        audit(
            &tx,
            Some(user),
            Some(&wiki.slug),
            "new token",
            scope.as_str(),
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The grant of a token, by its hash.
    pub fn token(&self, hash: &str) -> Result<Option<TokenGrant>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "SELECT t.id, t.wiki_id, t.scope, {USER_FIELDS} FROM tokens t JOIN users u ON u.id = t.user_id WHERE t.hash = ?1"
        ))?;
        Ok(stmt
            .query_row([hash], |r| {
                let scope: String = r.get(2)?;
                Ok(TokenGrant {
                    token_id: r.get(0)?,
                    wiki_id: r.get(1)?,
                    scope: if scope == "write" {
                        Scope::Write
                    } else {
                        Scope::Read
                    },
                    user: User {
                        id: r.get(3)?,
                        did: r.get(4)?,
                        handle: r.get(5)?,
                        display_name: r.get(6)?,
                        username: r.get(7)?,
                    },
                })
            })
            .optional()?)
    }

    /// Notes a token's use (at most once a minute per token, so reads stay reads).
    pub fn touch_token(&self, token: i64) -> Result<()> {
        self.writer().execute(
            "UPDATE tokens SET last_used = ?2 WHERE id = ?1 AND (last_used IS NULL OR last_used < ?2 - 60)",
            params![token, now()],
        )?;
        Ok(())
    }

    // ---- sessions

    /// Records a session of `user` lasting `seconds`.
    pub fn create_session(&self, id: &str, user: i64, seconds: i64) -> Result<()> {
        let created = now();
        self.writer().execute(
            "INSERT INTO sessions (id, user_id, created, expires) VALUES (?1, ?2, ?3, ?4)",
            params![id, user, created, created + seconds],
        )?;
        Ok(())
    }

    /// The user of a live (unexpired, unrevoked) session.
    pub fn session_user(&self, id: &str) -> Result<Option<User>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id
             WHERE s.id = ?1 AND s.revoked = 0 AND s.expires > ?2"
        ))?;
        Ok(stmt.query_row(params![id, now()], user_row).optional()?)
    }

    pub fn revoke_session(&self, id: &str) -> Result<()> {
        self.writer()
            .execute("UPDATE sessions SET revoked = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Signs a user out everywhere.
    pub fn revoke_sessions_of(&self, user: i64) -> Result<()> {
        self.writer()
            .execute("UPDATE sessions SET revoked = 1 WHERE user_id = ?1", [user])?;
        Ok(())
    }

    // ---- per-wiki plugin switches

    /// Plugins the wiki's owner switched off.
    pub fn disabled_plugins(&self, wiki: i64) -> Result<Vec<String>> {
        let conn = self.reader()?;
        let mut stmt = conn
            .prepare_cached("SELECT plugin FROM wiki_plugins WHERE wiki_id = ?1 AND enabled = 0")?;
        let rows = stmt.query_map([wiki], |r| r.get(0))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn set_plugin_enabled(
        &self,
        actor: i64,
        wiki: &WikiRecord,
        plugin: &str,
        enabled: bool,
    ) -> Result<()> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        tx.execute(
            "INSERT INTO wiki_plugins (wiki_id, plugin, enabled) VALUES (?1, ?2, ?3)
             ON CONFLICT (wiki_id, plugin) DO UPDATE SET enabled = excluded.enabled",
            params![wiki.id, plugin, enabled],
        )?;
        audit(
            &tx,
            Some(actor),
            Some(&wiki.slug),
            if enabled {
                "enable plugin"
            } else {
                "disable plugin"
            },
            plugin,
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The most recent audit entries (for the admin panel and operators).
    pub fn audit_log(&self, wiki: Option<&str>, limit: u32) -> Result<Vec<AuditEntry>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(
            "SELECT a.at, u.handle, a.action, a.detail FROM audit a LEFT JOIN users u ON u.id = a.actor_id
             WHERE ?1 IS NULL OR a.wiki_slug = ?1 ORDER BY a.id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![wiki, limit], |r| {
            Ok(AuditEntry {
                at: r.get(0)?,
                actor: r.get(1)?,
                action: r.get(2)?,
                detail: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const USER_FIELDS: &str = "u.id, u.did, u.handle, u.display_name, u.username";
const USER_COLUMNS: &str = "SELECT u.id, u.did, u.handle, u.display_name, u.username";
const USER: &str = "SELECT id, did, handle, display_name, username FROM users u";
const WIKI_COLUMNS: &str =
    "SELECT w.id, w.slug, w.owner_id, w.display_name, w.public, w.created, w.page_count, w.bytes";
const WIKI: &str = "SELECT w.id, w.slug, w.owner_id, w.display_name, w.public, w.created, w.page_count, w.bytes FROM wikis w";

fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get(0)?,
        did: r.get(1)?,
        handle: r.get(2)?,
        display_name: r.get(3)?,
        username: r.get(4)?,
    })
}

fn wiki_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<WikiRecord> {
    Ok(WikiRecord {
        id: r.get(0)?,
        slug: r.get(1)?,
        owner_id: r.get(2)?,
        display_name: r.get(3)?,
        public: r.get(4)?,
        created: r.get(5)?,
        page_count: r.get(6)?,
        bytes: r.get(7)?,
    })
}

fn audit(
    tx: &Transaction<'_>,
    actor: Option<i64>,
    wiki: Option<&str>,
    action: &str,
    detail: &str,
) -> Result<()> {
    tx.execute(
        "INSERT INTO audit (at, actor_id, wiki_slug, action, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![now(), actor, wiki, action, detail],
    )?;
    Ok(())
}

/// A unique-constraint failure means the name is taken.
fn taken(err: rusqlite::Error, name: &str) -> PlatformError {
    match &err {
        rusqlite::Error::SqliteFailure(e, _)
            if e.code == rusqlite::ErrorCode::ConstraintViolation =>
        {
            PlatformError::Taken(name.to_string())
        }
        _ => PlatformError::Sqlite(err),
    }
}

pub(crate) fn now() -> i64 {
    jiff::Timestamp::now().as_second()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TIER: Tier = Tier {
        wikis_per_user: 1,
        collaborators_per_wiki: 3,
    };

    fn platform() -> (tempfile::TempDir, Platform) {
        let dir = tempfile::tempdir().unwrap();
        let platform = Platform::open(&dir.path().join("holt.sqlite")).unwrap();
        (dir, platform)
    }

    #[test]
    fn users_wikis_members_and_limits() {
        let (_dir, p) = platform();
        let alice = p
            .upsert_user("did:plc:alice", "alice.test", "Alice")
            .unwrap();
        let bob = p.upsert_user("did:plc:bob", "bob.test", "Bob").unwrap();
        // A second sign-in refreshes the handle and display name.
        let alice2 = p
            .upsert_user("did:plc:alice", "alice.example", "Alice A.")
            .unwrap();
        assert_eq!(
            (alice2.id, alice2.handle.as_str()),
            (alice.id, "alice.example")
        );

        let wiki = p.create_wiki(alice.id, "notes", "", false, TIER).unwrap();
        assert_eq!(wiki.display_name, "notes");
        assert!(matches!(
            p.create_wiki(alice.id, "more", "", false, TIER),
            Err(PlatformError::Limit(_))
        ));
        assert!(matches!(
            p.create_wiki(bob.id, "notes", "", false, TIER),
            Err(PlatformError::Taken(_))
        ));
        assert!(matches!(
            p.create_wiki(bob.id, "www", "", false, TIER),
            Err(PlatformError::InvalidSlug(_))
        ));

        assert_eq!(p.role(&wiki, alice.id).unwrap(), Some(Role::Owner));
        assert_eq!(p.role(&wiki, bob.id).unwrap(), None);
        p.set_member(alice.id, &wiki, &bob, Role::Editor, TIER)
            .unwrap();
        assert_eq!(p.role(&wiki, bob.id).unwrap(), Some(Role::Editor));
        p.set_member(alice.id, &wiki, &bob, Role::Viewer, TIER)
            .unwrap();
        assert_eq!(p.role(&wiki, bob.id).unwrap(), Some(Role::Viewer));
        for i in 0..2 {
            let u = p
                .upsert_user(&format!("did:plc:u{i}"), &format!("u{i}.test"), "")
                .unwrap();
            p.set_member(alice.id, &wiki, &u, Role::Viewer, TIER)
                .unwrap();
        }
        let extra = p.upsert_user("did:plc:x", "x.test", "").unwrap();
        let err = p
            .set_member(alice.id, &wiki, &extra, Role::Viewer, TIER)
            .unwrap_err();
        assert!(err.to_string().contains("limit is 3"), "{err}");
        assert_eq!(p.members(wiki.id).unwrap().len(), 3);
        assert_eq!(p.wikis_of(bob.id).unwrap()[0].1, Role::Viewer);

        p.remove_member(alice.id, &wiki, &bob).unwrap();
        assert_eq!(p.role(&wiki, bob.id).unwrap(), None);
    }

    #[test]
    fn tokens_sessions_and_cascading_deletes() {
        let (_dir, p) = platform();
        let alice = p
            .upsert_user("did:plc:alice", "alice.test", "Alice")
            .unwrap();
        let wiki = p
            .create_wiki(alice.id, "notes", "Notes", true, TIER)
            .unwrap();
        p.replace_token(&wiki, alice.id, "hash-1", Scope::Write)
            .unwrap();
        assert_eq!(p.token("hash-1").unwrap().unwrap().wiki_id, wiki.id);
        p.replace_token(&wiki, alice.id, "hash-2", Scope::Read)
            .unwrap();
        assert!(
            p.token("hash-1").unwrap().is_none(),
            "regenerating replaces the old token"
        );
        assert_eq!(p.token("hash-2").unwrap().unwrap().scope, Scope::Read);

        p.create_session("s1", alice.id, 3600).unwrap();
        p.create_session("s2", alice.id, -1).unwrap();
        assert_eq!(p.session_user("s1").unwrap().unwrap().id, alice.id);
        assert!(p.session_user("s2").unwrap().is_none(), "expired");
        p.revoke_sessions_of(alice.id).unwrap();
        assert!(p.session_user("s1").unwrap().is_none(), "revoked");

        p.delete_wiki(alice.id, "notes").unwrap();
        assert!(p.wiki("notes").unwrap().is_none());
        assert!(
            p.token("hash-2").unwrap().is_none(),
            "tokens go with the wiki"
        );
        assert!(
            p.audit_log(Some("notes"), 10)
                .unwrap()
                .iter()
                .any(|e| e.action == "delete wiki")
        );
    }
}

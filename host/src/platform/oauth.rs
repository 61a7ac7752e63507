//! The platform's OAuth records: ATProto sessions Holt holds for its users, and the MCP
//! authorization server's clients, grants, codes and refresh tokens. Secrets are stored as
//! SHA-256 hashes only.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Platform, Result, now};

/// A client registered with the MCP authorization server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthClient {
    pub id: String,
    pub name: String,
    pub redirect_uris: Vec<String>,
    pub client_uri: Option<String>,
}

/// What a user allowed a client to do on one wiki.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Grant {
    pub id: i64,
    pub client_id: String,
    pub client_name: String,
    pub user_id: i64,
    pub wiki_id: i64,
    pub wiki_slug: String,
    pub scope: String,
    /// The wiki's MCP URL, the audience of the grant's access tokens.
    pub resource: String,
    pub created: i64,
    pub revoked: bool,
}

/// A code, redeemed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedeemedCode {
    pub grant: Grant,
    pub redirect_uri: String,
    pub challenge: String,
}

/// Why a code or refresh token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    Unknown,
    Expired,
    /// Used before: the grant it belongs to has now been revoked.
    Replayed,
    Revoked,
}

const GRANT: &str = "SELECT g.id, g.client_id, c.name, g.user_id, g.wiki_id, w.slug, g.scope, g.resource, g.created, g.revoked
     FROM oauth_grants g JOIN oauth_clients c ON c.id = g.client_id JOIN wikis w ON w.id = g.wiki_id";

fn grant_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Grant> {
    Ok(Grant {
        id: r.get(0)?,
        client_id: r.get(1)?,
        client_name: r.get(2)?,
        user_id: r.get(3)?,
        wiki_id: r.get(4)?,
        wiki_slug: r.get(5)?,
        scope: r.get(6)?,
        resource: r.get(7)?,
        created: r.get(8)?,
        revoked: r.get(9)?,
    })
}

/// A spent code or refresh token came back: either its holder or a thief has a copy, so the
/// grant and everything it gave end now.
fn replayed<T>(
    tx: rusqlite::Transaction<'_>,
    grant: i64,
) -> Result<std::result::Result<T, Refused>> {
    tx.execute("UPDATE oauth_grants SET revoked = 1 WHERE id = ?1", [grant])?;
    tx.commit()?;
    Ok(Err(Refused::Replayed))
}

impl Platform {
    // ---- ATProto sessions

    pub fn atproto_session(&self, did: &str) -> Result<Option<String>> {
        Ok(self
            .reader()?
            .query_row(
                "SELECT data FROM atproto_sessions WHERE did = ?1",
                [did],
                |r| r.get(0),
            )
            .optional()?)
    }

    pub fn set_atproto_session(&self, did: &str, data: &str) -> Result<()> {
        self.writer().execute(
            "INSERT INTO atproto_sessions (did, data, updated) VALUES (?1, ?2, ?3)
             ON CONFLICT (did) DO UPDATE SET data = excluded.data, updated = excluded.updated",
            params![did, data, now()],
        )?;
        Ok(())
    }

    pub fn delete_atproto_session(&self, did: &str) -> Result<()> {
        self.writer()
            .execute("DELETE FROM atproto_sessions WHERE did = ?1", [did])?;
        Ok(())
    }

    pub fn clear_atproto_sessions(&self) -> Result<()> {
        self.writer().execute("DELETE FROM atproto_sessions", [])?;
        Ok(())
    }

    // ---- MCP authorization server

    pub fn register_oauth_client(&self, client: &OAuthClient) -> Result<()> {
        let uris = serde_json::to_string(&client.redirect_uris).unwrap_or_else(|_| "[]".into());
        self.writer().execute(
            "INSERT INTO oauth_clients (id, name, redirect_uris, client_uri, created) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![client.id, client.name, uris, client.client_uri, now()],
        )?;
        Ok(())
    }

    pub fn oauth_client(&self, id: &str) -> Result<Option<OAuthClient>> {
        let row = self
            .reader()?
            .query_row(
                "SELECT id, name, redirect_uris, client_uri FROM oauth_clients WHERE id = ?1",
                [id],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, Option<String>>(3)?,
                    ))
                },
            )
            .optional()?;
        Ok(row.map(|(id, name, uris, client_uri)| OAuthClient {
            id,
            name,
            redirect_uris: serde_json::from_str(&uris).unwrap_or_default(),
            client_uri,
        }))
    }

    /// Records a user's consent and the code that carries it to the client.
    #[allow(clippy::too_many_arguments)]
    pub fn create_grant(
        &self,
        client_id: &str,
        user: i64,
        wiki: i64,
        scope: &str,
        resource: &str,
        code_hash: &str,
        redirect_uri: &str,
        challenge: &str,
        code_seconds: i64,
    ) -> Result<i64> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let created = now();
        tx.execute(
            "INSERT INTO oauth_grants (client_id, user_id, wiki_id, scope, resource, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![client_id, user, wiki, scope, resource, created],
        )?;
        let grant = tx.last_insert_rowid();
        tx.execute(
            "INSERT INTO oauth_codes (hash, grant_id, redirect_uri, challenge, expires) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![code_hash, grant, redirect_uri, challenge, created + code_seconds],
        )?;
        tx.commit()?;
        Ok(grant)
    }

    /// Redeems a code once. A second use revokes the grant (and every token it gave).
    pub fn redeem_code(&self, hash: &str) -> Result<std::result::Result<RedeemedCode, Refused>> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let code = tx
            .query_row(
                "SELECT grant_id, redirect_uri, challenge, expires, used FROM oauth_codes WHERE hash = ?1",
                [hash],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, bool>(4)?,
                    ))
                },
            )
            .optional()?;
        let Some((grant_id, redirect_uri, challenge, expires, used)) = code else {
            return Ok(Err(Refused::Unknown));
        };
        if used {
            return replayed(tx, grant_id);
        }
        tx.execute("UPDATE oauth_codes SET used = 1 WHERE hash = ?1", [hash])?;
        let grant = tx.query_row(&format!("{GRANT} WHERE g.id = ?1"), [grant_id], grant_row)?;
        tx.commit()?;
        if expires <= now() {
            return Ok(Err(Refused::Expired));
        }
        if grant.revoked {
            return Ok(Err(Refused::Revoked));
        }
        Ok(Ok(RedeemedCode {
            grant,
            redirect_uri,
            challenge,
        }))
    }

    pub fn store_refresh(&self, hash: &str, grant: i64, seconds: i64) -> Result<()> {
        self.writer().execute(
            "INSERT INTO oauth_refresh (hash, grant_id, expires) VALUES (?1, ?2, ?3)",
            params![hash, grant, now() + seconds],
        )?;
        Ok(())
    }

    /// Exchanges a refresh token for its successor. Presenting one already used revokes the
    /// grant: either the client or a thief holds a copy (RFC 9700 §4.14.2).
    pub fn rotate_refresh(
        &self,
        old: &str,
        new: &str,
        seconds: i64,
    ) -> Result<std::result::Result<Grant, Refused>> {
        let mut conn = self.writer();
        let tx = conn.transaction()?;
        let row = tx
            .query_row(
                "SELECT grant_id, expires, used FROM oauth_refresh WHERE hash = ?1",
                [old],
                |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, bool>(2)?,
                    ))
                },
            )
            .optional()?;
        let Some((grant_id, expires, used)) = row else {
            return Ok(Err(Refused::Unknown));
        };
        if used {
            return replayed(tx, grant_id);
        }
        if expires <= now() {
            return Ok(Err(Refused::Expired));
        }
        let grant = tx.query_row(&format!("{GRANT} WHERE g.id = ?1"), [grant_id], grant_row)?;
        if grant.revoked {
            return Ok(Err(Refused::Revoked));
        }
        tx.execute("UPDATE oauth_refresh SET used = 1 WHERE hash = ?1", [old])?;
        tx.execute(
            "INSERT INTO oauth_refresh (hash, grant_id, expires) VALUES (?1, ?2, ?3)",
            params![new, grant_id, now() + seconds],
        )?;
        tx.commit()?;
        Ok(Ok(grant))
    }

    pub fn grant(&self, id: i64) -> Result<Option<Grant>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!("{GRANT} WHERE g.id = ?1"))?;
        Ok(stmt.query_row([id], grant_row).optional()?)
    }

    /// The grants a user has given that still stand, newest first.
    pub fn grants_of(&self, user: i64) -> Result<Vec<Grant>> {
        let conn = self.reader()?;
        let mut stmt = conn.prepare_cached(&format!(
            "{GRANT} WHERE g.user_id = ?1 AND g.revoked = 0 ORDER BY g.id DESC"
        ))?;
        let rows = stmt.query_map([user], grant_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revokes the grant a refresh token belongs to (RFC 7009); false if the token is unknown.
    pub fn revoke_grant_of_refresh(&self, hash: &str) -> Result<bool> {
        let changed = self.writer().execute(
            "UPDATE oauth_grants SET revoked = 1 WHERE id = (SELECT grant_id FROM oauth_refresh WHERE hash = ?1)",
            [hash],
        )?;
        Ok(changed > 0)
    }

    pub fn revoke_grant(&self, id: i64) -> Result<()> {
        self.writer()
            .execute("UPDATE oauth_grants SET revoked = 1 WHERE id = ?1", [id])?;
        Ok(())
    }

    /// Revokes every grant a user gave (signing out everywhere).
    pub fn revoke_grants_of(&self, user: i64) -> Result<()> {
        self.writer().execute(
            "UPDATE oauth_grants SET revoked = 1 WHERE user_id = ?1",
            [user],
        )?;
        Ok(())
    }
}

//! Credentials: platform sessions (RS256 JWTs in a cookie) and wiki bearer tokens.
//!
//! The session key pair is generated on first start under `<data>/keys/` and never leaves it.
//! Verification accepts RS256 only (no `none`, no HMAC with the public key), and checks the
//! audience, issuer and expiry; the session id inside is then looked up, so signing out
//! everywhere revokes every outstanding cookie.

use std::path::Path;

use base64::Engine as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The cookie that carries the platform session.
pub const SESSION_COOKIE: &str = "holt_session";
/// The audience of platform session JWTs.
const AUDIENCE: &str = "holt:session";
/// The audience of the short-lived codes that carry a session to a wiki's host.
const HANDOFF_AUDIENCE: &str = "holt:handoff";
/// How long a hand-off code is valid.
pub const HANDOFF_SECONDS: i64 = 60;
/// Prefix of wiki tokens, so they are recognisable (and scannable in leaked text).
pub const TOKEN_PREFIX: &str = "holt_";

/// Why credentials could not be set up or checked.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("session keys in {path}: {message}")]
    Keys { path: String, message: String },
    #[error("the session is not valid: {0}")]
    Invalid(String),
}

/// What a session JWT says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user's id.
    pub sub: String,
    /// The session's id (revocable).
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub aud: String,
    pub iss: String,
    /// For hand-off codes: the wiki whose host may redeem it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wiki: Option<String>,
}

/// What an OAuth access token says: who, for which wiki's MCP endpoint, with what scope,
/// under which grant (revoking the grant ends the token before it expires).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: String,
    pub aud: String,
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub wiki: String,
    pub scope: String,
    pub client_id: String,
    pub gid: i64,
}

/// What an access token is issued for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessGrant {
    pub grant_id: i64,
    pub user: i64,
    pub wiki: String,
    /// The wiki's MCP URL, the token's audience.
    pub resource: String,
    pub scope: String,
    pub client_id: String,
}

/// The key pair that signs and verifies platform sessions.
pub struct SessionKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    issuer: String,
}

impl SessionKeys {
    /// Loads the key pair from `dir`, generating it (RSA 2048) on first use.
    pub fn load_or_generate(dir: &Path, issuer: &str) -> Result<Self, AuthError> {
        use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
        let path = dir.join("session-rsa.pem");
        let fail = |message: String| AuthError::Keys {
            path: path.display().to_string(),
            message,
        };
        let private = if path.exists() {
            let pem = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
            rsa::RsaPrivateKey::from_pkcs8_pem(&pem).map_err(|e| fail(e.to_string()))?
        } else {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
            let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
                .map_err(|e| fail(e.to_string()))?;
            let pem = key
                .to_pkcs8_pem(LineEnding::LF)
                .map_err(|e| fail(e.to_string()))?;
            write_private(&path, pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
            tracing::info!(path = %path.display(), "generated the session signing key");
            key
        };
        let private_pem = private
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| fail(e.to_string()))?;
        let public_pem = rsa::RsaPublicKey::from(&private)
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| fail(e.to_string()))?;
        Ok(SessionKeys {
            encoding: EncodingKey::from_rsa_pem(private_pem.as_bytes())
                .map_err(|e| fail(e.to_string()))?,
            decoding: DecodingKey::from_rsa_pem(public_pem.as_bytes())
                .map_err(|e| fail(e.to_string()))?,
            issuer: issuer.to_string(),
        })
    }

    /// A signed session JWT for `user` and session `sid`, valid for `seconds`.
    pub fn issue(&self, user: i64, sid: &str, seconds: i64) -> String {
        self.sign(user, sid, seconds, AUDIENCE, None)
    }

    /// A code that lets the host of wiki `slug` set a cookie for session `sid` (browsers keep a
    /// cookie of `localhost` from `*.localhost`, so single-label domains need this hand-off).
    pub fn issue_handoff(&self, user: i64, sid: &str, slug: &str) -> String {
        self.sign(
            user,
            sid,
            HANDOFF_SECONDS,
            HANDOFF_AUDIENCE,
            Some(slug.to_string()),
        )
    }

    fn sign(
        &self,
        user: i64,
        sid: &str,
        seconds: i64,
        audience: &str,
        wiki: Option<String>,
    ) -> String {
        let now = jiff::Timestamp::now().as_second();
        let claims = Claims {
            sub: user.to_string(),
            sid: sid.to_string(),
            iat: now,
            exp: now + seconds,
            aud: audience.to_string(),
            iss: self.issuer.clone(),
            wiki,
        };
        // Signing with a valid RSA key cannot fail.
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.encoding)
            .unwrap_or_default()
    }

    /// Checks a session JWT: RS256 signature, audience, issuer, expiry.
    pub fn verify(&self, jwt: &str) -> Result<Claims, AuthError> {
        self.check(jwt, AUDIENCE)
    }

    /// Checks a hand-off code for wiki `slug`.
    pub fn verify_handoff(&self, code: &str, slug: &str) -> Result<Claims, AuthError> {
        let claims = self.check(code, HANDOFF_AUDIENCE)?;
        if claims.wiki.as_deref() != Some(slug) {
            return Err(AuthError::Invalid("the code is for another wiki".into()));
        }
        Ok(claims)
    }

    /// An OAuth access token for the MCP endpoint of one wiki (its `aud`).
    pub fn issue_access(&self, grant: &AccessGrant, seconds: i64) -> String {
        let now = jiff::Timestamp::now().as_second();
        let claims = AccessClaims {
            sub: grant.user.to_string(),
            aud: grant.resource.clone(),
            iss: self.issuer.clone(),
            iat: now,
            exp: now + seconds,
            jti: random_id(),
            wiki: grant.wiki.clone(),
            scope: grant.scope.clone(),
            client_id: grant.client_id.clone(),
            gid: grant.grant_id,
        };
        let mut header = Header::new(Algorithm::RS256);
        header.typ = Some("at+jwt".into());
        jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default()
    }

    /// Checks an OAuth access token presented to `resource` (RS256 only, this issuer, this
    /// audience, not expired). Whether its grant still stands is the caller's to check.
    pub fn verify_access(&self, jwt: &str, resource: &str) -> Result<AccessClaims, AuthError> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_audience(&[resource]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.set_required_spec_claims(&["exp", "aud", "iss", "sub"]);
        validation.leeway = 0;
        jsonwebtoken::decode::<AccessClaims>(jwt, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }

    /// The claims of an access token signed here, whatever its audience and even if expired
    /// (revocation accepts any token Holt issued).
    pub fn peek_access(&self, jwt: &str) -> Option<AccessClaims> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.validate_aud = false;
        validation.validate_exp = false;
        validation.set_issuer(&[self.issuer.as_str()]);
        jsonwebtoken::decode::<AccessClaims>(jwt, &self.decoding, &validation)
            .ok()
            .map(|data| data.claims)
    }

    fn check(&self, jwt: &str, audience: &str) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(Algorithm::RS256);
        validation.algorithms = vec![Algorithm::RS256];
        validation.set_audience(&[audience]);
        validation.set_issuer(&[self.issuer.as_str()]);
        validation.leeway = 0;
        jsonwebtoken::decode::<Claims>(jwt, &self.decoding, &validation)
            .map(|data| data.claims)
            .map_err(|e| AuthError::Invalid(e.to_string()))
    }
}

pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// `n` random bytes from the operating system.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // The OS random source does not fail on supported platforms; if it ever did, a zeroed
    // secret would be worse than stopping.
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    bytes
}

/// A random identifier (sessions, OAuth state), URL-safe.
pub fn random_id() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<18>())
}

/// A random secret (OAuth codes and refresh tokens): 256 bits, URL-safe.
pub fn random_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// A new wiki token: 256 random bits, shown once to its owner.
pub fn new_token() -> String {
    format!(
        "{TOKEN_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
    )
}

/// What is stored for a token (its SHA-256; tokens are random enough that no stretching helps).
pub fn token_hash(token: &str) -> String {
    Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `Set-Cookie` value for a session (or, with an empty value and no age, its removal).
pub fn session_cookie(value: &str, domain: &str, secure: bool, max_age: i64) -> String {
    let mut cookie =
        format!("{SESSION_COOKIE}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}");
    // A parent-domain cookie reaches every wiki's host; a bare host name cannot take one.
    if domain.contains('.') {
        cookie.push_str(&format!("; Domain={domain}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    cookie
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_verify_only_when_signed_and_current() {
        let dir = tempfile::tempdir().unwrap();
        let keys = SessionKeys::load_or_generate(dir.path(), "http://holt.test").unwrap();
        let jwt = keys.issue(7, "sid-1", 3600);
        let claims = keys.verify(&jwt).unwrap();
        assert_eq!((claims.sub.as_str(), claims.sid.as_str()), ("7", "sid-1"));
        // The same keys load again from disk.
        let again = SessionKeys::load_or_generate(dir.path(), "http://holt.test").unwrap();
        assert!(again.verify(&jwt).is_ok());
        // Expired, another issuer, another key, tampered: all refused.
        assert!(keys.verify(&keys.issue(7, "s", -10)).is_err());
        let other_issuer = SessionKeys::load_or_generate(dir.path(), "http://elsewhere").unwrap();
        assert!(other_issuer.verify(&jwt).is_err());
        let other_dir = tempfile::tempdir().unwrap();
        let other_keys =
            SessionKeys::load_or_generate(other_dir.path(), "http://holt.test").unwrap();
        assert!(other_keys.verify(&jwt).is_err());
        let mut parts: Vec<String> = jwt.split('.').map(str::to_string).collect();
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(br#"{"sub":"1","sid":"sid-1","iat":0,"exp":99999999999,"aud":"holt:session","iss":"http://holt.test"}"#);
        assert!(keys.verify(&parts.join(".")).is_err());
        // alg: none is refused.
        let none = format!(
            "{}.{}.",
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(br#"{"alg":"none","typ":"JWT"}"#),
            parts[1]
        );
        assert!(keys.verify(&none).is_err());
        // A hand-off code is not a session, and only works on its own wiki.
        let code = keys.issue_handoff(7, "sid-1", "notes");
        assert!(keys.verify(&code).is_err());
        assert!(keys.verify_handoff(&jwt, "notes").is_err());
        assert_eq!(keys.verify_handoff(&code, "notes").unwrap().sid, "sid-1");
        assert!(keys.verify_handoff(&code, "other").is_err());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("session-rsa.pem"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(
                mode & 0o077,
                0,
                "the private key is readable by its owner only"
            );
        }
    }

    #[test]
    fn tokens_are_random_and_stored_hashed() {
        let (a, b) = (new_token(), new_token());
        assert!(a.starts_with(TOKEN_PREFIX) && a.len() > 40);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn cookies_are_http_only_lax_and_secure_outside_loopback() {
        let c = session_cookie("v", "wiki.example.org", true, 60);
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Secure"));
        assert!(c.contains("Domain=wiki.example.org"));
        let local = session_cookie("v", "localhost", false, 60);
        assert!(!local.contains("Secure") && !local.contains("Domain="));
    }
}

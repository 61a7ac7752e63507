//! `AuthorizationServer`: the MCP OAuth 2.1 authorization server on the platform's host,
//! so MCP clients (Claude.ai, Claude Code, any SDK) connect to a wiki without a pasted
//! token.
//!
//! RFC 8414 metadata, RFC 9728 protected-resource metadata per wiki (the resource is the
//! wiki's MCP URL), RFC 7591 registration of public clients, the authorization-code grant
//! with PKCE S256 only, exact redirect-URI matching, single-use codes that expire in a
//! minute, RS256 access tokens bound to user + wiki + audience, rotating refresh tokens
//! (a reused one revokes the grant) and RFC 7009 revocation. Reviewed against RFC 9700;
//! the choices are noted where they are made.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::auth::{self, AccessGrant, SessionKeys};
use crate::platform::{Grant, OAuthClient, Platform, Refused, Role, User, WikiRecord};
use crate::tenancy::{HostKind, Urls};

/// How long an access token lasts (short: revocation also checks the grant on every use).
pub const ACCESS_SECONDS: i64 = 3600;
/// How long an authorization code lasts.
pub const CODE_SECONDS: i64 = 60;
/// How long a refresh token lasts unused.
pub const REFRESH_SECONDS: i64 = 30 * 86_400;
/// The scopes a wiki's MCP endpoint knows.
pub const SCOPES: [&str; 2] = ["read", "write"];
/// The path of a wiki's protected-resource metadata.
pub const RESOURCE_METADATA_PATH: &str = "/.well-known/oauth-protected-resource";

/// An OAuth error, as RFC 6749 §5.2 names it, with a description saying what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {description}")]
pub struct OAuthError {
    pub code: &'static str,
    pub description: String,
}

impl OAuthError {
    pub fn new(code: &'static str, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
        }
    }

    /// The error as a JSON body.
    pub fn body(&self) -> Value {
        json!({"error": self.code, "error_description": self.description})
    }
}

fn invalid_request(d: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_request", d)
}
fn invalid_grant(d: impl Into<String>) -> OAuthError {
    OAuthError::new("invalid_grant", d)
}
fn server_error(e: impl std::fmt::Display) -> OAuthError {
    OAuthError::new("server_error", e.to_string())
}

/// A dynamic client registration request (RFC 7591 §2); unknown fields are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct Registration {
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    pub client_name: Option<String>,
    pub client_uri: Option<String>,
    pub grant_types: Option<Vec<String>>,
    pub response_types: Option<Vec<String>>,
    pub token_endpoint_auth_method: Option<String>,
    pub scope: Option<String>,
}

/// The parameters of an authorization request (query of GET, form of the consent POST).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct AuthorizeParams {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub state: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

/// An authorization request that names a registered client and one of its redirect URIs.
/// Errors past this point go back to the client by redirect; before it, never.
#[derive(Debug, Clone)]
pub struct ClientRedirect {
    pub client: OAuthClient,
    pub redirect_uri: String,
    pub state: Option<String>,
}

/// A fully valid authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizeRequest {
    pub target: ClientRedirect,
    pub challenge: String,
    pub wiki: WikiRecord,
    pub resource: String,
    pub scopes: Vec<&'static str>,
}

/// The token endpoint's form (RFC 6749 §4.1.3, §6).
#[derive(Debug, Default, Deserialize)]
pub struct TokenForm {
    pub grant_type: Option<String>,
    pub code: Option<String>,
    pub redirect_uri: Option<String>,
    pub client_id: Option<String>,
    pub code_verifier: Option<String>,
    pub refresh_token: Option<String>,
    pub resource: Option<String>,
    pub scope: Option<String>,
}

/// The token endpoint's answer.
#[derive(Debug, Serialize)]
pub struct TokenResponse {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub scope: String,
}

/// The MCP authorization server of a platform.
pub struct AuthorizationServer {
    platform: Arc<Platform>,
    keys: Arc<SessionKeys>,
    urls: Urls,
}

impl AuthorizationServer {
    pub fn new(platform: Arc<Platform>, keys: Arc<SessionKeys>, urls: Urls) -> Self {
        AuthorizationServer {
            platform,
            keys,
            urls,
        }
    }

    /// The issuer: the platform's own URL.
    pub fn issuer(&self) -> String {
        self.urls.apex()
    }

    /// RFC 8414 metadata.
    pub fn metadata(&self) -> Value {
        let issuer = self.issuer();
        json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/oauth/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "registration_endpoint": format!("{issuer}/oauth/register"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "scopes_supported": SCOPES,
            "authorization_response_iss_parameter_supported": true,
            "service_documentation": format!("{issuer}/"),
        })
    }

    /// The wiki's MCP URL: the resource its tokens are for.
    pub fn resource_of(&self, slug: &str) -> String {
        format!("{}{}", self.urls.wiki(slug), crate::mcp::PATH)
    }

    /// RFC 9728 metadata of wiki `slug`'s MCP endpoint.
    pub fn resource_metadata(&self, slug: &str, name: &str) -> Value {
        json!({
            "resource": self.resource_of(slug),
            "authorization_servers": [self.issuer()],
            "scopes_supported": SCOPES,
            "bearer_methods_supported": ["header"],
            "resource_name": name,
        })
    }

    /// Registers a public client (RFC 7591). Holt issues no client secrets: every client
    /// proves itself with PKCE, so a request for another auth method is answered with
    /// `none` (§3.2.1 lets the server replace requested metadata).
    pub fn register(&self, request: Registration) -> Result<Value, OAuthError> {
        let bad = |d: String| OAuthError::new("invalid_client_metadata", d);
        if request.redirect_uris.is_empty() || request.redirect_uris.len() > 10 {
            return Err(OAuthError::new(
                "invalid_redirect_uri",
                "give between one and ten redirect_uris",
            ));
        }
        for uri in &request.redirect_uris {
            check_redirect_uri(uri)
                .map_err(|d| OAuthError::new("invalid_redirect_uri", format!("{uri}: {d}")))?;
        }
        if let Some(grants) = &request.grant_types
            && let Some(other) = grants
                .iter()
                .find(|g| !matches!(g.as_str(), "authorization_code" | "refresh_token"))
        {
            return Err(bad(format!(
                "grant type '{other}' is not offered; use authorization_code and refresh_token"
            )));
        }
        if let Some(types) = &request.response_types
            && types.iter().any(|t| t != "code")
        {
            return Err(bad("only the 'code' response type is offered".into()));
        }
        let name = request
            .client_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .unwrap_or("An MCP client");
        if name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(bad(
                "client_name must be at most 100 characters, without control characters".into(),
            ));
        }
        let client_uri = match request.client_uri.as_deref() {
            Some(uri) if !(uri.starts_with("https://") || uri.starts_with("http://")) => {
                return Err(bad("client_uri must be an http(s) URL".into()));
            }
            other => other.map(str::to_string),
        };
        let client = OAuthClient {
            id: format!("mcp_{}", auth::random_id()),
            name: name.to_string(),
            redirect_uris: request.redirect_uris,
            client_uri,
        };
        self.platform
            .register_oauth_client(&client)
            .map_err(server_error)?;
        let scope = request.scope.filter(|s| {
            s.split_whitespace().all(|one| SCOPES.contains(&one)) && !s.trim().is_empty()
        });
        Ok(json!({
            "client_id": client.id,
            "client_id_issued_at": jiff::Timestamp::now().as_second(),
            "client_name": client.name,
            "client_uri": client.client_uri,
            "redirect_uris": client.redirect_uris,
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": "none",
            "scope": scope.unwrap_or_else(|| SCOPES.join(" ")),
        }))
    }

    /// Finds the client and the redirect URI to answer at. An unknown client or a redirect
    /// URI it did not register is told to the person, never redirected to (RFC 6749
    /// §4.1.2.1).
    pub fn client_redirect(&self, params: &AuthorizeParams) -> Result<ClientRedirect, String> {
        let id = params
            .client_id
            .as_deref()
            .ok_or("The request names no client (client_id is missing).")?;
        let client = self
            .platform
            .oauth_client(id)
            .map_err(|e| e.to_string())?
            .ok_or("The application asking is not registered here (unknown client_id).")?;
        let redirect_uri = match params.redirect_uri.as_deref() {
            Some(uri) if client.redirect_uris.iter().any(|r| r == uri) => uri.to_string(),
            Some(_) => {
                return Err("The application asked to be answered at an address it did not register (redirect_uri).".into());
            }
            None if client.redirect_uris.len() == 1 => client.redirect_uris[0].clone(),
            None => return Err("The request names no redirect_uri.".into()),
        };
        Ok(ClientRedirect {
            client,
            redirect_uri,
            state: params.state.clone(),
        })
    }

    /// Checks the rest of an authorization request for `target`.
    pub fn authorize_request(
        &self,
        target: ClientRedirect,
        params: &AuthorizeParams,
    ) -> Result<AuthorizeRequest, Box<(ClientRedirect, OAuthError)>> {
        let fail = |e: OAuthError| Box::new((target.clone(), e));
        if params.response_type.as_deref() != Some("code") {
            return Err(fail(OAuthError::new(
                "unsupported_response_type",
                "only response_type=code is offered",
            )));
        }
        let challenge = params.code_challenge.as_deref().unwrap_or_default();
        if challenge.is_empty() {
            return Err(fail(invalid_request(
                "PKCE is required: send code_challenge",
            )));
        }
        if params.code_challenge_method.as_deref() != Some("S256") {
            return Err(fail(invalid_request("code_challenge_method must be S256")));
        }
        if challenge.len() != 43
            || !challenge
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail(invalid_request(
                "code_challenge must be the base64url SHA-256 of the verifier (43 characters)",
            )));
        }
        let resource = params.resource.as_deref().unwrap_or_default();
        let wiki = self.wiki_of_resource(resource).map_err(&fail)?;
        let scopes = parse_scopes(params.scope.as_deref()).map_err(&fail)?;
        Ok(AuthorizeRequest {
            challenge: challenge.to_string(),
            resource: self.resource_of(&wiki.slug),
            wiki,
            scopes,
            target,
        })
    }

    /// The wiki whose MCP URL `resource` is (RFC 8707).
    fn wiki_of_resource(&self, resource: &str) -> Result<WikiRecord, OAuthError> {
        let target = |d: &str| OAuthError::new("invalid_target", d.to_string());
        if resource.is_empty() {
            return Err(target(
                "name the wiki's MCP URL as the resource parameter (RFC 8707)",
            ));
        }
        let authority = resource
            .split_once("://")
            .map(|(_, rest)| rest.split('/').next().unwrap_or_default())
            .unwrap_or_default();
        let HostKind::Wiki(slug) = self.urls.classify(authority) else {
            return Err(target("the resource is not a wiki on this platform"));
        };
        if resource != self.resource_of(&slug) {
            return Err(target(&format!(
                "the resource must be the wiki's MCP URL, {}",
                self.resource_of(&slug)
            )));
        }
        self.platform
            .wiki(&slug)
            .map_err(server_error)?
            .ok_or_else(|| target("there is no such wiki"))
    }

    /// The scopes `user` may grant on the request's wiki (empty: none at all).
    pub fn grantable(
        &self,
        request: &AuthorizeRequest,
        user: &User,
    ) -> Result<Vec<&'static str>, OAuthError> {
        let role = self
            .platform
            .role(&request.wiki, user.id)
            .map_err(server_error)?;
        let can_read = role.is_some() || request.wiki.public;
        let can_write = matches!(role, Some(Role::Owner | Role::Editor));
        Ok(request
            .scopes
            .iter()
            .copied()
            .filter(|s| match *s {
                "write" => can_write,
                _ => can_read,
            })
            .collect())
    }

    /// Records the user's consent; returns the code for the client.
    pub fn approve(
        &self,
        request: &AuthorizeRequest,
        user: &User,
        scopes: &[&str],
    ) -> Result<String, OAuthError> {
        let code = auth::random_secret();
        self.platform
            .create_grant(
                &request.target.client.id,
                user.id,
                request.wiki.id,
                &scopes.join(" "),
                &request.resource,
                &auth::token_hash(&code),
                &request.target.redirect_uri,
                &request.challenge,
                CODE_SECONDS,
            )
            .map_err(server_error)?;
        Ok(code)
    }

    /// Where to send the browser with an answer for the client.
    pub fn redirect(&self, target: &ClientRedirect, answer: &[(&str, &str)]) -> String {
        let mut url = target.redirect_uri.clone();
        let mut query = url::form_urlencoded_pairs(answer);
        if let Some(state) = &target.state {
            query.push_str(&format!("&state={}", url::encode(state)));
        }
        query.push_str(&format!("&iss={}", url::encode(&self.issuer())));
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query);
        url
    }

    /// Where to send the browser when access is denied, saying why.
    pub fn denied(&self, target: &ClientRedirect, why: &str) -> String {
        self.redirect(
            target,
            &[("error", "access_denied"), ("error_description", why)],
        )
    }

    /// The token endpoint.
    pub fn token(&self, form: TokenForm) -> Result<TokenResponse, OAuthError> {
        match form.grant_type.as_deref() {
            Some("authorization_code") => self.exchange_code(form),
            Some("refresh_token") => self.refresh(form),
            Some(other) => Err(OAuthError::new(
                "unsupported_grant_type",
                format!("grant_type '{other}' is not offered"),
            )),
            None => Err(invalid_request("grant_type is missing")),
        }
    }

    fn exchange_code(&self, form: TokenForm) -> Result<TokenResponse, OAuthError> {
        let code = form
            .code
            .as_deref()
            .ok_or_else(|| invalid_request("code is missing"))?;
        let client_id = form
            .client_id
            .as_deref()
            .ok_or_else(|| invalid_request("client_id is missing"))?;
        let verifier = form
            .code_verifier
            .as_deref()
            .ok_or_else(|| invalid_request("code_verifier is missing (PKCE is required)"))?;
        let redeemed = match self
            .platform
            .redeem_code(&auth::token_hash(code))
            .map_err(server_error)?
        {
            Ok(redeemed) => redeemed,
            Err(Refused::Replayed) => {
                return Err(invalid_grant(
                    "the code was already used; every token it gave is now revoked",
                ));
            }
            Err(Refused::Expired) => return Err(invalid_grant("the code has expired")),
            Err(_) => return Err(invalid_grant("the code is not valid")),
        };
        let grant = &redeemed.grant;
        // The code is spent whatever happens next: a wrong guess cannot be retried.
        if grant.client_id != client_id {
            return Err(invalid_grant("the code was issued to another client"));
        }
        // RFC 6749 §4.1.3: the redirect URI must be repeated if the request named it; a
        // client with a single registered URI may leave it out of both.
        let redirect_ok = match form.redirect_uri.as_deref() {
            Some(uri) => uri == redeemed.redirect_uri,
            None => self
                .platform
                .oauth_client(&grant.client_id)
                .map_err(server_error)?
                .is_some_and(|c| c.redirect_uris == [redeemed.redirect_uri.clone()]),
        };
        if !redirect_ok {
            return Err(invalid_grant(
                "redirect_uri must be the one of the authorization request",
            ));
        }
        if !verifier_matches(verifier, &redeemed.challenge) {
            return Err(invalid_grant(
                "the code_verifier does not match the code_challenge",
            ));
        }
        if let Some(resource) = form.resource.as_deref()
            && resource != grant.resource
        {
            return Err(OAuthError::new(
                "invalid_target",
                format!("this grant is for {}", grant.resource),
            ));
        }
        self.issue(grant, &grant.scope)
    }

    fn refresh(&self, form: TokenForm) -> Result<TokenResponse, OAuthError> {
        let token = form
            .refresh_token
            .as_deref()
            .ok_or_else(|| invalid_request("refresh_token is missing"))?;
        let next = auth::random_secret();
        let grant = match self
            .platform
            .rotate_refresh(
                &auth::token_hash(token),
                &auth::token_hash(&next),
                REFRESH_SECONDS,
            )
            .map_err(server_error)?
        {
            Ok(grant) => grant,
            Err(Refused::Replayed) => {
                return Err(invalid_grant(
                    "the refresh token was already used; the grant is revoked, authorize again",
                ));
            }
            Err(Refused::Expired) => return Err(invalid_grant("the refresh token has expired")),
            Err(Refused::Revoked) => return Err(invalid_grant("the grant was revoked")),
            Err(Refused::Unknown) => return Err(invalid_grant("the refresh token is not valid")),
        };
        if form.client_id.as_deref() != Some(grant.client_id.as_str()) {
            let _ = self.platform.revoke_grant(grant.id);
            return Err(invalid_grant(
                "the refresh token was issued to another client",
            ));
        }
        // A narrower scope may be asked for; never a wider one (RFC 6749 §6).
        let scope = match form.scope.as_deref().filter(|s| !s.trim().is_empty()) {
            None => grant.scope.clone(),
            Some(asked) => {
                let held: Vec<&str> = grant.scope.split_whitespace().collect();
                if asked.split_whitespace().any(|s| !held.contains(&s)) {
                    return Err(OAuthError::new(
                        "invalid_scope",
                        format!("the grant holds only '{}'", grant.scope),
                    ));
                }
                asked.split_whitespace().collect::<Vec<_>>().join(" ")
            }
        };
        self.issue_with_refresh(&grant, &scope, next)
    }

    fn issue(&self, grant: &Grant, scope: &str) -> Result<TokenResponse, OAuthError> {
        let refresh = auth::random_secret();
        self.platform
            .store_refresh(&auth::token_hash(&refresh), grant.id, REFRESH_SECONDS)
            .map_err(server_error)?;
        self.issue_with_refresh(grant, scope, refresh)
    }

    fn issue_with_refresh(
        &self,
        grant: &Grant,
        scope: &str,
        refresh: String,
    ) -> Result<TokenResponse, OAuthError> {
        let access = self.keys.issue_access(
            &AccessGrant {
                grant_id: grant.id,
                user: grant.user_id,
                wiki: grant.wiki_slug.clone(),
                resource: grant.resource.clone(),
                scope: scope.to_string(),
                client_id: grant.client_id.clone(),
            },
            ACCESS_SECONDS,
        );
        Ok(TokenResponse {
            access_token: access,
            token_type: "Bearer",
            expires_in: ACCESS_SECONDS,
            refresh_token: refresh,
            scope: scope.to_string(),
        })
    }

    /// RFC 7009: ends the grant a refresh or access token belongs to. Unknown tokens are
    /// not an error (the answer must not tell a guesser anything).
    pub fn revoke(&self, token: &str) -> Result<(), OAuthError> {
        if self
            .platform
            .revoke_grant_of_refresh(&auth::token_hash(token))
            .map_err(server_error)?
        {
            return Ok(());
        }
        if let Some(claims) = self.keys.peek_access(token) {
            self.platform
                .revoke_grant(claims.gid)
                .map_err(server_error)?;
        }
        Ok(())
    }
}

/// Checks an access token presented at wiki `record`'s MCP endpoint: signature, issuer,
/// audience, expiry, and that its grant still stands for this user and wiki.
pub fn verify_access(
    platform: &Platform,
    keys: &SessionKeys,
    record: &WikiRecord,
    resource: &str,
    jwt: &str,
) -> Result<(User, Vec<String>), String> {
    let claims = keys
        .verify_access(jwt, resource)
        .map_err(|e| format!("the access token is not valid here ({e})"))?;
    let grant = platform
        .grant(claims.gid)
        .map_err(|e| e.to_string())?
        .filter(|g| !g.revoked)
        .ok_or("the access token's grant was revoked")?;
    if grant.wiki_id != record.id
        || claims.wiki != record.slug
        || grant.user_id.to_string() != claims.sub
    {
        return Err("the access token is for another wiki".into());
    }
    let user = platform
        .user(grant.user_id)
        .map_err(|e| e.to_string())?
        .ok_or("the access token's user is gone")?;
    let scopes = claims
        .scope
        .split_whitespace()
        .filter(|s| grant.scope.split_whitespace().any(|g| g == *s))
        .map(str::to_string)
        .collect();
    Ok((user, scopes))
}

/// PKCE S256 (RFC 7636 §4.6), compared in constant time.
fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let valid = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !valid {
        return false;
    }
    let computed = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        Sha256::digest(verifier.as_bytes()),
    );
    computed.len() == challenge.len()
        && computed
            .bytes()
            .zip(challenge.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

/// Requested scopes; none named means all (the person still chooses at consent).
fn parse_scopes(scope: Option<&str>) -> Result<Vec<&'static str>, OAuthError> {
    let asked: Vec<&str> = scope.unwrap_or_default().split_whitespace().collect();
    if asked.is_empty() {
        return Ok(SCOPES.to_vec());
    }
    let mut scopes = Vec::new();
    for s in asked {
        let known = SCOPES.iter().find(|k| **k == s).ok_or_else(|| {
            OAuthError::new(
                "invalid_scope",
                format!("unknown scope '{s}'; the scopes are read and write"),
            )
        })?;
        if !scopes.contains(known) {
            scopes.push(*known);
        }
    }
    Ok(scopes)
}

/// A redirect URI a client may register: https, http on a loopback address (RFC 8252 §7.3),
/// or an app's private-use scheme (§7.1); absolute, without a fragment.
fn check_redirect_uri(uri: &str) -> Result<(), &'static str> {
    if uri.contains('#') {
        return Err("a redirect URI cannot have a fragment");
    }
    let Some((scheme, rest)) = uri.split_once(':') else {
        return Err("a redirect URI must be absolute");
    };
    match scheme.to_ascii_lowercase().as_str() {
        "https" => rest
            .strip_prefix("//")
            .filter(|r| !r.is_empty() && !r.starts_with('/'))
            .map(|_| ())
            .ok_or("an https redirect URI needs a host"),
        "http" => {
            let authority = rest
                .strip_prefix("//")
                .and_then(|r| r.split(['/', '?']).next())
                .unwrap_or_default();
            let host = authority
                .rsplit_once(':')
                .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
                .map_or(authority, |(host, _)| host);
            if matches!(host, "127.0.0.1" | "[::1]" | "localhost") {
                Ok(())
            } else {
                Err("plain http is allowed only to a loopback address")
            }
        }
        "javascript" | "data" | "file" | "vbscript" | "about" | "blob" => {
            Err("that scheme cannot be a redirect URI")
        }
        s if s.contains('.')
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+')) =>
        {
            Ok(())
        }
        _ => Err("use https, http to a loopback address, or a reverse-DNS app scheme"),
    }
}

/// Form-encoding for redirect answers.
mod url {
    pub fn encode(s: &str) -> String {
        percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    pub fn form_urlencoded_pairs(pairs: &[(&str, &str)]) -> String {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", encode(v)))
            .collect::<Vec<_>>()
            .join("&")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_s256_matches_only_the_right_verifier() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(verifier_matches(verifier, challenge));
        assert!(!verifier_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK",
            challenge
        ));
        assert!(!verifier_matches(challenge, challenge));
        assert!(!verifier_matches("short", challenge));
    }

    #[test]
    fn redirect_uris_are_https_loopback_or_app_schemes() {
        for ok in [
            "https://claude.ai/api/mcp/auth_callback",
            "http://127.0.0.1:33418/callback",
            "http://localhost:8080/cb",
            "http://[::1]:9/cb",
            "com.example.app:/oauth",
        ] {
            assert!(check_redirect_uri(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://evil.example/cb",
            "http://127.0.0.1.evil.example/cb",
            "https://claude.ai/cb#frag",
            "javascript:alert(1)",
            "/relative",
            "https:///nohost",
            "myapp:/x",
        ] {
            assert!(check_redirect_uri(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn scopes_are_read_and_write_only() {
        assert_eq!(parse_scopes(None).unwrap(), vec!["read", "write"]);
        assert_eq!(
            parse_scopes(Some("write read write")).unwrap(),
            vec!["write", "read"]
        );
        assert_eq!(
            parse_scopes(Some("admin")).unwrap_err().code,
            "invalid_scope"
        );
    }
}

//! `AtprotoSignIn`: "Sign in with Bluesky". Holt is a confidential ATProto OAuth client
//! (atrium-oauth: PAR, PKCE S256, DPoP with server nonces, `private_key_jwt`).
//!
//! A sign-in: handle → DID (DNS TXT or https well-known, or a configured resolver service)
//! → DID document (PLC directory or did:web), which must name the handle back → PDS → its
//! authorization server → PAR → the visitor consents there → callback. The callback is
//! accepted only from the browser that started the sign-in (a cookie holds the key), only
//! with the `state` and `iss` the client expects, and only if the token's subject is the
//! DID that was resolved. The client's ES256 key is generated under `<data>/keys/`.

mod http;
mod store;

use std::path::Path;
use std::sync::Arc;

use atrium_api::agent::SessionManager as _;
use atrium_api::did_doc::DidDocument;
use atrium_api::types::string::{Did, Handle};
use atrium_common::resolver::Resolver;
use atrium_identity::did::{CommonDidResolver, CommonDidResolverConfig};
use atrium_identity::handle::{
    AppViewHandleResolver, AppViewHandleResolverConfig, AtprotoHandleResolver,
    AtprotoHandleResolverConfig, DnsTxtResolver,
};
use atrium_oauth::{
    AtprotoClientMetadata, AuthMethod, AuthorizeOptions, CallbackParams, GrantType, KnownScope,
    OAuthClient, OAuthClientConfig, OAuthResolverConfig, Scope,
};
use jose_jwk::{Jwk, Key, Parameters};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub use http::PeerHttp;
pub use store::PENDING_FOR;
use store::{PendingSignIns, SessionTable};

use crate::config::AtprotoSettings;
use crate::platform::Platform;

/// The path of the client metadata document on the platform's host (it is the `client_id`).
pub const CLIENT_METADATA_PATH: &str = "/auth/client-metadata.json";
/// The path of the client's public keys.
pub const JWKS_PATH: &str = "/auth/jwks.json";
/// Where authorization servers send the visitor back.
pub const CALLBACK_PATH: &str = "/auth/callback";
/// The cookie that ties a sign-in under way to the browser that started it.
pub const SIGN_IN_COOKIE: &str = "holt_signin";

/// Why a sign-in could not start or finish. Each says what the visitor can do.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    #[error("'{0}' is not a handle (like alice.bsky.social) or a DID.")]
    BadInput(String),
    #[error("Could not find the account '{input}': {reason}")]
    Unresolved { input: String, reason: String },
    #[error("Your server refused the sign-in: {0}")]
    Refused(String),
    #[error("The sign-in was cancelled at your server{}.", .0.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied(Option<String>),
    #[error("This sign-in was not started in this browser, or has expired. Sign in again.")]
    StateMismatch,
    #[error("sign-in keys in {path}: {message}")]
    Keys { path: String, message: String },
    #[error("sign-in set-up: {0}")]
    Setup(String),
}

/// Someone who just proved they hold an ATProto account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    pub did: String,
    pub handle: String,
    pub display_name: String,
    pub return_to: String,
}

/// What the callback reads from the query string.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub iss: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// What Holt remembers about a sign-in under way (kept server-side with the OAuth state).
#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    browser: String,
    did: String,
    handle: String,
    pds: String,
    return_to: String,
}

type Dids = CommonDidResolver<PeerHttp>;
type Client = OAuthClient<PendingSignIns, SessionTable, Dids, Handles, PeerHttp>;

/// The ATProto sign-in of a platform.
pub struct AtprotoSignIn {
    client: Client,
    pending: PendingSignIns,
    dids: Dids,
    handles: Handles,
    http: Arc<PeerHttp>,
    metadata: serde_json::Value,
}

impl AtprotoSignIn {
    /// Sets up the client whose `client_id` is `<apex>/auth/client-metadata.json`.
    pub fn new(
        settings: &AtprotoSettings,
        apex: &str,
        key_dir: &Path,
        platform: Arc<Platform>,
    ) -> Result<Self, SignInError> {
        let setup = |e: &dyn std::fmt::Display| SignInError::Setup(e.to_string());
        let key = client_key(key_dir)?;
        let http = || PeerHttp::new(settings.allow_http).map_err(|e| setup(&e));
        let shared = Arc::new(http()?);
        let dids = || {
            CommonDidResolver::new(CommonDidResolverConfig {
                plc_directory_url: settings.plc_url.trim_end_matches('/').to_string(),
                http_client: shared.clone(),
            })
        };
        let handles = || Handles::new(settings.handle_resolver.as_deref(), shared.clone());
        let pending = PendingSignIns::default();
        let client_metadata = AtprotoClientMetadata {
            client_id: format!("{apex}{CLIENT_METADATA_PATH}"),
            client_uri: Some(apex.to_string()),
            redirect_uris: vec![format!("{apex}{CALLBACK_PATH}")],
            token_endpoint_auth_method: AuthMethod::PrivateKeyJwt,
            grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
            scopes: vec![Scope::Known(KnownScope::Atproto)],
            jwks_uri: Some(format!("{apex}{JWKS_PATH}")),
            token_endpoint_auth_signing_alg: Some("ES256".into()),
        };
        let client = OAuthClient::new(OAuthClientConfig {
            client_metadata,
            keys: Some(vec![key]),
            state_store: pending.clone(),
            session_store: SessionTable { platform },
            resolver: OAuthResolverConfig {
                did_resolver: dids(),
                handle_resolver: handles(),
                authorization_server_metadata: Default::default(),
                protected_resource_metadata: Default::default(),
            },
            http_client: http()?,
        })
        .map_err(|e| setup(&e))?;
        // The metadata document as authorization servers expect it (the crate's type lacks
        // the name, application type and response types).
        let mut metadata = serde_json::to_value(&client.client_metadata).map_err(|e| setup(&e))?;
        if let Some(fields) = metadata.as_object_mut() {
            fields.insert("client_name".into(), settings.client_name.clone().into());
            fields.insert("application_type".into(), "web".into());
            fields.insert("response_types".into(), serde_json::json!(["code"]));
        }
        Ok(AtprotoSignIn {
            client,
            pending,
            dids: dids(),
            handles: handles(),
            http: shared,
            metadata,
        })
    }

    /// The client metadata document (served at the `client_id`).
    pub fn client_metadata(&self) -> &serde_json::Value {
        &self.metadata
    }

    /// The client's public keys (for `private_key_jwt`).
    pub fn jwks(&self) -> serde_json::Value {
        serde_json::to_value(self.client.jwks()).unwrap_or_default()
    }

    /// Starts signing in `input` (a handle or DID); returns where to send the browser.
    /// `browser` is the key of the cookie set on the browser that asked.
    pub async fn begin(
        &self,
        input: &str,
        browser: &str,
        return_to: &str,
    ) -> Result<String, SignInError> {
        let input = input.trim().trim_start_matches('@');
        let (did, handle, pds) = self.resolve(input).await?;
        let pending = Pending {
            browser: browser.to_string(),
            did: did.clone(),
            handle,
            pds,
            return_to: return_to.to_string(),
        };
        let options = AuthorizeOptions {
            scopes: vec![Scope::Known(KnownScope::Atproto)],
            state: Some(serde_json::to_string(&pending).unwrap_or_default()),
            ..Default::default()
        };
        self.client
            .authorize(&did, options)
            .await
            .map_err(|e| SignInError::Refused(e.to_string()))
    }

    /// Finishes a sign-in at the callback, in the browser whose cookie key is `browser`.
    pub async fn finish(
        self: &Arc<Self>,
        query: CallbackQuery,
        browser: Option<&str>,
    ) -> Result<SignedIn, SignInError> {
        let state = query.state.clone().ok_or(SignInError::StateMismatch)?;
        let pending: Pending = self
            .pending
            .peek(&state)
            .and_then(|app| serde_json::from_str(&app).ok())
            .ok_or(SignInError::StateMismatch)?;
        // Only the browser that started the sign-in may finish it (no login CSRF).
        if browser != Some(pending.browser.as_str()) {
            return Err(SignInError::StateMismatch);
        }
        if let Some(error) = query.error {
            let _ = atrium_common::store::Store::del(&self.pending, &state).await;
            return Err(if error == "access_denied" {
                SignInError::Denied(query.error_description)
            } else {
                SignInError::Refused(query.error_description.unwrap_or(error))
            });
        }
        let code = query
            .code
            .ok_or_else(|| SignInError::Refused("the answer carried no code".into()))?;
        let params = CallbackParams {
            code,
            state: Some(state),
            iss: query.iss,
        };
        // The crate panics (`todo!()`) when the code exchange fails: contain it to this task.
        let this = self.clone();
        let session = tokio::spawn(async move {
            let (session, _) = this.client.callback(params).await?;
            Ok::<_, atrium_oauth::Error>(session.did().await)
        })
        .await
        .map_err(|_| SignInError::Refused("the code could not be exchanged for a token".into()))?
        .map_err(|e| SignInError::Refused(e.to_string()))?;
        if session.as_ref().map(|d| d.as_str()) != Some(pending.did.as_str()) {
            return Err(SignInError::Refused(
                "the server signed in another account than the one asked for".into(),
            ));
        }
        let display_name = self
            .display_name(&pending.pds, &pending.did)
            .await
            .unwrap_or_else(|| pending.handle.clone());
        Ok(SignedIn {
            did: pending.did,
            handle: pending.handle,
            display_name,
            return_to: pending.return_to,
        })
    }

    /// Ends the ATProto session Holt holds for `did` (best effort: the PDS may be gone).
    pub async fn revoke(&self, did: &str) {
        if let Ok(did) = did.parse::<Did>()
            && let Err(e) = self.client.revoke(&did).await
        {
            tracing::debug!(%e, "revoking the ATProto session");
        }
    }

    /// Resolves a handle or DID to (DID, verified handle, PDS URL).
    async fn resolve(&self, input: &str) -> Result<(String, String, String), SignInError> {
        let unresolved = |reason: String| SignInError::Unresolved {
            input: input.to_string(),
            reason,
        };
        let (did, document, handle, handle_points_here) = if input.starts_with("did:") {
            let did = input
                .parse::<Did>()
                .map_err(|_| SignInError::BadInput(input.to_string()))?;
            let document = self.document(&did).await.map_err(unresolved)?;
            let handle = document
                .also_known_as
                .iter()
                .flatten()
                .find_map(|aka| aka.strip_prefix("at://"))
                .map(str::to_ascii_lowercase)
                .ok_or_else(|| unresolved("the DID document names no handle".into()))?;
            let points_here = match handle.parse::<Handle>() {
                Ok(h) => self.handles.resolve(&h).await.ok().as_ref() == Some(&did),
                Err(_) => false,
            };
            (did, document, handle, points_here)
        } else {
            let handle = input
                .to_ascii_lowercase()
                .parse::<Handle>()
                .map_err(|_| SignInError::BadInput(input.to_string()))?;
            let did = self
                .handles
                .resolve(&handle)
                .await
                .map_err(|e| unresolved(format!("the handle does not resolve ({e})")))?;
            let document = self.document(&did).await.map_err(unresolved)?;
            (did, document, handle.as_str().to_string(), true)
        };
        // The handle must point at the DID, and the DID's document back at the handle.
        let claimed = document
            .also_known_as
            .iter()
            .flatten()
            .any(|aka| aka.eq_ignore_ascii_case(&format!("at://{handle}")));
        if !claimed || !handle_points_here {
            return Err(unresolved(format!(
                "the handle '{handle}' and the account's DID document do not name each other"
            )));
        }
        let pds = document
            .get_pds_endpoint()
            .ok_or_else(|| unresolved("the DID document names no PDS".into()))?;
        Ok((did.as_str().to_string(), handle, pds))
    }

    async fn document(&self, did: &Did) -> Result<DidDocument, String> {
        self.dids
            .resolve(did)
            .await
            .map_err(|e| format!("the DID document could not be read ({e})"))
    }

    /// The display name in the account's Bluesky profile, if it has one.
    async fn display_name(&self, pds: &str, did: &str) -> Option<String> {
        let mut url = reqwest::Url::parse(pds)
            .ok()?
            .join("/xrpc/com.atproto.repo.getRecord")
            .ok()?;
        url.query_pairs_mut()
            .append_pair("repo", did)
            .append_pair("collection", "app.bsky.actor.profile")
            .append_pair("rkey", "self");
        let request = atrium_xrpc::http::Request::get(url.as_str())
            .body(Vec::new())
            .ok()?;
        let response = atrium_xrpc::HttpClient::send_http(self.http.as_ref(), request)
            .await
            .ok()?;
        if !response.status().is_success() {
            return None;
        }
        let record: serde_json::Value = serde_json::from_slice(response.body()).ok()?;
        let name = record["value"]["displayName"].as_str()?.trim();
        (!name.is_empty()).then(|| name.chars().take(64).collect())
    }
}

/// Handle resolution: DNS TXT then https well-known, or one configured service.
pub enum Handles {
    Standard(Box<AtprotoHandleResolver<Dns, PeerHttp>>),
    Service(AppViewHandleResolver<PeerHttp>),
}

impl Handles {
    fn new(service: Option<&str>, http: Arc<PeerHttp>) -> Self {
        match service {
            Some(url) => {
                Handles::Service(AppViewHandleResolver::new(AppViewHandleResolverConfig {
                    service_url: url.trim_end_matches('/').to_string(),
                    http_client: http,
                }))
            }
            None => Handles::Standard(Box::new(AtprotoHandleResolver::new(
                AtprotoHandleResolverConfig {
                    dns_txt_resolver: Dns::system(),
                    http_client: http,
                },
            ))),
        }
    }
}

impl Resolver for Handles {
    type Input = Handle;
    type Output = Did;
    type Error = atrium_identity::Error;

    async fn resolve(&self, handle: &Handle) -> Result<Did, atrium_identity::Error> {
        match self {
            Handles::Standard(resolver) => resolver.resolve(handle).await,
            Handles::Service(resolver) => resolver.resolve(handle).await,
        }
    }
}

/// DNS TXT lookups (`_atproto.<handle>`) through the system's resolver, where there is one.
pub struct Dns(Option<hickory_resolver::TokioResolver>);

impl Dns {
    fn system() -> Self {
        Dns(hickory_resolver::TokioResolver::builder_tokio()
            .ok()
            .map(|builder| builder.build()))
    }
}

impl DnsTxtResolver for Dns {
    async fn resolve(
        &self,
        query: &str,
    ) -> Result<Vec<String>, Box<dyn std::error::Error + Send + Sync + 'static>> {
        let Some(resolver) = &self.0 else {
            return Err("no DNS resolver is configured on this machine".into());
        };
        Ok(resolver
            .txt_lookup(query)
            .await?
            .iter()
            .map(|txt| txt.to_string())
            .collect())
    }
}

/// Loads the client's ES256 key from `dir`, generating it on first use.
fn client_key(dir: &Path) -> Result<Jwk, SignInError> {
    use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
    let path = dir.join("atproto-client-es256.pem");
    let fail = |message: String| SignInError::Keys {
        path: path.display().to_string(),
        message,
    };
    let secret = if path.exists() {
        let pem = std::fs::read_to_string(&path).map_err(|e| fail(e.to_string()))?;
        p256::SecretKey::from_pkcs8_pem(&pem).map_err(|e| fail(e.to_string()))?
    } else {
        std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        let secret = p256::SecretKey::random(&mut p256::elliptic_curve::rand_core::OsRng);
        let pem = secret
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| fail(e.to_string()))?;
        crate::auth::write_private(&path, pem.as_bytes()).map_err(|e| fail(e.to_string()))?;
        tracing::info!(path = %path.display(), "generated the ATProto client key");
        secret
    };
    // A key id derived from the public key stays the same across restarts.
    let public = secret.public_key().to_sec1_bytes();
    let kid = base64::Engine::encode(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        &Sha256::digest(&public)[..12],
    );
    Ok(Jwk {
        key: Key::from(&secret.into()),
        prm: Parameters {
            kid: Some(kid),
            ..Default::default()
        },
    })
}

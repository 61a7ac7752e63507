//! The MCP OAuth 2.1 authorization server, end to end over real HTTP: discovery from the MCP
//! endpoint's 401, registration, consent, the code exchange with PKCE, refresh rotation,
//! revocation and signing out everywhere; and the attacks each step must refuse (forged,
//! expired and misdirected tokens, replayed codes, bad verifiers, unregistered redirect URIs,
//! tampered consent). Every refusal is also checked to have granted nothing.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::hosts::{Platform, Send, Who};
use crate::mcp::MCP_HEADERS;
use crate::util::Resp;

/// The redirect URI the test client registers (a loopback address, as native apps use).
const CALLBACK: &str = "http://127.0.0.1:9/cb";

/// The MCP tools that write (the mcp-tools plugin's catalog).
const WRITE_TOOLS: &[&str] = &[
    "write_note",
    "edit_note",
    "append_note",
    "edit_section",
    "revert_note",
    "rename_note",
    "delete_note",
    "upload_attachment",
    "delete_attachment",
];

/// A PKCE verifier and its S256 challenge.
#[derive(Clone)]
struct Pkce {
    verifier: String,
    challenge: String,
}

impl Pkce {
    fn new() -> Pkce {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("random bytes");
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}

/// An authorization request's parameters, as a client would send them.
#[derive(Clone)]
struct Authorize {
    client_id: String,
    redirect_uri: String,
    pkce: Pkce,
    method: String,
    resource: String,
    scope: String,
    state: String,
}

impl Authorize {
    fn params(&self) -> Vec<(&'static str, String)> {
        vec![
            ("response_type", "code".into()),
            ("client_id", self.client_id.clone()),
            ("redirect_uri", self.redirect_uri.clone()),
            ("state", self.state.clone()),
            ("code_challenge", self.pkce.challenge.clone()),
            ("code_challenge_method", self.method.clone()),
            ("resource", self.resource.clone()),
            ("scope", self.scope.clone()),
        ]
    }

    /// `/oauth/authorize?…`.
    fn path(&self) -> String {
        let url =
            reqwest::Url::parse_with_params("http://localhost/oauth/authorize", self.params())
                .expect("authorize URL");
        format!("/oauth/authorize?{}", url.query().unwrap_or_default())
    }
}

/// What the token endpoint gave.
#[derive(Debug, Clone)]
struct Tokens {
    access: String,
    refresh: String,
    scope: String,
}

impl Tokens {
    fn of(resp: &Resp) -> Tokens {
        assert_eq!(resp.status, 200, "token endpoint: {}", resp.body);
        let json = json_of(resp);
        assert_eq!(json["token_type"], "Bearer", "{json}");
        assert!(json["expires_in"].as_i64().unwrap_or(0) > 0, "{json}");
        Tokens {
            access: json["access_token"].as_str().expect("access_token").into(),
            refresh: json["refresh_token"]
                .as_str()
                .expect("refresh_token")
                .into(),
            scope: json["scope"].as_str().expect("scope").into(),
        }
    }
}

/// A platform where alice is signed in and owns the private wiki `notes` (and may own more).
struct World {
    p: Platform,
    alice: Who,
}

impl World {
    fn start() -> World {
        let p = Platform::start_with_config("[platform]\nwikis_per_user = 5\n");
        let alice = Who::Session(p.sign_in("alice"));
        p.create_wiki(&alice, "notes", false);
        World { p, alice }
    }

    /// The platform's URL: the authorization server's issuer.
    fn apex(&self) -> String {
        format!("http://localhost:{}", self.p.port)
    }

    /// Wiki `slug`'s MCP URL: the resource its tokens are for.
    fn resource(&self, slug: &str) -> String {
        format!("{}/mcp", self.p.wiki_url(slug))
    }

    /// Registers a public client with `redirect_uris`; its client_id.
    fn register(&self, redirect_uris: &[&str]) -> String {
        let resp = self.register_raw(Send::Json(
            json!({"redirect_uris": redirect_uris, "client_name": "Test client"}),
        ));
        assert_eq!(resp.status, 201, "registering: {}", resp.body);
        let json = json_of(&resp);
        assert_eq!(json["token_endpoint_auth_method"], "none", "{json}");
        json["client_id"].as_str().expect("client_id").to_string()
    }

    fn register_raw(&self, body: Send) -> Resp {
        self.p
            .send(Method::POST, "", "/oauth/register", &Who::Nobody, body)
    }

    /// A request for `scope` on wiki `slug` by `client_id`, answered at [`CALLBACK`].
    fn request(&self, client_id: &str, slug: &str, scope: &str) -> Authorize {
        Authorize {
            client_id: client_id.to_string(),
            redirect_uri: CALLBACK.to_string(),
            pkce: Pkce::new(),
            method: "S256".into(),
            resource: self.resource(slug),
            scope: scope.to_string(),
            state: format!("state-{}", Pkce::new().verifier),
        }
    }

    fn authorize_get(&self, who: &Who, request: &Authorize) -> Resp {
        self.p.get("", &request.path(), who)
    }

    /// The consent page for `request` as `who`; its text and the form's fields.
    fn consent(&self, who: &Who, request: &Authorize) -> (String, Vec<(String, String)>) {
        let resp = self.authorize_get(who, request);
        assert_eq!(
            resp.status, 200,
            "consent page: {:?} {}",
            resp.location, resp.body
        );
        let doc = crate::util::html(&resp.body);
        let title = scraper::Selector::parse("h1").expect("selector");
        let heading = doc
            .select(&title)
            .map(|h| h.text().collect::<String>())
            .next()
            .unwrap_or_default();
        let inputs =
            scraper::Selector::parse(r#"form[action="/oauth/authorize"] input"#).expect("selector");
        let fields: Vec<(String, String)> = doc
            .select(&inputs)
            .filter_map(|input| {
                let name = input.value().attr("name")?;
                Some((
                    name.to_string(),
                    input.value().attr("value").unwrap_or_default().to_string(),
                ))
            })
            .collect();
        assert!(
            fields.iter().any(|(name, _)| name == "consent"),
            "the consent form carries its token: {fields:?}"
        );
        (
            heading.split_whitespace().collect::<Vec<_>>().join(" "),
            fields,
        )
    }

    /// Posts the consent form with `decision`, from the platform's own origin.
    fn decide(&self, who: &Who, fields: &[(String, String)], decision: &str) -> Resp {
        let mut form = fields.to_vec();
        form.push(("decision".into(), decision.into()));
        let origin = self.apex();
        self.p.send_with(
            Method::POST,
            "",
            "/oauth/authorize",
            who,
            &[("Origin", origin.as_str())],
            Send::Form(form),
        )
    }

    /// Has `who` allow `request`; the code the client gets (state and iss checked).
    fn code(&self, who: &Who, request: &Authorize) -> String {
        let (_, fields) = self.consent(who, request);
        let resp = self.decide(who, &fields, "allow");
        let answer = self.answer(&resp, request);
        assert!(!answer.contains_key("error"), "{answer:?}");
        answer.get("code").expect("a code").clone()
    }

    /// The query of a redirect to the client, which must go to its redirect URI and carry
    /// the request's state and the issuer.
    fn answer(&self, resp: &Resp, request: &Authorize) -> HashMap<String, String> {
        assert_eq!(resp.status, 303, "{}", resp.body);
        let location = resp.location.as_deref().expect("a redirect");
        assert!(
            location.starts_with(&format!("{}?", request.redirect_uri)),
            "answers at the registered redirect URI: {location}"
        );
        let query = query_of(location);
        assert_eq!(query.get("state"), Some(&request.state), "{location}");
        assert_eq!(query.get("iss"), Some(&self.apex()), "{location}");
        query
    }

    fn token(&self, form: &[(&str, &str)]) -> Resp {
        let form = form
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.p.send(
            Method::POST,
            "",
            "/oauth/token",
            &Who::Nobody,
            Send::Form(form),
        )
    }

    fn exchange(&self, request: &Authorize, code: &str) -> Resp {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &request.redirect_uri),
            ("client_id", &request.client_id),
            ("code_verifier", &request.pkce.verifier),
        ])
    }

    fn refresh(&self, client_id: &str, refresh: &str) -> Resp {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh),
            ("client_id", client_id),
        ])
    }

    fn revoke(&self, token: &str) -> Resp {
        self.p
            .post_form("", "/oauth/revoke", &Who::Nobody, &[("token", token)])
    }

    /// Registers a client, has `who` allow it `scope` on `slug`, and exchanges the code.
    fn connect(&self, who: &Who, slug: &str, scope: &str) -> (Authorize, Tokens) {
        let client_id = self.register(&[CALLBACK]);
        let request = self.request(&client_id, slug, scope);
        let code = self.code(who, &request);
        let tokens = Tokens::of(&self.exchange(&request, &code));
        (request, tokens)
    }

    /// Posts a JSON-RPC message to wiki `slug`'s MCP endpoint with `token`.
    fn mcp(&self, slug: &str, token: &str, body: Value) -> Resp {
        self.p.send_with(
            Method::POST,
            slug,
            "/mcp",
            &Who::Token(token.to_string()),
            MCP_HEADERS,
            Send::Raw(Some("application/json"), body.to_string().into_bytes()),
        )
    }

    /// `tools/list` with `token` on `slug`, which must work; the tools' names.
    fn tools(&self, slug: &str, token: &str) -> Vec<String> {
        let resp = self.mcp(
            slug,
            token,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        );
        assert_eq!(resp.status, 200, "tools/list: {}", resp.body);
        let reply = json_of(&resp);
        reply["result"]["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("tools in {reply}"))
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_string))
            .collect()
    }

    /// Asserts that `token` gets nothing from wiki `slug`'s MCP endpoint: a 401 with an
    /// `invalid_token` challenge, and no tool list.
    fn refused_at_mcp(&self, slug: &str, token: &str, what: &str) {
        let resp = self.mcp(
            slug,
            token,
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
        );
        assert_eq!(resp.status, 401, "{what}: {}", resp.body);
        assert!(!resp.body.contains("read_note"), "{what}: {}", resp.body);
        let challenges = www_authenticate(&resp);
        assert!(
            challenges.contains("invalid_token"),
            "{what}: the challenge says the token is bad: {challenges}"
        );
    }

    /// The server's signing key (PKCS#8 PEM), as someone who stole it would have it.
    fn private_pem(&self) -> String {
        std::fs::read_to_string(self.p.server.data().join("keys/session-rsa.pem"))
            .expect("the signing key")
    }

    /// `claims` signed RS256 with the server's own key.
    fn sign(&self, claims: &Value) -> String {
        let key = EncodingKey::from_rsa_pem(self.private_pem().as_bytes()).expect("RSA key");
        jsonwebtoken::encode(&Header::new(Algorithm::RS256), claims, &key).expect("sign")
    }
}

fn json_of(resp: &Resp) -> Value {
    serde_json::from_str(&resp.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", resp.body))
}

/// Asserts an OAuth error answer (400 JSON) with `code`; and that it carries no token.
fn assert_oauth_error(resp: &Resp, code: &str, what: &str) {
    assert_eq!(resp.status, 400, "{what}: {}", resp.body);
    let json = json_of(resp);
    assert_eq!(json["error"], code, "{what}: {json}");
    assert!(
        json["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{what}: says why: {json}"
    );
    assert!(json.get("access_token").is_none(), "{what}: {json}");
}

fn query_of(location: &str) -> HashMap<String, String> {
    reqwest::Url::parse(location)
        .unwrap_or_else(|e| panic!("{location}: {e}"))
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn www_authenticate(resp: &Resp) -> String {
    resp.headers
        .get_all("www-authenticate")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The claims of a JWT, read without checking it.
fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    let bytes = URL_SAFE_NO_PAD.decode(payload).expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

#[test]
fn an_mcp_client_discovers_the_authorization_server_from_the_401() {
    let w = World::start();
    let resource = w.resource("notes");

    let resp = w.p.send_with(
        Method::POST,
        "notes",
        "/mcp",
        &Who::Nobody,
        MCP_HEADERS,
        Send::Raw(
            Some("application/json"),
            json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"})
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(resp.status, 401, "{}", resp.body);
    let challenge = www_authenticate(&resp);
    let metadata_url = format!(
        "{}/.well-known/oauth-protected-resource",
        w.p.wiki_url("notes")
    );
    assert!(
        challenge.contains(&format!("resource_metadata=\"{metadata_url}\"")),
        "{challenge}"
    );

    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let doc = w.p.get("notes", path, &Who::Nobody);
        assert_eq!(doc.status, 200, "{path}: {}", doc.body);
        let doc = json_of(&doc);
        assert_eq!(doc["resource"], resource.as_str(), "{path}: {doc}");
        assert_eq!(
            doc["authorization_servers"],
            json!([w.apex()]),
            "{path}: {doc}"
        );
    }

    let server =
        w.p.get("", "/.well-known/oauth-authorization-server", &Who::Nobody);
    assert_eq!(server.status, 200, "{}", server.body);
    let server = json_of(&server);
    let apex = w.apex();
    assert_eq!(server["issuer"], apex.as_str(), "{server}");
    assert_eq!(server["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(
        server["authorization_endpoint"],
        format!("{apex}/oauth/authorize").as_str()
    );
    assert_eq!(
        server["token_endpoint"],
        format!("{apex}/oauth/token").as_str()
    );
    assert_eq!(
        server["registration_endpoint"],
        format!("{apex}/oauth/register").as_str()
    );
}

#[test]
fn the_owner_connects_a_client_that_can_write_over_mcp_only() {
    let w = World::start();
    let client_id = w.register(&[CALLBACK]);
    let request = w.request(&client_id, "notes", "read write");

    // Without a session the person signs in first, and comes back to the same request.
    let anonymous = w.authorize_get(&Who::Nobody, &request);
    assert_eq!(anonymous.status, 303, "{}", anonymous.body);
    let login = anonymous.location.as_deref().expect("to the sign-in");
    assert!(login.starts_with("/auth/login?return_to="), "{login}");
    let back = query_of(&format!("http://localhost{login}"))["return_to"].clone();
    assert!(
        back.starts_with(&format!("{}/oauth/authorize?", w.apex())) && back.contains(&client_id),
        "{back}"
    );

    let (heading, fields) = w.consent(&w.alice, &request);
    assert_eq!(heading, "Allow Test client to read and write notes?");
    let resp = w.decide(&w.alice, &fields, "allow");
    let answer = w.answer(&resp, &request);
    let code = answer.get("code").expect("a code");

    let issued = w.exchange(&request, code);
    assert_eq!(
        issued
            .headers
            .get("cache-control")
            .and_then(|v| v.to_str().ok()),
        Some("no-store")
    );
    let tokens = Tokens::of(&issued);
    assert_eq!(tokens.scope, "read write");
    let claims = claims_of(&tokens.access);
    assert_eq!(claims["aud"], w.resource("notes").as_str(), "{claims}");
    assert_eq!(claims["iss"], w.apex().as_str(), "{claims}");
    assert_eq!(claims["wiki"], "notes", "{claims}");
    assert_eq!(claims["client_id"], client_id.as_str(), "{claims}");
    assert_eq!(claims["scope"], "read write", "{claims}");

    let tools = w.tools("notes", &tokens.access);
    for tool in ["read_note", "write_note", "edit_note", "delete_note"] {
        assert!(tools.iter().any(|t| t == tool), "{tool} in {tools:?}");
    }
    let written = w.mcp(
        "notes",
        &tokens.access,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "write_note",
                          "arguments": {"path": "ByOAuth", "content": "# By OAuth\n"}}}),
    );
    assert_eq!(written.status, 200, "{}", written.body);
    assert_eq!(
        json_of(&written)["result"]["isError"],
        false,
        "{}",
        written.body
    );
    assert_eq!(
        w.p.get("notes", "/ByOAuth", &w.alice).status,
        200,
        "the write landed"
    );

    // The token's audience is the MCP endpoint: nothing else on the wiki takes it.
    let api =
        w.p.get("notes", "/api/v1/pages", &Who::Token(tokens.access.clone()));
    assert_eq!(api.status, 401, "{}", api.body);
    let page =
        w.p.get("notes", "/ByOAuth", &Who::Token(tokens.access.clone()));
    assert_eq!(page.status, 401, "{}", page.body);
    // Nor the platform's API.
    let (status, _) = w.p.api(
        Method::GET,
        "/api/me",
        &Who::Token(tokens.access.clone()),
        None,
    );
    assert_eq!(status, 401);

    // Refreshing rotates both tokens.
    let second = Tokens::of(&w.refresh(&client_id, &tokens.refresh));
    assert_ne!(second.access, tokens.access);
    assert_ne!(second.refresh, tokens.refresh);
    assert_eq!(second.scope, "read write");
    assert!(
        w.tools("notes", &second.access)
            .iter()
            .any(|t| t == "write_note")
    );

    // The old refresh token again: someone copied it. The whole grant ends.
    let reused = w.refresh(&client_id, &tokens.refresh);
    assert_oauth_error(&reused, "invalid_grant", "reused refresh token");
    w.refused_at_mcp(
        "notes",
        &second.access,
        "the newest access token after reuse",
    );
    assert_oauth_error(
        &w.refresh(&client_id, &second.refresh),
        "invalid_grant",
        "the newest refresh token after reuse",
    );
}

#[test]
fn a_viewer_can_grant_read_only() {
    let w = World::start();
    let bob = Who::Session(w.p.sign_in("bob"));
    w.p.add_member(&w.alice, "notes", "bob", "viewer");
    let client_id = w.register(&[CALLBACK]);
    let request = w.request(&client_id, "notes", "read write");

    let (heading, fields) = w.consent(&bob, &request);
    assert_eq!(heading, "Allow Test client to read notes?");
    let code = {
        let answer = w.answer(&w.decide(&bob, &fields, "allow"), &request);
        answer.get("code").expect("a code").clone()
    };
    let tokens = Tokens::of(&w.exchange(&request, &code));
    assert_eq!(tokens.scope, "read");
    assert_eq!(claims_of(&tokens.access)["scope"], "read");

    let tools = w.tools("notes", &tokens.access);
    assert!(tools.iter().any(|t| t == "read_note"), "{tools:?}");
    for tool in WRITE_TOOLS {
        assert!(!tools.iter().any(|t| t == tool), "{tool} hidden: {tools:?}");
    }
    // Calling a hidden write tool anyway is refused, and nothing is written.
    let sneaky = w.mcp(
        "notes",
        &tokens.access,
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
               "params": {"name": "write_note",
                          "arguments": {"path": "Sneaky", "content": "no"}}}),
    );
    assert_eq!(sneaky.status, 200, "{}", sneaky.body);
    assert_eq!(
        json_of(&sneaky)["result"]["isError"],
        true,
        "{}",
        sneaky.body
    );
    assert_eq!(w.p.get("notes", "/Sneaky", &w.alice).status, 404);

    // Asking the refresh for more than was granted is refused.
    let wider = w.token(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", &tokens.refresh),
        ("client_id", &client_id),
        ("scope", "read write"),
    ]);
    assert_oauth_error(&wider, "invalid_scope", "a wider scope on refresh");

    // Rewriting the claims of bob's token to say "write" breaks its signature.
    let token = &tokens.access;
    let mut claims = claims_of(token);
    claims["scope"] = json!("read write");
    let parts: Vec<&str> = token.split('.').collect();
    let rewritten = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    w.refused_at_mcp("notes", &rewritten, "claims rewritten to write");

    // Someone with no role on a private wiki cannot grant anything.
    let carol = Who::Session(w.p.sign_in("carol"));
    let request = w.request(&client_id, "notes", "read");
    let resp = w.authorize_get(&carol, &request);
    let answer = w.answer(&resp, &request);
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("access_denied")
    );
    assert!(!answer.contains_key("code"), "{answer:?}");
}

#[test]
fn forged_expired_and_misdirected_access_tokens_are_refused() {
    let w = World::start();
    w.p.create_wiki(&w.alice, "other", false);
    let (_, tokens) = w.connect(&w.alice, "notes", "read write");
    let real = claims_of(&tokens.access);
    w.tools("notes", &tokens.access);

    // The control: the real claims signed with the real key are accepted, so the refusals
    // below are about what each forgery changes.
    let resigned = w.sign(&real);
    w.tools("notes", &resigned);

    // alg: none, with the real claims.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&real)
    );
    w.refused_at_mcp("notes", &none, "alg none");
    let none_sig = format!(
        "{}.{}.{}",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&real),
        tokens.access.split('.').nth(2).unwrap_or_default()
    );
    w.refused_at_mcp("notes", &none_sig, "alg none with a signature");

    // HS256 keyed with the server's public key (the algorithm-confusion attack), in every
    // form someone might hold it.
    {
        use rsa::pkcs1::EncodeRsaPublicKey;
        use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey, LineEnding};
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(&w.private_pem()).expect("RSA key");
        let public = rsa::RsaPublicKey::from(&private);
        let secrets: Vec<Vec<u8>> = vec![
            public
                .to_public_key_pem(LineEnding::LF)
                .expect("SPKI PEM")
                .into_bytes(),
            public
                .to_pkcs1_pem(LineEnding::LF)
                .expect("PKCS#1 PEM")
                .into_bytes(),
            public
                .to_public_key_der()
                .expect("SPKI DER")
                .as_bytes()
                .to_vec(),
            public
                .to_pkcs1_der()
                .expect("PKCS#1 DER")
                .as_bytes()
                .to_vec(),
        ];
        for secret in secrets {
            let forged = jsonwebtoken::encode(
                &Header::new(Algorithm::HS256),
                &real,
                &EncodingKey::from_secret(&secret),
            )
            .expect("HS256");
            w.refused_at_mcp("notes", &forged, "HS256 keyed with the public key");
        }
    }

    // Expired, though signed with the real key.
    let mut expired = real.clone();
    expired["iat"] = json!(now() - 7200);
    expired["exp"] = json!(now() - 120);
    w.refused_at_mcp("notes", &w.sign(&expired), "expired");

    // Another audience, though signed with the real key.
    let mut elsewhere = real.clone();
    elsewhere["aud"] = json!("https://evil.example/mcp");
    w.refused_at_mcp("notes", &w.sign(&elsewhere), "another audience");
    // Another issuer.
    let mut issuer = real.clone();
    issuer["iss"] = json!("https://evil.example");
    w.refused_at_mcp("notes", &w.sign(&issuer), "another issuer");

    // A token for wiki notes at wiki other (alice owns both): its audience is notes's.
    w.refused_at_mcp("other", &tokens.access, "notes's token at other");
    let other = w.resource("other");
    let page = w.p.get("other", "/", &Who::Token(tokens.access.clone()));
    assert_eq!(page.status, 401, "{}", page.body);
    // Even re-signed for other's audience, the grant is for notes.
    let mut moved = real.clone();
    moved["aud"] = json!(other);
    w.refused_at_mcp("other", &w.sign(&moved), "audience rewritten to other");
    moved["wiki"] = json!("other");
    w.refused_at_mcp(
        "other",
        &w.sign(&moved),
        "audience and wiki rewritten to other",
    );

    // Sessions are signed with the same key, but a session is not an access token, nor the
    // other way round.
    let Who::Session(session) = &w.alice else {
        unreachable!()
    };
    w.refused_at_mcp("notes", session, "alice's session JWT as a bearer token");
    let as_cookie = Who::Session(tokens.access.clone());
    let (status, _) = w.p.api(Method::GET, "/api/me", &as_cookie, None);
    assert_eq!(status, 401, "an access token as the session cookie");
    let client_id = real["client_id"].as_str().expect("client_id");
    let consent = w.authorize_get(&as_cookie, &w.request(client_id, "notes", "read"));
    assert_eq!(consent.status, 303, "{}", consent.body);
    assert!(
        consent
            .location
            .as_deref()
            .is_some_and(|l| l.starts_with("/auth/login?")),
        "an access token as the session cookie does not sign in: {:?}",
        consent.location
    );

    // Another user named in the subject, under alice's grant.
    let mut stranger = real.clone();
    stranger["sub"] = json!("999999");
    w.refused_at_mcp("notes", &w.sign(&stranger), "another user's id");

    // The real token is unharmed by all of this.
    w.tools("notes", &tokens.access);
}

#[test]
fn a_replayed_code_is_refused_and_revokes_what_it_gave() {
    let w = World::start();
    let client_id = w.register(&[CALLBACK]);
    let request = w.request(&client_id, "notes", "read write");
    let code = w.code(&w.alice, &request);
    let first = Tokens::of(&w.exchange(&request, &code));
    w.tools("notes", &first.access);

    let again = w.exchange(&request, &code);
    assert_oauth_error(&again, "invalid_grant", "replayed code");
    w.refused_at_mcp(
        "notes",
        &first.access,
        "the first exchange's token after replay",
    );
    assert_oauth_error(
        &w.refresh(&client_id, &first.refresh),
        "invalid_grant",
        "the first exchange's refresh token after replay",
    );
}

#[test]
fn the_code_exchange_needs_the_right_verifier_and_redirect_uri() {
    let w = World::start();
    let other_callback = "http://127.0.0.1:9/other";
    let client_id = w.register(&[CALLBACK, other_callback]);

    // No verifier at all.
    let request = w.request(&client_id, "notes", "read write");
    let code = w.code(&w.alice, &request);
    let missing = w.token(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("client_id", &client_id),
    ]);
    assert_oauth_error(&missing, "invalid_request", "no code_verifier");

    // A wrong verifier; and the code is spent, so the right one no longer helps.
    let request = w.request(&client_id, "notes", "read write");
    let code = w.code(&w.alice, &request);
    let wrong = w.token(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("client_id", &client_id),
        ("code_verifier", &Pkce::new().verifier),
    ]);
    assert_oauth_error(&wrong, "invalid_grant", "wrong code_verifier");
    assert_oauth_error(
        &w.exchange(&request, &code),
        "invalid_grant",
        "the right verifier after a wrong one",
    );

    // Another of the client's redirect URIs than the authorization request named.
    let request = w.request(&client_id, "notes", "read write");
    let code = w.code(&w.alice, &request);
    let moved = w.token(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", other_callback),
        ("client_id", &client_id),
        ("code_verifier", &request.pkce.verifier),
    ]);
    assert_oauth_error(&moved, "invalid_grant", "another redirect_uri");

    // Another client presenting the code.
    let thief = w.register(&[CALLBACK]);
    let request = w.request(&client_id, "notes", "read write");
    let code = w.code(&w.alice, &request);
    let stolen = w.token(&[
        ("grant_type", "authorization_code"),
        ("code", &code),
        ("redirect_uri", CALLBACK),
        ("client_id", &thief),
        ("code_verifier", &request.pkce.verifier),
    ]);
    assert_oauth_error(&stolen, "invalid_grant", "another client_id");

    // A made-up code.
    let request = w.request(&client_id, "notes", "read write");
    assert_oauth_error(
        &w.exchange(&request, "not-a-code"),
        "invalid_grant",
        "an unknown code",
    );
    // An unknown grant type.
    let unknown = w.token(&[
        ("grant_type", "client_credentials"),
        ("client_id", &client_id),
    ]);
    assert_eq!(unknown.status, 400, "{}", unknown.body);
    assert_eq!(json_of(&unknown)["error"], "unsupported_grant_type");
}

#[test]
fn bad_authorization_requests_never_give_a_code() {
    let w = World::start();
    let client_id = w.register(&[CALLBACK]);

    // The plain PKCE method: refused by redirect, without a code.
    let mut plain = w.request(&client_id, "notes", "read write");
    plain.method = "plain".into();
    plain.pkce.challenge = plain.pkce.verifier.clone();
    let resp = w.authorize_get(&w.alice, &plain);
    let answer = w.answer(&resp, &plain);
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("invalid_request"),
        "{answer:?}"
    );
    assert!(!answer.contains_key("code"), "{answer:?}");

    // No PKCE at all.
    let mut bare = w.request(&client_id, "notes", "read write");
    bare.pkce.challenge = String::new();
    let answer = w.answer(&w.authorize_get(&w.alice, &bare), &bare);
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("invalid_request"),
        "{answer:?}"
    );
    assert!(!answer.contains_key("code"), "{answer:?}");

    // A redirect URI the client did not register: told to the person, never redirected to.
    for evil in [
        "http://127.0.0.1:9/evil",
        "https://evil.example/cb",
        "http://127.0.0.1:9/cb/",
    ] {
        let mut unregistered = w.request(&client_id, "notes", "read write");
        unregistered.redirect_uri = evil.into();
        for who in [&w.alice, &Who::Nobody] {
            let resp = w.authorize_get(who, &unregistered);
            assert_eq!(resp.status, 400, "{evil}: {}", resp.body);
            assert!(resp.location.is_none(), "{evil}: {:?}", resp.location);
            assert!(
                resp.content_type.starts_with("text/html"),
                "{}",
                resp.content_type
            );
            assert!(!resp.body.contains(evil), "{evil} is not linked");
        }
    }
    // An unknown client: the same.
    let unknown = w.request("mcp_nobody", "notes", "read write");
    let resp = w.authorize_get(&w.alice, &unknown);
    assert_eq!(resp.status, 400, "{}", resp.body);
    assert!(resp.location.is_none(), "{:?}", resp.location);

    // A resource that is not a wiki's MCP URL.
    let mut page = w.request(&client_id, "notes", "read write");
    page.resource = format!("{}/Home", w.p.wiki_url("notes"));
    let answer = w.answer(&w.authorize_get(&w.alice, &page), &page);
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("invalid_target"),
        "{answer:?}"
    );
    assert!(!answer.contains_key("code"), "{answer:?}");
}

#[test]
fn the_consent_answer_must_come_from_the_page_shown_to_that_person() {
    let w = World::start();
    w.p.create_wiki(&w.alice, "other", false);
    let bob = Who::Session(w.p.sign_in("bob"));
    w.p.add_member(&w.alice, "notes", "bob", "editor");
    let client_id = w.register(&[CALLBACK]);
    let request = w.request(&client_id, "notes", "read write");
    let (_, fields) = w.consent(&w.alice, &request);

    let no_code = |resp: &Resp, what: &str| {
        assert_eq!(resp.status, 400, "{what}: {}", resp.body);
        assert!(resp.location.is_none(), "{what}: {:?}", resp.location);
        assert!(!resp.body.contains("code="), "{what}");
    };
    let with = |name: &str, value: &str| -> Vec<(String, String)> {
        fields
            .iter()
            .map(|(k, v)| {
                let v = if k == name {
                    value.to_string()
                } else {
                    v.clone()
                };
                (k.clone(), v)
            })
            .collect()
    };

    // A tampered consent token.
    let consent = fields
        .iter()
        .find(|(k, _)| k == "consent")
        .map(|(_, v)| v.clone())
        .expect("consent");
    let flipped: String = consent
        .chars()
        .enumerate()
        .map(|(i, c)| {
            if i == 0 {
                if c == '0' { '1' } else { '0' }
            } else {
                c
            }
        })
        .collect();
    no_code(
        &w.decide(&w.alice, &with("consent", &flipped), "allow"),
        "tampered consent",
    );
    no_code(
        &w.decide(&w.alice, &with("consent", ""), "allow"),
        "empty consent",
    );
    // The right token, but for another wiki or another challenge than was shown.
    no_code(
        &w.decide(&w.alice, &with("resource", &w.resource("other")), "allow"),
        "resource swapped",
    );
    no_code(
        &w.decide(
            &w.alice,
            &with("code_challenge", &Pkce::new().challenge),
            "allow",
        ),
        "challenge swapped",
    );
    // Alice's form posted with bob's session.
    no_code(
        &w.decide(&bob, &fields, "allow"),
        "another person's consent form",
    );
    // Posted from another site.
    let mut form = fields.clone();
    form.push(("decision".into(), "allow".into()));
    let cross = w.p.send_with(
        Method::POST,
        "",
        "/oauth/authorize",
        &w.alice,
        &[("Origin", "https://evil.example")],
        Send::Form(form),
    );
    assert_eq!(cross.status, 403, "{}", cross.body);
    assert!(cross.location.is_none());
    // Without a session.
    no_code(&w.decide(&Who::Nobody, &fields, "allow"), "signed out");

    // Denying: the client hears access_denied and gets no code.
    let denied = w.decide(&w.alice, &fields, "deny");
    let answer = w.answer(&denied, &request);
    assert_eq!(
        answer.get("error").map(String::as_str),
        Some("access_denied"),
        "{answer:?}"
    );
    assert!(!answer.contains_key("code"), "{answer:?}");

    // The untouched form still works (none of the above spent it).
    let allowed = w.answer(&w.decide(&w.alice, &fields, "allow"), &request);
    let tokens = Tokens::of(&w.exchange(&request, &allowed["code"]));
    w.tools("notes", &tokens.access);
}

#[test]
fn registration_refuses_bad_metadata() {
    let w = World::start();
    let bad = |resp: Resp, code: &str, what: &str| {
        assert_eq!(resp.status, 400, "{what}: {}", resp.body);
        let json = json_of(&resp);
        assert_eq!(json["error"], code, "{what}: {json}");
        assert!(json.get("client_id").is_none(), "{what}: {json}");
    };
    bad(
        w.register_raw(Send::Raw(Some("application/json"), b"not json".to_vec())),
        "invalid_client_metadata",
        "a body that is not JSON",
    );
    bad(
        w.register_raw(Send::Raw(
            Some("application/x-www-form-urlencoded"),
            b"redirect_uris=http://127.0.0.1:9/cb".to_vec(),
        )),
        "invalid_client_metadata",
        "a form body",
    );
    bad(
        w.register_raw(Send::Json(
            json!({"redirect_uris": ["http://evil.example/cb"]}),
        )),
        "invalid_redirect_uri",
        "plain http off loopback",
    );
    bad(
        w.register_raw(Send::Json(
            json!({"redirect_uris": ["javascript:alert(1)"]}),
        )),
        "invalid_redirect_uri",
        "a javascript: URI",
    );
    bad(
        w.register_raw(Send::Json(json!({"redirect_uris": []}))),
        "invalid_redirect_uri",
        "no redirect URIs",
    );
    bad(
        w.register_raw(Send::Json(json!({
            "redirect_uris": [CALLBACK],
            "grant_types": ["client_credentials"],
        }))),
        "invalid_client_metadata",
        "the client_credentials grant",
    );
    bad(
        w.register_raw(Send::Json(json!({
            "redirect_uris": [CALLBACK],
            "response_types": ["token"],
        }))),
        "invalid_client_metadata",
        "the implicit response type",
    );
}

#[test]
fn revoking_the_refresh_token_ends_the_grant() {
    let w = World::start();
    let (request, tokens) = w.connect(&w.alice, "notes", "read write");
    w.tools("notes", &tokens.access);

    let resp = w.revoke(&tokens.refresh);
    assert_eq!(resp.status, 200, "{}", resp.body);
    w.refused_at_mcp("notes", &tokens.access, "after revoking the refresh token");
    assert_oauth_error(
        &w.refresh(&request.client_id, &tokens.refresh),
        "invalid_grant",
        "refreshing after revocation",
    );

    // Revoking by the access token works too, and an unknown token is not an error.
    let (request, tokens) = w.connect(&w.alice, "notes", "read");
    w.tools("notes", &tokens.access);
    assert_eq!(w.revoke(&tokens.access).status, 200);
    w.refused_at_mcp("notes", &tokens.access, "after revoking the access token");
    assert_oauth_error(
        &w.refresh(&request.client_id, &tokens.refresh),
        "invalid_grant",
        "refreshing after revoking the access token",
    );
    assert_eq!(w.revoke("no-such-token").status, 200);
}

#[test]
fn signing_out_everywhere_ends_sessions_and_grants() {
    let w = World::start();
    let (request, tokens) = w.connect(&w.alice, "notes", "read write");
    w.tools("notes", &tokens.access);
    let (status, _) = w.p.api(Method::GET, "/api/me", &w.alice, None);
    assert_eq!(status, 200);

    let origin = w.apex();
    let out = w.p.send_with(
        Method::POST,
        "",
        "/auth/logout-everywhere",
        &w.alice,
        &[("Origin", origin.as_str())],
        Send::Form(vec![]),
    );
    assert_eq!(out.status, 303, "{}", out.body);

    let (status, me) = w.p.api(Method::GET, "/api/me", &w.alice, None);
    assert_eq!(status, 401, "{me}");
    w.refused_at_mcp("notes", &tokens.access, "after signing out everywhere");
    assert_oauth_error(
        &w.refresh(&request.client_id, &tokens.refresh),
        "invalid_grant",
        "refreshing after signing out everywhere",
    );
}

#[test]
fn a_token_can_do_no_more_than_its_user_can_now() {
    let w = World::start();
    let bob = Who::Session(w.p.sign_in("bob"));
    w.p.add_member(&w.alice, "notes", "bob", "editor");
    let (_, tokens) = w.connect(&bob, "notes", "read write");
    assert_eq!(tokens.scope, "read write");
    assert!(
        w.tools("notes", &tokens.access)
            .iter()
            .any(|t| t == "write_note")
    );

    // Demoted to viewer: the same token no longer writes.
    let (status, json) = w.p.api(
        Method::PATCH,
        "/api/wikis/notes/members/bob",
        &w.alice,
        Some(json!({"role": "viewer"})),
    );
    assert_eq!(status, 200, "{json}");
    let tools = w.tools("notes", &tokens.access);
    for tool in WRITE_TOOLS {
        assert!(!tools.iter().any(|t| t == tool), "{tool} hidden: {tools:?}");
    }

    // Removed: the token reads nothing.
    let (status, _) = w.p.api(
        Method::DELETE,
        "/api/wikis/notes/members/bob",
        &w.alice,
        None,
    );
    assert_eq!(status, 204);
    let resp = w.mcp(
        "notes",
        &tokens.access,
        json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}),
    );
    assert_eq!(resp.status, 403, "{}", resp.body);
    assert!(!resp.body.contains("read_note"), "{}", resp.body);
}

#[test]
fn a_token_does_not_outlive_its_wiki_into_a_new_one_of_the_same_name() {
    let w = World::start();
    let (_, tokens) = w.connect(&w.alice, "notes", "read write");
    w.tools("notes", &tokens.access);
    let (status, json) = w.p.api(
        Method::DELETE,
        "/api/wikis/notes",
        &w.alice,
        Some(json!({"confirm": "notes"})),
    );
    assert_eq!(status, 204, "{json}");
    w.p.create_wiki(&w.alice, "notes", false);
    w.refused_at_mcp("notes", &tokens.access, "a token of the deleted wiki");
}

#[test]
fn the_consent_page_escapes_what_the_client_chose() {
    let w = World::start();
    let resp = w.register_raw(Send::Json(json!({
        "redirect_uris": [CALLBACK],
        "client_name": "<script>alert(1)</script>",
        "client_uri": "https://x.example/\"><script>alert(2)</script>",
    })));
    assert_eq!(resp.status, 201, "{}", resp.body);
    let client_id = json_of(&resp)["client_id"]
        .as_str()
        .expect("client_id")
        .to_string();
    let mut request = w.request(&client_id, "notes", "read write");
    request.state = "\"><script>alert(3)</script>&code=forged".into();
    let page = w.authorize_get(&w.alice, &request);
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(!page.body.contains("<script>"), "{}", page.body);
    assert_eq!(crate::util::texts(&page.body, "script").len(), 0);
    assert_eq!(
        page.headers
            .get("x-frame-options")
            .and_then(|v| v.to_str().ok()),
        Some("DENY"),
        "the consent page cannot be framed"
    );
    // The state goes back exactly, and cannot smuggle a code in.
    let code = w.code(&w.alice, &request);
    assert_ne!(code, "forged");
}

#[test]
fn a_client_that_omits_the_redirect_uri_everywhere_gets_its_tokens() {
    // A client with one registered redirect URI may leave it out of the authorization
    // request; RFC 6749 §4.1.3 then does not require it at the token endpoint either.
    let w = World::start();
    let client_id = w.register(&[CALLBACK]);
    let request = w.request(&client_id, "notes", "read write");
    let params: Vec<(&str, String)> = request
        .params()
        .into_iter()
        .filter(|(k, _)| *k != "redirect_uri")
        .collect();
    let url =
        reqwest::Url::parse_with_params("http://localhost/oauth/authorize", params).expect("URL");
    let path = format!("/oauth/authorize?{}", url.query().unwrap_or_default());
    let page = w.p.get("", &path, &w.alice);
    assert_eq!(page.status, 200, "{}", page.body);
    let (_, fields) = w.consent(&w.alice, &request);
    let answer = w.answer(&w.decide(&w.alice, &fields, "allow"), &request);
    let resp = w.token(&[
        ("grant_type", "authorization_code"),
        ("code", &answer["code"]),
        ("client_id", &client_id),
        ("code_verifier", &request.pkce.verifier),
    ]);
    let tokens = Tokens::of(&resp);
    w.tools("notes", &tokens.access);
}

#[test]
fn browser_based_clients_pass_the_cors_preflight() {
    let w = World::start();
    let preflights = [
        ("", "/oauth/register", "POST", "content-type"),
        ("", "/oauth/token", "POST", "content-type"),
        ("", "/oauth/revoke", "POST", "content-type"),
        (
            "",
            "/.well-known/oauth-authorization-server",
            "GET",
            "mcp-protocol-version",
        ),
        (
            "notes",
            "/.well-known/oauth-protected-resource",
            "GET",
            "mcp-protocol-version",
        ),
    ];
    for (slug, path, method, headers) in preflights {
        let resp = w.p.send_with(
            Method::OPTIONS,
            slug,
            path,
            &Who::Nobody,
            &[
                ("Origin", "http://localhost:6274"),
                ("Access-Control-Request-Method", method),
                ("Access-Control-Request-Headers", headers),
            ],
            Send::Nothing,
        );
        assert!(
            (200..300).contains(&resp.status),
            "OPTIONS {slug}:{path}: {} {}",
            resp.status,
            resp.body
        );
        let allowed = |name: &str| {
            resp.headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_ascii_lowercase()
        };
        assert_eq!(allowed("access-control-allow-origin"), "*", "{path}");
        assert!(
            allowed("access-control-allow-methods").contains(method.to_ascii_lowercase().as_str()),
            "{path}"
        );
        assert!(
            allowed("access-control-allow-headers").contains(headers),
            "{path}"
        );
    }
}

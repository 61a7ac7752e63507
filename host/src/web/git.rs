//! Git over smart HTTP, read-only: `git clone http://{slug}.<domain>/repo.git`.
//!
//! The real `git upload-pack --stateless-rpc` serves the repository. Private wikis ask for
//! HTTP basic auth, with a wiki token as the password; pushing is refused with a message git
//! shows to the user.

use std::io::Read;
use std::process::Stdio;

use axum::body::{Body, Bytes};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;

use super::AppState;
use super::error::AppError;
use crate::tenancy::{Permission, RequestContext};

/// The largest request (the client's wants and haves) accepted, after decompression.
const MAX_REQUEST: usize = 16 << 20;
/// What a push is answered with.
const NO_PUSH: &str = "pushing is not supported: Holt wikis change through the web editor, the REST API or MCP \
                       (each change is a commit you can pull)";

#[derive(Deserialize)]
pub struct Service {
    service: Option<String>,
}

/// `GET /repo.git`: a browser landing here wants the wiki.
pub async fn root() -> Redirect {
    Redirect::to("/")
}

/// Reads need the read permission; an anonymous client is asked for credentials (git then
/// prompts for them or uses its credential helper).
fn allow(ctx: &RequestContext) -> Result<(), Box<Response>> {
    match ctx.require(Permission::Read) {
        Ok(()) => Ok(()),
        Err(denied) if denied.may_sign_in => {
            let mut response = (
                StatusCode::UNAUTHORIZED,
                "this wiki is private: use a wiki token as the password\n",
            )
                .into_response();
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Holt wiki\""),
            );
            Err(Box::new(response))
        }
        Err(denied) => Err(Box::new(
            (StatusCode::FORBIDDEN, format!("{denied}\n")).into_response(),
        )),
    }
}

/// A pkt-line (length-prefixed) of git's wire protocol.
fn pkt_line(text: &str) -> Vec<u8> {
    let mut out = format!("{:04x}", text.len() + 4).into_bytes();
    out.extend_from_slice(text.as_bytes());
    out
}

pub async fn info_refs(
    State(_state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    Query(query): Query<Service>,
) -> Response {
    match query.service.as_deref() {
        Some("git-upload-pack") => {}
        Some("git-receive-pack") => {
            // Answer in the protocol, so git prints the reason instead of a bare HTTP error.
            let mut body = pkt_line("# service=git-receive-pack\n");
            body.extend_from_slice(b"0000");
            body.extend(pkt_line(&format!("ERR {NO_PUSH}")));
            return git_response("application/x-git-receive-pack-advertisement", body);
        }
        _ => {
            return (
                StatusCode::BAD_REQUEST,
                "only the smart HTTP protocol is served (service=git-upload-pack)\n",
            )
                .into_response();
        }
    }
    if let Err(response) = allow(&ctx) {
        return *response;
    }
    match run_upload_pack(&ctx, &headers, true, Bytes::new()).await {
        Ok(refs) => {
            let mut body = Vec::new();
            // Protocol v2 advertises itself; v0 needs the service header first.
            if !is_v2(&headers) {
                body.extend(pkt_line("# service=git-upload-pack\n"));
                body.extend_from_slice(b"0000");
            }
            body.extend(refs);
            git_response("application/x-git-upload-pack-advertisement", body)
        }
        Err(err) => err.into_response(),
    }
}

pub async fn upload_pack(
    State(_state): State<AppState>,
    ctx: RequestContext,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = allow(&ctx) {
        return *response;
    }
    let body = match decompress(&headers, body) {
        Ok(body) => body,
        Err(message) => return (StatusCode::BAD_REQUEST, format!("{message}\n")).into_response(),
    };
    match run_upload_pack(&ctx, &headers, false, body).await {
        Ok(pack) => git_response("application/x-git-upload-pack-result", pack),
        Err(err) => err.into_response(),
    }
}

pub async fn receive_pack() -> Response {
    (StatusCode::FORBIDDEN, format!("{NO_PUSH}\n")).into_response()
}

fn is_v2(headers: &HeaderMap) -> bool {
    headers
        .get("git-protocol")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("version=2"))
}

/// Gunzips a gzip-encoded request body (git compresses large requests).
fn decompress(headers: &HeaderMap, body: Bytes) -> Result<Bytes, String> {
    let gzip = headers
        .get(header::CONTENT_ENCODING)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    if !gzip {
        return Ok(body);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&body[..])
        .take(MAX_REQUEST as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("the gzip body could not be read: {e}"))?;
    if out.len() > MAX_REQUEST {
        return Err("the request is too large".into());
    }
    Ok(out.into())
}

/// Runs `git upload-pack --stateless-rpc` on the wiki's repository.
async fn run_upload_pack(
    ctx: &RequestContext,
    headers: &HeaderMap,
    advertise: bool,
    input: Bytes,
) -> Result<Vec<u8>, AppError> {
    let mut command = tokio::process::Command::new("git");
    command.arg("upload-pack").arg("--stateless-rpc");
    if advertise {
        command.arg("--advertise-refs");
    }
    command
        .arg(ctx.wiki.store().git_dir())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", ctx.wiki.dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    if is_v2(headers) {
        command.env("GIT_PROTOCOL", "version=2");
    }
    let mut child = command
        .spawn()
        .map_err(|e| AppError::Internal(format!("cannot run git: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // Write while git reads; a closed pipe (git done early) is not an error here.
        tokio::spawn(async move {
            let _ = stdin.write_all(&input).await;
        });
    }
    let output = tokio::time::timeout(
        std::time::Duration::from_secs(300),
        child.wait_with_output(),
    )
    .await
    .map_err(|_| AppError::Internal("git upload-pack took too long".into()))?
    .map_err(|e| AppError::Internal(format!("git upload-pack: {e}")))?;
    if !output.status.success() {
        return Err(AppError::Internal(format!(
            "git upload-pack failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )));
    }
    Ok(output.stdout)
}

fn git_response(content_type: &'static str, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

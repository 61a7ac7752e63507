//! Attachment routes: `/{page}/-/attachments` (list, upload), `/{page}/-/a/{name}` (download),
//! `/{page}/-/a/{name}/delete`.

use axum::extract::Multipart;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Serialize;

use super::error::AppError;
use super::{AppState, Site, blocking};
use crate::render::links::{encode_path, page_url};
use crate::store::{AttachmentName, PagePath};
use crate::tenancy::{Permission, RequestContext};
use crate::wiki::Attachment;

/// Types a browser may show inline; everything else (HTML, SVG, ...) is served as a download.
const INLINE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/pdf",
    "text/plain",
];

pub async fn list(
    state: &AppState,
    ctx: RequestContext,
    page: PagePath,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let wiki = ctx.wiki.clone();
    let lookup = page.clone();
    let (title, files) = blocking(move || {
        let row = wiki.page(&lookup)?;
        Ok((row.title, wiki.attachments(&lookup, None)?))
    })
    .await?;
    #[derive(Serialize)]
    struct Entry {
        #[serde(flatten)]
        file: Attachment,
        url: String,
    }
    #[derive(Serialize)]
    struct List {
        site: Site,
        page: super::pages::PageInfo,
        files: Vec<Entry>,
        max_bytes: u64,
    }
    let base = page_url(page.as_str());
    let files = files
        .into_iter()
        .map(|file| Entry {
            url: format!("{base}/-/a/{}", encode_path(&file.name)),
            file,
        })
        .collect();
    let context = List {
        site: state.site(&ctx),
        page: super::pages::page_info(&page, Some(&title)),
        files,
        max_bytes: ctx.wiki.limits().max_attachment_bytes,
    };
    state.html(StatusCode::OK, "attachments.html", &context)
}

/// Stores every `file` field of the form as an attachment (one commit each).
pub async fn upload(
    _state: &AppState,
    ctx: RequestContext,
    page: PagePath,
    mut form: Multipart,
) -> Result<Response, AppError> {
    ctx.require(Permission::Upload)?;
    let limit = ctx.wiki.limits().max_attachment_bytes;
    let mut files: Vec<(AttachmentName, Vec<u8>)> = Vec::new();
    let mut message = String::new();
    while let Some(mut field) = form.next_field().await.map_err(multipart_error)? {
        match field.name() {
            Some("file") => {
                let Some(raw_name) = field.file_name().map(str::to_string) else {
                    continue;
                };
                if raw_name.is_empty() {
                    continue;
                }
                // Browsers may send a full client path; only the file name counts.
                let name = raw_name.rsplit(['/', '\\']).next().unwrap_or(&raw_name);
                let name = AttachmentName::parse(name)?;
                let mut bytes = Vec::new();
                while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
                    if (bytes.len() + chunk.len()) as u64 > limit {
                        return Err(AppError::TooLarge(format!(
                            "The attachment '{}' is larger than the limit of {limit} bytes; nothing was stored.",
                            name.as_str()
                        )));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                files.push((name, bytes));
            }
            Some("message") => message = field.text().await.map_err(multipart_error)?,
            _ => {}
        }
    }
    if files.is_empty() {
        return Err(AppError::BadRequest("Choose a file to upload.".into()));
    }
    let wiki = ctx.wiki.clone();
    let author = ctx.author();
    let target = page.clone();
    blocking(move || {
        for (name, bytes) in files {
            wiki.upload(&target, &name, bytes, &author, &message)?;
        }
        Ok(())
    })
    .await?;
    Ok(Redirect::to(&format!("{}/-/attachments", page_url(page.as_str()))).into_response())
}

fn multipart_error(err: axum::extract::multipart::MultipartError) -> AppError {
    if err.status() == StatusCode::PAYLOAD_TOO_LARGE {
        AppError::TooLarge(
            "The upload is larger than the server accepts; nothing was stored.".into(),
        )
    } else {
        AppError::BadRequest(format!("Invalid upload: {}", err.body_text()))
    }
}

pub async fn download(
    ctx: RequestContext,
    page: PagePath,
    name: String,
    rev: Option<String>,
) -> Result<Response, AppError> {
    ctx.require(Permission::Read)?;
    let name = AttachmentName::parse(&name)?;
    let wiki = ctx.wiki.clone();
    let file = name.clone();
    let bytes = blocking(move || Ok(wiki.attachment(&page, &file, rev.as_deref())?)).await?;
    let mime = mime_guess::from_path(name.as_str()).first_or_octet_stream();
    let inline = INLINE_TYPES.contains(&mime.essence_str());
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    let content_type = if inline {
        mime.essence_str().to_string()
    } else {
        "application/octet-stream".to_string()
    };
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let disposition = format!(
        "{}; filename*=UTF-8''{}",
        if inline { "inline" } else { "attachment" },
        percent_encoding::utf8_percent_encode(name.as_str(), percent_encoding::NON_ALPHANUMERIC)
    );
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    // Even if a browser decided to render it, an attachment can run nothing.
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(response)
}

pub async fn delete(
    ctx: RequestContext,
    page: PagePath,
    name: String,
    message: String,
) -> Result<Response, AppError> {
    ctx.require(Permission::Upload)?;
    let name = AttachmentName::parse(&name)?;
    let wiki = ctx.wiki.clone();
    let author = ctx.author();
    let target = page.clone();
    blocking(move || Ok(wiki.delete_attachment(&target, &name, &author, &message)?)).await?;
    Ok(Redirect::to(&format!("{}/-/attachments", page_url(page.as_str()))).into_response())
}

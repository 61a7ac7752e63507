//! `AppError`: the one place errors become HTTP responses.
//!
//! Bad input gets its reason; internal errors are logged in full and the client gets a generic
//! message, never the internals.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};

use crate::store::{PathError, StoreError};
use crate::tenancy::AccessDenied;
use crate::wiki::WikiError;

/// An error answered to the client.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error(transparent)]
    Wiki(#[from] WikiError),
    #[error(transparent)]
    Denied(#[from] AccessDenied),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("{0}")]
    Internal(String),
    #[error(transparent)]
    Plugin(#[from] crate::plugins::PluginError),
}

impl From<crate::semantic::SemanticError> for AppError {
    fn from(err: crate::semantic::SemanticError) -> Self {
        use crate::semantic::SemanticError;
        match err {
            SemanticError::Invalid(message) => AppError::BadRequest(message),
            SemanticError::Wiki(err) => AppError::Wiki(err),
            other => AppError::Internal(other.to_string()),
        }
    }
}

impl From<PathError> for AppError {
    fn from(err: PathError) -> Self {
        AppError::Wiki(WikiError::InvalidPath(err))
    }
}

impl From<tera::Error> for AppError {
    fn from(err: tera::Error) -> Self {
        // Tera's display hides the cause; the chain names the failing variable or filter.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            message.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        AppError::Internal(format!("template: {message}"))
    }
}

impl From<tokio::task::JoinError> for AppError {
    fn from(err: tokio::task::JoinError) -> Self {
        AppError::Internal(format!("background task: {err}"))
    }
}

impl AppError {
    /// The status and the message the client may see.
    pub fn status_and_message(&self) -> (StatusCode, String) {
        match self {
            AppError::Wiki(err) => match err {
                WikiError::InvalidPath(e) => {
                    (StatusCode::BAD_REQUEST, format!("Invalid page name: {e}."))
                }
                WikiError::NotFound(what) => (StatusCode::NOT_FOUND, format!("Not found: {what}.")),
                WikiError::Conflict { message, .. } => (StatusCode::CONFLICT, message.clone()),
                WikiError::TooLarge { .. } => (StatusCode::PAYLOAD_TOO_LARGE, err.to_string()),
                WikiError::Limit(message) => {
                    (StatusCode::FORBIDDEN, format!("{}.", upper_first(message)))
                }
                WikiError::Invalid(message) => (StatusCode::BAD_REQUEST, message.clone()),
                WikiError::Store(StoreError::Contended) => (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The wiki is busy; please try again.".into(),
                ),
                WikiError::Store(_) | WikiError::Index(_) => internal(),
            },
            AppError::Denied(denied) if denied.may_sign_in => (
                StatusCode::UNAUTHORIZED,
                format!("{}; sign in first.", upper_first(&denied.to_string())),
            ),
            AppError::Denied(denied) => (
                StatusCode::FORBIDDEN,
                format!("{}.", upper_first(&denied.to_string())),
            ),
            AppError::BadRequest(message) => (StatusCode::BAD_REQUEST, message.clone()),
            AppError::NotFound(message) => (StatusCode::NOT_FOUND, message.clone()),
            AppError::Forbidden(message) => (StatusCode::FORBIDDEN, message.clone()),
            AppError::TooLarge(message) => (StatusCode::PAYLOAD_TOO_LARGE, message.clone()),
            AppError::Internal(_) => internal(),
            AppError::Plugin(err) => {
                use crate::plugins::PluginError;
                let status = match err {
                    PluginError::Unknown(_) | PluginError::NotProvided { .. } => {
                        StatusCode::NOT_FOUND
                    }
                    PluginError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                    PluginError::OverLimit { .. }
                    | PluginError::OutputTooLarge { .. }
                    | PluginError::Trapped { .. } => StatusCode::BAD_GATEWAY,
                };
                (status, format!("{}.", upper_first(&err.to_string())))
            }
        }
    }
}

fn upper_first(text: &str) -> String {
    let mut chars = text.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn internal() -> (StatusCode, String) {
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on our side; it has been logged.".into(),
    )
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, message) = self.status_and_message();
        if status.is_server_error() {
            tracing::error!(error = %self, "request failed");
        }
        let mut body = error_page(status, &message);
        if status == StatusCode::UNAUTHORIZED {
            // Browsers get a way to sign in; the wiki's /-/login sends them to the platform.
            body = body.replace(
                "<p><a href=\"/\">Home</a>",
                "<p><a class=\"button primary\" href=\"/-/login\">Sign in</a></p><p><a href=\"/\">Home</a>",
            );
        }
        (status, Html(body)).into_response()
    }
}

/// A self-contained error page (it must work even when templates are broken).
pub fn error_page(status: StatusCode, message: &str) -> String {
    let title = status.canonical_reason().unwrap_or("Error");
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{code} {title}</title><link rel=\"stylesheet\" href=\"/-/static/holt.css\"></head>\
         <body><main class=\"error-page\"><h1>{code} {title}</h1><p class=\"error-message\">{message}</p>\
         <p><a href=\"/\">Home</a> · <a href=\"/-/index\">All pages</a></p></main></body></html>\n",
        code = status.as_u16(),
        title = escape(title),
        message = escape(message),
    )
}

/// Escapes text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// Appends `text` escaped for HTML text and attribute values.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

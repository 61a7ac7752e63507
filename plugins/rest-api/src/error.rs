//! Errors as the API answers them: `{"error": {"code", "message"}}` with a 4xx/5xx status, the
//! shape of the platform's management API. Every message says what to do next.

use holt_plugin_sdk::{Error, Response, context};
use serde_json::{Value, json};

/// A refused or failed request.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
    /// The page's revision now, for conflicts: re-read it and retry.
    pub current_revision: Option<String>,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            current_revision: None,
        }
    }

    /// A bad query parameter.
    pub fn query(message: impl Into<String>) -> ApiError {
        ApiError::new(400, "invalid_query", message)
    }

    pub fn unknown_route(path: &str) -> ApiError {
        ApiError::new(
            404,
            "not_found",
            format!(
                "There is no API route '{path}'; the routes are listed in /api/v1/openapi.json."
            ),
        )
    }

    pub fn method_not_allowed(method: &str, allowed: &[&str]) -> ApiError {
        ApiError::new(
            405,
            "method_not_allowed",
            format!("{method} is not allowed here; use {}.", allowed.join(", ")),
        )
    }

    pub fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(revision) = self.current_revision {
            error["current_revision"] = Value::String(revision);
        }
        let mut response = crate::wide::json(self.status, &json!({ "error": error }));
        if self.status == 401 {
            response
                .headers
                .push(("www-authenticate".into(), "Bearer realm=\"Holt\"".into()));
        }
        response
    }
}

/// Host errors, by case. `Forbidden` is 401 when nobody is signed in (a token or a session
/// would help) and 403 otherwise. `Limit` is 413 `too_large` when one page or file is over the
/// size limit, and 403 `limit` when the wiki's tier limits (pages, storage) are reached.
/// `Unavailable` (a feature this deployment has off, such as semantic search without its model)
/// is 503 with the host's reason.
impl From<Error> for ApiError {
    fn from(err: Error) -> ApiError {
        match err {
            Error::NotFound(m) => ApiError::new(404, "not_found", capitalize(&m)),
            Error::Conflict(c) => ApiError {
                current_revision: c.current_revision,
                ..ApiError::new(
                    409,
                    "conflict",
                    format!(
                        "{}; re-read the page at current_revision, reapply your change and retry.",
                        capitalize(&c.message)
                    ),
                )
            },
            Error::Forbidden(m) if !context::whoami().signed_in => ApiError::unauthorized(&m),
            Error::Forbidden(m) => ApiError::new(403, "forbidden", capitalize(&m)),
            Error::Invalid(m) => ApiError::new(400, "invalid", capitalize(&m)),
            Error::Limit(m) if m.contains("larger than the limit") => {
                ApiError::new(413, "too_large", capitalize(&m))
            }
            Error::Limit(m) => ApiError::new(403, "limit", capitalize(&m)),
            Error::Internal(m) => ApiError::new(500, "internal", capitalize(&m)),
            Error::Unavailable(m) => ApiError::new(503, "unavailable", capitalize(&m)),
        }
    }
}

impl ApiError {
    fn unauthorized(reason: &str) -> ApiError {
        ApiError::new(
            401,
            "unauthorized",
            format!(
                "{}: send a wiki token as 'Authorization: Bearer TOKEN' (make one in the wiki's admin panel).",
                capitalize(reason)
            ),
        )
    }

    /// The refusal the host would give a caller who may not write (or upload): checked before
    /// a write's own preconditions, so a reader never learns more from a write than a 403.
    pub fn check(allowed: bool, action: &str) -> Result<(), ApiError> {
        if allowed {
            return Ok(());
        }
        let reason = format!("you may not {action} on this wiki");
        if !context::whoami().signed_in {
            return Err(ApiError::unauthorized(&reason));
        }
        Err(ApiError::new(403, "forbidden", capitalize(&reason)))
    }
}

/// Host messages start in lower case; ours are sentences.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

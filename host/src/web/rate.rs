//! The write rate limit: each principal (user, or everyone anonymous together) may make so many
//! state-changing requests a minute, to wikis and to the management API together; more are
//! refused with 429 and `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::tenancy::{ApexContext, RequestContext};

/// Token buckets, one per principal.
pub struct RateLimiter {
    per_minute: u32,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter allowing `per_minute` writes a minute per principal (0: unlimited).
    pub fn new(per_minute: u32) -> Self {
        RateLimiter {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one write from `key`'s bucket; `Err(seconds)` to wait if it is empty.
    pub fn take(&self, key: &str) -> Result<(), u64> {
        if self.per_minute == 0 {
            return Ok(());
        }
        let capacity = f64::from(self.per_minute);
        let per_second = capacity / 60.0;
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > 100_000 {
            // Forget full buckets rather than grow without bound.
            buckets.retain(|_, (tokens, at)| {
                *tokens + at.elapsed().as_secs_f64() * per_second < capacity
            });
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((capacity, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * per_second).min(capacity);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(((1.0 - *tokens) / per_second).ceil() as u64)
        }
    }
}

/// Middleware: state-changing requests to a wiki count against their principal's bucket.
pub async fn writes(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    // MCP requests are POSTs that mostly read; its server counts the tool calls that write.
    if safe || !state.resolver.is_platform() || request.uri().path() == crate::mcp::PATH {
        return next.run(request).await;
    }
    let api = request.uri().path().starts_with("/api/");
    let key = if let Some(ctx) = request.extensions().get::<RequestContext>() {
        ctx.rate_key()
    } else if let Some(ctx) = request.extensions().get::<ApexContext>()
        && api
    {
        // The management API's changes count too (signing in does not).
        match &ctx.user {
            Some(user) => format!("user:{}", user.id),
            None => "anonymous".to_string(),
        }
    } else {
        return next.run(request).await;
    };
    match state.rate.take(&key) {
        Ok(()) => next.run(request).await,
        Err(wait) => {
            let message = format!("Too many changes in a short time; try again in {wait} seconds.");
            let mut response = if api {
                super::api::ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message)
                    .into_response()
            } else {
                (StatusCode::TOO_MANY_REQUESTS, format!("{message}\n")).into_response()
            };
            if let Ok(value) = HeaderValue::from_str(&wait.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_refill_and_are_per_principal() {
        let limiter = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(limiter.take("a").is_ok());
        }
        let wait = limiter.take("a").unwrap_err();
        assert!((1..=20).contains(&wait), "{wait}");
        assert!(
            limiter.take("b").is_ok(),
            "another principal has its own bucket"
        );
        assert!(RateLimiter::new(0).take("a").is_ok());
    }
}

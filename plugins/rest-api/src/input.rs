//! Reading a request: path segments, query parameters, JSON bodies. Bad input is a 4xx with a
//! message saying what was expected; nothing here panics, whatever the request holds.

use holt_plugin_sdk::Request;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// Decodes `%XX` escapes of a path segment (`+` stays a plus: this is a path, not a form).
pub fn percent_decode(segment: &str) -> Result<String, ApiError> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = segment
                .get(i + 1..i + 3)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "invalid",
                        format!(
                            "The path segment '{segment}' has a bad %-escape; write '%' as %25."
                        ),
                    )
                })?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| {
        ApiError::new(
            400,
            "invalid",
            format!("The path segment '{segment}' is not UTF-8 once decoded."),
        )
    })
}

/// An integer query parameter within `min..=max`, or `default` when absent.
pub fn number(
    request: &Request,
    name: &str,
    default: u32,
    min: u32,
    max: u32,
) -> Result<u32, ApiError> {
    let Some(text) = request.query_param(name) else {
        return Ok(default);
    };
    match text.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::query(format!(
            "'{name}' must be a whole number from {min} to {max}, not '{text}'."
        ))),
    }
}

/// A query parameter that must be present and not blank.
pub fn required(request: &Request, name: &str, what: &str) -> Result<String, ApiError> {
    match request.query_param(name) {
        Some(value) if !value.trim().is_empty() => Ok(value),
        _ => Err(ApiError::query(format!(
            "The query parameter '{name}' is required: {what}."
        ))),
    }
}

/// A query parameter that is absent when missing or blank.
pub fn optional(request: &Request, name: &str) -> Option<String> {
    request.query_param(name).filter(|v| !v.is_empty())
}

/// A time as Unix seconds (`1793491200`) or an RFC 3339 UTC timestamp
/// (`2026-11-01T00:00:00Z`, fractions of a second allowed and ignored).
pub fn timestamp(text: &str) -> Option<i64> {
    if let Ok(seconds) = text.parse::<i64>() {
        return Some(seconds);
    }
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix('z'))
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = text.split_once(['T', 't'])?;
    let time = time.split_once('.').map_or(time, |(whole, fraction)| {
        if fraction.chars().all(|c| c.is_ascii_digit()) && !fraction.is_empty() {
            whole
        } else {
            ""
        }
    });
    let field = |s: &str, len: usize| -> Option<i64> {
        (s.len() == len && s.chars().all(|c| c.is_ascii_digit())).then(|| s.parse().ok())?
    };
    let mut d = date.split('-');
    let (year, month, day) = (
        field(d.next()?, 4)?,
        field(d.next()?, 2)?,
        field(d.next()?, 2)?,
    );
    let mut t = time.split(':');
    let (hour, minute, second) = (
        field(t.next()?, 2)?,
        field(t.next()?, 2)?,
        field(t.next()?, 2)?,
    );
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    let month_days = [
        31,
        28 + i64::from(is_leap(year)),
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    let days_in_month = *month_days.get(usize::try_from(month).ok()?.checked_sub(1)?)?;
    if day < 1 || day > days_in_month || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The request's JSON body as `T` (whose unknown fields are refused): 415 unless the content
/// type is `application/json`, 400 `invalid_json` naming serde's complaint otherwise.
pub fn json_body<T: DeserializeOwned>(request: &Request) -> Result<T, ApiError> {
    let content_type = request.header("content-type").unwrap_or("");
    let media = content_type.split(';').next().unwrap_or("").trim();
    if !media.eq_ignore_ascii_case("application/json") {
        let sent = if content_type.is_empty() {
            "none"
        } else {
            content_type
        };
        return Err(ApiError::new(
            415,
            "content_type",
            format!(
                "Send the body as JSON with 'Content-Type: application/json' (the request had {sent})."
            ),
        ));
    }
    serde_json::from_slice(&request.body).map_err(|err| {
        ApiError::new(
            400,
            "invalid_json",
            format!("The body is not the JSON this route takes: {err}. See /api/v1/openapi.json."),
        )
    })
}

/// The base revision of a write from the body or an `If-Match` header (`"abc123"`, quotes
/// optional); if both are given they must agree.
pub fn base_revision(
    request: &Request,
    from_body: Option<String>,
) -> Result<Option<String>, ApiError> {
    let header = request.header("if-match").map(|value| {
        let value = value.trim();
        let value = value.strip_prefix("W/").unwrap_or(value);
        value.trim_matches('"').to_string()
    });
    match (from_body, header) {
        (Some(body), Some(header)) if body != header => Err(ApiError::new(
            400,
            "invalid",
            format!(
                "The body's revision '{body}' and If-Match '{header}' differ; send one of them."
            ),
        )),
        (Some(revision), _) | (None, Some(revision)) if !revision.is_empty() => Ok(Some(revision)),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_unix_seconds_or_rfc3339_utc() {
        assert_eq!(timestamp("0"), Some(0));
        assert_eq!(timestamp("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(timestamp("2026-11-01T00:00:00Z"), Some(1_793_491_200));
        assert_eq!(timestamp("2000-02-29T12:30:15.25Z"), Some(951_827_415));
        assert_eq!(timestamp("2026-02-29T00:00:00Z"), None);
        assert_eq!(timestamp("yesterday"), None);
        assert_eq!(timestamp("2026-11-01T00:00:00+02:00"), None);
        assert_eq!(timestamp("2026-11-01"), None);
    }

    #[test]
    fn percent_decoding_refuses_bad_escapes() {
        assert_eq!(percent_decode("a%2Fb").ok().as_deref(), Some("a/b"));
        assert_eq!(percent_decode("a+b").ok().as_deref(), Some("a+b"));
        assert!(percent_decode("a%2").is_err());
        assert!(percent_decode("%ff").is_err());
    }
}

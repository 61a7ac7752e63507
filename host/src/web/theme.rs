//! The theme: tera templates and static files from `themes/default/`, built into the binary
//! (or read from `theme_dir` when developing a theme).

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::OnceLock;

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use jiff::civil::DateTime;
use serde::Serialize;
use tera::{Tera, Value};

use super::AppState;
use crate::render::highlight;
use crate::render::links::page_url;

macro_rules! theme_files {
    ($($name:literal),* $(,)?) => {
        &[$(($name, include_str!(concat!("../../../themes/default/", $name)))),*]
    };
}

/// Templates of the built-in theme, by name.
const TEMPLATES: &[(&str, &str)] = theme_files!(
    "templates/base.html",
    "templates/macros.html",
    "templates/page.html",
    "templates/missing.html",
    "templates/edit.html",
    "templates/history.html",
    "templates/diff.html",
    "templates/blame.html",
    "templates/source.html",
    "templates/attachments.html",
    "templates/rename.html",
    "templates/delete.html",
    "templates/index.html",
    "templates/changelog.html",
    "templates/commit.html",
    "templates/search.html",
    "templates/create.html",
    "templates/orphans.html",
    "templates/plugins.html",
    "templates/admin.html",
    "templates/apex.html",
    "templates/login.html",
    "templates/welcome.html",
    "templates/consent.html",
    "templates/account.html",
    "templates/feed.atom",
);

/// Static files of the built-in theme.
const STATIC: &[(&str, &str)] = theme_files!("static/holt.css", "static/holt.js");

/// Why the theme could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ThemeError {
    #[error("theme template: {0}")]
    Template(#[from] tera::Error),
    #[error("theme file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Templates and static files, ready to serve.
pub struct Theme {
    tera: Tera,
    statics: HashMap<String, String>,
    /// Changes whenever a static file changes; appended to their URLs so browsers may cache
    /// them forever.
    pub version: String,
}

impl Theme {
    /// The built-in theme, or the one in `dir`.
    pub fn load(dir: Option<&Path>) -> Result<Self, ThemeError> {
        let read = |name: &str, builtin: &str| -> Result<String, ThemeError> {
            match dir {
                Some(dir) => {
                    std::fs::read_to_string(dir.join(name)).map_err(|source| ThemeError::Io {
                        path: dir.join(name).display().to_string(),
                        source,
                    })
                }
                None => Ok(builtin.to_string()),
            }
        };
        let mut tera = Tera::default();
        tera.autoescape_on(vec![".html", ".atom"]);
        let mut templates = Vec::new();
        for (name, builtin) in TEMPLATES {
            let short = name.trim_start_matches("templates/");
            templates.push((short.to_string(), read(name, builtin)?));
        }
        tera.add_raw_templates(templates)?;
        tera.register_filter("page_url", filter_page_url);
        tera.register_filter("datetime", filter_datetime);
        tera.register_filter("rfc3339", filter_rfc3339);
        tera.register_filter("time_tag", filter_time_tag);
        tera.register_filter("filesize", filter_filesize);
        tera.register_filter("short", filter_short);
        tera.register_filter("first_line", filter_first_line);
        let mut statics = HashMap::new();
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for (name, builtin) in STATIC {
            let content = read(name, builtin)?;
            content.hash(&mut hasher);
            statics.insert(name.trim_start_matches("static/").to_string(), content);
        }
        Ok(Theme {
            tera,
            statics,
            version: format!("{:x}", hasher.finish()),
        })
    }

    /// Renders a template with `context`.
    pub fn render(&self, template: &str, context: &impl Serialize) -> Result<String, tera::Error> {
        let context = tera::Context::from_serialize(context)?;
        self.tera.render(template, &context)
    }
}

/// Serves `/-/static/{file}`.
pub async fn static_file(
    State(state): State<AppState>,
    UrlPath(file): UrlPath<String>,
) -> Response {
    static HIGHLIGHT_CSS: OnceLock<String> = OnceLock::new();
    let body = match file.as_str() {
        "highlight.css" => HIGHLIGHT_CSS.get_or_init(highlight::stylesheet).clone(),
        name => match state.theme.statics.get(name) {
            Some(content) => content.clone(),
            None => return (StatusCode::NOT_FOUND, "no such file").into_response(),
        },
    };
    let mime = mime_guess::from_path(&file).first_or_octet_stream();
    let mut response = body.into_response();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(mime.essence_str()) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    response
}

fn string_arg(value: &Value, filter: &str) -> tera::Result<String> {
    value
        .as_str()
        .map(str::to_string)
        .ok_or_else(|| tera::Error::msg(format!("{filter}: expected a string")))
}

fn filter_page_url(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(page_url(&string_arg(value, "page_url")?)))
}

fn filter_datetime(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(utc_date(&utc_of(value, "datetime")?)))
}

fn filter_rfc3339(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    Ok(Value::String(utc_rfc3339(&utc_of(value, "rfc3339")?)))
}

/// A `<time>` element with the absolute time; the theme's script shows it as "3 days ago".
/// (Pages never depend on the current time, so whole responses can be cached.)
fn filter_time_tag(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let (datetime, date) = utc_both(&utc_of(value, "time_tag")?);
    Ok(Value::String(format!(
        "<time datetime=\"{datetime}\">{date}</time>"
    )))
}

fn utc_of(value: &Value, filter: &str) -> tera::Result<DateTime> {
    let secs = value
        .as_i64()
        .ok_or_else(|| tera::Error::msg(format!("{filter}: expected seconds")))?;
    utc(secs).map_err(|e| tera::Error::msg(format!("{filter}: {e}")))
}

fn utc(secs: i64) -> Result<DateTime, jiff::Error> {
    Ok(jiff::tz::Offset::UTC.to_datetime(jiff::Timestamp::from_second(secs)?))
}

/// `2026-12-08T04:14:10Z`: written by hand, as strftime's parsing of its pattern costs more
/// than the formatting in a table of a hundred rows.
fn utc_rfc3339(t: &DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// `2026-12-08 04:14 UTC`, as pages show times.
fn utc_date(t: &DateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minute()
    )
}

fn utc_both(t: &DateTime) -> (String, String) {
    (utc_rfc3339(t), utc_date(t))
}

/// A time as a `<time datetime>` value and as pages show it, for views that work out their
/// rows in Rust; a time outside what a timestamp can hold shows as the epoch's seconds.
pub(super) fn utc_datetime_and_date(secs: i64) -> (String, String) {
    match utc(secs) {
        Ok(t) => utc_both(&t),
        Err(_) => (secs.to_string(), secs.to_string()),
    }
}

fn filter_filesize(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let bytes = value
        .as_u64()
        .ok_or_else(|| tera::Error::msg("filesize: expected bytes"))? as f64;
    let text = match bytes {
        b if b < 1024.0 => format!("{b} B"),
        b if b < 1024.0 * 1024.0 => format!("{:.1} KiB", b / 1024.0),
        b => format!("{:.1} MiB", b / (1024.0 * 1024.0)),
    };
    Ok(Value::String(text))
}

fn filter_short(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let id = string_arg(value, "short")?;
    Ok(Value::String(crate::wiki::short(&id).to_string()))
}

fn filter_first_line(value: &Value, _: &HashMap<String, Value>) -> tera::Result<Value> {
    let text = string_arg(value, "first_line")?;
    Ok(Value::String(
        text.lines().next().unwrap_or_default().to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_read_as_strftime_writes_them() {
        for secs in [
            0,
            1,
            59,
            86_399,
            951_782_400,
            1_765_170_000,
            4_102_444_799,
            -1,
            -86_401,
        ] {
            let ts = jiff::Timestamp::from_second(secs).unwrap();
            let (datetime, date) = utc_datetime_and_date(secs);
            assert_eq!(
                datetime,
                ts.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
                "{secs}"
            );
            assert_eq!(
                date,
                ts.strftime("%Y-%m-%d %H:%M UTC").to_string(),
                "{secs}"
            );
        }
        let tag = filter_time_tag(&Value::from(1_765_170_000), &HashMap::new()).unwrap();
        assert_eq!(
            tag,
            Value::String(
                "<time datetime=\"2025-12-08T05:00:00Z\">2025-12-08 05:00 UTC</time>".into()
            )
        );
        assert!(filter_time_tag(&Value::from("soon"), &HashMap::new()).is_err());
        assert_eq!(utc_datetime_and_date(i64::MAX).0, i64::MAX.to_string());
    }
}

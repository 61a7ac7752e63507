//! Which route a request path names. Paths arrive percent-encoded, below `/api/v1`. A page path
//! may span several segments (`/pages/Guides/Setup`) or carry `%2F` (`/pages/Guides%2FSetup`);
//! a page's sub-resources follow a `/-/` separator, as in the web UI.

use crate::error::ApiError;
use crate::input::percent_decode;

/// A route, with the page path (and attachment name) it names, decoded.
#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Health,
    OpenApi,
    Pages,
    Changelog,
    Search,
    SemanticSearch,
    ReindexStatus,
    Graph,
    Page(String),
    Rename(String),
    History(String),
    Diff(String),
    Links(String),
    Attachments(String),
    Attachment(String, String),
}

impl Route {
    /// The methods the route answers.
    pub fn methods(&self) -> &'static [&'static str] {
        match self {
            Route::Page(_) => &["GET", "PUT", "PATCH", "DELETE"],
            Route::Attachment(..) => &["GET", "PUT", "DELETE"],
            Route::Rename(_) => &["POST"],
            _ => &["GET"],
        }
    }

    pub fn allows(&self, method: &str) -> bool {
        self.methods().contains(&method)
    }
}

/// The route of `path` (e.g. `/pages/Guides/Setup/-/history`), or a 404 naming where the
/// routes are described.
pub fn parse(path: &str) -> Result<Route, ApiError> {
    let unknown = || ApiError::unknown_route(path);
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["health"] => Ok(Route::Health),
        ["openapi.json"] => Ok(Route::OpenApi),
        ["pages"] => Ok(Route::Pages),
        ["changelog"] => Ok(Route::Changelog),
        ["search"] => Ok(Route::Search),
        ["semantic-search"] => Ok(Route::SemanticSearch),
        ["reindex", "status"] => Ok(Route::ReindexStatus),
        ["links"] => Ok(Route::Graph),
        ["pages", rest @ ..] => {
            let separator = rest.iter().position(|s| *s == "-");
            let (page, sub) = match separator {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, &[][..]),
            };
            if page.is_empty() || page.iter().any(|s| s.is_empty()) {
                return Err(unknown());
            }
            let decoded: Vec<String> = page
                .iter()
                .map(|s| percent_decode(s))
                .collect::<Result<_, _>>()?;
            let page = decoded.join("/");
            match (separator.is_some(), sub) {
                (false, []) => Ok(Route::Page(page)),
                (true, ["rename"]) => Ok(Route::Rename(page)),
                (true, ["history"]) => Ok(Route::History(page)),
                (true, ["diff"]) => Ok(Route::Diff(page)),
                (true, ["links"]) => Ok(Route::Links(page)),
                (true, ["attachments"]) => Ok(Route::Attachments(page)),
                (true, ["attachments", name]) if !name.is_empty() => {
                    Ok(Route::Attachment(page, percent_decode(name)?))
                }
                _ => Err(unknown()),
            }
        }
        _ => Err(unknown()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_paths_may_use_slashes_or_percent_encoding() {
        let page = |p: &str| Route::Page(p.to_string());
        assert_eq!(
            parse("/pages/Guides/Setup").ok(),
            Some(page("Guides/Setup"))
        );
        assert_eq!(
            parse("/pages/Guides%2FSetup").ok(),
            Some(page("Guides/Setup"))
        );
        assert_eq!(parse("/pages/A%20B").ok(), Some(page("A B")));
        assert_eq!(
            parse("/pages/Guides/Setup/-/history").ok(),
            Some(Route::History("Guides/Setup".into()))
        );
        assert_eq!(
            parse("/pages/Home/-/attachments/a%20b.png").ok(),
            Some(Route::Attachment("Home".into(), "a b.png".into()))
        );
        assert!(parse("/pages/Home/-/nothing").is_err());
        assert!(parse("/pages/").is_err());
        assert!(parse("/nothing").is_err());
    }

    #[test]
    fn semantic_routes_are_read_only() {
        assert_eq!(parse("/semantic-search").ok(), Some(Route::SemanticSearch));
        assert_eq!(parse("/reindex/status").ok(), Some(Route::ReindexStatus));
        assert!(parse("/reindex").is_err());
        assert!(parse("/reindex/status/x").is_err());
        for route in [Route::SemanticSearch, Route::ReindexStatus] {
            assert!(route.allows("GET"));
            assert!(!route.allows("POST") && !route.allows("DELETE"));
        }
    }
}

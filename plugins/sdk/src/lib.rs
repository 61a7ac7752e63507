//! The Holt plugin SDK: write a Holt plugin by implementing the hooks you need.
//!
//! ```ignore
//! use holt_plugin_sdk::{Plugin, Request, Response, pages, register_plugin};
//!
//! struct Hello;
//!
//! impl Plugin for Hello {
//!     fn new() -> Self {
//!         Hello
//!     }
//!
//!     fn handle_http(&self, request: Request) -> Response {
//!         match pages::read("Home", None) {
//!             Ok(page) => Response::text(200, &format!("Home is {} bytes", page.content.len())),
//!             Err(err) => Response::error(&err),
//!         }
//!     }
//! }
//!
//! register_plugin!(Hello);
//! ```
//!
//! Every method of [`Plugin`] has a default that means "not provided"; declare the ones you
//! implement in `plugin.toml` (`[provides]`), and the host calls only those. Host calls such as
//! [`pages::read`] act for the user of the request being served, with the capabilities the
//! operator granted the plugin; anything else fails with [`Error::Forbidden`].

/// The generated bindings; use the re-exports below instead.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/holt-plugin/0.1.0",
        world: "holt:plugin/plugin",
        pub_export_macro: true,
        export_macro_name: "__export_holt_plugin",
        generate_all,
    });
}

/// The `holt:plugin` API version this SDK builds against, stamped into every plugin.
pub const API_VERSION: &str = "0.1.0";
#[doc(hidden)]
pub const API_VERSION_BYTES: [u8; 5] = *b"0.1.0";

pub use bindings::exports::holt::plugin::admin_sections::Section as AdminSection;
pub use bindings::exports::holt::plugin::bootstrap::NewPage;
pub use bindings::exports::holt::plugin::mcp_tools::{Tool, ToolResult};
pub use bindings::exports::holt::plugin::page_events::Saved as PageSaved;
pub use bindings::exports::holt::plugin::page_render_context::Fragment;
/// Host calls: attachments (capabilities `attachments:read`, `attachments:write`).
pub use bindings::holt::plugin::attachments;
/// Host calls: the operator's settings for this plugin.
pub use bindings::holt::plugin::config;
/// Host calls: who the call acts for, and on which wiki.
pub use bindings::holt::plugin::context;
/// Host calls: this plugin's key-value store (capability `kv`).
pub use bindings::holt::plugin::kv;
/// Host calls: pages and their history (capabilities `pages:read`, `pages:write`).
pub use bindings::holt::plugin::pages;
/// Host calls: full-text and semantic search, and the semantic index's state (capability
/// `pages:read`).
pub use bindings::holt::plugin::search;
pub use bindings::holt::plugin::types::{
    Attachment, Change, ChangeKind, Conflict, Error, Link, LinkGraph, Page, PageSummary, Principal,
    Revision, SearchHit, SemanticHit, SemanticIndexStatus,
};

/// An HTTP request routed to the plugin (credentials already removed by the host).
pub type Request = bindings::holt::plugin::types::HttpRequest;
/// An HTTP response from the plugin.
pub type Response = bindings::holt::plugin::types::HttpResponse;

/// What a plugin provides. Implement the methods for the hooks declared in `plugin.toml`.
pub trait Plugin {
    /// Creates the plugin; called once per call (every call runs in a fresh instance).
    fn new() -> Self
    where
        Self: Sized;

    /// Answers a request under a prefix declared in `provides.http`.
    fn handle_http(&self, _request: Request) -> Response {
        Response::text(404, "not found")
    }

    /// Tools for AI assistants (`provides.mcp-tools = true`).
    fn list_tools(&self) -> Vec<Tool> {
        Vec::new()
    }

    /// Runs a tool with its arguments as a JSON object (as text).
    fn call_tool(&self, name: &str, _arguments: &str) -> ToolResult {
        ToolResult {
            content: format!("unknown tool '{name}'"),
            is_error: true,
        }
    }

    /// Rewrites a page's Markdown before rendering (`markdown-preprocess`).
    fn preprocess_markdown(&self, _path: &str, markdown: String) -> String {
        markdown
    }

    /// Rewrites a page's HTML after rendering (`html-postprocess`); sanitized again after.
    fn postprocess_html(&self, _path: &str, html: String) -> String {
        html
    }

    /// HTML fragments around a page (`page-render-context`): slots `sidebar`,
    /// `before-content`, `after-content`.
    fn fragments(&self, _path: &str) -> Vec<Fragment> {
        Vec::new()
    }

    /// A page was created or edited (`page-events`).
    fn page_saved(&self, _event: PageSaved) {}

    /// A page was deleted (`page-events`).
    fn page_deleted(&self, _path: &str, _revision: &str, _author: &str) {}

    /// A page was renamed (`page-events`).
    fn page_renamed(&self, _from: &str, _to: &str, _revision: &str, _author: &str) {}

    /// The ids of the admin sections to show (`admin-sections`); all by default.
    fn admin_sections(&self, sections: Vec<AdminSection>) -> Vec<String> {
        sections.into_iter().map(|s| s.id).collect()
    }

    /// The first pages of a new wiki (`bootstrap`).
    fn bootstrap_pages(&self, _params: &[(String, String)]) -> Result<Vec<NewPage>, String> {
        Err("this plugin provides no bootstrap pages".into())
    }
}

impl Response {
    /// A response with a body and a content type.
    pub fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            headers: vec![("content-type".into(), content_type.into())],
            body: body.into(),
        }
    }

    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status, "text/plain; charset=utf-8", text)
    }

    pub fn html(status: u16, html: &str) -> Response {
        Response::new(status, "text/html; charset=utf-8", html)
    }

    /// JSON already serialized to text.
    pub fn json(status: u16, json: &str) -> Response {
        Response::new(status, "application/json", json)
    }

    /// A plain-text response for a host error, with the fitting status.
    pub fn error(err: &Error) -> Response {
        let status = match err {
            Error::NotFound(_) => 404,
            Error::Conflict(_) => 409,
            Error::Forbidden(_) => 403,
            Error::Invalid(_) => 400,
            Error::Limit(_) => 413,
            Error::Internal(_) => 500,
            Error::Unavailable(_) => 501,
        };
        Response::text(status, &err.describe())
    }
}

impl Request {
    /// The value of a query parameter (percent-decoded), if present.
    pub fn query_param(&self, name: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(key) == name).then(|| decode(value))
        })
    }

    /// The value of a header (names compare case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match u8::from_str_radix(text.get(i + 1..i + 3).unwrap_or(""), 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Error {
    /// The error as a sentence for people (`forbidden: ...`).
    pub fn describe(&self) -> String {
        match self {
            Error::NotFound(m) => format!("not found: {m}"),
            Error::Conflict(c) => format!("conflict: {}", c.message),
            Error::Forbidden(m) => format!("forbidden: {m}"),
            Error::Invalid(m) => format!("invalid: {m}"),
            Error::Limit(m) => format!("limit: {m}"),
            Error::Internal(m) => format!("internal: {m}"),
            Error::Unavailable(m) => format!("unavailable: {m}"),
        }
    }
}

/// Writes to the host's log, tagged with the plugin's name.
pub mod log {
    use super::bindings::holt::plugin::log::{Level, log};

    pub fn debug(message: &str) {
        log(Level::Debug, message);
    }
    pub fn info(message: &str) {
        log(Level::Info, message);
    }
    pub fn warn(message: &str) {
        log(Level::Warn, message);
    }
    pub fn error(message: &str) {
        log(Level::Error, message);
    }
}

/// Escapes text for HTML, for plugins that build markup.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
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
    out
}

/// The URL path of a page (`Guides/Setup` → `/Guides/Setup`, with spaces and the like escaped).
pub fn page_url(path: &str) -> String {
    let mut out = String::from("/");
    for b in path.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Registers the plugin type: exports every hook (the host calls only the declared ones) and
/// stamps the API version into the component.
#[macro_export]
macro_rules! register_plugin {
    ($plugin:ty) => {
        #[doc(hidden)]
        struct __HoltExport;

        #[unsafe(link_section = "holt:api-version")]
        #[used]
        static __HOLT_API_VERSION: [u8; 5] = $crate::API_VERSION_BYTES;

        impl $crate::bindings::exports::holt::plugin::http_handler::Guest for __HoltExport {
            fn handle(request: $crate::Request) -> $crate::Response {
                <$plugin as $crate::Plugin>::new().handle_http(request)
            }
        }

        impl $crate::bindings::exports::holt::plugin::mcp_tools::Guest for __HoltExport {
            fn list_tools() -> Vec<$crate::Tool> {
                <$plugin as $crate::Plugin>::new().list_tools()
            }
            fn call_tool(name: String, arguments: String) -> $crate::ToolResult {
                <$plugin as $crate::Plugin>::new().call_tool(&name, &arguments)
            }
        }

        impl $crate::bindings::exports::holt::plugin::markdown_preprocess::Guest for __HoltExport {
            fn preprocess(path: String, markdown: String) -> String {
                <$plugin as $crate::Plugin>::new().preprocess_markdown(&path, markdown)
            }
        }

        impl $crate::bindings::exports::holt::plugin::html_postprocess::Guest for __HoltExport {
            fn postprocess(path: String, html: String) -> String {
                <$plugin as $crate::Plugin>::new().postprocess_html(&path, html)
            }
        }

        impl $crate::bindings::exports::holt::plugin::page_render_context::Guest for __HoltExport {
            fn fragments(path: String) -> Vec<$crate::Fragment> {
                <$plugin as $crate::Plugin>::new().fragments(&path)
            }
        }

        impl $crate::bindings::exports::holt::plugin::page_events::Guest for __HoltExport {
            fn page_saved(event: $crate::PageSaved) {
                <$plugin as $crate::Plugin>::new().page_saved(event)
            }
            fn page_deleted(path: String, revision: String, author: String) {
                <$plugin as $crate::Plugin>::new().page_deleted(&path, &revision, &author)
            }
            fn page_renamed(from: String, to: String, revision: String, author: String) {
                <$plugin as $crate::Plugin>::new().page_renamed(&from, &to, &revision, &author)
            }
        }

        impl $crate::bindings::exports::holt::plugin::admin_sections::Guest for __HoltExport {
            fn filter(sections: Vec<$crate::AdminSection>) -> Vec<String> {
                <$plugin as $crate::Plugin>::new().admin_sections(sections)
            }
        }

        impl $crate::bindings::exports::holt::plugin::bootstrap::Guest for __HoltExport {
            fn pages(params: Vec<(String, String)>) -> Result<Vec<$crate::NewPage>, String> {
                <$plugin as $crate::Plugin>::new().bootstrap_pages(&params)
            }
        }

        $crate::bindings::__export_holt_plugin!(__HoltExport with_types_in $crate::bindings);
    };
}

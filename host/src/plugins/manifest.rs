//! `plugin.toml`: what a plugin is, which API it was built for, what it asks and provides.
//!
//! ```toml
//! name = "example"
//! version = "0.1.0"
//! api = "0.1.0"                     # the holt:plugin WIT version
//! component = "plugin.wasm"         # next to this file
//! description = "A backlinks box and a list of orphaned pages"
//! capabilities = ["pages:read"]
//!
//! [provides]
//! http = ["/-/plugin/example"]      # prefixes routed to its http-handler
//! mcp-tools = false
//! hooks = ["html-postprocess"]
//! cacheable-reads = false           # true: reads may be answered from cache until a write
//! ```

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::capability::Capability;

/// The `holt:plugin` WIT versions this host can run.
pub const SUPPORTED_APIS: &[&str] = &["0.1.0"];

/// A hook a plugin can provide, each an exported interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Hook {
    MarkdownPreprocess,
    HtmlPostprocess,
    PageRenderContext,
    PageEvents,
    AdminSections,
    Bootstrap,
}

impl Hook {
    /// The WIT interface implementing this hook.
    pub fn interface(self) -> &'static str {
        match self {
            Hook::MarkdownPreprocess => "markdown-preprocess",
            Hook::HtmlPostprocess => "html-postprocess",
            Hook::PageRenderContext => "page-render-context",
            Hook::PageEvents => "page-events",
            Hook::AdminSections => "admin-sections",
            Hook::Bootstrap => "bootstrap",
        }
    }
}

/// What a plugin provides.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Provides {
    /// URL prefixes answered by its `http-handler`.
    #[serde(default)]
    pub http: Vec<String>,
    /// It exports `mcp-tools`.
    #[serde(default)]
    pub mcp_tools: bool,
    #[serde(default)]
    pub hooks: Vec<Hook>,
    /// Its answers to reads (GET requests, tools that do not write) depend only on the wiki's
    /// content, the request and the caller: the host may keep them until the wiki changes.
    #[serde(default)]
    pub cacheable_reads: bool,
}

/// A parsed and validated `plugin.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: String,
    pub api: String,
    pub component: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default)]
    pub provides: Provides,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

impl Manifest {
    /// Reads and validates the manifest at `path`.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Manifest::parse(&text).map_err(|message| ManifestError::Invalid {
            path: path.to_path_buf(),
            message,
        })
    }

    /// Parses and validates manifest text.
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), String> {
        let name_ok = !self.name.is_empty()
            && self.name.len() <= 40
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !name_ok {
            return Err(format!(
                "name '{}': use 1-40 lowercase letters, digits and hyphens",
                self.name
            ));
        }
        if self.version.trim().is_empty() {
            return Err("version is empty".into());
        }
        if !SUPPORTED_APIS.contains(&self.api.as_str()) {
            return Err(format!(
                "built for holt:plugin@{}, but this host supports holt:plugin@{}",
                self.api,
                SUPPORTED_APIS.join(", @")
            ));
        }
        let component = Path::new(&self.component);
        if self.component.is_empty()
            || component.is_absolute()
            || component
                .components()
                .any(|c| !matches!(c, std::path::Component::Normal(_)))
        {
            return Err(format!(
                "component '{}': name a file next to plugin.toml",
                self.component
            ));
        }
        for capability in &self.capabilities {
            capability.parse::<Capability>()?;
        }
        for prefix in &self.provides.http {
            check_prefix(prefix, &self.name)?;
        }
        Ok(())
    }

    /// The WIT interfaces the manifest says the component exports.
    pub fn declared_exports(&self) -> Vec<&'static str> {
        let mut out = Vec::new();
        if !self.provides.http.is_empty() {
            out.push("http-handler");
        }
        if self.provides.mcp_tools {
            out.push("mcp-tools");
        }
        out.extend(self.provides.hooks.iter().map(|h| h.interface()));
        out
    }
}

/// Plugins may answer under `/-/plugin/<their name>` or under `/api/`; nowhere else, so a
/// plugin can never shadow pages or the host's own routes.
fn check_prefix(prefix: &str, name: &str) -> Result<(), String> {
    let own = format!("/-/plugin/{name}");
    let segments_ok = prefix.split('/').skip(1).all(|s| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
    });
    let place_ok =
        prefix == own || prefix.starts_with(&format!("{own}/")) || prefix.starts_with("/api/");
    if !prefix.starts_with('/') || !segments_ok || !place_ok {
        return Err(format!(
            "http prefix '{prefix}': use '{own}' (or a path below it) or a path under '/api/', without a trailing slash"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "example"
version = "0.1.0"
api = "0.1.0"
component = "plugin.wasm"
capabilities = ["pages:read"]

[provides]
http = ["/-/plugin/example"]
hooks = ["html-postprocess"]
"#;

    #[test]
    fn a_good_manifest_parses() {
        let m = Manifest::parse(GOOD).unwrap();
        assert_eq!(m.name, "example");
        assert_eq!(m.provides.hooks, vec![Hook::HtmlPostprocess]);
        assert_eq!(
            m.declared_exports(),
            vec!["http-handler", "html-postprocess"]
        );
    }

    #[test]
    fn bad_manifests_say_what_is_wrong() {
        let cases = [
            (
                GOOD.replace("api = \"0.1.0\"", "api = \"9.9.9\""),
                "built for holt:plugin@9.9.9",
            ),
            (
                GOOD.replace("name = \"example\"", "name = \"Ex ample\""),
                "lowercase",
            ),
            (
                GOOD.replace("plugin.wasm", "../../etc/x.wasm"),
                "next to plugin.toml",
            ),
            (
                GOOD.replace("pages:read", "network"),
                "unknown capability 'network'",
            ),
            (
                GOOD.replace("/-/plugin/example", "/Home"),
                "http prefix '/Home'",
            ),
            (
                GOOD.replace("/-/plugin/example", "/-/plugin/other"),
                "http prefix",
            ),
            (GOOD.replace("/-/plugin/example", "/api/"), "http prefix"),
            (GOOD.replace("html-postprocess", "telepathy"), "telepathy"),
            (format!("{GOOD}\nsurprise = 1\n"), "surprise"),
        ];
        for (text, needle) in cases {
            let err = Manifest::parse(&text).unwrap_err();
            assert!(err.contains(needle), "expected {needle:?} in {err:?}");
        }
        assert!(Manifest::parse(&GOOD.replace("/-/plugin/example", "/api/v1")).is_ok());
        assert!(
            Manifest::parse(&GOOD.replace("/-/plugin/example", "/-/plugin/example/sub")).is_ok()
        );
    }
}

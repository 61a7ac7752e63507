//! `Settings`: defaults in code, then `holt.toml`, then `HOLT_*` environment variables.
//!
//! With no file and no environment, Holt runs its embedded default: a platform with its data in
//! `./holt-data`, listening on 127.0.0.1:8080 (`http://localhost:8080`, wikis at
//! `http://{slug}.localhost:8080`), with a demo wiki.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything a deployment can configure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// `platform`: many wikis, each at `{slug}.<domain>`, with accounts; `single`: one wiki,
    /// served on every host name, without accounts.
    pub mode: Mode,
    /// The platform's address as people reach it (scheme, host, port), e.g.
    /// `https://wiki.example.org`; wikis are at `{slug}.` that host. Default:
    /// `http://localhost:<port Holt listens on>`.
    pub public_url: Option<String>,
    /// Where wikis, databases and generated keys live.
    pub data_dir: PathBuf,
    /// The address the HTTP server binds.
    pub listen: SocketAddr,
    /// The wiki served in single-wiki mode.
    pub wiki: WikiSettings,
    pub limits: LimitSettings,
    pub cache: CacheSettings,
    pub platform: PlatformSettings,
    pub atproto: AtprotoSettings,
    pub semantic: SemanticSettings,
    /// Where plugin folders live (`<plugin_dir>/<name>/plugin.toml`). Default: `plugins/`
    /// beside the folder of the `holt` executable (so a cargo build finds `target/plugins`).
    pub plugin_dir: Option<PathBuf>,
    /// Enabled plugins and what the operator grants them, by name.
    pub plugins: BTreeMap<String, PluginSettings>,
    /// Load templates and static files from this folder instead of the built-in theme
    /// (for theme development; files are read at start).
    pub theme_dir: Option<PathBuf>,
}

/// How Holt serves wikis.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    Platform,
    Single,
}

/// Accounts, tiers and sessions in platform mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatformSettings {
    pub wikis_per_user: u32,
    pub pages_per_wiki: u64,
    pub bytes_per_wiki: u64,
    pub collaborators_per_wiki: u32,
    /// Writes (form posts, API and MCP calls that change something) one user or token may
    /// make per minute.
    pub writes_per_minute: u32,
    /// How long a sign-in lasts.
    pub session_days: u32,
    /// Allow signing in by typing a handle, without a password (development only: refused
    /// unless Holt listens on a loopback address and the request comes from one).
    pub dev_sign_in: bool,
    /// Create a demo user and a public demo wiki on first start.
    pub demo: bool,
}

impl Default for PlatformSettings {
    fn default() -> Self {
        PlatformSettings {
            wikis_per_user: 1,
            pages_per_wiki: 500,
            bytes_per_wiki: 50 << 20,
            collaborators_per_wiki: 3,
            writes_per_minute: 120,
            session_days: 30,
            dev_sign_in: true,
            demo: true,
        }
    }
}

/// Signing in with ATProto (Bluesky) accounts, in platform mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AtprotoSettings {
    /// The PLC directory that resolves `did:plc` identities.
    pub plc_url: String,
    /// Resolve handles by asking this service (`com.atproto.identity.resolveHandle`) instead
    /// of DNS and `https://<handle>/.well-known/atproto-did` (for a private network or tests).
    pub handle_resolver: Option<String>,
    /// Reach PDSs, authorization servers and the PLC directory over plain http, and on
    /// private addresses (tests with local peers only; never in production).
    pub allow_http: bool,
    /// The product name shown to people on their PDS's consent screen.
    pub client_name: String,
}

impl Default for AtprotoSettings {
    fn default() -> Self {
        AtprotoSettings {
            plc_url: "https://plc.directory".into(),
            handle_resolver: None,
            allow_http: false,
            client_name: "Holt".into(),
        }
    }
}

/// The wiki of single-wiki mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WikiSettings {
    /// The folder name under `<data_dir>/wikis/`.
    pub slug: String,
    /// Shown in the header and page titles.
    pub name: String,
    /// What visitors may do: "none", "read", "write" or "admin" (write and the admin panel).
    pub anonymous: AnonymousAccess,
}

/// Access granted to visitors in single-wiki mode (which has no accounts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnonymousAccess {
    None,
    Read,
    Write,
    /// Write, and use the wiki's admin panel.
    Admin,
}

/// The operator's settings for one plugin (`[plugins.<name>]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PluginSettings {
    pub enabled: bool,
    /// Capabilities granted (`pages:read`, `pages:write`, `attachments:read`,
    /// `attachments:write`, `kv`); a plugin asking for more is refused at start.
    pub grants: Vec<String>,
    /// Time a call may take, in milliseconds.
    pub timeout_ms: u64,
    /// Memory a call may use, in MiB.
    pub memory_mib: u64,
    /// Largest output accepted from one call, in bytes.
    pub max_output_bytes: u64,
    /// Settings the plugin reads with `config.get`.
    pub config: BTreeMap<String, String>,
    /// Wiki owners may switch the plugin off (and on again) for their wiki.
    pub owners_may_disable: bool,
}

impl Default for PluginSettings {
    fn default() -> Self {
        let limits = crate::plugins::Limits::default();
        PluginSettings {
            enabled: true,
            grants: Vec::new(),
            timeout_ms: limits.timeout.as_millis() as u64,
            memory_mib: limits.memory_bytes >> 20,
            max_output_bytes: limits.max_output_bytes,
            config: BTreeMap::new(),
            owners_may_disable: false,
        }
    }
}

impl PluginSettings {
    /// The limits every call of the plugin runs under.
    pub fn limits(&self) -> crate::plugins::Limits {
        crate::plugins::Limits {
            timeout: std::time::Duration::from_millis(self.timeout_ms.max(1)),
            memory_bytes: (self.memory_mib.max(1) << 20).min(crate::plugins::MAX_MEMORY_BYTES),
            max_output_bytes: self.max_output_bytes,
        }
    }
}

/// Memory given to caches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Bytes of rendered responses kept (0 turns the response cache off).
    pub response_bytes: u64,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            response_bytes: 32 << 20,
        }
    }
}

/// Semantic search (all-MiniLM-L6-v2 embeddings of every page's passages).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SemanticSettings {
    /// Off turns semantic search off even when the model is installed.
    pub enabled: bool,
    /// The model folder `tools/model/fetch.sh` fills. Default: `<data_dir>/models/all-MiniLM-L6-v2`
    /// if it exists, else the checkout's `models/all-MiniLM-L6-v2`.
    pub model_dir: Option<PathBuf>,
    /// Memory for wikis' vector indexes (MiB); the least recently searched are unloaded past it.
    pub memory_mib: u64,
    /// Which build of the model runs: `int8` (smaller, faster) or `fp32` (the published weights).
    pub precision: ModelPrecision,
    /// Threads one embedding may use; 1 leaves the other cores to requests.
    pub threads: usize,
    /// A second loaded copy of the model for queries, so that they never wait for the worker's
    /// passage (costs the model's memory once more).
    pub separate_query_model: bool,
    /// Seconds unused after which the model is unloaded (0: kept once loaded).
    pub unload_after_secs: u64,
}

impl Default for SemanticSettings {
    fn default() -> Self {
        SemanticSettings {
            enabled: true,
            model_dir: None,
            memory_mib: 256,
            precision: ModelPrecision::Int8,
            threads: 1,
            separate_query_model: false,
            unload_after_secs: 900,
        }
    }
}

/// Which build of the embedding model runs: both come from the same published weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelPrecision {
    /// The weights as published: matches sentence-transformers to 1e-4.
    Fp32,
    /// Weights quantized to 8 bits per channel (ONNX Runtime's dynamic quantization): a
    /// quarter of the memory and faster, within a stated tolerance of fp32.
    Int8,
}

/// Size limits, in bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    pub max_page_bytes: u64,
    pub max_attachment_bytes: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            mode: Mode::Platform,
            public_url: None,
            data_dir: PathBuf::from("holt-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            wiki: WikiSettings::default(),
            limits: LimitSettings::default(),
            cache: CacheSettings::default(),
            platform: PlatformSettings::default(),
            atproto: AtprotoSettings::default(),
            semantic: SemanticSettings::default(),
            plugin_dir: None,
            plugins: default_plugins(),
            theme_dir: None,
        }
    }
}

impl Default for WikiSettings {
    fn default() -> Self {
        WikiSettings {
            slug: "demo".into(),
            name: "Holt".into(),
            anonymous: AnonymousAccess::Write,
        }
    }
}

impl Default for LimitSettings {
    fn default() -> Self {
        LimitSettings {
            max_page_bytes: 1 << 20,
            max_attachment_bytes: 10 << 20,
        }
    }
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(#[from] Box<figment::Error>);

/// The plugins every deployment runs unless configured otherwise: new wikis' pages, the admin
/// panel's platform sections, and the REST API and MCP tools (which act only as far as each
/// caller may, so they are granted every page and attachment capability).
fn default_plugins() -> BTreeMap<String, PluginSettings> {
    let content: Vec<String> = [
        "pages:read",
        "pages:write",
        "attachments:read",
        "attachments:write",
    ]
    .map(String::from)
    .to_vec();
    let mut plugins: BTreeMap<String, PluginSettings> = ["bootstrap", "admin-hiding"]
        .into_iter()
        .map(|name| (name.to_string(), PluginSettings::default()))
        .collect();
    plugins.insert(
        "rest-api".into(),
        PluginSettings {
            grants: content.clone(),
            // Attachments (10 MiB by default) pass through it whole, both ways.
            memory_mib: 128,
            max_output_bytes: 16 << 20,
            ..PluginSettings::default()
        },
    );
    plugins.insert(
        "mcp-tools".into(),
        PluginSettings {
            grants: content,
            ..PluginSettings::default()
        },
    );
    plugins
}

impl Settings {
    /// The folder plugins are loaded from.
    pub fn plugin_dir(&self) -> PathBuf {
        if let Some(dir) = &self.plugin_dir {
            return dir.clone();
        }
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent()?.parent().map(|dir| dir.join("plugins")))
            .unwrap_or_else(|| PathBuf::from("plugins"))
    }

    /// Loads settings: defaults, then `config` (or `./holt.toml` if it exists), then `HOLT_*`
    /// variables (`HOLT_LISTEN`, `HOLT_DATA_DIR`, `HOLT_WIKI__NAME`, ...).
    pub fn load(config: Option<&Path>) -> Result<Self, ConfigError> {
        let mut figment = Figment::from(Serialized::defaults(Settings::default()));
        match config {
            Some(path) => figment = figment.merge(Toml::file_exact(path)),
            None if Path::new("holt.toml").exists() => {
                figment = figment.merge(Toml::file_exact("holt.toml"))
            }
            None => {}
        }
        // HOLT_LOG is the log filter, read by the CLI, not a setting.
        figment = figment.merge(Env::prefixed("HOLT_").ignore(&["LOG"]).split("__"));
        figment.extract().map_err(|e| ConfigError(Box::new(e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_overrides_defaults_and_unknown_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("holt.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9999\"\n[wiki]\nname = \"Notes\"\n",
        )
        .unwrap();
        let settings = Settings::load(Some(&file)).unwrap();
        assert_eq!(settings.listen.port(), 9999);
        assert_eq!(settings.wiki.name, "Notes");
        assert_eq!(settings.wiki.slug, "demo");

        std::fs::write(&file, "lsiten = \"x\"\n").unwrap();
        let err = Settings::load(Some(&file)).unwrap_err().to_string();
        assert!(err.contains("lsiten"), "{err}");
    }
}

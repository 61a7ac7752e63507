//! `Settings`: defaults in code, then `holt.toml`, then `HOLT_*` environment variables.
//!
//! With no file and no environment, Holt runs its embedded default: data in `./holt-data`,
//! listening on 127.0.0.1:8080, one wiki.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// Everything a deployment can configure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Settings {
    /// Where wikis, databases and generated keys live.
    pub data_dir: PathBuf,
    /// The address the HTTP server binds.
    pub listen: SocketAddr,
    /// The wiki served in single-wiki mode.
    pub wiki: WikiSettings,
    pub limits: LimitSettings,
    pub cache: CacheSettings,
    /// Load templates and static files from this folder instead of the built-in theme
    /// (for theme development; files are read at start).
    pub theme_dir: Option<PathBuf>,
}

/// The wiki of single-wiki mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WikiSettings {
    /// The folder name under `<data_dir>/wikis/`.
    pub slug: String,
    /// Shown in the header and page titles.
    pub name: String,
    /// What visitors who are not signed in may do: "read", "write" or "none".
    pub anonymous: AnonymousAccess,
}

/// Access granted to visitors who are not signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnonymousAccess {
    None,
    Read,
    Write,
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
            data_dir: PathBuf::from("holt-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            wiki: WikiSettings::default(),
            limits: LimitSettings::default(),
            cache: CacheSettings::default(),
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

impl Settings {
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

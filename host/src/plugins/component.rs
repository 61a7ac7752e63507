//! Components on disk: checking one before compiling it, and the compiled-artifact cache.
//!
//! The host reads a component's `holt:plugin` import and export names (and the SDK's
//! `holt:api-version` section) before compiling, so one built for another API version is
//! refused with a clear message instead of failing obscurely at link time.

use std::collections::BTreeSet;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::wasmparser::{ComponentExternalKind, Parser, Payload};
use wasmtime::{Engine, Error as WasmError};

use super::manifest::SUPPORTED_APIS;

/// The WIT package plugins are built against.
pub const PACKAGE: &str = "holt:plugin";
/// The custom section the SDK stamps with the API version it was built for.
pub const API_SECTION: &str = "holt:api-version";

/// What the binary says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inspection {
    /// `holt:plugin` versions named by its imports and exports.
    pub api_versions: BTreeSet<String>,
    /// The version in the `holt:api-version` section, if present.
    pub stamped_api: Option<String>,
    /// Exported `holt:plugin` interfaces (`http-handler`, ...).
    pub exports: BTreeSet<String>,
    /// Imported `holt:plugin` interfaces.
    pub imports: BTreeSet<String>,
}

/// Why a component was refused before compiling.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    #[error("not a WebAssembly component: {0}")]
    Malformed(String),
    #[error("not a Holt plugin: it neither imports nor exports any {PACKAGE} interface")]
    NotAPlugin,
    #[error("built for {PACKAGE}@{found}, but this host supports {PACKAGE}@{supported}")]
    UnsupportedApi { found: String, supported: String },
}

/// Reads the names and sections that matter, without compiling.
pub fn inspect(bytes: &[u8]) -> Result<Inspection, InspectError> {
    let mut out = Inspection::default();
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(bytes) {
        let payload = payload.map_err(|e| InspectError::Malformed(e.to_string()))?;
        match payload {
            Payload::Version { encoding, .. } => {
                if depth == 0 && encoding != wasmtime::wasmparser::Encoding::Component {
                    return Err(InspectError::Malformed(
                        "it is a core module, not a component".into(),
                    ));
                }
                depth += 1;
            }
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(section) if depth == 1 => {
                for import in section {
                    let import = import.map_err(|e| InspectError::Malformed(e.to_string()))?;
                    record(import.name.name, &mut out.imports, &mut out.api_versions);
                }
            }
            Payload::ComponentExportSection(section) if depth == 1 => {
                for export in section {
                    let export = export.map_err(|e| InspectError::Malformed(e.to_string()))?;
                    if export.kind == ComponentExternalKind::Instance {
                        record(export.name.name, &mut out.exports, &mut out.api_versions);
                    }
                }
            }
            Payload::CustomSection(section) if section.name() == API_SECTION => {
                out.stamped_api = Some(String::from_utf8_lossy(section.data()).trim().to_string());
            }
            _ => {}
        }
    }
    if out.api_versions.is_empty() {
        return Err(InspectError::NotAPlugin);
    }
    let mut versions: BTreeSet<&String> = out.api_versions.iter().collect();
    if let Some(stamped) = &out.stamped_api {
        versions.insert(stamped);
    }
    if let Some(found) = versions
        .iter()
        .find(|v| !SUPPORTED_APIS.contains(&v.as_str()))
    {
        return Err(InspectError::UnsupportedApi {
            found: (*found).clone(),
            supported: SUPPORTED_APIS.join(", "),
        });
    }
    Ok(out)
}

/// Records `holt:plugin/<interface>@<version>`.
fn record(name: &str, interfaces: &mut BTreeSet<String>, versions: &mut BTreeSet<String>) {
    let Some(rest) = name.strip_prefix(PACKAGE).and_then(|r| r.strip_prefix('/')) else {
        return;
    };
    let (interface, version) = rest.split_once('@').unwrap_or((rest, ""));
    interfaces.insert(interface.to_string());
    versions.insert(version.to_string());
}

/// Compiled components, kept on disk by content hash and engine compatibility, so a restart
/// (or a second process) loads in milliseconds instead of compiling again.
pub struct ComponentCache {
    dir: PathBuf,
}

impl ComponentCache {
    pub fn new(dir: PathBuf) -> Self {
        ComponentCache { dir }
    }

    /// The compiled component for `bytes`, from the cache or freshly compiled (then cached).
    /// Returns whether it came from the cache.
    pub fn load(&self, engine: &Engine, bytes: &[u8]) -> Result<(Component, bool), WasmError> {
        let path = self.path_for(engine, bytes);
        if path.exists() {
            // SAFETY: the file was written by `Component::serialize` of an engine with the same
            // compatibility hash (part of its name), under the data directory Holt owns.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, true)),
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err, "discarding a damaged compiled plugin")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        if let Err(err) = self.store(&path, &component) {
            tracing::warn!(path = %path.display(), error = %err, "could not cache a compiled plugin");
        }
        Ok((component, false))
    }

    fn path_for(&self, engine: &Engine, bytes: &[u8]) -> PathBuf {
        let content = hex(&Sha256::digest(bytes));
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        self.dir
            .join(format!("{}-{:016x}.cwasm", &content[..32], hasher.finish()))
    }

    fn store(&self, path: &Path, component: &Component) -> Result<(), WasmError> {
        std::fs::create_dir_all(&self.dir)?;
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        std::fs::write(&tmp, component.serialize()?)?;
        std::fs::rename(&tmp, path)?;
        Ok(())
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

//! What one plugin call runs with: a fresh `Store` per call holding the request's context,
//! the plugin's grants and limits, and a WASI context with nothing in it.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::ResourceLimiter;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::LoadedPlugin;
use super::kv::KvStore;
use crate::tenancy::RequestContext;

/// Per-plugin limits on every call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Wall-clock time a call may take (enforced by epoch interruption: it stops, not yields).
    pub timeout: Duration,
    /// Linear memory a call's instance may grow to, in bytes.
    pub memory_bytes: u64,
    /// Largest output (HTTP body, HTML, tool result) accepted from the plugin, in bytes.
    pub max_output_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: Duration::from_secs(2),
            memory_bytes: 64 << 20,
            max_output_bytes: 8 << 20,
        }
    }
}

/// Bytes of guest stderr kept for the log when a call fails (a panic message, say).
const STDERR_BYTES: usize = 4096;

/// The store data of one call.
pub struct PluginState {
    pub ctx: RequestContext,
    pub plugin: Arc<LoadedPlugin>,
    pub kv: Arc<KvStore>,
    /// The wiki's base URL as the request named it (`http://host`).
    pub base_url: String,
    /// The wiki's display name.
    pub site_name: String,
    pub limiter: Limiter,
    wasi: WasiCtx,
    table: ResourceTable,
    pub stderr: MemoryOutputPipe,
}

impl PluginState {
    pub fn new(
        ctx: RequestContext,
        plugin: Arc<LoadedPlugin>,
        kv: Arc<KvStore>,
        base_url: String,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_BYTES);
        // No preopened directories, no environment, no arguments, no network: the only ways
        // out of the sandbox are Holt's own imports.
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let memory = plugin.limits.memory_bytes;
        PluginState {
            ctx,
            plugin,
            kv,
            base_url,
            site_name: String::new(),
            limiter: Limiter {
                memory_bytes: memory,
                hit: None,
            },
            wasi,
            table: ResourceTable::new(),
            stderr,
        }
    }

    /// What the guest wrote to stderr (for the log of a failed call).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_string()
    }
}

impl WasiView for PluginState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Caps an instance's memory and tables, and remembers which cap stopped it.
pub struct Limiter {
    memory_bytes: u64,
    /// Set when a cap refused a growth (the call then traps and is reported as over the limit).
    pub hit: Option<String>,
}

/// Most table elements an instance may have.
const MAX_TABLE_ELEMENTS: usize = 100_000;

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired as u64 > self.memory_bytes {
            self.hit = Some(format!("memory limit of {} MiB", self.memory_bytes >> 20));
            // Trap rather than return -1: a guest allocator's failure path may itself allocate.
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes reached",
                self.memory_bytes
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > MAX_TABLE_ELEMENTS {
            self.hit = Some(format!("table limit of {MAX_TABLE_ELEMENTS} elements"));
            return Err(wasmtime::format_err!("table limit reached"));
        }
        Ok(true)
    }
}

//! `PluginHost`: runs the operator's WebAssembly plugins, sandboxed.
//!
//! One `Engine` (pooling allocator, epoch interruption), one `InstancePre` per plugin, and a fresh
//! `Store` per call. Each call has a deadline that stops it, a memory cap and output caps; a
//! trap, timeout or overrun fails that call alone, is logged with the plugin's name and counted,
//! and the host serves the next request as before.

pub mod capability;
pub mod component;
pub mod kv;
pub mod manifest;
mod state;
mod v0_1_0;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use wasmtime::component::{InstancePre, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig, Store, Trap};

pub use capability::{Capability, Grants};
pub use component::{ComponentCache, Inspection};
pub use manifest::{Hook, Manifest};
pub use state::Limits;
use state::PluginState;
pub use v0_1_0::types::{HttpRequest, HttpResponse};
use v0_1_0::{
    admin_sections, bootstrap, html_postprocess, http_handler, markdown_preprocess, mcp_tools,
    page_events, page_render_context,
};

use crate::config::PluginSettings;
use crate::tenancy::RequestContext;

/// How often the engine's epoch advances; deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(5);
/// Instances that may exist at once (more callers wait for a slot).
const MAX_INSTANCES: u32 = 64;
/// Bytes of each pooled memory, table and stack kept resident between calls.
const KEEP_RESIDENT: usize = 64 << 10;
/// The largest memory cap an operator may give a plugin.
pub const MAX_MEMORY_BYTES: u64 = 1 << 30;

/// Why a plugin call failed. The message is safe to show; details go to the log.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PluginError {
    #[error("there is no enabled plugin '{0}'")]
    Unknown(String),
    #[error("the plugin '{plugin}' does not provide {what}")]
    NotProvided { plugin: String, what: &'static str },
    #[error("the plugin '{plugin}' did not finish within {limit_ms} ms")]
    Timeout { plugin: String, limit_ms: u128 },
    #[error("the plugin '{plugin}' went over its {limit}")]
    OverLimit { plugin: String, limit: String },
    #[error("the plugin '{plugin}' returned {size} bytes, over its limit of {limit} bytes")]
    OutputTooLarge {
        plugin: String,
        size: u64,
        limit: u64,
    },
    #[error("the plugin '{plugin}' failed ({reason})")]
    Trapped { plugin: String, reason: String },
}

/// Why plugins could not be loaded; the host refuses to start rather than run without them.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("plugin '{name}': {message}")]
    Plugin { name: String, message: String },
    #[error("plugin engine: {0}")]
    Engine(String),
}

/// Counters of one plugin's calls, for the status page and `holt plugin list`.
#[derive(Debug, Default)]
pub struct PluginStats {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub timeouts: AtomicU64,
    pub over_limit: AtomicU64,
}

/// An MCP tool, and the plugin that provides it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpTool {
    pub plugin: String,
    pub name: String,
    pub description: String,
    /// A JSON Schema of the arguments object, as text.
    pub input_schema: String,
    /// The tool changes the wiki (it is hidden from callers who may only read).
    pub writes: bool,
}

/// What an MCP tool answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McpToolResult {
    pub content: String,
    pub is_error: bool,
}

/// What a cached tool answer is keyed by: everything the answer may depend on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct ToolKey {
    wiki: String,
    version: u64,
    viewer: String,
    role: Option<&'static str>,
    site: String,
    base_url: String,
    plugin: String,
    tool: String,
    arguments: String,
}

/// The largest tool answer kept.
const MAX_CACHED_TOOL_RESULT: usize = 256 << 10;

#[derive(Clone)]
struct AnswerBytes;

impl quick_cache::Weighter<ToolKey, Arc<McpToolResult>> for AnswerBytes {
    fn weight(&self, key: &ToolKey, value: &Arc<McpToolResult>) -> u64 {
        (value.content.len() + key.arguments.len() + key.viewer.len() + 128) as u64
    }
}

/// A plugin ready to run.
pub struct LoadedPlugin {
    pub manifest: Manifest,
    pub grants: Grants,
    pub limits: Limits,
    pub config: BTreeMap<String, String>,
    /// The `holt:plugin` interfaces the component exports.
    pub exports: BTreeSet<String>,
    /// The compiled component came from the on-disk cache.
    pub from_cache: bool,
    pub stats: PluginStats,
    /// Its MCP tools, once asked for.
    tools: tokio::sync::OnceCell<Vec<McpTool>>,
    pre: InstancePre<PluginState>,
    http: Option<http_handler::GuestIndices>,
    mcp: Option<mcp_tools::GuestIndices>,
    markdown: Option<markdown_preprocess::GuestIndices>,
    html: Option<html_postprocess::GuestIndices>,
    fragments: Option<page_render_context::GuestIndices>,
    events: Option<page_events::GuestIndices>,
    admin: Option<admin_sections::GuestIndices>,
    bootstrap: Option<bootstrap::GuestIndices>,
}

impl LoadedPlugin {
    pub fn name(&self) -> &str {
        &self.manifest.name
    }

    fn provides(&self, hook: Hook) -> bool {
        self.manifest.provides.hooks.contains(&hook)
    }
}

/// Runs the enabled plugins.
pub struct PluginHost {
    engine: Engine,
    plugins: Vec<Arc<LoadedPlugin>>,
    slots: tokio::sync::Semaphore,
    kv: Mutex<HashMap<PathBuf, Arc<kv::KvStore>>>,
    site_name: String,
    /// Answers of read-only tools of plugins with cacheable reads, by wiki version.
    tool_results: Option<quick_cache::sync::Cache<ToolKey, Arc<McpToolResult>, AnswerBytes>>,
}

/// Where plugins come from and how they are configured.
pub struct HostOptions<'a> {
    pub plugin_dir: PathBuf,
    pub cache_dir: PathBuf,
    pub plugins: &'a BTreeMap<String, PluginSettings>,
    pub site_name: String,
    /// Bytes of read-only tool answers kept (0: none).
    pub tool_cache_bytes: u64,
}

/// Creates the engine all plugins share: async, epoch-interruptible, pooled instances sized for
/// the largest memory cap in use.
pub fn engine(max_memory: u64) -> Result<Engine, LoadError> {
    let mut pool = PoolingAllocationConfig::default();
    pool.total_component_instances(MAX_INSTANCES)
        .total_core_instances(MAX_INSTANCES * 4)
        .total_memories(MAX_INSTANCES * 2)
        .total_tables(MAX_INSTANCES * 4)
        .total_stacks(MAX_INSTANCES)
        .max_memory_size(max_memory.clamp(1 << 20, MAX_MEMORY_BYTES) as usize)
        // Reusing a slot zeroes its first pages in place instead of returning them to the
        // kernel: a call then touches warm memory instead of faulting pages in again.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .async_stack_keep_resident(KEEP_RESIDENT);
    let mut config = Config::new();
    config
        .epoch_interruption(true)
        .wasm_component_model(true)
        .max_wasm_stack(1 << 20)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).map_err(|e| LoadError::Engine(e.to_string()))?;
    let ticker = engine.weak();
    std::thread::Builder::new()
        .name("holt-plugin-epoch".into())
        .spawn(move || {
            while let Some(engine) = ticker.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(EPOCH_TICK);
            }
        })
        .map_err(|e| LoadError::Engine(e.to_string()))?;
    Ok(engine)
}

impl PluginHost {
    /// A host with no plugins.
    pub fn empty() -> Self {
        PluginHost::with(
            Vec::new(),
            engine(1 << 20).expect("an engine without plugins"),
            String::new(),
        )
    }

    fn with(plugins: Vec<Arc<LoadedPlugin>>, engine: Engine, site_name: String) -> Self {
        PluginHost {
            engine,
            plugins,
            slots: tokio::sync::Semaphore::new(MAX_INSTANCES as usize),
            kv: Mutex::new(HashMap::new()),
            site_name,
            tool_results: None,
        }
    }

    /// Loads every enabled plugin; any that cannot be loaded is an error naming it and why.
    pub fn load(options: HostOptions<'_>) -> Result<Self, LoadError> {
        let enabled: Vec<(&String, &PluginSettings)> =
            options.plugins.iter().filter(|(_, s)| s.enabled).collect();
        let max_memory = enabled
            .iter()
            .map(|(_, s)| s.limits().memory_bytes)
            .max()
            .unwrap_or(1 << 20);
        let engine = engine(max_memory)?;
        let mut linker = Linker::new(&engine);
        v0_1_0::add_to_linker(&mut linker).map_err(|e| LoadError::Engine(e.to_string()))?;
        let cache = ComponentCache::new(options.cache_dir.clone());
        let mut plugins = Vec::new();
        for (name, settings) in enabled {
            let dir = options.plugin_dir.join(name);
            let plugin =
                load_plugin(&engine, &linker, &cache, &dir, name, settings).map_err(|message| {
                    LoadError::Plugin {
                        name: name.clone(),
                        message,
                    }
                })?;
            tracing::info!(
                plugin = %name,
                version = %plugin.manifest.version,
                cached = plugin.from_cache,
                "plugin loaded"
            );
            plugins.push(Arc::new(plugin));
        }
        let mut seen: HashMap<&str, &str> = HashMap::new();
        for plugin in &plugins {
            for prefix in &plugin.manifest.provides.http {
                if let Some(other) = seen.insert(prefix, plugin.name()) {
                    return Err(LoadError::Plugin {
                        name: plugin.name().to_string(),
                        message: format!(
                            "its http prefix '{prefix}' is already served by '{other}'"
                        ),
                    });
                }
            }
        }
        let mut host = PluginHost::with(plugins, engine, options.site_name);
        host.tool_results = (options.tool_cache_bytes > 0).then(|| {
            quick_cache::sync::Cache::with_weighter(1024, options.tool_cache_bytes, AnswerBytes)
        });
        Ok(host)
    }

    pub fn plugins(&self) -> &[Arc<LoadedPlugin>] {
        &self.plugins
    }

    pub fn get(&self, name: &str) -> Result<&Arc<LoadedPlugin>, PluginError> {
        self.plugins
            .iter()
            .find(|p| p.name() == name)
            .ok_or_else(|| PluginError::Unknown(name.to_string()))
    }

    /// (prefix, plugin) pairs to route to plugins' http handlers.
    pub fn http_routes(&self) -> Vec<(String, String)> {
        self.plugins
            .iter()
            .flat_map(|p| {
                p.manifest
                    .provides
                    .http
                    .iter()
                    .map(|prefix| (prefix.clone(), p.name().to_string()))
            })
            .collect()
    }

    /// The plugins providing `hook` that run for the request's wiki.
    fn active<'a>(
        &'a self,
        ctx: &'a RequestContext,
        hook: Hook,
    ) -> impl Iterator<Item = &'a Arc<LoadedPlugin>> + 'a {
        self.plugins
            .iter()
            .filter(move |p| p.provides(hook) && ctx.plugin_enabled(p.name()))
    }

    /// Whether any plugin rewrites pages as they render.
    pub fn has_render_hooks(&self) -> bool {
        self.plugins
            .iter()
            .any(|p| p.provides(Hook::MarkdownPreprocess) || p.provides(Hook::HtmlPostprocess))
    }

    fn kv_for(&self, ctx: &RequestContext) -> Result<Arc<kv::KvStore>, PluginError> {
        let path = ctx.wiki.dir().join("plugin-data.sqlite");
        let mut stores = self.kv.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(store) = stores.get(&path) {
            return Ok(store.clone());
        }
        let store = Arc::new(kv::KvStore::open(&path).map_err(|e| PluginError::Trapped {
            plugin: "host".into(),
            reason: format!("cannot open the plugin data store: {e}"),
        })?);
        stores.insert(path, store.clone());
        Ok(store)
    }

    /// A fresh store and instance of `plugin` for one call acting as `ctx`.
    async fn instantiate(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: &RequestContext,
        base_url: &str,
    ) -> Result<
        (
            Store<PluginState>,
            wasmtime::component::Instance,
            tokio::sync::SemaphorePermit<'_>,
        ),
        PluginError,
    > {
        let permit = self
            .slots
            .acquire()
            .await
            .map_err(|_| PluginError::Trapped {
                plugin: plugin.name().to_string(),
                reason: "the host is shutting down".into(),
            })?;
        plugin.stats.calls.fetch_add(1, Ordering::Relaxed);
        let kv = self.kv_for(ctx)?;
        let mut data = PluginState::new(ctx.clone(), plugin.clone(), kv, base_url.to_string());
        data.site_name = ctx.display_name(&self.site_name).to_string();
        let mut store = Store::new(&self.engine, data);
        store.limiter(|state| &mut state.limiter);
        let ticks = plugin
            .limits
            .timeout
            .as_millis()
            .div_ceil(EPOCH_TICK.as_millis())
            .max(1) as u64;
        store.set_epoch_deadline(ticks);
        store.epoch_deadline_trap();
        match plugin.pre.instantiate_async(&mut store).await {
            Ok(instance) => Ok((store, instance, permit)),
            Err(err) => Err(self.failed(plugin, &store, err)),
        }
    }

    /// Classifies, logs and counts a failed call.
    fn failed(
        &self,
        plugin: &LoadedPlugin,
        store: &Store<PluginState>,
        err: wasmtime::Error,
    ) -> PluginError {
        let name = plugin.name().to_string();
        let stderr = store.data().stderr_text();
        let error = if let Some(limit) = store.data().limiter.hit.clone() {
            plugin.stats.over_limit.fetch_add(1, Ordering::Relaxed);
            PluginError::OverLimit {
                plugin: name,
                limit,
            }
        } else {
            match err.downcast_ref::<Trap>() {
                Some(Trap::Interrupt) => {
                    plugin.stats.timeouts.fetch_add(1, Ordering::Relaxed);
                    PluginError::Timeout {
                        plugin: name,
                        limit_ms: plugin.limits.timeout.as_millis(),
                    }
                }
                Some(Trap::StackOverflow) => PluginError::Trapped {
                    plugin: name,
                    reason: "stack overflow".into(),
                },
                Some(Trap::UnreachableCodeReached) => PluginError::Trapped {
                    plugin: name,
                    reason: "it panicked".into(),
                },
                Some(trap) => PluginError::Trapped {
                    plugin: name,
                    reason: trap.to_string(),
                },
                None => PluginError::Trapped {
                    plugin: name,
                    reason: "it could not be run".into(),
                },
            }
        };
        plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(plugin = plugin.name(), error = %error, detail = %format!("{err:#}"), stderr = %stderr, "plugin call failed");
        error
    }

    fn check_output(&self, plugin: &LoadedPlugin, size: usize) -> Result<(), PluginError> {
        let limit = plugin.limits.max_output_bytes;
        if size as u64 > limit {
            plugin.stats.over_limit.fetch_add(1, Ordering::Relaxed);
            plugin.stats.failures.fetch_add(1, Ordering::Relaxed);
            let error = PluginError::OutputTooLarge {
                plugin: plugin.name().to_string(),
                size: size as u64,
                limit,
            };
            tracing::warn!(plugin = plugin.name(), error = %error, "plugin call failed");
            return Err(error);
        }
        Ok(())
    }

    /// Sends an HTTP request to a plugin's `http-handler`.
    pub async fn http(
        &self,
        name: &str,
        ctx: &RequestContext,
        base_url: &str,
        request: HttpRequest,
    ) -> Result<HttpResponse, PluginError> {
        let plugin = self.get(name)?;
        if !ctx.plugin_enabled(name) {
            return Err(PluginError::Unknown(name.to_string()));
        }
        let indices = plugin
            .http
            .as_ref()
            .ok_or_else(|| not_provided(plugin, "an http handler"))?;
        let (mut store, instance, _slot) = self.instantiate(plugin, ctx, base_url).await?;
        let result = match indices.load(&mut store, &instance) {
            Ok(guest) => guest.call_handle(&mut store, &request).await,
            Err(err) => Err(err),
        };
        let response = result.map_err(|err| self.failed(plugin, &store, err))?;
        self.check_output(plugin, response.body.len())?;
        Ok(response)
    }

    /// The MCP tools of every plugin enabled for the request's wiki. Each plugin's list is asked
    /// for once and kept (the contract says it may not depend on the caller); a name already
    /// taken by an earlier plugin is skipped, with a warning.
    pub async fn mcp_tools(&self, ctx: &RequestContext, base_url: &str) -> Vec<McpTool> {
        let mut out: Vec<McpTool> = Vec::new();
        for plugin in self.tool_plugins(ctx) {
            for tool in self.tools_of(plugin, ctx, base_url).await {
                if let Some(first) = out.iter().find(|t| t.name == tool.name) {
                    tracing::warn!(
                        plugin = plugin.name(),
                        tool = %tool.name,
                        first = %first.plugin,
                        "two plugins provide the same MCP tool; the first one serves it"
                    );
                    continue;
                }
                out.push(tool.clone());
            }
        }
        out
    }

    /// The MCP tool named `name` (as [`PluginHost::mcp_tools`] lists it), if any.
    pub async fn mcp_tool(
        &self,
        ctx: &RequestContext,
        base_url: &str,
        name: &str,
    ) -> Option<McpTool> {
        for plugin in self.tool_plugins(ctx) {
            if let Some(tool) = self
                .tools_of(plugin, ctx, base_url)
                .await
                .iter()
                .find(|t| t.name == name)
            {
                return Some(tool.clone());
            }
        }
        None
    }

    /// The plugins with MCP tools that run for the request's wiki.
    fn tool_plugins<'a>(
        &'a self,
        ctx: &'a RequestContext,
    ) -> impl Iterator<Item = &'a Arc<LoadedPlugin>> + 'a {
        self.plugins
            .iter()
            .filter(|p| p.manifest.provides.mcp_tools && ctx.plugin_enabled(p.name()))
    }

    /// A plugin's tools, asked for the first time they are needed (none if it fails to answer).
    async fn tools_of<'a>(
        &self,
        plugin: &'a Arc<LoadedPlugin>,
        ctx: &RequestContext,
        base_url: &str,
    ) -> &'a [McpTool] {
        plugin
            .tools
            .get_or_try_init(|| self.list_tools(plugin, ctx, base_url))
            .await
            .map_or(&[], |tools| tools.as_slice())
    }

    async fn list_tools(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: &RequestContext,
        base_url: &str,
    ) -> Result<Vec<McpTool>, PluginError> {
        let indices = plugin
            .mcp
            .as_ref()
            .ok_or_else(|| not_provided(plugin, "MCP tools"))?;
        let (mut store, instance, _slot) = self.instantiate(plugin, ctx, base_url).await?;
        let result = match indices.load(&mut store, &instance) {
            Ok(guest) => guest.call_list_tools(&mut store).await,
            Err(err) => Err(err),
        };
        let tools = result.map_err(|err| self.failed(plugin, &store, err))?;
        Ok(tools
            .into_iter()
            .map(|t| McpTool {
                plugin: plugin.name().to_string(),
                name: t.name,
                description: t.description,
                input_schema: t.input_schema,
                writes: t.writes,
            })
            .collect())
    }

    /// Calls one MCP tool of a plugin, with its arguments as JSON text. A tool that does not
    /// write, of a plugin whose reads are cacheable, is answered from cache until the wiki
    /// changes.
    pub async fn mcp_call(
        &self,
        tool: &McpTool,
        ctx: &RequestContext,
        base_url: &str,
        arguments: &str,
    ) -> Result<McpToolResult, PluginError> {
        let plugin = self.get(&tool.plugin)?;
        if !ctx.plugin_enabled(&tool.plugin) {
            return Err(PluginError::Unknown(tool.plugin.clone()));
        }
        let cache = self
            .tool_results
            .as_ref()
            .filter(|_| !tool.writes && plugin.manifest.provides.cacheable_reads);
        let key = cache.map(|_| ToolKey {
            wiki: ctx.wiki.slug().to_string(),
            version: ctx.wiki.version(),
            viewer: ctx.viewer_key(),
            role: ctx.role.map(|r| r.as_str()),
            site: ctx.display_name(&self.site_name).to_string(),
            base_url: base_url.to_string(),
            plugin: tool.plugin.clone(),
            tool: tool.name.clone(),
            arguments: arguments.to_string(),
        });
        if let (Some(cache), Some(key)) = (cache, &key)
            && let Some(hit) = cache.get(key)
        {
            return Ok((*hit).clone());
        }
        let result = self
            .call_tool(plugin, ctx, base_url, &tool.name, arguments)
            .await?;
        if let (Some(cache), Some(key)) = (cache, key)
            && result.content.len() <= MAX_CACHED_TOOL_RESULT
        {
            cache.insert(key, Arc::new(result.clone()));
        }
        Ok(result)
    }

    async fn call_tool(
        &self,
        plugin: &Arc<LoadedPlugin>,
        ctx: &RequestContext,
        base_url: &str,
        tool: &str,
        arguments: &str,
    ) -> Result<McpToolResult, PluginError> {
        let indices = plugin
            .mcp
            .as_ref()
            .ok_or_else(|| not_provided(plugin, "MCP tools"))?;
        let (mut store, instance, _slot) = self.instantiate(plugin, ctx, base_url).await?;
        let result = match indices.load(&mut store, &instance) {
            Ok(guest) => guest.call_call_tool(&mut store, tool, arguments).await,
            Err(err) => Err(err),
        };
        let output = result.map_err(|err| self.failed(plugin, &store, err))?;
        self.check_output(plugin, output.content.len())?;
        Ok(McpToolResult {
            content: output.content,
            is_error: output.is_error,
        })
    }

    /// Runs every `markdown-preprocess` hook in turn; a failing hook is skipped (and logged).
    pub async fn preprocess(
        &self,
        ctx: &RequestContext,
        base_url: &str,
        path: &str,
        markdown: String,
    ) -> String {
        let mut text = markdown;
        for plugin in self.active(ctx, Hook::MarkdownPreprocess) {
            let Some(indices) = &plugin.markdown else {
                continue;
            };
            let Ok((mut store, instance, _slot)) = self.instantiate(plugin, ctx, base_url).await
            else {
                continue;
            };
            let result = match indices.load(&mut store, &instance) {
                Ok(guest) => guest.call_preprocess(&mut store, path, &text).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(out) if self.check_output(plugin, out.len()).is_ok() => text = out,
                Ok(_) => {}
                Err(err) => {
                    self.failed(plugin, &store, err);
                }
            }
        }
        text
    }

    /// Runs every `html-postprocess` hook in turn (the caller sanitizes the result again).
    pub async fn postprocess(
        &self,
        ctx: &RequestContext,
        base_url: &str,
        path: &str,
        html: String,
    ) -> String {
        let mut text = html;
        for plugin in self.active(ctx, Hook::HtmlPostprocess) {
            let Some(indices) = &plugin.html else {
                continue;
            };
            let Ok((mut store, instance, _slot)) = self.instantiate(plugin, ctx, base_url).await
            else {
                continue;
            };
            let result = match indices.load(&mut store, &instance) {
                Ok(guest) => guest.call_postprocess(&mut store, path, &text).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(out) if self.check_output(plugin, out.len()).is_ok() => text = out,
                Ok(_) => {}
                Err(err) => {
                    self.failed(plugin, &store, err);
                }
            }
        }
        text
    }

    /// HTML fragments for the slots around a page, from every `page-render-context` hook.
    pub async fn fragments(
        &self,
        ctx: &RequestContext,
        base_url: &str,
        path: &str,
    ) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for plugin in self.active(ctx, Hook::PageRenderContext) {
            let Some(indices) = &plugin.fragments else {
                continue;
            };
            let Ok((mut store, instance, _slot)) = self.instantiate(plugin, ctx, base_url).await
            else {
                continue;
            };
            let result = match indices.load(&mut store, &instance) {
                Ok(guest) => guest.call_fragments(&mut store, path).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(fragments) => {
                    let size: usize = fragments.iter().map(|f| f.html.len()).sum();
                    if self.check_output(plugin, size).is_ok() {
                        out.extend(fragments.into_iter().map(|f| (f.slot, f.html)));
                    }
                }
                Err(err) => {
                    self.failed(plugin, &store, err);
                }
            }
        }
        out
    }

    /// The admin sections to show: those every `admin-sections` hook keeps.
    pub async fn admin_sections(
        &self,
        ctx: &RequestContext,
        base_url: &str,
        sections: Vec<(String, String)>,
    ) -> BTreeSet<String> {
        let mut shown: BTreeSet<String> = sections.iter().map(|(id, _)| id.clone()).collect();
        let listed: Vec<admin_sections::Section> = sections
            .into_iter()
            .map(|(id, title)| admin_sections::Section { id, title })
            .collect();
        for plugin in self.active(ctx, Hook::AdminSections) {
            let Some(indices) = &plugin.admin else {
                continue;
            };
            let Ok((mut store, instance, _slot)) = self.instantiate(plugin, ctx, base_url).await
            else {
                continue;
            };
            let result = match indices.load(&mut store, &instance) {
                Ok(guest) => guest.call_filter(&mut store, &listed).await,
                Err(err) => Err(err),
            };
            match result {
                Ok(kept) => {
                    let kept: BTreeSet<String> = kept.into_iter().collect();
                    shown.retain(|id| kept.contains(id));
                }
                Err(err) => {
                    self.failed(plugin, &store, err);
                }
            }
        }
        shown
    }

    /// The starter pages of a new wiki, from the first plugin providing `bootstrap`.
    pub async fn bootstrap(
        &self,
        ctx: &RequestContext,
        base_url: &str,
        params: Vec<(String, String)>,
    ) -> Result<Option<Vec<(String, String)>>, PluginError> {
        let Some(plugin) = self.active(ctx, Hook::Bootstrap).next() else {
            return Ok(None);
        };
        let indices = plugin
            .bootstrap
            .as_ref()
            .ok_or_else(|| not_provided(plugin, "bootstrap pages"))?;
        let (mut store, instance, _slot) = self.instantiate(plugin, ctx, base_url).await?;
        let result = match indices.load(&mut store, &instance) {
            Ok(guest) => guest.call_pages(&mut store, &params).await,
            Err(err) => Err(err),
        };
        match result.map_err(|err| self.failed(plugin, &store, err))? {
            Ok(pages) => Ok(Some(
                pages.into_iter().map(|p| (p.path, p.content)).collect(),
            )),
            Err(reason) => Err(PluginError::Trapped {
                plugin: plugin.name().to_string(),
                reason,
            }),
        }
    }

    /// Tells every `page-events` plugin about committed changes (in order, acting as `ctx`).
    pub async fn page_events(
        &self,
        ctx: &RequestContext,
        base_url: &str,
        events: &[crate::wiki::PageEvent],
    ) {
        for plugin in self.active(ctx, Hook::PageEvents) {
            let Some(indices) = &plugin.events else {
                continue;
            };
            for event in events {
                let Ok((mut store, instance, _slot)) =
                    self.instantiate(plugin, ctx, base_url).await
                else {
                    continue;
                };
                let result = match indices.load(&mut store, &instance) {
                    Ok(guest) => deliver(&guest, &mut store, event).await,
                    Err(err) => Err(err),
                };
                if let Err(err) = result {
                    self.failed(plugin, &store, err);
                }
            }
        }
    }
}

async fn deliver(
    guest: &page_events::Guest,
    store: &mut Store<PluginState>,
    event: &crate::wiki::PageEvent,
) -> wasmtime::Result<()> {
    use crate::wiki::PageEventKind;
    match &event.kind {
        PageEventKind::Saved { created } => {
            let saved = page_events::Saved {
                path: event.path.clone(),
                revision: event.revision.clone(),
                author: event.author.clone(),
                created: *created,
            };
            guest.call_page_saved(store, &saved).await
        }
        PageEventKind::Deleted => {
            guest
                .call_page_deleted(store, &event.path, &event.revision, &event.author)
                .await
        }
        PageEventKind::Renamed { from } => {
            guest
                .call_page_renamed(store, from, &event.path, &event.revision, &event.author)
                .await
        }
    }
}

fn not_provided(plugin: &LoadedPlugin, what: &'static str) -> PluginError {
    PluginError::NotProvided {
        plugin: plugin.name().to_string(),
        what,
    }
}

/// One configured plugin as `holt plugin list` shows it: loaded, or why not.
pub struct Survey {
    pub name: String,
    pub enabled: bool,
    pub loaded: Result<Arc<LoadedPlugin>, String>,
}

/// Tries to load every configured plugin (enabled or not), reporting each on its own.
pub fn survey(options: HostOptions<'_>) -> Result<Vec<Survey>, LoadError> {
    let max_memory = options
        .plugins
        .values()
        .map(|s| s.limits().memory_bytes)
        .max()
        .unwrap_or(1 << 20);
    let engine = engine(max_memory)?;
    let mut linker = Linker::new(&engine);
    v0_1_0::add_to_linker(&mut linker).map_err(|e| LoadError::Engine(e.to_string()))?;
    let cache = ComponentCache::new(options.cache_dir.clone());
    Ok(options
        .plugins
        .iter()
        .map(|(name, settings)| Survey {
            name: name.clone(),
            enabled: settings.enabled,
            loaded: load_plugin(
                &engine,
                &linker,
                &cache,
                &options.plugin_dir.join(name),
                name,
                settings,
            )
            .map(Arc::new),
        })
        .collect())
}

/// Checks a component file and the `plugin.toml` beside it as the host would load them
/// (granting what the manifest asks), for `holt plugin check`.
pub fn check_file(file: &Path, cache_dir: PathBuf) -> Result<LoadedPlugin, String> {
    let dir = file
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let manifest = Manifest::load(&dir.join("plugin.toml")).map_err(|e| e.to_string())?;
    let named = dir.join(&manifest.component);
    if named.file_name() != file.file_name() {
        return Err(format!(
            "plugin.toml names the component '{}', not '{}'",
            manifest.component,
            file.display()
        ));
    }
    let settings = PluginSettings {
        grants: manifest.capabilities.clone(),
        ..PluginSettings::default()
    };
    let engine = engine(settings.limits().memory_bytes)?.clone();
    let mut linker = Linker::new(&engine);
    v0_1_0::add_to_linker(&mut linker).map_err(|e| e.to_string())?;
    let cache = ComponentCache::new(cache_dir);
    load_plugin(
        &engine,
        &linker,
        &cache,
        dir,
        &manifest.name.clone(),
        &settings,
    )
}

impl From<LoadError> for String {
    fn from(err: LoadError) -> String {
        err.to_string()
    }
}

/// Loads one plugin directory: manifest, grants, API check, compile (or cache), link.
fn load_plugin(
    engine: &Engine,
    linker: &Linker<PluginState>,
    cache: &ComponentCache,
    dir: &Path,
    name: &str,
    settings: &PluginSettings,
) -> Result<LoadedPlugin, String> {
    let manifest = Manifest::load(&dir.join("plugin.toml")).map_err(|e| e.to_string())?;
    if manifest.name != name {
        return Err(format!(
            "its manifest names it '{}'; the folder and the setting must use that name",
            manifest.name
        ));
    }
    let grants =
        Grants::settle(&manifest.capabilities, &settings.grants).map_err(|e| e.to_string())?;
    let file = dir.join(&manifest.component);
    let bytes = std::fs::read(&file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let inspection = component::inspect(&bytes).map_err(|e| e.to_string())?;
    check_exports(&manifest, &inspection)?;
    let (component, from_cache) = cache
        .load(engine, &bytes)
        .map_err(|e| format!("cannot compile: {e:#}"))?;
    let pre = linker.instantiate_pre(&component).map_err(|e| {
        format!("cannot be linked (does it import something Holt does not offer?): {e:#}")
    })?;
    let limits = settings.limits();
    Ok(LoadedPlugin {
        http: http_handler::GuestIndices::new(&pre).ok(),
        mcp: mcp_tools::GuestIndices::new(&pre).ok(),
        markdown: markdown_preprocess::GuestIndices::new(&pre).ok(),
        html: html_postprocess::GuestIndices::new(&pre).ok(),
        fragments: page_render_context::GuestIndices::new(&pre).ok(),
        events: page_events::GuestIndices::new(&pre).ok(),
        admin: admin_sections::GuestIndices::new(&pre).ok(),
        bootstrap: bootstrap::GuestIndices::new(&pre).ok(),
        manifest,
        grants,
        limits,
        config: settings.config.clone(),
        exports: inspection.exports,
        from_cache,
        stats: PluginStats::default(),
        tools: tokio::sync::OnceCell::new(),
        pre,
    })
}

/// Every interface the manifest declares must really be exported.
pub fn check_exports(manifest: &Manifest, inspection: &Inspection) -> Result<(), String> {
    for interface in manifest.declared_exports() {
        if !inspection.exports.contains(interface) {
            return Err(format!(
                "its manifest declares {interface}, but the component does not export holt:plugin/{interface}"
            ));
        }
    }
    Ok(())
}

//! The host side of `holt:plugin@0.1.0`: generated bindings and the imports' implementations.
//!
//! Every import first checks that the operator granted the plugin the capability, then that the
//! user the call acts for may do it on this wiki; names are validated like any other input.

use wasmtime::component::HasSelf;

use super::capability::Capability;
use super::state::PluginState;
use crate::store::{AttachmentName, PagePath};
use crate::tenancy::{Permission, Principal};
use crate::wiki::{DiffLineKind, Wiki, WikiError};

wasmtime::component::bindgen!({
    path: "../wit/holt-plugin/0.1.0",
    world: "holt:plugin/plugin",
    imports: { default: async },
    exports: { default: async },
});

pub use self::holt::plugin::types::{self, Error};
pub use exports::holt::plugin::{
    admin_sections, bootstrap, html_postprocess, http_handler, markdown_preprocess, mcp_tools,
    page_events, page_render_context,
};

/// The most entries a listing import returns.
const MAX_LIST: u32 = 1000;
/// Log messages longer than this are cut.
const MAX_LOG_BYTES: usize = 4096;

/// Adds the host's imports (and WASI, empty) to a linker.
pub fn add_to_linker(
    linker: &mut wasmtime::component::Linker<PluginState>,
) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    Plugin::add_to_linker::<PluginState, HasSelf<PluginState>>(linker, |state| state)
}

impl PluginState {
    /// Checks the plugin's capability, then the user's permission.
    fn allow(&self, capability: Capability, permission: Permission) -> Result<(), Error> {
        if !self.plugin.grants.allows(capability) {
            return Err(Error::Forbidden(format!(
                "the plugin '{}' was not granted the capability '{capability}'",
                self.plugin.manifest.name
            )));
        }
        self.ctx
            .require(permission)
            .map_err(|denied| Error::Forbidden(denied.to_string()))
    }

    /// Runs a write on a blocking thread (commits fsync; they must not stall the runtime).
    /// Only owned values cross the await: the store's data is not `Sync`.
    fn writing<T: Send + 'static>(
        &self,
        op: impl FnOnce(&Wiki) -> Result<T, WikiError> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, Error>> + Send + 'static {
        let wiki = self.ctx.wiki.clone();
        let plugin = self.plugin.manifest.name.clone();
        async move {
            match tokio::task::spawn_blocking(move || op(&wiki)).await {
                Ok(result) => result.map_err(|e| wit_error(&plugin, e)),
                Err(e) => Err(Error::Internal(format!("write task failed: {e}"))),
            }
        }
    }

    /// Runs a read (index lookups and blob reads, fast) in place.
    fn reading<T>(&self, op: impl FnOnce(&Wiki) -> Result<T, WikiError>) -> Result<T, Error> {
        op(&self.ctx.wiki).map_err(|e| wit_error(&self.plugin.manifest.name, e))
    }
}

fn page_path(raw: &str) -> Result<PagePath, Error> {
    PagePath::parse(raw).map_err(|e| Error::Invalid(format!("page name '{raw}': {e}")))
}

fn attachment_name(raw: &str) -> Result<AttachmentName, Error> {
    AttachmentName::parse(raw).map_err(|e| Error::Invalid(format!("attachment name '{raw}': {e}")))
}

/// Maps an engine error to the typed error plugins see; internal details stay in the log.
fn wit_error(plugin: &str, err: WikiError) -> Error {
    match err {
        WikiError::InvalidPath(e) => Error::Invalid(format!("invalid page name: {e}")),
        WikiError::NotFound(what) => Error::NotFound(format!("{what} not found")),
        WikiError::Conflict { message, current } => Error::Conflict(types::Conflict {
            message,
            current_revision: current,
        }),
        WikiError::TooLarge { .. } => Error::Limit(err.to_string()),
        WikiError::Limit(message) => Error::Limit(message),
        WikiError::Invalid(message) => Error::Invalid(message),
        other => {
            tracing::error!(plugin, error = %other, "a plugin's host call failed");
            Error::Internal("the host failed; it has been logged".into())
        }
    }
}

fn change_kind(kind: &str) -> types::ChangeKind {
    match kind {
        "A" => types::ChangeKind::Added,
        "D" => types::ChangeKind::Deleted,
        "R" => types::ChangeKind::Renamed,
        _ => types::ChangeKind::Modified,
    }
}

impl self::holt::plugin::types::Host for PluginState {}

impl self::holt::plugin::pages::Host for PluginState {
    async fn read(&mut self, path: String, revision: Option<String>) -> Result<types::Page, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        let page = page_path(&path)?;
        self.reading(|wiki| match revision {
            None => {
                let (row, content) = wiki.source(&page)?;
                Ok(types::Page {
                    path: row.path,
                    title: row.title,
                    content,
                    revision: row.revision,
                    updated: row.updated,
                })
            }
            Some(rev) => {
                let at = wiki.at_revision(&page, &rev)?;
                let title = wiki
                    .renderer()
                    .analyze(&page, &at.content)
                    .title
                    .unwrap_or_else(|| page.name().to_string());
                Ok(types::Page {
                    path: page.to_string(),
                    title,
                    content: at.content,
                    revision: at.revision.commit.id,
                    updated: at.revision.commit.time,
                })
            }
        })
    }

    async fn save(
        &mut self,
        path: String,
        content: String,
        base_revision: Option<String>,
        message: String,
    ) -> Result<String, Error> {
        self.allow(Capability::PagesWrite, Permission::Write)?;
        let page = page_path(&path)?;
        let author = self.ctx.author();
        self.writing(move |wiki| {
            Ok(wiki
                .save(&page, &content, base_revision.as_deref(), &author, &message)?
                .revision)
        })
        .await
    }

    async fn delete(&mut self, path: String, message: String) -> Result<String, Error> {
        self.allow(Capability::PagesWrite, Permission::Write)?;
        let page = page_path(&path)?;
        let author = self.ctx.author();
        self.writing(move |wiki| wiki.delete(&page, &author, &message))
            .await
    }

    async fn rename(
        &mut self,
        from: String,
        to: String,
        rewrite_links: bool,
        message: String,
    ) -> Result<String, Error> {
        self.allow(Capability::PagesWrite, Permission::Write)?;
        let (from, to) = (page_path(&from)?, page_path(&to)?);
        let author = self.ctx.author();
        self.writing(move |wiki| wiki.rename(&from, &to, rewrite_links, &author, &message))
            .await
    }

    async fn revert(&mut self, commit: String, message: String) -> Result<String, Error> {
        self.allow(Capability::PagesWrite, Permission::Write)?;
        let author = self.ctx.author();
        self.writing(move |wiki| wiki.revert(&commit, &author, &message))
            .await
    }

    async fn list(
        &mut self,
        query: self::holt::plugin::pages::ListQuery,
    ) -> Result<Vec<types::PageSummary>, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        let limit = query.limit.clamp(1, MAX_LIST) as usize;
        self.reading(|wiki| {
            let rows = wiki.index().pages(query.prefix.as_deref())?;
            Ok(rows
                .into_iter()
                .filter(|row| query.updated_since.is_none_or(|since| row.updated >= since))
                .filter(|row| {
                    query
                        .tag
                        .as_deref()
                        .is_none_or(|tag| row.tags.iter().any(|t| t.eq_ignore_ascii_case(tag)))
                })
                .take(limit)
                .map(|row| types::PageSummary {
                    path: row.path,
                    title: row.title,
                    revision: row.revision,
                    updated: row.updated,
                    size: row.size,
                })
                .collect())
        })
    }

    async fn history(
        &mut self,
        path: String,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<types::Revision>, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        let page = page_path(&path)?;
        self.reading(|wiki| {
            let (entries, _) = wiki.history(&page, limit.clamp(1, MAX_LIST), offset)?;
            Ok(entries
                .into_iter()
                .map(|r| types::Revision {
                    commit: r.commit.id,
                    author: r.commit.author_name,
                    time: r.commit.time,
                    message: r.commit.message,
                    path: r.path.strip_suffix(".md").unwrap_or(&r.path).to_string(),
                    kind: change_kind(&r.kind),
                })
                .collect())
        })
    }

    async fn diff(&mut self, path: String, from: String, to: String) -> Result<String, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        let page = page_path(&path)?;
        self.reading(|wiki| {
            let (a, b, lines) = wiki.diff(&page, &from, &to)?;
            let mut out = format!(
                "--- {page}@{}\n+++ {page}@{}\n",
                crate::wiki::short(&a.id),
                crate::wiki::short(&b.id)
            );
            for line in lines {
                let sign = match line.kind {
                    DiffLineKind::Hunk => "",
                    DiffLineKind::Added => "+",
                    DiffLineKind::Removed => "-",
                    DiffLineKind::Context => " ",
                };
                out.push_str(sign);
                out.push_str(&line.text);
                out.push('\n');
            }
            Ok(out)
        })
    }

    async fn recent_changes(
        &mut self,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<types::Change>, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        self.reading(|wiki| {
            let mut out = Vec::new();
            for commit in wiki.changelog(limit.clamp(1, MAX_LIST), offset)? {
                let files = wiki
                    .index()
                    .changed_files(commit.seq)?
                    .into_iter()
                    .map(|f| f.path)
                    .collect();
                out.push(types::Change {
                    commit: commit.id,
                    author: commit.author_name,
                    time: commit.time,
                    message: commit.message,
                    files,
                });
            }
            Ok(out)
        })
    }

    async fn links(&mut self, path: String) -> Result<Vec<String>, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        let page = page_path(&path)?;
        self.reading(|wiki| Ok(wiki.index().links_from(page.as_str())?))
    }

    async fn backlinks(&mut self, path: String) -> Result<Vec<String>, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        let page = page_path(&path)?;
        self.reading(|wiki| {
            Ok(wiki
                .index()
                .backlinks(page.as_str())?
                .into_iter()
                .map(|(p, _)| p)
                .collect())
        })
    }

    async fn orphans(&mut self) -> Result<Vec<String>, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        self.reading(|wiki| {
            Ok(wiki
                .index()
                .orphans(crate::wiki::HOME)?
                .into_iter()
                .map(|(p, _)| p)
                .collect())
        })
    }

    async fn graph(&mut self) -> Result<types::LinkGraph, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        self.reading(|wiki| {
            let index = wiki.index();
            Ok(types::LinkGraph {
                nodes: index.page_paths()?,
                edges: index
                    .all_links()?
                    .into_iter()
                    .map(|(from, to)| types::Link { from, to })
                    .collect(),
            })
        })
    }
}

impl self::holt::plugin::attachments::Host for PluginState {
    async fn list(&mut self, page: String) -> Result<Vec<types::Attachment>, Error> {
        self.allow(Capability::AttachmentsRead, Permission::Read)?;
        let page = page_path(&page)?;
        self.reading(|wiki| {
            wiki.page(&page)?;
            Ok(wiki
                .attachments(&page, None)?
                .into_iter()
                .map(|a| types::Attachment {
                    name: a.name,
                    size: a.size,
                })
                .collect())
        })
    }

    async fn read(
        &mut self,
        page: String,
        name: String,
        revision: Option<String>,
    ) -> Result<Vec<u8>, Error> {
        self.allow(Capability::AttachmentsRead, Permission::Read)?;
        let (page, name) = (page_path(&page)?, attachment_name(&name)?);
        self.reading(|wiki| wiki.attachment(&page, &name, revision.as_deref()))
    }

    async fn write(
        &mut self,
        page: String,
        name: String,
        data: Vec<u8>,
        message: String,
    ) -> Result<String, Error> {
        self.allow(Capability::AttachmentsWrite, Permission::Upload)?;
        let (page, name) = (page_path(&page)?, attachment_name(&name)?);
        let author = self.ctx.author();
        self.writing(move |wiki| wiki.upload(&page, &name, data, &author, &message))
            .await
    }

    async fn delete(
        &mut self,
        page: String,
        name: String,
        message: String,
    ) -> Result<String, Error> {
        self.allow(Capability::AttachmentsWrite, Permission::Upload)?;
        let (page, name) = (page_path(&page)?, attachment_name(&name)?);
        let author = self.ctx.author();
        self.writing(move |wiki| wiki.delete_attachment(&page, &name, &author, &message))
            .await
    }
}

impl self::holt::plugin::search::Host for PluginState {
    async fn full_text(
        &mut self,
        query: String,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<types::SearchHit>, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        self.reading(|wiki| {
            Ok(wiki
                .search(&query, limit.clamp(1, 100), offset)?
                .into_iter()
                .map(|hit| types::SearchHit {
                    path: hit.path,
                    title: hit.title,
                    snippet: plain_text(&hit.snippet),
                })
                .collect())
        })
    }

    async fn semantic_search(
        &mut self,
        query: String,
        n: u32,
        max_per_page: u32,
    ) -> Result<Vec<types::SemanticHit>, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        let wiki = self.ctx.wiki.clone();
        let Some(semantic) = wiki.semantic().cloned() else {
            return Err(Error::Unavailable(
                "semantic search is off on this wiki; use full-text search instead".into(),
            ));
        };
        let hits = tokio::task::spawn_blocking(move || {
            semantic.search(&wiki, &query, n as usize, max_per_page as usize)
        })
        .await
        .map_err(|e| Error::Internal(format!("semantic search: {e}")))?;
        hits.map_err(|e| semantic_error(&self.plugin.manifest.name, e))
            .map(|hits| {
                hits.into_iter()
                    .map(|hit| types::SemanticHit {
                        path: hit.path,
                        title: hit.title,
                        heading: hit.heading,
                        text: hit.snippet,
                        score: hit.score,
                    })
                    .collect()
            })
    }

    async fn reindex_status(&mut self) -> Result<types::SemanticIndexStatus, Error> {
        self.allow(Capability::PagesRead, Permission::Read)?;
        let wiki = self.ctx.wiki.clone();
        let status = match wiki.semantic().cloned() {
            Some(semantic) => semantic.status(&wiki),
            None => crate::semantic::SemanticSearch::off("not configured").status(&wiki),
        };
        let status = status.map_err(|e| semantic_error(&self.plugin.manifest.name, e))?;
        Ok(types::SemanticIndexStatus {
            enabled: status.enabled,
            reason: status.reason,
            model: status.model,
            pending: status.pending,
            pages: status.pages,
            chunks: status.chunks,
        })
    }
}

/// Maps a semantic search error to the typed error plugins see; internal details stay in the log.
fn semantic_error(plugin: &str, err: crate::semantic::SemanticError) -> Error {
    use crate::semantic::SemanticError;
    match err {
        SemanticError::Off(reason) => {
            Error::Unavailable(format!("semantic search is off: {reason}"))
        }
        SemanticError::Invalid(message) => Error::Invalid(message),
        SemanticError::Wiki(err) => wit_error(plugin, err),
        other => {
            tracing::error!(plugin, error = %other, "semantic search failed");
            Error::Internal("semantic search failed".into())
        }
    }
}

/// Turns a marked-up snippet back into text.
fn plain_text(html: &str) -> String {
    html.replace("<mark>", "")
        .replace("</mark>", "")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

impl self::holt::plugin::kv::Host for PluginState {
    async fn get(&mut self, key: String) -> Result<Option<Vec<u8>>, Error> {
        self.allow(Capability::Kv, Permission::Read)?;
        self.kv
            .get(&self.plugin.manifest.name, &key)
            .map_err(kv_error)
    }

    async fn set(&mut self, key: String, value: Vec<u8>) -> Result<(), Error> {
        self.allow(Capability::Kv, Permission::Read)?;
        self.kv
            .set(&self.plugin.manifest.name, &key, &value)
            .map_err(kv_error)
    }

    async fn delete(&mut self, key: String) -> Result<(), Error> {
        self.allow(Capability::Kv, Permission::Read)?;
        self.kv
            .delete(&self.plugin.manifest.name, &key)
            .map_err(kv_error)
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, Error> {
        self.allow(Capability::Kv, Permission::Read)?;
        self.kv
            .keys(&self.plugin.manifest.name, &prefix)
            .map_err(kv_error)
    }
}

fn kv_error(err: super::kv::KvError) -> Error {
    use super::kv::KvError;
    match err {
        KvError::Limit(m) => Error::Limit(m),
        KvError::Invalid(m) => Error::Invalid(m),
        other => {
            tracing::error!(error = %other, "plugin key-value store failed");
            Error::Internal("the host failed; it has been logged".into())
        }
    }
}

impl self::holt::plugin::log::Host for PluginState {
    async fn log(&mut self, level: self::holt::plugin::log::Level, message: String) {
        use self::holt::plugin::log::Level;
        let mut message = message;
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        let plugin = self.plugin.manifest.name.as_str();
        let wiki = self.ctx.wiki.slug();
        match level {
            Level::Trace => tracing::trace!(target: "holt::plugin", plugin, wiki, "{message}"),
            Level::Debug => tracing::debug!(target: "holt::plugin", plugin, wiki, "{message}"),
            Level::Info => tracing::info!(target: "holt::plugin", plugin, wiki, "{message}"),
            Level::Warn => tracing::warn!(target: "holt::plugin", plugin, wiki, "{message}"),
            Level::Error => tracing::error!(target: "holt::plugin", plugin, wiki, "{message}"),
        }
    }
}

impl self::holt::plugin::config::Host for PluginState {
    async fn get(&mut self, key: String) -> Option<String> {
        self.plugin.config.get(&key).cloned()
    }
}

impl self::holt::plugin::context::Host for PluginState {
    async fn whoami(&mut self) -> types::Principal {
        let p = self.ctx.permissions;
        let (name, signed_in) = match &self.ctx.principal {
            Principal::Anonymous => ("anonymous".to_string(), false),
            Principal::User { handle, .. } => (handle.clone(), true),
        };
        types::Principal {
            name,
            role: self.ctx.role.map(|r| r.as_str().to_string()),
            signed_in,
            can_read: p.read,
            can_write: p.write,
            can_upload: p.upload,
            can_admin: p.admin,
        }
    }

    async fn wiki(&mut self) -> self::holt::plugin::context::WikiInfo {
        self::holt::plugin::context::WikiInfo {
            slug: self.ctx.wiki.slug().to_string(),
            name: self.site_name.clone(),
            url: self.base_url.clone(),
            hosted: self.ctx.record.is_some(),
        }
    }
}

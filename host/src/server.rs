//! Starting Holt: open the data directory, bring every wiki's index up to date, serve HTTP.
//!
//! `launch` is the one entry point; the CLI and the tests both call it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Settings;
use crate::index::SyncProgress;
use crate::plugins::{Hook, HostOptions, PluginHost};
use crate::render::{Renderer, highlight};
use crate::store::{Author, PagePath};
use crate::tenancy::TenantResolver;
use crate::web::{self, AppState, ResponseCache, Theme, ThemeError};
use crate::wiki::{HOME, Limits, PageEvent, Wiki, WikiError};

/// The Home page every new wiki starts with.
const HOME_TEMPLATE: &str = include_str!("../../bootstrap-template/Home.md");

/// Why Holt could not start.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("wiki '{slug}': {source}")]
    Wiki { slug: String, source: WikiError },
    #[error(transparent)]
    Theme(#[from] ThemeError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error("server: {0}")]
    Serve(std::io::Error),
    #[error(transparent)]
    Plugins(#[from] crate::plugins::LoadError),
}

/// Where the wiki `slug` lives under the data directory.
pub fn wiki_dir(settings: &Settings, slug: &str) -> PathBuf {
    settings.data_dir.join("wikis").join(slug)
}

/// Opens the configured wiki without touching its index.
pub fn open_wiki(settings: &Settings) -> Result<Wiki, LaunchError> {
    let slug = &settings.wiki.slug;
    let limits = Limits {
        max_page_bytes: settings.limits.max_page_bytes,
        max_attachment_bytes: settings.limits.max_attachment_bytes,
    };
    Wiki::open(
        slug,
        &wiki_dir(settings, slug),
        Arc::new(Renderer::new()),
        limits,
    )
    .map_err(|source| LaunchError::Wiki {
        slug: slug.clone(),
        source,
    })
}

/// Opens the wiki, catches its index up with git, and gives a new wiki its Home page.
pub fn prepare(
    settings: &Settings,
    progress: &mut dyn FnMut(SyncProgress),
) -> Result<Arc<Wiki>, LaunchError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| LaunchError::DataDir {
        path: settings.data_dir.clone(),
        source,
    })?;
    let wiki = open_wiki(settings)?;
    let slug = settings.wiki.slug.clone();
    let fail = |source| LaunchError::Wiki {
        slug: slug.clone(),
        source,
    };
    let stats = wiki.sync(progress).map_err(fail)?;
    if stats.commits > 0 {
        tracing::info!(wiki = %slug, commits = stats.commits, pages = stats.pages, rebuilt = stats.rebuilt, "index caught up with git");
    }
    if wiki.store().head().map_err(|e| fail(e.into()))?.is_none() {
        let home = PagePath::parse(HOME).map_err(|e| fail(e.into()))?;
        let content = HOME_TEMPLATE.replace("{{wiki_name}}", &settings.wiki.name);
        let author = Author {
            name: "Holt".into(),
            email: "holt@holt.invalid".into(),
        };
        wiki.save(&home, &content, None, &author, "Create the Home page")
            .map_err(fail)?;
        tracing::info!(wiki = %slug, "created the Home page of a new wiki");
    }
    Ok(Arc::new(wiki))
}

/// Loads the enabled plugins (compiled components are cached under the data directory).
pub fn load_plugins(settings: &Settings) -> Result<PluginHost, LaunchError> {
    Ok(PluginHost::load(HostOptions {
        plugin_dir: &settings.plugin_dir,
        cache_dir: settings.data_dir.join("plugin-cache"),
        plugins: &settings.plugins,
        site_name: settings.wiki.name.clone(),
    })?)
}

/// Hands the wiki's page changes to the plugins that want them, from a queue, so a slow
/// plugin never slows a save. Delivery is at most once (a full queue drops, and says so).
fn deliver_page_events(
    wiki: &Arc<Wiki>,
    plugins: &Arc<PluginHost>,
    resolver: &Arc<TenantResolver>,
    base: String,
) {
    let wanted = plugins
        .plugins()
        .iter()
        .any(|p| p.manifest.provides.hooks.contains(&Hook::PageEvents));
    if !wanted {
        return;
    }
    let (sender, mut queue) = tokio::sync::mpsc::channel::<Vec<PageEvent>>(PAGE_EVENT_QUEUE);
    wiki.on_page_events(move |events| {
        if sender.try_send(events).is_err() {
            tracing::warn!("page events dropped: the plugins' queue is full");
        }
    });
    let (plugins, resolver) = (plugins.clone(), resolver.clone());
    tokio::spawn(async move {
        while let Some(events) = queue.recv().await {
            for event in events {
                let ctx = resolver.for_author(&event.author);
                plugins
                    .page_events(&ctx, &base, std::slice::from_ref(&event))
                    .await;
            }
        }
    });
}

/// Writes whose page events may wait for the plugins before some are dropped.
const PAGE_EVENT_QUEUE: usize = 1024;

/// Serves Holt on `listener` until `shutdown` resolves.
pub async fn launch(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    let theme = Theme::load(settings.theme_dir.as_deref())?;
    let prepared = settings.clone();
    let (wiki, plugins) = tokio::task::spawn_blocking(move || -> Result<_, LaunchError> {
        let plugins = load_plugins(&prepared)?;
        Ok((prepare(&prepared, &mut |_| {})?, plugins))
    })
    .await
    .map_err(|e| LaunchError::Serve(std::io::Error::other(e)))??;
    let plugins = Arc::new(plugins);
    let resolver = Arc::new(TenantResolver::single(
        wiki.clone(),
        settings.wiki.anonymous,
    ));
    let base = format!(
        "http://{}",
        listener.local_addr().map_err(LaunchError::Serve)?
    );
    deliver_page_events(&wiki, &plugins, &resolver, base);
    // Load code-highlighting grammars off the request path.
    std::thread::spawn(highlight::warm_up);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving");
        // The readiness line scripts and tests wait for.
        println!("holt: listening on http://{addr}");
    }
    let state = AppState {
        resolver,
        theme: Arc::new(theme),
        responses: Arc::new(ResponseCache::new(settings.cache.response_bytes)),
        plugins,
        settings: Arc::new(settings),
    };
    web::serve(state, listener, shutdown)
        .await
        .map_err(LaunchError::Serve)
}

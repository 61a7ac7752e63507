//! Starting Holt: open the data directory, bring every wiki's index up to date, serve HTTP.
//!
//! `launch` is the one entry point; the CLI and the tests both call it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::config::Settings;
use crate::index::SyncProgress;
use crate::render::{Renderer, highlight};
use crate::store::{Author, PagePath};
use crate::tenancy::TenantResolver;
use crate::web::{self, AppState, ResponseCache, Theme, ThemeError};
use crate::wiki::{HOME, Limits, Wiki, WikiError};

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

/// Serves Holt on `listener` until `shutdown` resolves.
pub async fn launch(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    let theme = Theme::load(settings.theme_dir.as_deref())?;
    let prepared = settings.clone();
    let wiki = tokio::task::spawn_blocking(move || prepare(&prepared, &mut |_| {}))
        .await
        .map_err(|e| LaunchError::Serve(std::io::Error::other(e)))??;
    // Load code-highlighting grammars off the request path.
    std::thread::spawn(highlight::warm_up);
    if let Ok(addr) = listener.local_addr() {
        tracing::info!(%addr, "serving");
        // The readiness line scripts and tests wait for.
        println!("holt: listening on http://{addr}");
    }
    let state = AppState {
        resolver: Arc::new(TenantResolver::single(wiki, settings.wiki.anonymous)),
        theme: Arc::new(theme),
        responses: Arc::new(ResponseCache::new(settings.cache.response_bytes)),
        settings: Arc::new(settings),
    };
    web::serve(state, listener, shutdown)
        .await
        .map_err(LaunchError::Serve)
}

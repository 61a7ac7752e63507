//! Starting Holt: open the data directory, bring wikis up to date, serve HTTP; and the steps
//! that make and remove a wiki (shared by the management API, the admin panel and start-up).
//!
//! `launch` is the one entry point; the CLI and the tests both call it.

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::SessionKeys;
use crate::config::{Mode, Settings};
use crate::index::SyncProgress;
use crate::platform::{Platform, Tier, User, WikiRecord};
use crate::plugins::{Hook, HostOptions, PluginHost};
use crate::render::{Renderer, highlight};
use crate::semantic::SemanticSearch;
use crate::store::{Author, PagePath};
use crate::tenancy::{TenantResolver, Urls};
use crate::web::{self, AppState, RateLimiter, ResponseCache, Theme, ThemeError};
use crate::wiki::{HOME, Limits, PageEvent, Wiki, WikiError};
use crate::wikis::Wikis;

/// The Home page a wiki starts with when no bootstrap plugin provides its pages.
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
    #[error("configuration: {0}")]
    Config(String),
    #[error("platform: {0}")]
    Platform(String),
}

/// Where the wiki `slug` lives under the data directory.
pub fn wiki_dir(settings: &Settings, slug: &str) -> PathBuf {
    settings.data_dir.join("wikis").join(slug)
}

/// The limits every wiki is held to (the tier's page and byte limits in platform mode).
pub fn wiki_limits(settings: &Settings) -> Limits {
    let platform = settings.mode == Mode::Platform;
    Limits {
        max_page_bytes: settings.limits.max_page_bytes,
        max_attachment_bytes: settings.limits.max_attachment_bytes,
        max_pages: platform.then_some(settings.platform.pages_per_wiki),
        max_bytes: platform.then_some(settings.platform.bytes_per_wiki),
    }
}

/// Opens the configured single wiki without touching its index.
pub fn open_wiki(settings: &Settings) -> Result<Wiki, LaunchError> {
    let slug = &settings.wiki.slug;
    Wiki::open(
        slug,
        &wiki_dir(settings, slug),
        Arc::new(Renderer::new()),
        wiki_limits(settings),
    )
    .map_err(|source| LaunchError::Wiki {
        slug: slug.clone(),
        source,
    })
}

/// Opens the single wiki, catches its index up with git, and gives a new wiki its Home page.
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
        let author = Author {
            name: "Holt".into(),
            email: "holt@holt.invalid".into(),
        };
        wiki.save(
            &home,
            &home_page(&settings.wiki.name),
            None,
            &author,
            "Create the Home page",
        )
        .map_err(fail)?;
        tracing::info!(wiki = %slug, "created the Home page of a new wiki");
    }
    Ok(Arc::new(wiki))
}

fn home_page(wiki_name: &str) -> String {
    HOME_TEMPLATE.replace("{{wiki_name}}", wiki_name)
}

/// Loads the enabled plugins (compiled components are cached under the data directory).
pub fn load_plugins(settings: &Settings) -> Result<PluginHost, LaunchError> {
    Ok(PluginHost::load(HostOptions {
        plugin_dir: settings.plugin_dir(),
        cache_dir: settings.data_dir.join("plugin-cache"),
        plugins: &settings.plugins,
        site_name: settings.wiki.name.clone(),
        tool_cache_bytes: settings.cache.response_bytes / 4,
    })?)
}

/// Page events waiting for the plugins, with the wiki they happened in.
type EventQueue = tokio::sync::mpsc::Sender<(String, Vec<PageEvent>)>;
/// Writes whose page events may wait for the plugins before some are dropped.
const PAGE_EVENT_QUEUE: usize = 1024;

/// What every opened wiki is told to do after each write: keep the platform's statistics of
/// it current, and queue its page events for the plugins (so a slow plugin never slows a save;
/// delivery is at most once, and a full queue drops with a warning).
fn observe_wikis(
    wikis: &Wikis,
    platform: Option<Arc<Platform>>,
    events: Option<EventQueue>,
    semantic: Arc<SemanticSearch>,
) {
    wikis.set_setup(Box::new(move |wiki| {
        let (platform, events) = (platform.clone(), events.clone());
        wiki.attach_semantic(semantic.clone());
        // Opening caught the index up with git, which may have queued pages.
        semantic.wake(wiki);
        let (semantic, this) = (semantic.clone(), Arc::downgrade(wiki));
        wiki.on_change(move |wiki, changes| {
            if let Some(platform) = &platform
                && let Ok(Some(record)) = platform.wiki(wiki.slug())
            {
                let pages = wiki.index().page_count().unwrap_or(0);
                let bytes = wiki.index().total_bytes().unwrap_or(0);
                if let Err(err) = platform.set_wiki_stats(record.id, pages, bytes) {
                    tracing::warn!(wiki = wiki.slug(), error = %err, "could not record the wiki's size");
                }
            }
            if let Some(wiki) = this.upgrade() {
                semantic.wake(&wiki);
            }
            if let Some(events) = &events
                && !changes.is_empty()
                && events.try_send((wiki.slug().to_string(), changes)).is_err()
            {
                tracing::warn!(wiki = wiki.slug(), "page events dropped: the plugins' queue is full");
            }
        });
    }));
}

/// Hands queued page events to the plugins, acting for each change's author.
fn deliver_page_events(
    mut queue: tokio::sync::mpsc::Receiver<(String, Vec<PageEvent>)>,
    plugins: Arc<PluginHost>,
    resolver: Arc<TenantResolver>,
) {
    tokio::spawn(async move {
        while let Some((slug, events)) = queue.recv().await {
            let Ok(wiki) = resolver.wikis().get(&slug) else {
                continue;
            };
            for event in events {
                let ctx = resolver.for_author(&wiki, &event.author);
                let base = ctx.url.clone();
                plugins
                    .page_events(&ctx, &base, std::slice::from_ref(&event))
                    .await;
            }
        }
    });
}

/// Gives a new wiki its starter pages: from the bootstrap plugin (acting as the owner), or the
/// built-in Home page when no bootstrap plugin is enabled. One commit.
pub async fn bootstrap_wiki(
    resolver: &Arc<TenantResolver>,
    plugins: &Arc<PluginHost>,
    record: &WikiRecord,
    owner: &User,
) -> Result<(), String> {
    let (wikis, slug) = (resolver.wikis().clone(), record.slug.clone());
    let wiki = tokio::task::spawn_blocking(move || wikis.create(&slug))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let ctx = resolver.for_owner(&wiki, record, owner);
    let url = ctx.url.clone();
    let params: Vec<(String, String)> = [
        ("wiki_name", record.display_name.clone()),
        ("slug", record.slug.clone()),
        ("owner", owner.handle.clone()),
        ("wiki_url", url.clone()),
        ("mcp_url", format!("{url}/mcp")),
        ("git_url", format!("{url}/repo.git")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let pages = match plugins
        .bootstrap(&ctx, &url, params)
        .await
        .map_err(|e| e.to_string())?
    {
        Some(pages) => pages,
        None => vec![(HOME.to_string(), home_page(&record.display_name))],
    };
    let mut parsed = Vec::with_capacity(pages.len());
    for (path, content) in pages {
        let page = PagePath::parse(&path).map_err(|e| {
            format!("the bootstrap plugin returned the page name '{path}', which is invalid: {e}")
        })?;
        parsed.push((page, content));
    }
    let author = ctx.author();
    tokio::task::spawn_blocking(move || wiki.create_pages(&parsed, &author, "Create the wiki"))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Deletes a wiki: its platform rows, then its repository and everything else in its folder.
pub fn delete_wiki(resolver: &TenantResolver, actor: i64, slug: &str) -> Result<(), String> {
    let platform = resolver.platform().ok_or("there is no platform here")?;
    platform
        .delete_wiki(actor, slug)
        .map_err(|e| e.to_string())?;
    resolver.wikis().remove(slug).map_err(|e| e.to_string())
}

/// The demo user and public demo wiki of a fresh platform (the embedded default).
async fn ensure_demo(
    resolver: &Arc<TenantResolver>,
    plugins: &Arc<PluginHost>,
    settings: &Settings,
) -> Result<(), LaunchError> {
    let Some(platform) = resolver.platform() else {
        return Ok(());
    };
    let fail = |e: crate::platform::PlatformError| LaunchError::Platform(e.to_string());
    if !settings.platform.demo || platform.wiki("demo").map_err(fail)?.is_some() {
        return Ok(());
    }
    let user = platform
        .upsert_user("did:web:demo.localhost", "demo.localhost", "Demo")
        .map_err(fail)?;
    let tier = Tier {
        wikis_per_user: u32::MAX,
        collaborators_per_wiki: settings.platform.collaborators_per_wiki,
    };
    let record = platform
        .create_wiki(user.id, "demo", "Demo wiki", true, tier)
        .map_err(fail)?;
    let existing = resolver.wikis().dir("demo").join("repo.git").exists();
    if existing {
        tracing::info!("adopted the existing demo wiki");
    } else {
        bootstrap_wiki(resolver, plugins, &record, &user)
            .await
            .map_err(LaunchError::Platform)?;
        tracing::info!(url = %resolver.urls().wiki("demo"), "created the demo wiki");
    }
    Ok(())
}

/// Serves Holt on `listener` until `shutdown` resolves.
pub async fn launch(
    settings: Settings,
    listener: tokio::net::TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), LaunchError> {
    let theme = Theme::load(settings.theme_dir.as_deref())?;
    let addr = listener.local_addr().map_err(LaunchError::Serve)?;
    let urls = Urls::new(settings.public_url.as_deref(), addr).map_err(LaunchError::Config)?;
    let prepared = settings.clone();
    let (events, queue) = tokio::sync::mpsc::channel(PAGE_EVENT_QUEUE);
    let (plugins, resolver) = tokio::task::spawn_blocking(move || -> Result<_, LaunchError> {
        let plugins = Arc::new(load_plugins(&prepared)?);
        std::fs::create_dir_all(&prepared.data_dir).map_err(|source| LaunchError::DataDir {
            path: prepared.data_dir.clone(),
            source,
        })?;
        let wikis = Arc::new(Wikis::new(
            prepared.data_dir.join("wikis"),
            Arc::new(Renderer::new()),
            wiki_limits(&prepared),
        ));
        let semantic = Arc::new(SemanticSearch::from_settings(
            &prepared.semantic,
            &prepared.data_dir,
        ));
        semantic.start_worker().map_err(LaunchError::Serve)?;
        let wants_events = plugins
            .plugins()
            .iter()
            .any(|p| p.manifest.provides.hooks.contains(&Hook::PageEvents));
        let events = wants_events.then_some(events);
        let resolver = match prepared.mode {
            Mode::Single => {
                observe_wikis(&wikis, None, events, semantic.clone());
                let wiki = prepare(&prepared, &mut |_| {})?;
                // The registry must hand out this same instance (its observers are attached).
                let registered =
                    wikis
                        .get(&prepared.wiki.slug)
                        .map_err(|source| LaunchError::Wiki {
                            slug: prepared.wiki.slug.clone(),
                            source,
                        })?;
                drop(wiki);
                TenantResolver::single(registered, prepared.wiki.anonymous, urls, wikis)
            }
            Mode::Platform => {
                let platform = Arc::new(
                    Platform::open(&prepared.data_dir.join("holt.sqlite"))
                        .map_err(|e| LaunchError::Platform(e.to_string()))?,
                );
                let keys = Arc::new(
                    SessionKeys::load_or_generate(&prepared.data_dir.join("keys"), &urls.apex())
                        .map_err(|e| LaunchError::Platform(e.to_string()))?,
                );
                observe_wikis(&wikis, Some(platform.clone()), events, semantic.clone());
                TenantResolver::for_platform(platform, keys, urls, wikis)
            }
        };
        // Wikis left with queued pages (a crash, a restart) are found and caught up.
        let (resuming, wikis) = (semantic.clone(), resolver.wikis().clone());
        std::thread::spawn(move || resuming.resume(&wikis));
        Ok((plugins, Arc::new(resolver)))
    })
    .await
    .map_err(|e| LaunchError::Serve(std::io::Error::other(e)))??;
    deliver_page_events(queue, plugins.clone(), resolver.clone());
    ensure_demo(&resolver, &plugins, &settings).await?;
    // Load code-highlighting grammars off the request path.
    std::thread::spawn(highlight::warm_up);
    tracing::info!(%addr, url = %resolver.urls().apex(), mode = ?settings.mode, "serving");
    // The readiness line scripts and tests wait for.
    println!("holt: listening on http://{addr}");
    if resolver.is_platform() {
        let urls = resolver.urls();
        let demo = if settings.platform.demo {
            format!("; the demo wiki is at {}", urls.wiki("demo"))
        } else {
            String::new()
        };
        println!("holt: open {} to sign in and make wikis{demo}", urls.apex());
    }
    let (signin, oauth) = match (resolver.platform(), resolver.keys()) {
        (Some(platform), Some(keys)) => {
            let urls = resolver.urls();
            let signin = crate::atproto::AtprotoSignIn::new(
                &settings.atproto,
                &urls.apex(),
                &settings.data_dir.join("keys"),
                platform.clone(),
            )
            .map_err(|e| LaunchError::Platform(e.to_string()))?;
            let oauth = crate::oauth::AuthorizationServer::new(
                platform.clone(),
                keys.clone(),
                urls.clone(),
            );
            (Some(Arc::new(signin)), Some(Arc::new(oauth)))
        }
        _ => (None, None),
    };
    let state = AppState {
        signin,
        oauth,
        resolver,
        theme: Arc::new(theme),
        responses: Arc::new(ResponseCache::new(settings.cache.response_bytes)),
        plugins,
        rate: Arc::new(RateLimiter::new(settings.platform.writes_per_minute)),
        listen: addr,
        settings: Arc::new(settings),
    };
    web::serve(state, listener, shutdown)
        .await
        .map_err(LaunchError::Serve)
}

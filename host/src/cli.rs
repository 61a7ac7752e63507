//! The `holt` command line: `serve`, `reindex`, `import`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use crate::config::Settings;
use crate::index::SyncProgress;
use crate::server::{self, LaunchError};

/// Holt: a git-backed Markdown wiki engine.
///
/// With no configuration, `holt serve` keeps its data in ./holt-data, listens on
/// 127.0.0.1:8080 and serves one wiki with a Home page. Settings come from holt.toml
/// (or --config) and HOLT_* environment variables; flags override both.
#[derive(Debug, Parser)]
#[command(name = "holt", version, about, long_about)]
pub struct Cli {
    /// Configuration file (default: ./holt.toml if it exists).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory: wikis, databases and generated keys (default: ./holt-data).
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the wiki over HTTP.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free port).
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
    },
    /// Rebuild a wiki's search and history index from its git repository.
    Reindex {
        /// The wiki (default: the configured `[wiki] slug`).
        #[arg(long, value_name = "SLUG")]
        wiki: Option<String>,
        /// Rebuild the semantic index instead: embed every page again with the installed model
        /// (stop the server first, or restart it after, so it sees the new vectors).
        #[arg(long)]
        semantic: bool,
    },
    /// Import an existing wiki's git repository (An Otter Wiki's, or any repo of Markdown
    /// pages), keeping its whole history.
    Import {
        /// The repository to import: a working copy or a bare repository.
        path: PathBuf,
        /// Replace a wiki that already has pages (its folder is kept beside, renamed).
        #[arg(long)]
        replace: bool,
        /// The wiki to import into (default: the configured `[wiki] slug`).
        #[arg(long, value_name = "SLUG")]
        wiki: Option<String>,
        /// In platform mode, the handle of the user who will own a new wiki.
        #[arg(long, value_name = "HANDLE")]
        owner: Option<String>,
    },
    /// Manage the platform's users.
    #[command(subcommand)]
    User(UserCommand),
    /// Show and check WebAssembly plugins.
    #[command(subcommand)]
    Plugin(PluginCommand),
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Add a user (or update their name), so they can own wikis or be added as collaborators.
    Add {
        /// Their handle, e.g. alice.bsky.social.
        handle: String,
        /// Their display name.
        #[arg(long)]
        name: Option<String>,
        /// Their DID (default: did:web:<handle>).
        #[arg(long)]
        did: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PluginCommand {
    /// List the configured plugins: what each may do and provides, or why it cannot load.
    List,
    /// Check a plugin component (and the plugin.toml beside it) as the host would load it.
    Check {
        /// The component, e.g. target/plugins/example/plugin.wasm.
        file: PathBuf,
    },
}

/// Runs the command line; returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let mut settings = match Settings::load(cli.config.as_deref()) {
        Ok(settings) => settings,
        Err(err) => return fail(&err.to_string()),
    };
    if let Some(data) = cli.data {
        settings.data_dir = data;
    }
    let result = match cli.command {
        Command::Serve { listen } => {
            if let Some(listen) = listen {
                settings.listen = listen;
            }
            serve(settings)
        }
        Command::Reindex { wiki, semantic } => {
            if let Some(slug) = wiki {
                settings.wiki.slug = slug;
            }
            if semantic {
                reindex_semantic(&settings)
            } else {
                reindex(&settings)
            }
        }
        Command::Import {
            path,
            replace,
            wiki,
            owner,
        } => {
            if let Some(slug) = wiki {
                settings.wiki.slug = slug;
            }
            crate::import::import(&settings, &path, replace, owner.as_deref())
        }
        Command::User(UserCommand::Add { handle, name, did }) => {
            user_add(&settings, &handle, name, did)
        }
        Command::Plugin(PluginCommand::List) => plugin_list(&settings),
        Command::Plugin(PluginCommand::Check { file }) => plugin_check(&settings, &file),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => fail(&message),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("holt: {message}");
    ExitCode::FAILURE
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HOLT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("holt=info,tower_http=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

fn serve(settings: Settings) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async move {
        let addr = settings.listen;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|source| LaunchError::Listen {
                addr: addr.to_string(),
                source,
            })
            .map_err(|e| e.to_string())?;
        server::launch(settings, listener, shutdown_signal())
            .await
            .map_err(|e| e.to_string())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

fn reindex(settings: &Settings) -> Result<(), String> {
    let wiki_dir = server::wiki_dir(settings, &settings.wiki.slug);
    if !wiki_dir.join("repo.git").exists() {
        return Err(format!(
            "there is no wiki '{}' in {}",
            settings.wiki.slug,
            settings.data_dir.display()
        ));
    }
    let wiki = server::open_wiki(settings).map_err(|e| e.to_string())?;
    let mut bars = SyncBars::new();
    let stats = wiki
        .reindex(&mut |p| bars.update(p))
        .map_err(|e| format!("wiki '{}': {e}", settings.wiki.slug))?;
    bars.finish();
    eprintln!(
        "holt: reindexed wiki '{}': {} commits, {} pages",
        settings.wiki.slug,
        stats.commits,
        wiki.index().page_count().unwrap_or(0)
    );
    Ok(())
}

fn reindex_semantic(settings: &Settings) -> Result<(), String> {
    let slug = &settings.wiki.slug;
    let wiki_dir = server::wiki_dir(settings, slug);
    if !wiki_dir.join("repo.git").exists() {
        return Err(format!(
            "there is no wiki '{slug}' in {}",
            settings.data_dir.display()
        ));
    }
    let wiki = std::sync::Arc::new(server::open_wiki(settings).map_err(|e| e.to_string())?);
    wiki.sync(&mut |_| {})
        .map_err(|e| format!("wiki '{slug}': {e}"))?;
    let semantic =
        crate::semantic::SemanticSearch::from_settings(&settings.semantic, &settings.data_dir);
    if !semantic.enabled() {
        let status = semantic.status(&wiki).map_err(|e| e.to_string())?;
        return Err(format!("semantic search is off: {}", status.reason));
    }
    let bar = ProgressBar::new(0)
        .with_style(
            ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({per_sec}, {eta})")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        )
        .with_message("pages");
    bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(10));
    let started = std::time::Instant::now();
    let stats = semantic
        .rebuild(&wiki, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
        .map_err(|e| format!("wiki '{slug}': {e}"))?;
    bar.finish();
    eprintln!(
        "holt: rebuilt the semantic index of wiki '{slug}': {} pages, {} passages in {:.1} s",
        stats.pages,
        stats.chunks,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn user_add(
    settings: &Settings,
    handle: &str,
    name: Option<String>,
    did: Option<String>,
) -> Result<(), String> {
    let handle = handle.trim().trim_start_matches('@').to_ascii_lowercase();
    if handle.is_empty()
        || !handle
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(format!(
            "'{handle}' is not a handle: use letters, digits, dots and hyphens, like alice.bsky.social"
        ));
    }
    std::fs::create_dir_all(&settings.data_dir)
        .map_err(|e| format!("{}: {e}", shown(&settings.data_dir)))?;
    let platform = crate::platform::Platform::open(&settings.data_dir.join("holt.sqlite"))
        .map_err(|e| e.to_string())?;
    let did = did.unwrap_or_else(|| format!("did:web:{handle}"));
    let name = name.unwrap_or_else(|| handle.clone());
    let user = platform
        .upsert_user(&did, &handle, &name)
        .map_err(|e| e.to_string())?;
    println!("user @{} ({}) is ready", user.handle, user.did);
    Ok(())
}

fn plugin_list(settings: &Settings) -> Result<(), String> {
    use crate::plugins::{HostOptions, survey};
    if settings.plugins.is_empty() {
        println!(
            "No plugins are configured (add [plugins.<name>] to holt.toml; plugin_dir is {}).",
            shown(&settings.plugin_dir())
        );
        return Ok(());
    }
    let report = survey(HostOptions {
        plugin_dir: settings.plugin_dir(),
        cache_dir: settings.data_dir.join("plugin-cache"),
        plugins: &settings.plugins,
        site_name: settings.wiki.name.clone(),
        tool_cache_bytes: 0,
    })?;
    let mut broken = 0;
    for entry in report {
        let state = if entry.enabled { "enabled" } else { "disabled" };
        match entry.loaded {
            Ok(plugin) => {
                println!(
                    "{} {} ({state}, holt:plugin@{})",
                    plugin.manifest.name, plugin.manifest.version, plugin.manifest.api
                );
                if !plugin.manifest.description.is_empty() {
                    println!("  {}", plugin.manifest.description);
                }
                let granted: Vec<String> = plugin.grants.iter().map(|c| c.to_string()).collect();
                println!(
                    "  may:      {}",
                    if granted.is_empty() {
                        "nothing beyond its own output".into()
                    } else {
                        granted.join(", ")
                    }
                );
                println!(
                    "  provides: {}",
                    plugin.manifest.declared_exports().join(", ")
                );
                for prefix in &plugin.manifest.provides.http {
                    println!("  serves:   {prefix}");
                }
                let limits = plugin.limits;
                println!(
                    "  limits:   {} ms, {} MiB, {} bytes of output",
                    limits.timeout.as_millis(),
                    limits.memory_bytes >> 20,
                    limits.max_output_bytes
                );
            }
            Err(why) => {
                if entry.enabled {
                    broken += 1;
                }
                println!("{} ({state}): cannot be loaded: {why}", entry.name);
            }
        }
    }
    if broken > 0 {
        return Err(format!(
            "{broken} enabled plugin(s) cannot be loaded; holt serve would refuse to start"
        ));
    }
    Ok(())
}

fn plugin_check(settings: &Settings, file: &Path) -> Result<(), String> {
    let plugin = crate::plugins::check_file(file, settings.data_dir.join("plugin-cache"))
        .map_err(|why| format!("{}: {why}", shown(file)))?;
    let asks: Vec<String> = plugin.grants.iter().map(|c| c.to_string()).collect();
    println!(
        "{}: plugin '{}' {} for holt:plugin@{} is valid",
        shown(file),
        plugin.manifest.name,
        plugin.manifest.version,
        plugin.manifest.api
    );
    println!(
        "  exports:  {}",
        plugin
            .exports
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  provides: {}",
        plugin.manifest.declared_exports().join(", ")
    );
    println!(
        "  asks for: {}",
        if asks.is_empty() {
            "no capabilities".into()
        } else {
            asks.join(", ")
        }
    );
    println!(
        "To enable it, add to holt.toml:\n  [plugins.{}]\n  grants = {:?}",
        plugin.manifest.name, asks
    );
    Ok(())
}

/// Progress bars for an index sync: one for commits, one for pages.
pub struct SyncBars {
    commits: Option<ProgressBar>,
    pages: Option<ProgressBar>,
}

impl SyncBars {
    pub fn new() -> Self {
        SyncBars {
            commits: None,
            pages: None,
        }
    }

    pub fn update(&mut self, progress: SyncProgress) {
        let style = ProgressStyle::with_template("{msg:>8} [{bar:40}] {pos}/{len} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> ");
        let (slot, label, done, total) = match progress {
            SyncProgress::Commits { done, total } => (&mut self.commits, "commits", done, total),
            SyncProgress::Pages { done, total } => (&mut self.pages, "pages", done, total),
        };
        let bar = slot.get_or_insert_with(|| {
            let bar = ProgressBar::new(total as u64)
                .with_style(style)
                .with_message(label);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr_with_hz(10));
            bar
        });
        bar.set_position(done as u64);
    }

    pub fn finish(&mut self) {
        for bar in [self.commits.take(), self.pages.take()]
            .into_iter()
            .flatten()
        {
            bar.finish();
        }
    }
}

impl Default for SyncBars {
    fn default() -> Self {
        Self::new()
    }
}

/// The displayed form of a path in messages.
pub fn shown(path: &Path) -> String {
    path.display().to_string()
}

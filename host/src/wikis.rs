//! `Wikis`: every wiki of the data directory (`<data>/wikis/<slug>/`), opened on first use.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::render::Renderer;
use crate::store::StoreError;
use crate::wiki::{Limits, Wiki, WikiError};

/// Runs once for every wiki opened (to attach observers such as page-event delivery).
pub type Setup = Box<dyn Fn(&Arc<Wiki>) + Send + Sync>;

/// The open wikis, by slug.
pub struct Wikis {
    root: PathBuf,
    renderer: Arc<Renderer>,
    limits: Limits,
    open: Mutex<HashMap<String, Arc<Wiki>>>,
    setup: Mutex<Option<Setup>>,
}

impl Wikis {
    pub fn new(root: PathBuf, renderer: Arc<Renderer>, limits: Limits) -> Self {
        Wikis {
            root,
            renderer,
            limits,
            open: Mutex::new(HashMap::new()),
            setup: Mutex::new(None),
        }
    }

    /// Sets what runs for every wiki opened from now on.
    pub fn set_setup(&self, setup: Setup) {
        *self.setup.lock().unwrap_or_else(|p| p.into_inner()) = Some(setup);
    }

    /// The folder of a wiki.
    pub fn dir(&self, slug: &str) -> PathBuf {
        self.root.join(slug)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Wiki>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The wiki `slug`, opened (and its index caught up with git) if it is not open yet.
    pub fn get(&self, slug: &str) -> Result<Arc<Wiki>, WikiError> {
        if let Some(wiki) = self.lock().get(slug) {
            return Ok(wiki.clone());
        }
        if !self.dir(slug).join("repo.git").exists() {
            return Err(WikiError::NotFound(format!("wiki '{slug}'")));
        }
        self.open_dir(slug)
    }

    /// Creates the storage of a new wiki (an empty repository and index).
    pub fn create(&self, slug: &str) -> Result<Arc<Wiki>, WikiError> {
        let dir = self.dir(slug);
        if dir.join("repo.git").exists() {
            let wiki = self.open_dir(slug)?;
            if wiki.store().head()?.is_some() {
                return Err(WikiError::Conflict {
                    message: format!("wiki '{slug}' already has pages"),
                    current: None,
                });
            }
            return Ok(wiki);
        }
        self.open_dir(slug)
    }

    fn open_dir(&self, slug: &str) -> Result<Arc<Wiki>, WikiError> {
        let mut open = self.lock();
        if let Some(wiki) = open.get(slug) {
            return Ok(wiki.clone());
        }
        let wiki = Arc::new(Wiki::open(
            slug,
            &self.dir(slug),
            self.renderer.clone(),
            self.limits,
        )?);
        let stats = wiki.sync(&mut |_| {})?;
        if stats.commits > 0 {
            tracing::info!(
                wiki = slug,
                commits = stats.commits,
                rebuilt = stats.rebuilt,
                "index caught up with git"
            );
        }
        if let Some(setup) = self
            .setup
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            setup(&wiki);
        }
        open.insert(slug.to_string(), wiki.clone());
        Ok(wiki)
    }

    /// Closes a wiki and deletes its storage (repository, index, plugin data).
    pub fn remove(&self, slug: &str) -> Result<(), WikiError> {
        self.lock().remove(slug);
        let dir = self.dir(slug);
        if !dir.exists() {
            return Ok(());
        }
        // Move it aside first, so a half-deleted folder is never mistaken for a wiki.
        let trash = self.root.join(format!(
            ".deleted-{slug}-{}",
            jiff::Timestamp::now().as_millisecond()
        ));
        std::fs::rename(&dir, &trash).map_err(StoreError::from)?;
        std::fs::remove_dir_all(&trash).map_err(StoreError::from)?;
        Ok(())
    }

    /// The wikis that are open now.
    pub fn opened(&self) -> Vec<Arc<Wiki>> {
        self.lock().values().cloned().collect()
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
}

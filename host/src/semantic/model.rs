//! `LazyModel`: the embedding model as a running server holds it. Start-up never waits for it:
//! it is loaded on first need (a query, or pages queued for the worker), the load is logged
//! with its time, and it is dropped again once unused for a while. One loaded copy serves
//! both the reindex worker and queries; a query never waits for more than the one passage the
//! worker is embedding.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::minilm::{MiniLm, Precision};
use super::{EmbedError, Embedder};

/// What to load, and how.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub dir: PathBuf,
    pub precision: Precision,
    /// ONNX Runtime threads per embedding.
    pub threads: usize,
    /// Dropped after this long unused (`None`: kept once loaded).
    pub unload_after: Option<Duration>,
}

/// The model, loaded when first used.
pub struct LazyModel {
    config: ModelConfig,
    slot: Mutex<Slot>,
    /// Queries waiting for the model; the worker lets them go first.
    queries: Mutex<usize>,
    queries_done: Condvar,
}

enum Slot {
    Unloaded,
    Loaded {
        model: Arc<MiniLm>,
        used: Instant,
    },
    /// The load failed: said once in the log, and not tried again until a restart.
    Failed(String),
}

impl LazyModel {
    pub fn new(config: ModelConfig) -> Arc<Self> {
        Arc::new(LazyModel {
            config,
            slot: Mutex::new(Slot::Unloaded),
            queries: Mutex::new(0),
            queries_done: Condvar::new(),
        })
    }

    /// The handle the reindex worker embeds pages with: it gives way to waiting queries.
    pub fn for_pages(self: &Arc<Self>) -> Box<dyn Embedder> {
        Box::new(Handle {
            model: self.clone(),
            query: false,
        })
    }

    /// The handle queries are embedded with.
    pub fn for_queries(self: &Arc<Self>) -> Box<dyn Embedder> {
        Box::new(Handle {
            model: self.clone(),
            query: true,
        })
    }

    /// Whether the model is in memory now.
    pub fn is_loaded(&self) -> bool {
        matches!(*self.slot(), Slot::Loaded { .. })
    }

    fn slot(&self) -> MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The loaded model, loading it first if need be (callers arriving meanwhile wait for that
    /// one load).
    fn get(&self) -> Result<Arc<MiniLm>, EmbedError> {
        let mut slot = self.slot();
        match &mut *slot {
            Slot::Loaded { model, used } => {
                *used = Instant::now();
                return Ok(model.clone());
            }
            Slot::Failed(reason) => return Err(EmbedError::Unavailable(reason.clone())),
            Slot::Unloaded => {}
        }
        let started = Instant::now();
        let config = &self.config;
        match MiniLm::load(&config.dir, config.precision, config.threads) {
            Ok(model) => {
                tracing::info!(
                    model = config.precision.model_name(),
                    threads = config.threads,
                    ms = started.elapsed().as_millis() as u64,
                    "semantic search: the model is loaded"
                );
                let model = Arc::new(model);
                *slot = Slot::Loaded {
                    model: model.clone(),
                    used: Instant::now(),
                };
                Ok(model)
            }
            Err(err) => {
                tracing::error!(error = %err, "semantic search is off: the model could not be loaded (fix it, then restart Holt)");
                let (EmbedError::Unavailable(reason) | EmbedError::Failed(reason)) = &err;
                *slot = Slot::Failed(reason.clone());
                Err(err)
            }
        }
    }

    /// Drops the model if it has not been used for `unload_after` (embeddings under way keep
    /// their copy until they finish).
    fn release_if_unused(&self) {
        let Some(after) = self.config.unload_after else {
            return;
        };
        let mut slot = self.slot();
        if let Slot::Loaded { used, .. } = &*slot
            && used.elapsed() >= after
        {
            *slot = Slot::Unloaded;
            tracing::info!(
                idle_s = after.as_secs(),
                "semantic search: the model is unloaded until it is needed again"
            );
        }
    }

    fn unavailable(&self) -> Option<String> {
        match &*self.slot() {
            Slot::Failed(reason) => Some(reason.clone()),
            _ => None,
        }
    }

    fn embed_query(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        *self.queries.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        let result = self.get().and_then(|model| model.embed(texts));
        let mut waiting = self.queries.lock().unwrap_or_else(|p| p.into_inner());
        *waiting -= 1;
        if *waiting == 0 {
            self.queries_done.notify_all();
        }
        result
    }

    /// Pages are embedded one at a time, each after any waiting query.
    fn embed_pages(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let model = self.get()?;
        let mut vectors = Vec::with_capacity(texts.len());
        for text in texts {
            let waiting = self.queries.lock().unwrap_or_else(|p| p.into_inner());
            drop(
                self.queries_done
                    .wait_while(waiting, |n| *n > 0)
                    .unwrap_or_else(|p| p.into_inner()),
            );
            vectors.extend(model.embed(&[text])?);
        }
        Ok(vectors)
    }
}

/// One way into the shared model.
struct Handle {
    model: Arc<LazyModel>,
    query: bool,
}

impl Embedder for Handle {
    fn dim(&self) -> usize {
        super::minilm::DIM
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if self.query {
            self.model.embed_query(texts)
        } else {
            self.model.embed_pages(texts)
        }
    }

    fn unavailable(&self) -> Option<String> {
        self.model.unavailable()
    }

    fn release_if_unused(&self) {
        self.model.release_if_unused();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: PathBuf, unload_after: Option<Duration>) -> ModelConfig {
        ModelConfig {
            dir,
            precision: Precision::Int8,
            threads: 1,
            unload_after,
        }
    }

    fn installed() -> PathBuf {
        std::env::var_os("HOLT_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(MiniLm::default_dir)
    }

    #[test]
    fn the_model_is_loaded_on_first_use_and_shared_by_pages_and_queries() {
        let model = LazyModel::new(config(installed(), None));
        assert!(!model.is_loaded(), "made without loading");
        let (pages, queries) = (model.for_pages(), model.for_queries());
        assert_eq!(pages.unavailable(), None);
        let page = pages.embed(&["Water tomatoes at the roots"]).unwrap();
        assert!(model.is_loaded(), "the first embedding loaded it");
        let query = queries.embed(&["Water tomatoes at the roots"]).unwrap();
        assert_eq!(page, query, "one model, the same vector either way");
        assert_eq!(page[0].len(), queries.dim());
    }

    #[test]
    fn an_unused_model_is_unloaded_and_loaded_again_when_needed() {
        let kept = LazyModel::new(config(installed(), Some(Duration::from_secs(3600))));
        kept.for_queries().embed(&["a query"]).unwrap();
        kept.for_pages().release_if_unused();
        assert!(kept.is_loaded(), "used a moment ago");

        let dropped = LazyModel::new(config(installed(), Some(Duration::ZERO)));
        let queries = dropped.for_queries();
        let first = queries.embed(&["a query"]).unwrap();
        queries.release_if_unused();
        assert!(!dropped.is_loaded(), "unused past the limit");
        assert_eq!(queries.embed(&["a query"]).unwrap(), first);
        assert!(dropped.is_loaded());
    }

    #[test]
    fn a_failed_load_is_remembered_and_named() {
        let empty = tempfile::tempdir().unwrap();
        let model = LazyModel::new(config(empty.path().to_path_buf(), None));
        let queries = model.for_queries();
        assert_eq!(
            queries.unavailable(),
            None,
            "not known before the first use"
        );
        let Err(EmbedError::Unavailable(reason)) = queries.embed(&["x"]) else {
            panic!("an empty folder gave a model");
        };
        assert!(reason.contains("model-int8.onnx"), "{reason}");
        assert_eq!(model.for_pages().unavailable(), Some(reason.clone()));
        let Err(EmbedError::Unavailable(again)) = model.for_pages().embed(&["x"]) else {
            panic!("a failed load was tried again and succeeded");
        };
        assert_eq!(again, reason, "the same reason, said the same way");
        assert!(!model.is_loaded());
    }
}

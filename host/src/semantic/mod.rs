//! Semantic search: pages cut into passages (`chunk`), passages embedded as vectors
//! (`Embedder`; the real one is `minilm`, loaded on first need by `model`), stored per wiki
//! (`store`), searched exactly in memory (`vectors`), kept current by the reindex worker (`worker`) from the queue the page index
//! fills, and offered to the rest of Holt by `SemanticSearch` (`service`).

pub mod chunk;
pub mod minilm;
pub mod model;
pub mod service;
pub mod store;
pub mod vectors;
pub mod worker;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use minilm::Precision;
pub use service::{ReindexStatus, SemanticError, SemanticHit, SemanticSearch};
pub use worker::RebuildStats;

use crate::config::SemanticSettings;
use model::{LazyModel, ModelConfig};

/// What people are told when the model is not there; it names no server paths.
const NOT_INSTALLED: &str = "the embedding model is not installed on this server (its operator \
                             can install it with tools/model/fetch.sh)";

impl SemanticSearch {
    /// Semantic search as configured: the real model from the configured folder (or, unset,
    /// `<data>/models/all-MiniLM-L6-v2`, then the checkout's `models/` folder), loaded when
    /// first needed; off, with the reason logged and shown, when switched off or when the
    /// model's files are not there. Start-up only looks for the files.
    pub fn from_settings(settings: &SemanticSettings, data_dir: &Path) -> SemanticSearch {
        if !settings.enabled {
            return SemanticSearch::off(
                "the operator switched it off ([semantic] enabled = false)",
            );
        }
        let dir = model_dir(settings, data_dir);
        let missing = minilm::MiniLm::missing_files(&dir, settings.precision);
        if let Some(file) = missing.first() {
            tracing::warn!(missing = %file.display(), "semantic search is off: the model is not installed (tools/model/fetch.sh installs it)");
            return SemanticSearch::off(NOT_INSTALLED);
        }
        let config = ModelConfig {
            dir: dir.clone(),
            precision: settings.precision,
            threads: settings.threads.max(1),
            unload_after: (settings.unload_after_secs > 0)
                .then(|| Duration::from_secs(settings.unload_after_secs)),
        };
        let pages = LazyModel::new(config.clone());
        let queries = if settings.separate_query_model {
            LazyModel::new(config)
        } else {
            pages.clone()
        };
        tracing::info!(model = %dir.display(), precision = ?settings.precision, "semantic search is on (the model loads when first needed)");
        SemanticSearch::new(
            settings.precision.model_name(),
            pages.for_pages(),
            queries.for_queries(),
            settings.memory_mib.saturating_mul(1 << 20) as usize,
        )
    }
}

/// Where the model is looked for.
fn model_dir(settings: &SemanticSettings, data_dir: &Path) -> PathBuf {
    if let Some(dir) = &settings.model_dir {
        return dir.clone();
    }
    let in_data = data_dir.join("models").join("all-MiniLM-L6-v2");
    if in_data.exists() {
        return in_data;
    }
    minilm::MiniLm::default_dir()
}

/// Turns passages into L2-normalised vectors of one dimension; the real model and the test
/// fake share this, so the index and the queue never know which runs.
pub trait Embedder: Send + Sync {
    /// The length of every vector.
    fn dim(&self) -> usize;
    /// One vector per text, in order.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError>;
    /// Why the model cannot be used, once that is known (a model that failed to load).
    fn unavailable(&self) -> Option<String> {
        None
    }
    /// Frees the model's memory if it has not been used for a while (the worker calls this
    /// when idle).
    fn release_if_unused(&self) {}
}

/// Why texts could not be embedded.
#[derive(Debug, thiserror::Error)]
pub enum EmbedError {
    /// The model cannot be loaded: semantic search is off until the operator fixes it.
    #[error("the embedding model could not be loaded: {0}")]
    Unavailable(String),
    #[error("embedding: {0}")]
    Failed(String),
}

/// A FAKE embedder for tests: hashes each lower-cased word (and each pair of adjacent words)
/// into a bucket of a fixed-size vector, then normalises. Texts sharing words come out near
/// each other; it knows nothing of meaning, which is what the real model is for.
pub struct HashingEmbedder {
    dim: usize,
}

impl HashingEmbedder {
    pub fn new(dim: usize) -> Self {
        HashingEmbedder { dim: dim.max(1) }
    }

    fn bucket(&self, token: &str) -> (usize, f32) {
        // FNV-1a: stable across runs and platforms.
        let hash = token.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        let sign = if hash >> 63 == 0 { 1.0 } else { -1.0 };
        ((hash % self.dim as u64) as usize, sign)
    }
}

impl Embedder for HashingEmbedder {
    fn dim(&self) -> usize {
        self.dim
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        Ok(texts
            .iter()
            .map(|text| {
                let words: Vec<String> = text
                    .split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(str::to_lowercase)
                    .collect();
                let mut vector = vec![0.0f32; self.dim];
                for word in &words {
                    let (i, sign) = self.bucket(word);
                    vector[i] += sign;
                }
                for pair in words.windows(2) {
                    let (i, sign) = self.bucket(&format!("{} {}", pair[0], pair[1]));
                    vector[i] += 0.5 * sign;
                }
                normalise(&mut vector);
                vector
            })
            .collect())
    }
}

/// Scales `vector` to length 1 (a zero vector stays zero).
pub fn normalise(vector: &mut [f32]) {
    let norm = vector.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        vector.iter_mut().for_each(|x| *x /= norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    #[test]
    fn the_fake_is_deterministic_normalised_and_word_sensitive() {
        let fake = HashingEmbedder::new(64);
        let v = fake
            .embed(&[
                "reset my password",
                "Reset my PASSWORD!",
                "feline on a rug",
                "",
            ])
            .unwrap();
        assert_eq!(v.len(), 4);
        assert!(v.iter().all(|x| x.len() == 64));
        assert!((cosine(&v[0], &v[0]) - 1.0).abs() < 1e-6);
        assert!(
            (cosine(&v[0], &v[1]) - 1.0).abs() < 1e-6,
            "case and punctuation do not count"
        );
        assert!(cosine(&v[0], &v[2]) < 0.9);
        assert!(v[3].iter().all(|x| *x == 0.0), "no words, no direction");
        assert_eq!(v[0], fake.embed(&["reset my password"]).unwrap()[0]);
    }
}

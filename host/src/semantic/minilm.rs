//! `MiniLm`: the real embedder. sentence-transformers all-MiniLM-L6-v2 (384 dimensions, mean
//! pooling over the attention mask, L2-normalised, inputs cut at 256 tokens), run by ONNX
//! Runtime through fastembed, from the files `tools/model/fetch.sh` writes: the fp32 ONNX
//! built from the published safetensors, the tokenizer, and `lib/libonnxruntime.so`. Nothing
//! is ever downloaded at run time.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

use super::{EmbedError, Embedder};

/// The length of the model's vectors.
pub const DIM: usize = 384;
/// Longer inputs are cut to this many tokens (as sentence-transformers does for this model).
pub const MAX_TOKENS: usize = 256;
/// Passages embedded per ONNX Runtime call (bounds the attention matrices' memory).
const BATCH: usize = 32;

/// The ONNX Runtime environment: one per process, made from the first model directory used.
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The all-MiniLM-L6-v2 embedder.
pub struct MiniLm {
    model: Mutex<TextEmbedding>,
}

impl MiniLm {
    /// The model directory of a checkout (`tools/model/fetch.sh`'s default output).
    pub fn default_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2")
    }

    /// Loads the model from `dir`; the error says what is missing and how to get it.
    pub fn load(dir: &Path) -> Result<Self, EmbedError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read(&path).map_err(|e| {
                EmbedError(format!(
                    "{}: {e} (tools/model/fetch.sh {} puts the model there)",
                    path.display(),
                    dir.display()
                ))
            })
        };
        let library = dir.join("lib/libonnxruntime.so");
        let runtime = RUNTIME
            .get_or_init(|| {
                ort::init_from(&library)
                    .map_err(|e| format!("{}: {e}", library.display()))?
                    .with_name("holt")
                    .build()
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(|e| EmbedError(format!("ONNX Runtime: {e}")))?;
        let files = TokenizerFiles {
            tokenizer_file: read("tokenizer.json")?,
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: read("tokenizer_config.json")?,
        };
        let model =
            UserDefinedEmbeddingModel::new(read("model.onnx")?, files).with_pooling(Pooling::Mean);
        let options = InitOptionsUserDefined::new()
            .with_environment(runtime)
            .with_max_length(MAX_TOKENS);
        let model = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| EmbedError(format!("loading {}: {e}", dir.display())))?;
        Ok(MiniLm {
            model: Mutex::new(model),
        })
    }
}

impl Embedder for MiniLm {
    fn dim(&self) -> usize {
        DIM
    }

    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        let mut model = self.model.lock().unwrap_or_else(|p| p.into_inner());
        let vectors = model
            .embed(texts, Some(BATCH))
            .map_err(|e| EmbedError(e.to_string()))?;
        if vectors.iter().any(|v| v.len() != DIM) {
            return Err(EmbedError(format!(
                "the model gave vectors of another length than {DIM}"
            )));
        }
        Ok(vectors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        a.iter()
            .zip(b)
            .map(|(x, y)| f64::from(*x) * f64::from(*y))
            .sum()
    }

    /// The similarities sentence-transformers gives with the same weights (issue 7).
    #[test]
    fn the_real_model_matches_sentence_transformers() {
        let dir = std::env::var_os("HOLT_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(MiniLm::default_dir);
        let model = MiniLm::load(&dir).unwrap_or_else(|e| {
            panic!("{e}\n(./dev.sh test fetches the model; or run tools/model/fetch.sh)")
        });
        let pairs = [
            (
                "How do I reset my password?",
                "Steps to recover a forgotten account password",
                0.70528,
            ),
            (
                "The cat sat on the mat.",
                "A feline was resting on the rug.",
                0.56313,
            ),
            (
                "Quarterly revenue grew by ten percent.",
                "The wiki page explains how to install the server on Debian.",
                -0.07372,
            ),
        ];
        for (a, b, expected) in pairs {
            let v = model.embed(&[a, b]).unwrap();
            assert_eq!(v[0].len(), DIM);
            let norm = cosine(&v[0], &v[0]);
            assert!((norm - 1.0).abs() < 1e-5, "not normalised: {norm}");
            let got = cosine(&v[0], &v[1]);
            assert!(
                (got - expected).abs() <= 1e-4,
                "{a:?} / {b:?}: {got:.5}, sentence-transformers gives {expected}"
            );
        }
        // Alone or in a batch with longer texts (padding), a text embeds the same.
        let alone = model.embed(&["The cat sat on the mat."]).unwrap();
        let long = "word ".repeat(400);
        let batched = model
            .embed(&[long.as_str(), "The cat sat on the mat."])
            .unwrap();
        assert!(cosine(&alone[0], &batched[1]) > 0.99999);
    }
}

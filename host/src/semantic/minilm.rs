//! `MiniLm`: the real embedder. sentence-transformers all-MiniLM-L6-v2 (384 dimensions, mean
//! pooling over the attention mask, L2-normalised, inputs cut at 256 tokens), run by ONNX
//! Runtime from the files `tools/model/fetch.sh` writes: the ONNX graphs built from the
//! published safetensors (fp32, and int8 quantized from it), `tokenizer.json`, and
//! `lib/libonnxruntime.so`. Nothing is ever downloaded at run time.
//!
//! The session is set up for a small shared server: a bounded number of threads that never
//! spin while idle, and no memory arena (an arena keeps the peak of the largest batch forever).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use ort::ep;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::Tensor;
use tokenizers::{Tokenizer, TruncationParams};

use super::{EmbedError, Embedder, normalise};

/// The length of the model's vectors.
pub const DIM: usize = 384;
/// Longer inputs are cut to this many tokens (as sentence-transformers does for this model).
pub const MAX_TOKENS: usize = 256;

/// Which build of the model runs (fp32 as published, or int8 quantized from it).
pub use crate::config::ModelPrecision as Precision;

impl Precision {
    /// The graph's file in the model folder.
    pub fn file(self) -> &'static str {
        match self {
            Precision::Fp32 => "model.onnx",
            Precision::Int8 => "model-int8.onnx",
        }
    }

    /// The name stored vectors are recorded under: vectors of the two builds are never mixed.
    pub fn model_name(self) -> &'static str {
        match self {
            Precision::Fp32 => "all-MiniLM-L6-v2",
            Precision::Int8 => "all-MiniLM-L6-v2-int8",
        }
    }
}

/// The ONNX Runtime environment: one per process, made from the first model directory used.
static RUNTIME: OnceLock<Result<ort::environment::Environment, String>> = OnceLock::new();

/// The all-MiniLM-L6-v2 embedder.
pub struct MiniLm {
    tokenizer: Tokenizer,
    /// Whether the graph takes `token_type_ids` (ours does; exported BERTs may not).
    token_types: bool,
    session: Mutex<Session>,
}

impl MiniLm {
    /// The model directory of a checkout (`tools/model/fetch.sh`'s default output).
    pub fn default_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../models/all-MiniLM-L6-v2")
    }

    /// The files a model directory must hold for `precision` (what start-up checks, cheaply,
    /// before deciding that semantic search is on).
    pub fn missing_files(dir: &Path, precision: Precision) -> Vec<PathBuf> {
        [precision.file(), "tokenizer.json", "lib/libonnxruntime.so"]
            .iter()
            .map(|name| dir.join(name))
            .filter(|path| !path.is_file())
            .collect()
    }

    /// Loads the model from `dir` to run on `threads` threads; the error says what is missing
    /// and how to get it.
    pub fn load(dir: &Path, precision: Precision, threads: usize) -> Result<Self, EmbedError> {
        let unavailable = |e: String| EmbedError::Unavailable(e);
        if let Some(path) = Self::missing_files(dir, precision).first() {
            return Err(unavailable(format!(
                "{} is missing (tools/model/fetch.sh {} puts the model there)",
                path.display(),
                dir.display()
            )));
        }
        let library = dir.join("lib/libonnxruntime.so");
        let runtime = RUNTIME
            .get_or_init(|| {
                ort::init_from(&library)
                    .map_err(|e| format!("{}: {e}", library.display()))?
                    .with_name("holt")
                    .build()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(|e| unavailable(format!("ONNX Runtime: {e}")))?;
        let graph = dir.join(precision.file());
        let session = Session::builder(runtime)
            .and_then(|b| {
                b.with_execution_providers([ep::CPU::default()
                    .with_arena_allocator(false)
                    .build()])?
                    .with_optimization_level(GraphOptimizationLevel::All)?
                    .with_intra_threads(threads.max(1))?
                    .with_inter_threads(1)?
                    .with_memory_pattern(false)?
                    .with_config_entry("session.intra_op.allow_spinning", "0")?
                    .commit_from_file(&graph)
            })
            .map_err(|e| unavailable(format!("loading {}: {e}", graph.display())))?;
        let token_types = session
            .inputs()
            .iter()
            .any(|input| input.name() == "token_type_ids");
        let tokenizer_file = dir.join("tokenizer.json");
        let mut tokenizer = Tokenizer::from_file(&tokenizer_file)
            .map_err(|e| unavailable(format!("{}: {e}", tokenizer_file.display())))?;
        // tokenizer.json ships with truncation at 128 and padding to 128: the model reads up to
        // 256 tokens, and each text runs alone, unpadded.
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .map_err(|e| unavailable(format!("{}: {e}", tokenizer_file.display())))?;
        tokenizer.with_padding(None);
        Ok(MiniLm {
            tokenizer,
            token_types,
            session: Mutex::new(session),
        })
    }
}

impl Embedder for MiniLm {
    fn dim(&self) -> usize {
        DIM
    }

    /// Each text runs alone: no padding to compute, and a text's vector never depends on what
    /// it was batched with (int8's dynamic quantization scales activations per run). Measured
    /// on 2 cores, one at a time is also as fast as batches of 4 or 16.
    fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        texts.iter().map(|text| self.embed_one(text)).collect()
    }
}

impl MiniLm {
    fn embed_one(&self, text: &str) -> Result<Vec<f32>, EmbedError> {
        let failed = |e: String| EmbedError::Failed(e);
        let encoding = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| failed(format!("tokenizing: {e}")))?;
        let widen = |v: &[u32]| v.iter().map(|x| i64::from(*x)).collect::<Vec<_>>();
        let tokens = encoding.len();
        let tensor = |data: Vec<i64>| {
            Tensor::from_array(([1, tokens], data)).map_err(|e| failed(format!("input: {e}")))
        };
        let mut inputs = ort::inputs![
            "input_ids" => tensor(widen(encoding.get_ids()))?,
            "attention_mask" => tensor(widen(encoding.get_attention_mask()))?,
        ];
        if self.token_types {
            inputs.push((
                "token_type_ids".into(),
                tensor(widen(encoding.get_type_ids()))?.into(),
            ));
        }
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let outputs = session
            .run(inputs)
            .map_err(|e| failed(format!("running the model: {e}")))?;
        let (shape, hidden) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| failed(format!("the model's output: {e}")))?;
        if shape.len() != 3 || shape[1] as usize != tokens || shape[2] as usize != DIM {
            return Err(failed(format!(
                "the model gave an output of shape {shape:?}, not [1, {tokens}, {DIM}]"
            )));
        }
        // The mean over the tokens (none is padding), then unit length.
        let mut pooled = vec![0.0f32; DIM];
        for token in hidden.chunks_exact(DIM) {
            pooled.iter_mut().zip(token).for_each(|(sum, x)| *sum += x);
        }
        let count = tokens.max(1) as f32;
        pooled.iter_mut().for_each(|x| *x /= count);
        normalise(&mut pooled);
        Ok(pooled)
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

    fn model_dir() -> PathBuf {
        std::env::var_os("HOLT_MODEL_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(MiniLm::default_dir)
    }

    fn load(precision: Precision) -> MiniLm {
        MiniLm::load(&model_dir(), precision, 1).unwrap_or_else(|e| {
            panic!("{e}\n(./dev.sh test fetches the model; or run tools/model/fetch.sh)")
        })
    }

    /// The reference pairs and the similarities sentence-transformers gives for them with the
    /// same weights (issue 7).
    const PAIRS: [(&str, &str, f64); 3] = [
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

    /// Each pair's similarity is within `tolerance` of sentence-transformers', every vector
    /// has unit length, and a text's vector is the same alone or beside others.
    fn check(model: &MiniLm, tolerance: f64) {
        for (a, b, expected) in PAIRS {
            let v = model.embed(&[a, b]).unwrap();
            assert_eq!(v[0].len(), DIM);
            let norm = cosine(&v[0], &v[0]);
            assert!((norm - 1.0).abs() < 1e-5, "not normalised: {norm}");
            let got = cosine(&v[0], &v[1]);
            assert!(
                (got - expected).abs() <= tolerance,
                "{a:?} / {b:?}: {got:.5}, sentence-transformers gives {expected} (tolerance {tolerance})"
            );
        }
        let alone = model.embed(&["The cat sat on the mat."]).unwrap();
        let long = "word ".repeat(400);
        let batched = model
            .embed(&[long.as_str(), "The cat sat on the mat."])
            .unwrap();
        assert_eq!(alone[0], batched[1]);
        let cut = model.embed(&[&"word ".repeat(1000)]).unwrap();
        assert!(
            cosine(&cut[0], &batched[0]) > 0.99999,
            "inputs are cut at {MAX_TOKENS} tokens"
        );
        assert!(model.embed(&[]).unwrap().is_empty());
    }

    #[test]
    fn the_fp32_model_matches_sentence_transformers() {
        check(&load(Precision::Fp32), 1e-4);
    }

    /// The int8 build is held to a looser, stated tolerance, and stays close to fp32.
    #[test]
    fn the_int8_model_stays_close_to_fp32() {
        let (fp32, int8) = (load(Precision::Fp32), load(Precision::Int8));
        check(&int8, 0.02);
        let texts: Vec<&str> = PAIRS.iter().flat_map(|(a, b, _)| [*a, *b]).collect();
        let (a, b) = (fp32.embed(&texts).unwrap(), int8.embed(&texts).unwrap());
        for (x, y) in a.iter().zip(&b) {
            assert!(
                cosine(x, y) > 0.97,
                "int8 strays from fp32: {}",
                cosine(x, y)
            );
        }
    }

    #[test]
    fn a_missing_model_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let Err(err) = MiniLm::load(dir.path(), Precision::Int8, 1) else {
            panic!("an empty folder loaded");
        };
        assert!(
            matches!(&err, EmbedError::Unavailable(m) if m.contains("model-int8.onnx") && m.contains("fetch.sh")),
            "{err}"
        );
    }
}

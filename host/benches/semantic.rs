//! Semantic search figures (`cargo bench -p holt --bench semantic`, or `./dev.sh bench-semantic`),
//! on the benchmark corpus (`bench/corpus.py`, 500 pages at HEAD) with the real model
//! (`tools/model/fetch.sh`):
//!
//! - embedding throughput of the fp32 and the int8 build, alternately on the same passages of
//!   the corpus with one thread (as the worker runs), and each build's resident size;
//! - full reindex: `SemanticSearch::rebuild` of the corpus wiki (chunk, embed, store);
//! - query latency at 5,000 passages: the exact search alone, and a whole query (embedding the
//!   query, searching, titles), beside a full-text query on the same wiki in the same run;
//! - memory: the loaded index per wiki, per passage.
//!
//! The reindex and query figures are of the default build (`[semantic] precision`).
//!
//! Results also go to `target/bench/semantic.json`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holt::config::SemanticSettings;
use holt::render::Renderer;
use holt::semantic::chunk::chunk_page;
use holt::semantic::minilm::{MiniLm, Precision};
use holt::semantic::store::ChunkStore;
use holt::semantic::vectors::VectorIndex;
use holt::semantic::{Embedder, SemanticSearch};
use holt::store::{Author, PagePath};
use holt::wiki::{Limits, Wiki};

/// Passages in the query-latency index.
const QUERY_CHUNKS: usize = 5_000;
const QUERIES: usize = 400;

fn percentile(samples: &mut [Duration], p: usize) -> Duration {
    samples.sort();
    samples[(samples.len() * p / 100).min(samples.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// The corpus's pages at HEAD: (path without `.md`, Markdown).
fn corpus(dir: &Path) -> Vec<(String, String)> {
    let repo = dir.join("corpus");
    if !repo.exists() {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/corpus.py");
        let status = std::process::Command::new("python3")
            .arg(&script)
            .arg("--out")
            .arg(&repo)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("python3");
        assert!(status.success(), "{} failed", script.display());
    }
    let mut pages = Vec::new();
    let mut stack = vec![repo.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("corpus folder").flatten() {
            let path = entry.path();
            if path.file_name().is_some_and(|n| n == ".git") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                let rel = path.strip_prefix(&repo).unwrap().with_extension("");
                let text = std::fs::read_to_string(&path).expect("page");
                pages.push((rel.to_string_lossy().into_owned(), text));
            }
        }
    }
    pages.sort();
    pages
}

fn main() {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench");
    std::fs::create_dir_all(&out).expect("target/bench");
    let model_dir = std::env::var_os("HOLT_MODEL_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(MiniLm::default_dir);
    let work = tempfile::tempdir().expect("temp dir");
    let pages = corpus(&out);
    println!("corpus: {} pages", pages.len());

    let passages: Vec<String> = pages
        .iter()
        .flat_map(|(path, text)| chunk_page(path, text).chunks)
        .map(|c| c.embed_text)
        .collect();
    let sample: Vec<&str> = passages.iter().take(256).map(String::as_str).collect();
    let default = SemanticSettings::default().precision;
    let mut resident = Vec::new();
    let mut models = Vec::new();
    for precision in [Precision::Fp32, Precision::Int8] {
        let before = rss_kib();
        let model = MiniLm::load(&model_dir, precision, 1).unwrap_or_else(|e| panic!("{e}"));
        model.embed(&sample[..4]).expect("embed");
        resident.push(rss_kib().saturating_sub(before) as f64 / 1024.0);
        models.push(model);
    }
    // Alternately, in slices of 16 passages, so both builds see the same machine.
    let mut spent = [Duration::ZERO; 2];
    for slice in sample.chunks(16) {
        for (model, spent) in models.iter().zip(&mut spent) {
            let started = Instant::now();
            model.embed(slice).expect("embed");
            *spent += started.elapsed();
        }
    }
    let throughput: Vec<f64> = spent
        .iter()
        .map(|d| sample.len() as f64 / d.as_secs_f64())
        .collect();
    for (i, precision) in [Precision::Fp32, Precision::Int8].iter().enumerate() {
        println!(
            "embedding, {precision:?}: {:.1} passages/s, 1 thread ({} passages of the corpus; {} in all); resident {:.0} MiB",
            throughput[i],
            sample.len(),
            passages.len(),
            resident[i]
        );
    }
    println!(
        "int8 is {:.2}x the speed of fp32",
        throughput[1] / throughput[0]
    );
    let chosen = usize::from(default == Precision::Int8);
    let model = models.swap_remove(chosen);
    let model_mib = resident[chosen];
    drop(models);

    // Full reindex of the corpus wiki: one commit of every page, then a rebuild.
    let wiki = Arc::new(
        Wiki::open(
            "bench",
            &work.path().join("bench"),
            Arc::new(Renderer::new()),
            Limits::default(),
        )
        .expect("wiki"),
    );
    let parsed: Vec<(PagePath, String)> = pages
        .iter()
        .filter_map(|(p, t)| Some((PagePath::parse(p).ok()?, t.clone())))
        .collect();
    let author = Author {
        name: "Bench".into(),
        email: "bench@holt.invalid".into(),
    };
    wiki.create_pages(&parsed, &author, "corpus")
        .expect("pages");
    let semantic = SemanticSearch::new(
        default.model_name(),
        Box::new(model),
        Box::new(MiniLm::load(&model_dir, default, 1).expect("model")),
        1 << 30,
    );
    let started = Instant::now();
    let rebuilt = semantic.rebuild(&wiki, &mut |_, _| {}).expect("rebuild");
    let reindex = started.elapsed();
    println!(
        "full reindex: {} pages, {} passages in {:.1} s ({:.1} passages/s)",
        rebuilt.pages,
        rebuilt.chunks,
        reindex.as_secs_f64(),
        rebuilt.chunks as f64 / reindex.as_secs_f64()
    );

    // Query latency at 5,000 passages: the corpus's real vectors, repeated under other page
    // names until there are 5,000.
    let (store, _) =
        ChunkStore::open(&wiki.dir().join("semantic.sqlite"), default.model_name()).expect("store");
    let corpus_index = store.load(384).expect("load");
    let corpus_bytes = corpus_index.memory_bytes();
    let mut big = VectorIndex::new(384);
    assert!(rebuilt.chunks > 0, "nothing was embedded");
    let mut copy = 0;
    'fill: loop {
        for (page, rows) in store.passages().expect("passages") {
            if big.len() >= QUERY_CHUNKS {
                break 'fill;
            }
            let take = rows.len().min(QUERY_CHUNKS - big.len());
            big.upsert_page(
                &format!("{copy}/{page}"),
                rows.into_iter().take(take).collect(),
            )
            .expect("upsert");
        }
        copy += 1;
    }
    big.shrink_to_fit();
    let big_bytes = big.memory_bytes();
    let queries: Vec<String> = pages
        .iter()
        .map(|(path, _)| path.rsplit('/').next().unwrap().replace('-', " "))
        .take(QUERIES)
        .collect();
    let query_model = MiniLm::load(&model_dir, default, 1).expect("model");
    let query_vectors: Vec<Vec<f32>> = queries
        .iter()
        .map(|q| query_model.embed(&[q]).expect("embed").remove(0))
        .collect();
    let mut search_only = Vec::new();
    for v in &query_vectors {
        let started = Instant::now();
        let hits = big.search(v, 10, 3, |_| true).expect("search");
        search_only.push(started.elapsed());
        assert_eq!(hits.len(), 10);
    }
    let mut embed_only = Vec::new();
    for q in &queries {
        let started = Instant::now();
        query_model.embed(&[q]).expect("embed");
        embed_only.push(started.elapsed());
    }
    // Whole queries and full-text queries on the corpus wiki, interleaved.
    let mut whole = Vec::new();
    let mut full_text = Vec::new();
    for q in &queries {
        let started = Instant::now();
        semantic.search(&wiki, q, 10, 3).expect("semantic search");
        whole.push(started.elapsed());
        let started = Instant::now();
        wiki.search(q, 20, 0).expect("full-text search");
        full_text.push(started.elapsed());
    }
    let s50 = percentile(&mut search_only, 50);
    let s99 = percentile(&mut search_only, 99);
    let e50 = percentile(&mut embed_only, 50);
    let e99 = percentile(&mut embed_only, 99);
    let w50 = percentile(&mut whole, 50);
    let w99 = percentile(&mut whole, 99);
    let f50 = percentile(&mut full_text, 50);
    let f99 = percentile(&mut full_text, 99);
    println!(
        "exact search over {} passages: p50 {:.3} ms, p99 {:.3} ms",
        big.len(),
        ms(s50),
        ms(s99)
    );
    println!(
        "query embedding: p50 {:.2} ms, p99 {:.2} ms",
        ms(e50),
        ms(e99)
    );
    println!(
        "whole semantic query ({} passages): p50 {:.2} ms, p99 {:.2} ms; full-text query on the same wiki: p50 {:.2} ms, p99 {:.2} ms (semantic/full-text p50 {:.1}x)",
        rebuilt.chunks,
        ms(w50),
        ms(w99),
        ms(f50),
        ms(f99),
        w50.as_secs_f64() / f50.as_secs_f64()
    );
    println!(
        "memory: {:.1} MiB for the corpus wiki's index ({} passages, {:.0} bytes each); {:.1} MiB at {} passages; model ({default:?}) resident {:.0} MiB",
        corpus_bytes as f64 / 1048576.0,
        corpus_index.len(),
        corpus_bytes as f64 / corpus_index.len().max(1) as f64,
        big_bytes as f64 / 1048576.0,
        big.len(),
        model_mib
    );
    let json = serde_json::json!({
        "pages": rebuilt.pages,
        "passages": rebuilt.chunks,
        "default_precision": format!("{default:?}"),
        "embedding_passages_per_s_fp32": throughput[0],
        "embedding_passages_per_s_int8": throughput[1],
        "model_rss_mib_fp32": resident[0],
        "model_rss_mib_int8": resident[1],
        "full_reindex_s": reindex.as_secs_f64(),
        "search_5k_p50_ms": ms(s50),
        "search_5k_p99_ms": ms(s99),
        "query_embedding_p50_ms": ms(e50),
        "query_embedding_p99_ms": ms(e99),
        "semantic_query_p50_ms": ms(w50),
        "semantic_query_p99_ms": ms(w99),
        "full_text_query_p50_ms": ms(f50),
        "full_text_query_p99_ms": ms(f99),
        "index_bytes_corpus": corpus_bytes,
        "index_bytes_5k": big_bytes,
        "model_rss_mib": model_mib,
    });
    std::fs::write(
        out.join("semantic.json"),
        serde_json::to_string_pretty(&json).expect("json"),
    )
    .expect("write results");
}

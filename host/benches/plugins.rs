//! Plugin dispatch overhead and compile-cache benefit (`cargo bench -p holt --bench plugins`).
//!
//! - dispatch: a trivial `http-handler` component (target/plugins/trivial) called through
//!   the real `PluginHost` (fresh store and instance per call, limits armed), against the same
//!   handler written natively; the difference is what a plugin costs per request;
//! - compile: compiling a component from scratch against loading it from the on-disk cache.
//!
//! Needs the plugins built (`./plugins/build.sh`; `./dev.sh bench` does it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use holt::config::{AnonymousAccess, PluginSettings};
use holt::plugins::{ComponentCache, HostOptions, HttpRequest, HttpResponse, PluginHost};
use holt::render::Renderer;
use holt::tenancy::{Resolved, TenantResolver, Urls};
use holt::wiki::Limits;
use holt::wikis::Wikis;

const WARMUP: usize = 2_000;
const CALLS: usize = 20_000;

fn request() -> HttpRequest {
    HttpRequest {
        method: "GET".into(),
        path: "/".into(),
        query: String::new(),
        headers: vec![("accept".into(), "*/*".into())],
        body: Vec::new(),
    }
}

/// The native twin of the trivial plugin.
async fn native(_request: HttpRequest) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![("content-type".into(), "text/plain".into())],
        body: b"ok\n".to_vec(),
    }
}

struct Stats {
    mean: Duration,
    p50: Duration,
    p99: Duration,
}

fn stats(mut samples: Vec<Duration>) -> Stats {
    samples.sort();
    let mean = samples.iter().sum::<Duration>() / samples.len() as u32;
    Stats {
        mean,
        p50: samples[samples.len() / 2],
        p99: samples[samples.len() * 99 / 100],
    }
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let plugin_dir = root.join("target/plugins");
    let trivial = plugin_dir.join("trivial/plugin.wasm");
    assert!(
        trivial.exists(),
        "build the plugins first: ./plugins/build.sh"
    );
    let scratch = tempfile::tempdir().expect("temp dir");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let wikis = Arc::new(Wikis::new(
        scratch.path().join("wikis"),
        Arc::new(Renderer::new()),
        Limits::default(),
    ));
    let wiki = wikis.create("bench").expect("wiki");
    let urls = Urls::new(None, "127.0.0.1:8080".parse().expect("address")).expect("urls");
    let resolver = TenantResolver::single(wiki, AnonymousAccess::Write, urls, wikis);
    let Ok(Resolved::Wiki(ctx)) = resolver.resolve(&axum::http::HeaderMap::new()) else {
        panic!("a single-wiki resolver resolves every request to its wiki")
    };
    let mut plugins = BTreeMap::new();
    plugins.insert("trivial".to_string(), PluginSettings::default());
    let host = PluginHost::load(HostOptions {
        plugin_dir: plugin_dir.clone(),
        cache_dir: scratch.path().join("cache"),
        plugins: &plugins,
        site_name: "bench".into(),
        tool_cache_bytes: 0,
    })
    .expect("load the trivial plugin");

    let (plugin, native_stats) = runtime.block_on(async {
        for _ in 0..WARMUP {
            host.http("trivial", &ctx, "http://bench", request())
                .await
                .expect("warm-up call");
            native(request()).await;
        }
        let mut through_plugin = Vec::with_capacity(CALLS);
        let mut natively = Vec::with_capacity(CALLS);
        for _ in 0..CALLS {
            let start = Instant::now();
            let response = host
                .http("trivial", &ctx, "http://bench", request())
                .await
                .expect("plugin call");
            through_plugin.push(start.elapsed());
            assert_eq!(response.body, b"ok\n");
            let start = Instant::now();
            let response = std::hint::black_box(native(request()).await);
            natively.push(start.elapsed());
            assert_eq!(response.status, 200);
        }
        (stats(through_plugin), stats(natively))
    });
    println!("plugin dispatch, {CALLS} sequential calls of a trivial http-handler:");
    println!(
        "  through the plugin host: mean {:7.1} µs  p50 {:7.1} µs  p99 {:7.1} µs",
        micros(plugin.mean),
        micros(plugin.p50),
        micros(plugin.p99)
    );
    println!(
        "  native handler:          mean {:7.1} µs  p50 {:7.1} µs  p99 {:7.1} µs",
        micros(native_stats.mean),
        micros(native_stats.p50),
        micros(native_stats.p99)
    );
    println!(
        "  overhead per request:    mean {:7.1} µs  p50 {:7.1} µs  p99 {:7.1} µs   (target: < 50 µs, p99 < 200 µs)",
        micros(plugin.mean.saturating_sub(native_stats.mean)),
        micros(plugin.p50.saturating_sub(native_stats.p50)),
        micros(plugin.p99.saturating_sub(native_stats.p99))
    );

    println!("compiling against loading from the cache:");
    let engine = holt::plugins::engine(64 << 20).expect("engine");
    for name in ["trivial", "abuse"] {
        let file: PathBuf = plugin_dir.join(name).join("plugin.wasm");
        let bytes = std::fs::read(&file).expect("component");
        let cache_dir = scratch.path().join(format!("cache-{name}"));
        let cold = Instant::now();
        let (_, cached) = ComponentCache::new(cache_dir.clone())
            .load(&engine, &bytes)
            .expect("compile");
        let cold = cold.elapsed();
        assert!(!cached);
        let mut warm = Vec::new();
        for _ in 0..20 {
            let start = Instant::now();
            let (_, cached) = ComponentCache::new(cache_dir.clone())
                .load(&engine, &bytes)
                .expect("load");
            warm.push(start.elapsed());
            assert!(cached);
        }
        let warm = stats(warm);
        println!(
            "  {name:8} ({:6} bytes): cold compile {:8.2} ms, cached load {:6.2} ms  ({:.0}x faster)",
            bytes.len(),
            cold.as_secs_f64() * 1e3,
            warm.p50.as_secs_f64() * 1e3,
            cold.as_secs_f64() / warm.p50.as_secs_f64()
        );
    }
}

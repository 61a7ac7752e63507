#!/usr/bin/env bash
# Builds every plugin in this workspace for wasm32-wasip2 (release, size-optimised) and lays
# each out as a plugin folder the host loads, target/plugins/<name>/{plugin.toml,plugin.wasm}
# (the test components too: a plugin runs only when holt.toml enables it).
# (target/ is the repository's; this workspace builds in plugins/target/, its own directory,
# so it never waits on the host's cargo lock.)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
lock=()
[ -f Cargo.lock ] && lock=(--locked)
cargo build --release "${lock[@]}" --target wasm32-wasip2
for manifest in */plugin.toml tests/*/plugin.toml; do
  dir=$(dirname "$manifest")
  crate=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$dir/Cargo.toml" | head -n 1)
  name=$(sed -n 's/^name = "\(.*\)"$/\1/p' "$manifest" | head -n 1)
  dest="$here/../target/plugins/$name"
  mkdir -p "$dest"
  cp "$manifest" "$dest/plugin.toml"
  cp "target/wasm32-wasip2/release/${crate//-/_}.wasm" "$dest/plugin.wasm"
done
echo "plugins: built into target/plugins" >&2

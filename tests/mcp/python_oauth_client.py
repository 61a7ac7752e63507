#!/usr/bin/env python3
"""Signs in to a Holt wiki's MCP server through OAuth with the official Python MCP SDK (`mcp==2.3.0`).

Usage:
    python_oauth_client.py --holt-port PORT --pds http://127.0.0.1:PDS_PORT \
        --handle alice.test --password PASSWORD --wiki notes \
        [--deny] [--public-origin https://holt.internal]

The SDK's `OAuthClientProvider` does the whole flow against `https://WIKI.holt.internal/mcp`:
protected-resource and authorization-server discovery, dynamic client registration, PKCE, the
authorization request, the code exchange, and later a refresh. The part a person does in a browser
is done here, headlessly, over HTTP with a cookie jar of our own: Holt's sign-in page, the PDS's
sign-in and consent (ATProto OAuth), Holt's first-sign-in welcome page if it shows, and Holt's
consent page for the MCP client, where `allow` (or, with `--deny`, `deny`) is chosen.

With consent allowed: tools/list must offer read_note and write_note, a note is written and read
back, then the access token is made to look expired so the SDK refreshes it before the next call,
and the refresh token it replaced must be refused by the token endpoint (rotation). With `--deny`:
the redirect must carry `error=access_denied`, the SDK must fail to connect, and no token may have
been issued.

Network: Holt's public origin (`--public-origin`, default https://holt.internal) and every
`*.holt.internal` host are reached at http://127.0.0.1:HOLT_PORT with the original Host header
(a TLS-terminating proxy does that in production); the PDS is reached where `--pds` says (as
`localhost` or `127.0.0.1`, on loopback). Nothing else is ever contacted: the client's redirect URI
is a loopback URL whose query is read from the Location header, not fetched.

Prints one line per check, then a JSON verdict `{"ok": true, "checks": N}` (or `"ok": false` with
the failure). Exit 0 only when every check passed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import secrets
import sys
import time
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urljoin, urlsplit

import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

CLIENT_NAME = "Holt OAuth check (Python MCP SDK)"
NOTE_PATH = "OAuth/Hello"
NOTE_CONTENT = "# Hello\n\nWritten over OAuth.\n"
PDS_API = "/@atproto/oauth-provider/~api"
USER_AGENT = "holt-python-oauth-check/1"
TIMEOUT = httpx2.Timeout(30.0, read=60.0)
OVERALL_SECONDS = 240


# ---------------------------------------------------------------------------------------------
# Checks


class CheckFailed(Exception):
    """A check did not hold; the message says which and why."""


class AuthorizationDenied(Exception):
    """The authorization redirect carried an error instead of a code (what a client sees on deny)."""


CHECKS = 0


def check(name: str, condition: bool, detail: Any = "") -> None:
    """Counts and prints the check, or stops the run with what was seen instead."""
    global CHECKS
    if not condition:
        raise CheckFailed(f"{name}: {detail}" if detail != "" else name)
    CHECKS += 1
    print(f"ok   {name}", flush=True)


def excerpt(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "…"


def describe(response: httpx2.Response) -> str:
    """Status, Location and a body excerpt, for a failure message."""
    parts = [f"HTTP {response.status_code}"]
    if "location" in response.headers:
        parts.append(f"Location: {response.headers['location']}")
    try:
        body = response.text
    except Exception:  # noqa: BLE001 - a body we cannot decode is still worth naming
        body = f"<{len(response.content)} bytes>"
    if body:
        parts.append(f"body: {excerpt(body)}")
    return "; ".join(parts)


def expect_status(step: str, response: httpx2.Response, *statuses: int) -> None:
    if response.status_code not in statuses:
        wanted = " or ".join(str(s) for s in statuses)
        raise CheckFailed(f"{step}: expected HTTP {wanted}, got {describe(response)}")


def location_of(step: str, response: httpx2.Response) -> str:
    """The absolute URL a redirect points to (resolved against the logical request URL)."""
    location = response.headers.get("location")
    if not location:
        raise CheckFailed(f"{step}: redirect without a Location header; {describe(response)}")
    return urljoin(str(response.request.url), location)


def same_url(a: str, b: str) -> bool:
    """Same scheme, host, path and query parameters (in any order)."""
    pa, pb = urlsplit(a), urlsplit(b)
    return (
        (pa.scheme, pa.netloc.lower(), pa.path) == (pb.scheme, pb.netloc.lower(), pb.path)
        and sorted(parse_qsl(pa.query, keep_blank_values=True)) == sorted(parse_qsl(pb.query, keep_blank_values=True))
    )


def query_param(url: str, name: str) -> str | None:
    values = parse_qs(urlsplit(url).query, keep_blank_values=True).get(name)
    return values[0] if values else None


def json_body(step: str, response: httpx2.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CheckFailed(f"{step}: the answer is not JSON; {describe(response)}") from None


# ---------------------------------------------------------------------------------------------
# Network: Holt's public hosts on loopback, the PDS on loopback, nothing else


@dataclass(frozen=True)
class Layout:
    public_origin: str  # e.g. https://holt.internal
    holt_port: int
    pds_origin: str  # as given, e.g. http://127.0.0.1:2583
    wiki: str

    @property
    def public_scheme(self) -> str:
        return urlsplit(self.public_origin).scheme

    @property
    def public_host(self) -> str:
        return (urlsplit(self.public_origin).hostname or "").lower()

    @property
    def public_port(self) -> int | None:
        return urlsplit(self.public_origin).port

    @property
    def wiki_origin(self) -> str:
        parts = urlsplit(self.public_origin)
        return f"{parts.scheme}://{self.wiki}.{parts.netloc}"

    @property
    def mcp_url(self) -> str:
        return f"{self.wiki_origin}/mcp"

    @property
    def pds_port(self) -> int:
        parts = urlsplit(self.pds_origin)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def is_holt(self, url: httpx2.URL) -> bool:
        host = url.host.lower()
        return (
            url.scheme == self.public_scheme
            and url.port == self.public_port
            and (host == self.public_host or host.endswith("." + self.public_host))
        )

    def is_pds(self, url: httpx2.URL) -> bool:
        """The PDS, named as given or by the other loopback name (dev-env's issuer says localhost)."""
        given = urlsplit(self.pds_origin)
        port = url.port or (443 if url.scheme == "https" else 80)
        return (
            url.scheme == given.scheme
            and port == self.pds_port
            and url.host.lower() in {(given.hostname or "").lower(), "localhost", "127.0.0.1"}
        )

    def site(self, url: str) -> str:
        """The cookie "site" of a URL: Holt's hosts are one site, any other host its own."""
        host = (urlsplit(url).hostname or "").lower()
        if host == self.public_host or host.endswith("." + self.public_host):
            return self.public_host
        return host


class OffLimits(Exception):
    """A request to an address this check must not contact."""


class LoopbackTransport(httpx2.AsyncBaseTransport):
    """Sends Holt's public URLs to http://127.0.0.1:HOLT_PORT and the PDS to 127.0.0.1, keeping the
    Host header of the URL asked for; refuses everything else. The request (and so every redirect,
    cookie and form URL) keeps its public `https://…holt.internal` URL for everyone above here."""

    def __init__(self, layout: Layout):
        self.layout = layout
        self.inner = httpx2.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        if self.layout.is_holt(url):
            target = url.copy_with(scheme="http", host="127.0.0.1", port=self.layout.holt_port)
        elif self.layout.is_pds(url):
            target = url.copy_with(host="127.0.0.1")
        elif url.host == "127.0.0.1" and url.port == self.layout.holt_port:
            target = url
        else:
            raise OffLimits(f"refusing to contact {url.copy_with(query=None)}: not Holt's public origin, not the PDS")
        forwarded = httpx2.Request(
            request.method,
            target,
            headers=request.headers,  # carries the Host header of the URL asked for
            stream=request.stream,
            extensions=request.extensions,
        )
        try:
            return await self.inner.handle_async_request(forwarded)
        except httpx2.ConnectError as err:
            raise httpx2.ConnectError(f"{err} (connecting to {target.host}:{target.port} for {url.host})", request=request) from err

    async def aclose(self) -> None:
        await self.inner.aclose()


def no_cookies() -> CookieJar:
    """httpx2 would keep cookies on its own (and send them); the browser below keeps them itself.
    A bare CookieJar, not an httpx2.Cookies: the client copies the latter into a jar of its own
    and loses the policy that refuses every cookie."""
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


# ---------------------------------------------------------------------------------------------
# A cookie jar, as a browser keeps one (Domain, Path, Secure, SameSite, expiry)


@dataclass
class Cookie:
    name: str
    value: str
    domain: str
    host_only: bool
    path: str
    secure: bool
    same_site: str  # strict | lax | none
    expires: float | None


def secure_context(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.hostname or "") in {"localhost", "127.0.0.1", "::1"}


def domain_match(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


def default_path(url: str) -> str:
    path = urlsplit(url).path or "/"
    if not path.startswith("/") or path.count("/") == 1:
        return "/"
    return path[: path.rfind("/")]


def path_match(request_path: str, cookie_path: str) -> bool:
    if request_path == cookie_path:
        return True
    if request_path.startswith(cookie_path):
        return cookie_path.endswith("/") or request_path[len(cookie_path)] == "/"
    return False


class Jar:
    def __init__(self) -> None:
        self.cookies: list[Cookie] = []
        self.withheld: list[Cookie] = []

    def store(self, response: httpx2.Response) -> list[Cookie]:
        """Keeps the cookies a response sets, by the rules of the URL it answered."""
        url = str(response.request.url)
        host = (urlsplit(url).hostname or "").lower()
        kept = []
        for header in response.headers.get_list("set-cookie"):
            cookie = self._parse(header, url, host)
            if cookie is None:
                continue
            self.cookies = [
                c for c in self.cookies if (c.name, c.domain, c.path, c.host_only) != (cookie.name, cookie.domain, cookie.path, cookie.host_only)
            ]
            if cookie.expires is None or cookie.expires > time.time():
                self.cookies.append(cookie)
                kept.append(cookie)
        return kept

    @staticmethod
    def _parse(header: str, url: str, host: str) -> Cookie | None:
        pair, *attributes = header.split(";")
        name, sep, value = pair.partition("=")
        if not sep or not name.strip():
            return None
        cookie = Cookie(
            name=name.strip(),
            value=value.strip(),
            domain=host,
            host_only=True,
            path=default_path(url),
            secure=False,
            same_site="lax",  # what browsers assume when the attribute is missing
            expires=None,
        )
        max_age: float | None = None
        for attribute in attributes:
            key, _, val = attribute.strip().partition("=")
            key, val = key.strip().lower(), val.strip()
            if key == "domain" and val:
                domain = val.lstrip(".").lower()
                if not domain_match(host, domain):
                    return None  # a browser ignores a cookie for another domain
                cookie.domain, cookie.host_only = domain, False
            elif key == "path" and val.startswith("/"):
                cookie.path = val
            elif key == "secure":
                cookie.secure = True
            elif key == "samesite" and val.lower() in {"strict", "lax", "none"}:
                cookie.same_site = val.lower()
            elif key == "max-age":
                try:
                    max_age = float(val)
                except ValueError:
                    pass
            elif key == "expires" and max_age is None:
                try:
                    cookie.expires = parsedate_to_datetime(val).timestamp()
                except (TypeError, ValueError):
                    pass
        if max_age is not None:
            cookie.expires = time.time() + max_age
        if cookie.secure and not secure_context(url):
            return None
        return cookie

    def header(self, url: str, *, cross_site: bool, top_level_get: bool) -> str | None:
        """The Cookie header a browser sends with a request to `url`. The cookies it would have
        sent but for SameSite are left in `self.withheld`."""
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        now = time.time()
        chosen = []
        self.withheld = []
        for c in self.cookies:
            if c.expires is not None and c.expires <= now:
                continue
            if not (host == c.domain if c.host_only else domain_match(host, c.domain)):
                continue
            if not path_match(parts.path or "/", c.path):
                continue
            if c.secure and not secure_context(url):
                continue
            if cross_site and (c.same_site == "strict" or (c.same_site == "lax" and not top_level_get)):
                self.withheld.append(c)
                continue
            chosen.append(c)
        chosen.sort(key=lambda c: -len(c.path))
        return "; ".join(f"{c.name}={c.value}" for c in chosen) or None

    def find(self, name: str, host: str) -> Cookie | None:
        for c in self.cookies:
            if c.name == name and (host == c.domain if c.host_only else domain_match(host, c.domain)):
                return c
        return None


# ---------------------------------------------------------------------------------------------
# HTML forms (stdlib parser; every input of the form, whatever the markup's order)


@dataclass
class Form:
    method: str
    action: str  # absolute
    fields: list[tuple[str, str, str]] = field(default_factory=list)  # (type, name, value)
    buttons: list[tuple[str, str]] = field(default_factory=list)  # (name, value) of submit buttons

    def field_names(self) -> set[str]:
        return {name for _, name, _ in self.fields}

    def value(self, name: str) -> str | None:
        for _, n, v in self.fields:
            if n == name:
                return v
        return None

    def hidden(self, name: str) -> str | None:
        for t, n, v in self.fields:
            if n == name and t == "hidden":
                return v
        return None

    def submission(self, overrides: dict[str, str] | None = None, button: tuple[str, str] | None = None) -> list[tuple[str, str]]:
        overrides = dict(overrides or {})
        pairs = []
        for _, name, value in self.fields:
            if name in overrides:
                value = overrides.pop(name)
            pairs.append((name, value))
        pairs.extend(overrides.items())
        if button is not None:
            pairs.append(button)
        return pairs


class FormParser(HTMLParser):
    SUBMITS = {"submit", "image"}
    SKIPPED = {"button", "reset", "file"}

    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self.current: Form | None = None
        self.textarea: tuple[str, list[str]] | None = None
        self.select: str | None = None
        self.select_value: str | None = None
        self.select_first: str | None = None
        self.option: dict[str, str | None] | None = None
        self.text: list[str] = []
        self.hidden_depth = 0  # inside <script>/<style>/<template>

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k.lower(): (v if v is not None else "") for k, v in attrs}
        if tag in {"script", "style", "template"}:
            self.hidden_depth += 1
        if tag == "form":
            self.current = Form(
                method=(a.get("method") or "get").lower(),
                action=urljoin(self.page_url, a.get("action") or self.page_url),
            )
            self.forms.append(self.current)
            return
        if self.current is None:
            return
        if tag == "input":
            kind = (a.get("type") or "text").lower()
            name = a.get("name")
            if not name or "disabled" in a:
                return
            if kind in self.SUBMITS:
                self.current.buttons.append((name, a.get("value", "")))
            elif kind in self.SKIPPED:
                return
            elif kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self.current.fields.append((kind, name, a.get("value", "on")))
            else:
                self.current.fields.append((kind, name, a.get("value", "")))
        elif tag == "button":
            kind = (a.get("type") or "submit").lower()
            if kind == "submit" and a.get("name") and "disabled" not in a:
                self.current.buttons.append((a["name"], a.get("value", "")))
        elif tag == "textarea" and a.get("name"):
            self.textarea = (a["name"], [])
        elif tag == "select" and a.get("name"):
            self.select, self.select_value, self.select_first = a["name"], None, None
        elif tag == "option" and self.select is not None:
            self.option = {"value": a.get("value"), "selected": "selected" if "selected" in a else None, "text": ""}

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in {"script", "style", "template"}:
            self.hidden_depth -= 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style", "template"} and self.hidden_depth:
            self.hidden_depth -= 1
        if tag == "form":
            self.current = None
        elif tag == "textarea" and self.textarea is not None and self.current is not None:
            name, parts = self.textarea
            self.current.fields.append(("textarea", name, "".join(parts).removeprefix("\n")))
            self.textarea = None
        elif tag == "option" and self.option is not None:
            value = self.option["value"] if self.option["value"] is not None else (self.option["text"] or "").strip()
            if self.select_first is None:
                self.select_first = value
            if self.option["selected"]:
                self.select_value = value
            self.option = None
        elif tag == "select" and self.select is not None and self.current is not None:
            value = self.select_value if self.select_value is not None else self.select_first
            if value is not None:
                self.current.fields.append(("select", self.select, value))
            self.select = None

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.textarea[1].append(data)
        elif self.option is not None:
            self.option["text"] = (self.option["text"] or "") + data
        if not self.hidden_depth:
            self.text.append(data)


@dataclass
class Page:
    url: str
    html: str
    forms: list[Form]
    text: str  # the visible text, whitespace collapsed


def parse_page(url: str, html: str) -> Page:
    parser = FormParser(url)
    parser.feed(html)
    parser.close()
    return Page(url, html, parser.forms, " ".join("".join(parser.text).split()))


def find_form(step: str, page: Page, action_path: str) -> Form:
    """The POST form whose action is `action_path` on the page's own host."""
    page_host = urlsplit(page.url).netloc
    for form in page.forms:
        action = urlsplit(form.action)
        if form.method == "post" and action.path == action_path and action.netloc == page_host:
            return form
    found = [f"{f.method.upper()} {f.action}" for f in page.forms] or ["no forms"]
    raise CheckFailed(
        f"{step}: no <form method=post action={action_path}> on {page.url} (found: {', '.join(found)}); page: {excerpt(page.html)}"
    )


# ---------------------------------------------------------------------------------------------
# The browser: navigations with the headers and cookies a browser sends


RELATION = {"same-origin": 0, "same-site": 1, "cross-site": 2}


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@dataclass
class Navigation:
    """A top-level navigation and the redirects it follows. `initiator` is the origin of the page
    that started it (None when the person started it, e.g. the SDK opening the authorization URL)."""

    initiator: str | None
    urls: list[str] = field(default_factory=list)


class Browser:
    def __init__(self, layout: Layout):
        self.layout = layout
        self.jar = Jar()
        self.withheld: dict[int, list[Cookie]] = {}  # by id() of the request
        self.http = httpx2.AsyncClient(
            transport=LoopbackTransport(layout),
            cookies=no_cookies(),
            follow_redirects=False,
            timeout=TIMEOUT,
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self.http.aclose()

    def expect(self, step: str, response: httpx2.Response, *statuses: int) -> None:
        """`expect_status`, naming the cookies SameSite kept off this request if it failed."""
        withheld = self.withheld.get(id(response.request), [])
        if response.status_code not in statuses and withheld:
            names = ", ".join(f"{c.name} (SameSite={c.same_site.capitalize()})" for c in withheld)
            step = f"{step} [a browser does not send {names} on this cross-site navigation]"
        expect_status(step, response, *statuses)

    def _relation(self, a: str, b: str) -> str:
        if origin_of(a) == origin_of(b):
            return "same-origin"
        if self.layout.site(a) == self.layout.site(b):
            return "same-site"
        return "cross-site"

    def _nav_context(self, nav: Navigation) -> tuple[str, bool]:
        """Sec-Fetch-Site for the chain so far, and whether it counts as cross-site for SameSite."""
        if nav.initiator is None:
            cross = any(self.layout.site(u) != self.layout.site(nav.urls[0]) for u in nav.urls)
            return ("cross-site" if cross else "none"), cross
        worst = max((self._relation(nav.initiator, u) for u in nav.urls), key=RELATION.__getitem__)
        cross = any(self.layout.site(u) != self.layout.site(nav.initiator) for u in nav.urls)
        return worst, cross

    async def navigate(
        self,
        nav: Navigation,
        method: str,
        url: str,
        *,
        form: list[tuple[str, str]] | None = None,
        referer: str | None = None,
    ) -> httpx2.Response:
        """One request of a top-level navigation (the first, or a redirect being followed)."""
        nav.urls.append(url)
        fetch_site, cross_site = self._nav_context(nav)
        headers = {
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.8",
            "Sec-Fetch-Mode": "navigate",
            "Sec-Fetch-Dest": "document",
            "Sec-Fetch-Site": fetch_site,
            "Sec-Fetch-User": "?1",
            "Upgrade-Insecure-Requests": "1",
        }
        cookie = self.jar.header(url, cross_site=cross_site, top_level_get=method == "GET")
        if cookie:
            headers["Cookie"] = cookie
        if referer:
            headers["Referer"] = referer
        content = None
        if method == "POST":
            # A form post carries the origin of the page that holds the form (Holt refuses others).
            headers["Origin"] = nav.initiator or "null"
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = urlencode(form or []).encode()
        withheld = list(self.jar.withheld)
        response = await self.http.request(method, url, headers=headers, content=content)
        self.withheld[id(response.request)] = withheld
        self.jar.store(response)
        return response

    async def fetch_json(self, url: str, body: Any, *, page: str, extra: dict[str, str] | None = None) -> httpx2.Response:
        """A same-origin `fetch()` made by a page's script (the PDS's sign-in UI)."""
        headers = {
            "Content-Type": "application/json",
            "Accept": "application/json",
            "Origin": origin_of(page),
            "Referer": page,
            "Sec-Fetch-Mode": "same-origin",
            "Sec-Fetch-Site": "same-origin",
            "Sec-Fetch-Dest": "empty",
        }
        cookie = self.jar.header(url, cross_site=False, top_level_get=False)
        if cookie:
            headers["Cookie"] = cookie
        headers.update(extra or {})
        response = await self.http.post(url, headers=headers, content=json.dumps(body).encode())
        self.jar.store(response)
        return response


# ---------------------------------------------------------------------------------------------
# What a person does: Holt's sign-in, the PDS's sign-in and consent, Holt's consent


async def pds_sign_in_and_consent(browser: Browser, authorize_url: str, nav: Navigation, handle: str, password: str) -> str:
    """From the PDS's authorize page to where its consent redirects; the absolute Location.

    `nav` is the navigation that arrived at `authorize_url` (the redirect from Holt's sign-in).
    What the PDS's own page would do in a browser is done over its JSON API, as in
    docs/research/issue-6-atproto-oauth.md ("Sign-in and consent without a browser").
    """
    step = "PDS authorize page"
    response = await browser.navigate(nav, "GET", authorize_url)
    browser.expect(step, response, 200)
    host = (urlsplit(authorize_url).hostname or "").lower()
    csrf = browser.jar.find("csrf-token", host)
    check(f"{step}: 200 with its device and CSRF cookies", csrf is not None, f"no csrf-token cookie; {describe(response)}")
    assert csrf is not None

    api = urljoin(authorize_url, PDS_API)
    step = "PDS sign-in"
    response = await browser.fetch_json(
        f"{api}/sign-in",
        {"locale": "en", "username": handle, "password": password, "remember": True},
        page=authorize_url,
        extra={"X-CSRF-Token": csrf.value},
    )
    browser.expect(step, response, 200)
    signed_in = json_body(step, response)
    did = (signed_in.get("account") or {}).get("sub") or (signed_in.get("account") or {}).get("did")
    check(f"{step} as {handle}", isinstance(did, str) and did.startswith("did:"), f"no account DID in {excerpt(response.text)}")

    step = "PDS consent"
    extra = {"X-CSRF-Token": csrf.value}
    if signed_in.get("ephemeralToken"):
        extra["Authorization"] = f"Bearer {signed_in['ephemeralToken']}"
    response = await browser.fetch_json(f"{api}/consent", {"did": did}, page=authorize_url, extra=extra)
    browser.expect(step, response, 200)
    redirect = json_body(step, response).get("url")
    check(f"{step}: answers the URL to continue at", isinstance(redirect, str) and bool(redirect), excerpt(response.text))

    step = "PDS authorization redirect"
    pds_page = Navigation(initiator=origin_of(authorize_url))
    response = await browser.navigate(pds_page, "GET", urljoin(authorize_url, redirect), referer=authorize_url)
    browser.expect(step, response, 302, 303)
    return location_of(step, response)


@dataclass
class Authorization:
    """What the headless browser saw of one authorization request."""

    authorize_url: str
    redirect: str | None = None  # the Location that points at the client's redirect URI


async def authorize_in_browser(browser: Browser, args: argparse.Namespace, layout: Layout, auth: Authorization, decision: str, redirect_uri: str) -> None:
    authorize_url = auth.authorize_url
    origin = layout.public_origin

    # 1. Not signed in yet: Holt's authorization endpoint sends the person to sign in.
    step = "authorize (signed out)"
    nav = Navigation(initiator=None)
    response = await browser.navigate(nav, "GET", authorize_url)
    browser.expect(step, response, 303)
    login_url = location_of(step, response)
    check(
        f"{step}: 303 to /auth/login with return_to = the authorization URL",
        origin_of(login_url) == origin
        and urlsplit(login_url).path == "/auth/login"
        and same_url(query_param(login_url, "return_to") or "", authorize_url),
        f"Location {login_url}",
    )

    # 2. Holt's sign-in page: a handle, then off to the PDS.
    step = "sign-in page"
    response = await browser.navigate(nav, "GET", login_url)
    browser.expect(step, response, 200)
    page = parse_page(login_url, response.text)
    form = find_form(step, page, "/auth/login")
    return_to = form.hidden("return_to")
    check(
        f"{step}: a form with a handle and the hidden return_to",
        "handle" in form.field_names() and return_to is not None and same_url(return_to, authorize_url),
        f"fields {form.fields}",
    )

    step = "sign-in with a handle"
    nav = Navigation(initiator=origin_of(login_url))
    response = await browser.navigate(nav, "POST", form.action, form=form.submission({"handle": args.handle}), referer=login_url)
    browser.expect(step, response, 303)
    pds_authorize = location_of(step, response)
    check(
        f"{step}: 303 to the PDS's authorization endpoint",
        browser.layout.is_pds(httpx2.URL(pds_authorize))
        and urlsplit(pds_authorize).path == "/oauth/authorize"
        and bool(query_param(pds_authorize, "client_id"))
        and bool(query_param(pds_authorize, "request_uri")),
        f"Location {pds_authorize}",
    )

    # 3. The PDS: sign in and consent; it sends the browser back to Holt's callback.
    callback = await pds_sign_in_and_consent(browser, pds_authorize, nav, args.handle, args.password)
    step = "PDS redirect back to Holt"
    check(
        f"{step}: to {origin}/auth/callback with code, state and iss",
        callback.startswith(f"{origin}/auth/callback?")
        and all(query_param(callback, k) for k in ("code", "state", "iss")),
        f"Location {callback}",
    )

    # 4. Holt's callback signs the person in (that navigation began on the PDS: cross-site).
    step = "Holt's sign-in callback"
    nav = Navigation(initiator=origin_of(pds_authorize))
    response = await browser.navigate(nav, "GET", callback)
    browser.expect(step, response, 303)
    session = browser.jar.find("holt_session", layout.public_host)
    check(
        f"{step}: 303 and a holt_session cookie for {layout.public_host}",
        session is not None and not session.host_only and session.domain == layout.public_host and session.secure,
        f"cookies set: {response.headers.get_list('set-cookie')}",
    )
    after = location_of(step, response)
    if urlsplit(after).path == "/auth/welcome":
        step = "welcome page (first sign-in)"
        check(
            f"{step}: keeps return_to",
            origin_of(after) == origin and same_url(query_param(after, "return_to") or "", authorize_url),
            f"Location {after}",
        )
        response = await browser.navigate(nav, "GET", after)
        browser.expect(step, response, 200)
        page = parse_page(after, response.text)
        form = find_form(step, page, "/auth/welcome")
        check(f"{step}: a form with a pre-filled username", bool(form.value("username")), f"fields {form.fields}")
        nav = Navigation(initiator=origin_of(after))
        response = await browser.navigate(nav, "POST", form.action, form=form.submission(), referer=after)
        browser.expect(step + " submitted", response, 303)
        after = location_of(step, response)
    check("back at the authorization URL after signing in", same_url(after, authorize_url), f"Location {after}; expected {authorize_url}")

    # 5. Signed in: Holt asks whether to let the client in.
    step = "consent page"
    response = await browser.navigate(nav, "GET", after)
    if response.status_code == 303 and urlsplit(location_of(step, response)).path == "/auth/login":
        step += f" (sent to sign in again after signing in; Cookie sent: {response.request.headers.get('cookie')!r})"
    browser.expect(step, response, 200)
    page = parse_page(after, response.text)
    form = find_form(step, page, "/oauth/authorize")
    buttons = set(form.buttons)
    check(
        f"{step}: allow and deny buttons",
        ("decision", "allow") in buttons and ("decision", "deny") in buttons,
        f"buttons {form.buttons}",
    )
    # The wiki may be shown by its display name; then it links to the wiki's own URL.
    names_wiki = args.wiki.lower() in page.text.lower() or layout.wiki_origin in page.html
    check(f"{step}: names the client and the wiki", CLIENT_NAME in page.text and names_wiki, excerpt(page.text))

    step = f"consent: {decision}"
    nav = Navigation(initiator=origin_of(after))
    response = await browser.navigate(nav, "POST", form.action, form=form.submission(button=("decision", decision)), referer=after)
    browser.expect(step, response, 303)
    redirect = location_of(step, response)
    check(f"{step}: 303 to the client's redirect URI", redirect.startswith(redirect_uri + "?"), f"Location {redirect}")
    auth.redirect = redirect


# ---------------------------------------------------------------------------------------------
# The SDK's side: storage, the handlers, and a record of its HTTP exchanges


class Storage:
    """The SDK's TokenStorage, in memory, remembering every token set."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


@dataclass
class TokenExchange:
    grant_type: str
    form: dict[str, str]
    status: int
    body: Any


class Recorder:
    """Event hooks on the SDK's HTTP client: its token requests and the bearer of each MCP POST."""

    def __init__(self, token_endpoint: str, mcp_url: str):
        self.token_endpoint = token_endpoint
        self.mcp_url = mcp_url
        self.exchanges: list[TokenExchange] = []
        self.mcp_bearers: list[tuple[str | None, int]] = []

    async def on_response(self, response: httpx2.Response) -> None:
        request = response.request
        url = str(request.url.copy_with(query=None))
        if request.method == "POST" and url == self.token_endpoint:
            try:
                form = dict(parse_qsl(request.content.decode(), keep_blank_values=True))
            except httpx2.RequestNotRead:
                form = {}
            await response.aread()  # the SDK reads it again from the cache
            try:
                body = response.json()
            except ValueError:
                body = response.text
            self.exchanges.append(TokenExchange(form.get("grant_type", ""), form, response.status_code, body))
        elif request.method == "POST" and url == self.mcp_url:
            self.mcp_bearers.append((request.headers.get("authorization"), response.status_code))

    def grants(self, grant_type: str) -> list[TokenExchange]:
        return [e for e in self.exchanges if e.grant_type == grant_type]


@dataclass
class Discovery:
    resource_metadata: dict[str, Any]
    server_metadata: dict[str, Any]


async def discover_by_hand(browser: Browser, layout: Layout) -> Discovery:
    """What the SDK discovers, fetched here too, so its answers can be checked directly."""
    http = browser.http
    step = "unauthenticated MCP request"
    response = await http.post(
        layout.mcp_url,
        headers={"Accept": "application/json, text/event-stream", "Content-Type": "application/json"},
        content=json.dumps({"jsonrpc": "2.0", "id": 1, "method": "tools/list"}).encode(),
    )
    challenge = response.headers.get("www-authenticate", "")
    check(f"{step}: 401 with a Bearer challenge", response.status_code == 401 and challenge.lower().startswith("bearer"), describe(response) + f"; WWW-Authenticate: {challenge!r}")

    candidates = []
    marker = "resource_metadata="
    if marker in challenge:
        value = challenge.split(marker, 1)[1]
        value = value[1:].split('"', 1)[0] if value.startswith('"') else value.split(",", 1)[0].strip()
        candidates.append(value)
    candidates += [f"{layout.wiki_origin}/.well-known/oauth-protected-resource/mcp", f"{layout.wiki_origin}/.well-known/oauth-protected-resource"]
    step = "protected-resource metadata"
    response = None
    for url in candidates:
        response = await http.get(url, headers={"Accept": "application/json"})
        if response.status_code == 200:
            break
    assert response is not None
    expect_status(f"{step} ({', '.join(candidates)})", response, 200)
    prm = json_body(step, response)
    check(f"{step}: resource is {layout.mcp_url}", prm.get("resource") == layout.mcp_url, prm)
    servers = prm.get("authorization_servers") or []
    check(f"{step}: authorization server {layout.public_origin}", layout.public_origin in [s.rstrip("/") for s in servers], prm)

    step = "authorization-server metadata"
    url = f"{layout.public_origin}/.well-known/oauth-authorization-server"
    response = await http.get(url, headers={"Accept": "application/json"})
    expect_status(f"{step} ({url})", response, 200)
    asm = json_body(step, response)
    check(
        f"{step}: issuer, endpoints, S256",
        asm.get("issuer") == layout.public_origin
        and asm.get("authorization_endpoint") == f"{layout.public_origin}/oauth/authorize"
        and isinstance(asm.get("token_endpoint"), str)
        and isinstance(asm.get("registration_endpoint"), str)
        and "S256" in (asm.get("code_challenge_methods_supported") or []),
        asm,
    )
    return Discovery(prm, asm)


def failure_in(err: BaseException, kind: type[BaseException] = CheckFailed) -> BaseException | None:
    """The exception of `kind` inside an exception (group), if any."""
    if isinstance(err, kind):
        return err
    for inner in getattr(err, "exceptions", ()):
        found = failure_in(inner, kind)
        if found:
            return found
    cause = err.__cause__ or err.__context__
    return failure_in(cause, kind) if cause else None


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    result = await client.call_tool(tool, arguments)
    return bool(result.is_error), "\n".join(getattr(block, "text", "") for block in result.content)


async def run(args: argparse.Namespace) -> None:
    layout = Layout(args.public_origin.rstrip("/"), args.holt_port, args.pds.rstrip("/"), args.wiki)
    decision = "deny" if args.deny else "allow"
    browser = Browser(layout)
    try:
        discovery = await discover_by_hand(browser, layout)
        token_endpoint = discovery.server_metadata["token_endpoint"]

        redirect_uri = f"http://127.0.0.1:{secrets.randbelow(40000) + 20000}/callback"
        storage = Storage()
        authorizations: list[Authorization] = []

        async def redirect_handler(url: str) -> None:
            step = "authorization request from the SDK"
            auth = Authorization(url)
            authorizations.append(auth)
            if len(authorizations) > 1:
                if args.deny:
                    raise AuthorizationDenied("the SDK asked again after the denial")
                raise CheckFailed(f"{step}: the SDK started a second authorization ({url})")
            client_info = storage.client_info
            check(
                f"{step}: {layout.public_origin}/oauth/authorize, S256, resource {layout.mcp_url}",
                url.startswith(f"{layout.public_origin}/oauth/authorize?")
                and query_param(url, "response_type") == "code"
                and query_param(url, "code_challenge_method") == "S256"
                and query_param(url, "resource") == layout.mcp_url
                and client_info is not None
                and query_param(url, "client_id") == client_info.client_id,
                url,
            )
            await authorize_in_browser(browser, args, layout, auth, decision, redirect_uri)

        async def callback_handler() -> AuthorizationCodeResult:
            auth = authorizations[-1]
            assert auth.redirect is not None
            sent_state = query_param(auth.authorize_url, "state")
            step = "authorization response"
            error = query_param(auth.redirect, "error")
            if args.deny:
                check(
                    f"{step}: error=access_denied with the state and iss",
                    error == "access_denied"
                    and query_param(auth.redirect, "state") == sent_state
                    and query_param(auth.redirect, "iss") == layout.public_origin
                    and query_param(auth.redirect, "code") is None,
                    auth.redirect,
                )
                raise AuthorizationDenied(error)
            check(
                f"{step}: a code, the state and iss {layout.public_origin}",
                error is None
                and bool(query_param(auth.redirect, "code"))
                and query_param(auth.redirect, "state") == sent_state
                and query_param(auth.redirect, "iss") == layout.public_origin,
                auth.redirect,
            )
            return AuthorizationCodeResult(
                code=query_param(auth.redirect, "code") or "",
                state=query_param(auth.redirect, "state"),
                iss=query_param(auth.redirect, "iss"),
            )

        provider = OAuthClientProvider(
            server_url=layout.mcp_url,
            client_metadata=OAuthClientMetadata(
                client_name=CLIENT_NAME,
                redirect_uris=[AnyUrl(redirect_uri)],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
                token_endpoint_auth_method="none",
            ),
            storage=storage,
            redirect_handler=redirect_handler,
            callback_handler=callback_handler,
        )
        recorder = Recorder(token_endpoint, layout.mcp_url)
        sdk_http = httpx2.AsyncClient(
            auth=provider,
            transport=LoopbackTransport(layout),
            cookies=no_cookies(),
            timeout=TIMEOUT,
            event_hooks={"response": [recorder.on_response]},
        )

        if args.deny:
            await run_denied(sdk_http, layout, storage, recorder, authorizations)
        else:
            await run_allowed(sdk_http, browser, layout, provider, storage, recorder, authorizations, discovery)
    finally:
        await browser.aclose()


async def run_denied(sdk_http: httpx2.AsyncClient, layout: Layout, storage: Storage, recorder: Recorder, authorizations: list[Authorization]) -> None:
    # The SDK logs the failed flow with a traceback; here that failure is the expected outcome.
    logging.getLogger("mcp.client.auth").setLevel(logging.CRITICAL)
    try:
        async with sdk_http, Client(streamable_http_client(layout.mcp_url, http_client=sdk_http)) as client:
            await client.list_tools()
    except BaseException as err:  # noqa: BLE001 - the SDK raises exception groups from its task groups
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        failure = failure_in(err)
        if failure is not None:
            raise failure from None
        check("the SDK fails to connect after the denial", failure_in(err, AuthorizationDenied) is not None, f"it failed otherwise: {err!r}")
    else:
        raise CheckFailed("the SDK connected although consent was denied")
    check("the denial went through Holt's consent page", len(authorizations) >= 1 and authorizations[0].redirect is not None, authorizations)
    check("no token was stored", storage.tokens is None, storage.tokens)
    check("no code was exchanged at the token endpoint", not recorder.grants("authorization_code"), recorder.exchanges)


async def run_allowed(
    sdk_http: httpx2.AsyncClient,
    browser: Browser,
    layout: Layout,
    provider: OAuthClientProvider,
    storage: Storage,
    recorder: Recorder,
    authorizations: list[Authorization],
    discovery: Discovery,
) -> None:
    async with sdk_http, Client(streamable_http_client(layout.mcp_url, http_client=sdk_http)) as client:
        # The connection went through the whole flow; what did the SDK end up with?
        prm = provider.context.protected_resource_metadata
        check(
            f"SDK discovery: protected resource {layout.mcp_url}",
            prm is not None and str(prm.resource) == layout.mcp_url == discovery.resource_metadata.get("resource"),
            prm,
        )
        asm = provider.context.oauth_metadata
        check(f"SDK discovery: authorization server {layout.public_origin}", asm is not None and str(asm.issuer) == layout.public_origin, asm)
        check(
            "SDK registration: a client_id is stored (public client, no secret needed)",
            storage.client_info is not None and bool(storage.client_info.client_id),
            storage.client_info,
        )
        check("one authorization in the browser", len(authorizations) == 1, [a.authorize_url for a in authorizations])
        codes = recorder.grants("authorization_code")
        check(
            "token endpoint: the code was exchanged once, HTTP 200",
            len(codes) == 1 and codes[0].status == 200,
            [(e.grant_type, e.status, e.body) for e in recorder.exchanges],
        )
        raw = codes[0].body if isinstance(codes[0].body, dict) else {}
        first = storage.tokens
        check(
            "SDK token: an access token, a refresh token, token_type Bearer",
            first is not None
            and bool(first.access_token)
            and bool(first.refresh_token)
            and first.token_type == "Bearer"
            and str(raw.get("token_type", "")).lower() == "bearer",
            raw or first,
        )
        assert first is not None

        listed = await client.list_tools()
        names = {t.name for t in listed.tools}
        check("tools/list over OAuth: read_note and write_note (the owner may write)", {"read_note", "write_note"} <= names, sorted(names))

        is_error, text = await call(client, "write_note", {"path": NOTE_PATH, "content": NOTE_CONTENT})
        check(f"write_note {NOTE_PATH} over OAuth", not is_error, text)
        is_error, text = await call(client, "read_note", {"path": NOTE_PATH})
        check(f"read_note {NOTE_PATH} over OAuth", not is_error and "Written over OAuth" in text, text)
        bearer = recorder.mcp_bearers[-1][0] if recorder.mcp_bearers else None
        check("the MCP requests carried the access token", bearer == f"Bearer {first.access_token}", bearer)

        # Make the access token look expired: the SDK must refresh before the next request.
        provider.context.token_expiry_time = time.time() - 60
        is_error, text = await call(client, "read_note", {"path": NOTE_PATH})
        check("read_note after the access token expired", not is_error and "Written over OAuth" in text, text)
        refreshes = recorder.grants("refresh_token")
        check(
            "the SDK refreshed once (HTTP 200) and did not authorize again",
            len(refreshes) == 1 and refreshes[0].status == 200 and refreshes[0].form.get("refresh_token") == first.refresh_token and len(authorizations) == 1,
            [(e.grant_type, e.status, e.body) for e in recorder.exchanges],
        )
        second = storage.tokens
        check(
            "refresh: a new access token and a new refresh token were stored",
            second is not None
            and second.access_token != first.access_token
            and bool(second.refresh_token)
            and second.refresh_token != first.refresh_token,
            "the refresh answered "
            + (
                "nothing"
                if second is None
                else f"access token {'changed' if second.access_token != first.access_token else 'UNCHANGED'}, "
                f"refresh token {'UNCHANGED (no rotation)' if second.refresh_token == first.refresh_token else 'changed' if second.refresh_token else 'MISSING'}"
            )
            + f"; token responses: {[(e.grant_type, e.status, e.body) for e in recorder.exchanges]}",
        )
        assert second is not None
        bearer = recorder.mcp_bearers[-1][0] if recorder.mcp_bearers else None
        check("the next MCP request carried the new access token", bearer == f"Bearer {second.access_token}", bearer)

    # Rotation: the refresh token that was just used up must not work again.
    step = "the replaced refresh token, sent again"
    assert storage.client_info is not None
    data, headers = provider.context.prepare_token_auth(
        {"grant_type": "refresh_token", "client_id": storage.client_info.client_id, "refresh_token": first.refresh_token or ""},
        {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
    )
    response = await browser.http.post(recorder.token_endpoint, headers=headers, content=urlencode(data).encode())
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    check(f"{step}: 400 invalid_grant", response.status_code == 400 and body.get("error") == "invalid_grant", describe(response))


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--holt-port", type=int, required=True, help="the port Holt listens on at 127.0.0.1")
    parser.add_argument("--pds", required=True, help="the PDS, e.g. http://127.0.0.1:2583")
    parser.add_argument("--handle", required=True, help="the test account's handle, e.g. alice.test")
    parser.add_argument("--password", required=True, help="the test account's password")
    parser.add_argument("--wiki", required=True, help="the wiki's name, e.g. notes (https://notes.holt.internal/mcp)")
    parser.add_argument("--deny", action="store_true", help="deny consent; the SDK must then fail")
    parser.add_argument("--public-origin", default="https://holt.internal", help="Holt's public origin (default https://holt.internal)")
    args = parser.parse_args()
    mode = "deny" if args.deny else "allow"
    failure: str | None = None
    try:
        await asyncio.wait_for(run(args), OVERALL_SECONDS)
    except asyncio.TimeoutError:
        failure = f"timed out after {OVERALL_SECONDS} s"
    except BaseException as err:  # noqa: BLE001 - report the first failure, whatever it is
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        found = failure_in(err) or failure_in(err, OffLimits)
        network = failure_in(err, httpx2.RequestError)
        if found is not None:
            failure = str(found)
        elif isinstance(network, httpx2.RequestError):
            failure = f"network error: {network!r} on {network.request.method} {network.request.url.copy_with(query=None)}"
        else:
            failure = f"unexpected error: {err!r}"
    if failure is not None:
        print(f"FAIL {failure}", flush=True)
        print(f"python_oauth_client.py: FAILED ({mode}): {failure}", file=sys.stderr)
        print(json.dumps({"ok": False, "mode": mode, "checks": CHECKS, "failures": [failure]}), flush=True)
        return 1
    print(json.dumps({"ok": True, "mode": mode, "checks": CHECKS}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

#!/usr/bin/env python3
"""Checks a Holt wiki's MCP server with the official Python MCP SDK (`mcp==2.3.0`).

Usage:
    python_client.py --url http://notes.localhost:PORT/mcp --token WRITE_TOKEN \
        --read-token READ_TOKEN --mode discover|initialize

`--mode discover` connects with the SDK's `mode="auto"`, which probes `server/discover` first
(and would fall back to `initialize`); the check then asserts the discover handshake was the one
used. `--mode initialize` connects with `mode="legacy"`, which always sends `initialize`.

With the write token it lists the tools and calls every one of them with real data, asserting
on the answers; with the read token it checks the writing tools are hidden and refused; with a
bad token (and with none) that the connection fails with HTTP 401. One line per check; exit 0
only when every check passed, non-zero at the first failure.

Hosts under `.localhost` are reached on 127.0.0.1 with the wiki's name in the Host header (the
system resolver does not map `*.localhost` to loopback everywhere).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import re
import secrets
import sys
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

READ_TOOLS = {
    "read_note",
    "read_notes",
    "list_notes",
    "search_notes",
    "semantic_search",
    "get_links",
    "find_orphaned_notes",
    "get_recent_changes",
    "get_history",
    "diff_note",
    "list_attachments",
    "download_attachment",
    "whoami",
}
WRITE_TOOLS = {
    "write_note",
    "edit_note",
    "append_note",
    "edit_section",
    "revert_note",
    "rename_note",
    "delete_note",
    "upload_attachment",
    "delete_attachment",
}
REVISION = re.compile(r"\b[0-9a-f]{40}\b")
SAVED = re.compile(r"^Saved (?P<path>.+) at revision (?P<rev>[0-9a-f]{40}) \((?P<how>[^)]*)\)\.$")
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


class CheckFailed(Exception):
    """A check did not hold; the message says which and why."""


def check(name: str, condition: bool, detail: Any = "") -> None:
    """Prints the check, or stops the run with what was seen instead."""
    if not condition:
        raise CheckFailed(f"{name}: {detail}" if detail != "" else name)
    print(f"ok   {name}", flush=True)


@dataclass
class Endpoint:
    """Where to connect, and the Host header to send (for `*.localhost` wikis)."""

    url: str
    host: str | None


def endpoint(url: str) -> Endpoint:
    parts = urlsplit(url)
    hostname = parts.hostname or ""
    if hostname == "localhost" or hostname.endswith(".localhost"):
        port = f":{parts.port}" if parts.port else ""
        loopback = urlunsplit((parts.scheme, f"127.0.0.1{port}", parts.path, parts.query, ""))
        return Endpoint(loopback, parts.netloc)
    return Endpoint(url, None)


class Connection:
    """An MCP client session over Streamable HTTP with a bearer token and a handshake mode.

    Every HTTP status the server answers is recorded, so a refused connection can be checked
    for its 401.
    """

    def __init__(self, where: Endpoint, token: str | None, mode: str):
        self.statuses: list[int] = []
        headers = {}
        if where.host:
            headers["Host"] = where.host
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"

        async def record(response: httpx2.Response) -> None:
            self.statuses.append(response.status_code)

        timeout = httpx2.Timeout(30.0, read=60.0)
        self.http = httpx2.AsyncClient(
            headers=headers, timeout=timeout, event_hooks={"response": [record]}
        )
        sdk_mode = {"discover": "auto", "initialize": "legacy"}[mode]
        self.client = Client(streamable_http_client(where.url, http_client=self.http), mode=sdk_mode)

    async def __aenter__(self) -> Client:
        await self.http.__aenter__()
        try:
            return await self.client.__aenter__()
        except BaseException:
            await self.http.__aexit__(None, None, None)
            raise

    async def __aexit__(self, *exc: Any) -> None:
        try:
            await self.client.__aexit__(*exc)
        finally:
            await self.http.__aexit__(None, None, None)


async def call(client: Client, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    """Calls a tool; (is_error, its text)."""
    result = await client.call_tool(tool, arguments)
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    return bool(result.is_error), text


async def ok(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Calls a tool that must succeed; its text."""
    is_error, text = await call(client, tool, arguments)
    if is_error:
        raise CheckFailed(f"{tool} {arguments!r} failed: {text}")
    return text


async def refused(client: Client, tool: str, arguments: dict[str, Any]) -> str:
    """Calls a tool that must answer an error result; its text."""
    is_error, text = await call(client, tool, arguments)
    if not is_error:
        raise CheckFailed(f"{tool} {arguments!r} should have failed, answered: {text}")
    return text


def saved(text: str, path: str, how: str) -> str:
    """The revision of a `Saved PATH at revision REV (HOW).` answer, checked."""
    match = SAVED.match(text.strip())
    if not match or match["path"] != path or not match["how"].startswith(how):
        raise CheckFailed(f"expected 'Saved {path} at revision <40 hex> ({how}).', got: {text}")
    return match["rev"]


def split_note(text: str) -> tuple[dict[str, str], str]:
    """A read_note answer's header fields and its Markdown."""
    head, sep, body = text.partition("---\n")
    if not sep:
        raise CheckFailed(f"read_note answer has no '---' line: {text[:200]}")
    fields = {}
    for line in head.splitlines():
        key, _, value = line.partition(": ")
        fields[key] = value
    return fields, body


def difference(listed: set[str], expected: set[str]) -> str:
    return f"missing {sorted(expected - listed)}, unexpected {sorted(listed - expected)}"


def check_handshake(client: Client, mode: str) -> None:
    session = client.session
    if mode == "discover":
        check(
            f"handshake: server/discover (protocol {client.protocol_version})",
            session.discover_result is not None,
            "the SDK fell back to initialize",
        )
    else:
        check(
            f"handshake: initialize (protocol {client.protocol_version})",
            getattr(session, "initialize_result", None) is not None and session.discover_result is None,
            "the initialize handshake was not used",
        )


async def check_writer(where: Endpoint, token: str, mode: str) -> None:
    run = secrets.token_hex(3)
    folder = f"McpPy{run}"
    setup, install, journal, links = (f"{folder}/{n}" for n in ("Setup", "Install", "Journal", "Links"))
    tag = f"mcp-py-{run}"
    word = f"quokka{run}"
    original = (
        f"---\ntags: [{tag}, guide]\n---\n# Setup\n\nHow to install the {word} tool.\n\n"
        "## Linux\n\napt install holt\n\n## macOS\n\nbrew install holt\n"
    )

    async with Connection(where, token, mode) as client:
        check_handshake(client, mode)

        listed = await client.list_tools()
        names = {t.name for t in listed.tools}
        check("tools/list (write token): every tool", names == READ_TOOLS | WRITE_TOOLS, difference(names, READ_TOOLS | WRITE_TOOLS))
        for tool in listed.tools:
            schema = tool.input_schema
            good = (
                schema.get("type") == "object"
                and isinstance(schema.get("properties"), dict)
                and isinstance(schema.get("required"), list)
                and schema.get("additionalProperties") is False
                and len(tool.description or "") > 20
            )
            if not good:
                raise CheckFailed(f"tool {tool.name} has an incomplete schema or description: {schema}")
        check("tools/list: every schema is a closed object with a description", True)

        me = await ok(client, "whoami", {})
        check("whoami: owner who may read, write, upload", "role: owner" in me and "read, write, upload" in me, me)
        check("whoami: names the wiki and its URL", "wiki: " in me and "url: http" in me, me)

        # Arguments are checked before any tool runs.
        text = await refused(client, "read_note", {})
        check("missing argument is refused by name", "Missing argument 'path'" in text, text)
        text = await refused(client, "read_note", {"path": 7})
        check("mistyped argument is refused by name", "'path'" in text and "must be a string" in text, text)
        text = await refused(client, "read_note", {"path": setup, "colour": "red"})
        check("unknown argument is refused by name", "Unknown argument 'colour'" in text, text)

        # Writing and reading.
        rev1 = saved(await ok(client, "write_note", {"path": setup, "content": original}), setup, "created")
        check("write_note creates a note", True)
        text = await refused(client, "write_note", {"path": setup, "content": "clobber"})
        check("write_note over an existing note needs base_revision", "already exists" in text and rev1 in text, text)

        fields, body = split_note(await ok(client, "read_note", {"path": setup}))
        check(
            "read_note: header (path, title, revision, updated) and content",
            fields.get("path") == setup
            and fields.get("title") == "Setup"
            and fields.get("revision") == rev1
            and RFC3339.match(fields.get("updated", "")) is not None
            and body == original,
            (fields, body),
        )
        text = await refused(client, "read_note", {"path": f"{folder}/Nowhere"})
        check("read_note of a missing note suggests list_notes/search_notes", "list_notes" in text, text)

        fields, body = split_note(await ok(client, "read_note", {"path": setup, "section": "Setup > Linux"}))
        check("read_note section 'Setup > Linux'", body.startswith("## Linux") and "apt install" in body and "brew" not in body, body)
        text = await refused(client, "read_note", {"path": setup, "section": "Setup > Windows"})
        check("read_note of a missing section lists the headings", "Setup > Linux" in text, text)

        # Exact edits.
        text = await refused(client, "edit_note", {"path": setup, "old_string": "install holt", "new_string": "x"})
        check("edit_note with an ambiguous old_string says how many times it matched", "2 times" in text, text)
        text = await refused(client, "edit_note", {"path": setup, "old_string": "no such text", "new_string": "x"})
        check("edit_note with an absent old_string says so", "not found" in text, text)
        rev2 = saved(
            await ok(client, "edit_note", {"path": setup, "old_string": "apt install holt", "new_string": "apt-get install holt", "base_revision": rev1}),
            setup,
            "updated",
        )
        check("edit_note replaces a unique passage", rev2 != rev1)

        # A stale base revision names the current one.
        text = await refused(client, "write_note", {"path": setup, "content": "stale", "base_revision": rev1})
        check("stale base_revision is refused, naming the current revision", f"current revision is {rev2}" in text and f"base_revision {rev2}" in text, text)
        text = await refused(client, "edit_note", {"path": setup, "old_string": "brew", "new_string": "port", "base_revision": rev1})
        check("edit_note with a stale base_revision is refused too", rev2 in text, text)

        # Sections and appends.
        rev3 = saved(await ok(client, "edit_section", {"path": setup, "section": "macOS", "content": "brew install --cask holt"}), setup, "updated")
        _, body = split_note(await ok(client, "read_note", {"path": setup, "section": "Setup > macOS"}))
        check("edit_section replaces a section's body", "brew install --cask holt" in body and "brew install holt" not in body, body)
        _, body = split_note(await ok(client, "read_note", {"path": setup, "section": "Linux"}))
        check("edit_section leaves other sections alone", "apt-get install holt" in body, body)

        saved(await ok(client, "append_note", {"path": setup, "content": "Appended line."}), setup, "updated")
        fields, body = split_note(await ok(client, "read_note", {"path": setup}))
        check("append_note adds at the end", body.rstrip().endswith("Appended line.") and "\n\nAppended line." in body, body[-80:])
        rev_appended = fields["revision"]
        saved(await ok(client, "append_note", {"path": journal, "content": "- day one"}), journal, "created")
        check("append_note creates a missing note", True)

        # Links.
        saved(await ok(client, "write_note", {"path": links, "content": f"See [[{setup}]] and [[{journal}]].\n"}), links, "created")
        text = await ok(client, "get_links", {"path": links})
        check("get_links: links from a note", setup in text and journal in text, text)
        text = await ok(client, "get_links", {"path": setup})
        backlinks = text.split("Backlinks", 1)[-1]
        check("get_links: backlinks to a note", links in backlinks, text)
        text = await ok(client, "find_orphaned_notes", {})
        check("find_orphaned_notes: the unlinked note, not the linked ones", links in text and f"- {setup}\n" not in text, text)

        # Batch read, listings and search.
        text = await ok(client, "read_notes", {"paths": [setup, links, f"{folder}/Missing"]})
        check("read_notes: several notes, a missing one reported in place", f"path: {setup}" in text and f"path: {links}" in text and "error:" in text, text[:300])
        text = await refused(client, "read_notes", {"paths": [f"n{i}" for i in range(21)]})
        check("read_notes: at most 20", "1 to 20" in text, text)
        text = await ok(client, "list_notes", {"prefix": f"{folder}/"})
        check("list_notes by prefix", all(p in text for p in (setup, journal, links)) and "3 notes" in text, text)
        text = await ok(client, "list_notes", {"tag": tag})
        check("list_notes by tag", setup in text and links not in text and "1 note" in text, text)
        text = await ok(client, "list_notes", {"prefix": f"{folder}/", "updated_since": "2000-01-01T00:00:00Z", "limit": 2})
        check("list_notes updated_since (RFC 3339) and limit", "2 notes" in text and "limit was reached" in text, text)
        text = await ok(client, "list_notes", {"prefix": f"{folder}/", "updated_since": 4102444800})
        check("list_notes updated_since (Unix seconds)", "No notes" in text, text)
        text = await refused(client, "list_notes", {"updated_since": "last week"})
        check("list_notes refuses a malformed updated_since", "RFC 3339" in text, text)
        text = await ok(client, "search_notes", {"query": word})
        check("search_notes finds a note by a word", setup in text and links not in text, text)
        text = await refused(client, "semantic_search", {"query": "how to install"})
        check("semantic_search: off here, use search_notes", "is off" in text and "search_notes" in text, text)

        # History, diffs and reverting.
        text = await ok(client, "get_history", {"path": setup})
        check("get_history lists the revisions", all(r in text for r in (rev1, rev2, rev3, rev_appended)), text)
        text = await ok(client, "get_history", {"path": setup, "limit": 1, "offset": 1})
        check("get_history limit and offset", text.count("\n- ") == 1 and rev3 in text, text)
        text = await ok(client, "diff_note", {"path": setup, "from": rev1, "to": rev2})
        check("diff_note shows the edit", "-apt install holt" in text and "+apt-get install holt" in text, text)
        text = await ok(client, "revert_note", {"path": setup, "revision": rev1})
        rev_reverted = saved(text, setup, "updated")
        _, body = split_note(await ok(client, "read_note", {"path": setup}))
        check("revert_note restores the content as a new commit", body == original and rev_reverted not in (rev1, rev2, rev3), body)
        fields, body = split_note(await ok(client, "read_note", {"path": setup, "revision": rev2}))
        check("read_note at an older revision", "apt-get install holt" in body and "--cask" not in body, body)

        # Renaming rewrites links.
        text = await ok(client, "rename_note", {"from": setup, "to": install})
        check("rename_note", text.startswith(f"Renamed {setup} to {install}") and REVISION.search(text) is not None, text)
        _, body = split_note(await ok(client, "read_note", {"path": links}))
        check("rename_note rewrote the links to it", f"[[{install}]]" in body and f"[[{setup}]]" not in body, body)
        text = await ok(client, "get_links", {"path": install})
        check("backlinks follow the rename", links in text.split("Backlinks", 1)[-1], text)
        text = await ok(client, "get_recent_changes", {"limit": 3})
        check("get_recent_changes: newest first, with files", "3 changes" in text and install in text, text)

        # Attachments.
        text = await ok(client, "upload_attachment", {"path": install, "name": "notes.txt", "text": "hello attachment\n"})
        check("upload_attachment (text)", text.startswith("Attached notes.txt (17 bytes)") and REVISION.search(text) is not None, text)
        blob = bytes(range(256)) * 4
        text = await ok(client, "upload_attachment", {"path": install, "name": "blob.bin", "content_base64": base64.b64encode(blob).decode()})
        check("upload_attachment (base64)", "(1024 bytes)" in text, text)
        text = await refused(client, "upload_attachment", {"path": install, "name": "bad.bin", "content_base64": "not base64!"})
        check("upload_attachment refuses invalid base64", "base64" in text, text)
        huge = base64.b64encode(b"\0" * (4 * 1024 * 1024 + 1)).decode()
        text = await refused(client, "upload_attachment", {"path": install, "name": "huge.bin", "content_base64": huge})
        check("upload_attachment refuses more than 4 MiB", "more than the 4194304 bytes" in text, text)
        text = await ok(client, "list_attachments", {"path": install})
        check("list_attachments", "notes.txt (17 bytes)" in text and "blob.bin (1024 bytes)" in text, text)
        text = await ok(client, "download_attachment", {"path": install, "name": "notes.txt"})
        check("download_attachment: a text file as text", "encoding: text" in text and text.endswith("---\nhello attachment\n"), text)
        text = await ok(client, "download_attachment", {"path": install, "name": "blob.bin"})
        encoded = text.split("---\n", 1)[-1]
        check("download_attachment: a binary file as base64", "encoding: base64" in text and base64.b64decode(encoded) == blob, text[:200])
        text = await ok(client, "delete_attachment", {"path": install, "name": "notes.txt"})
        check("delete_attachment", text.startswith("Deleted notes.txt from"), text)
        text = await ok(client, "list_attachments", {"path": install})
        check("the deleted attachment is gone", "notes.txt" not in text and "blob.bin" in text, text)
        text = await refused(client, "download_attachment", {"path": install, "name": "notes.txt"})
        check("download_attachment of a missing file suggests list_attachments", "list_attachments" in text, text)

        # Deleting.
        text = await ok(client, "delete_note", {"path": journal, "message": "no longer needed"})
        check("delete_note", text.startswith(f"Deleted {journal}") and REVISION.search(text) is not None, text)
        text = await refused(client, "read_note", {"path": journal})
        check("the deleted note is gone", "There is no note" in text, text)


async def check_reader(where: Endpoint, token: str, mode: str) -> None:
    async with Connection(where, token, mode) as client:
        check_handshake(client, mode)
        listed = await client.list_tools()
        names = {t.name for t in listed.tools}
        check("tools/list (read token): only the reading tools", names == READ_TOOLS, difference(names, READ_TOOLS))
        me = await ok(client, "whoami", {})
        check("whoami (read token): may only read", "may: read." in me, me)
        text = await ok(client, "list_notes", {"limit": 5})
        check("a read token can read", "note" in text, text)
        is_error, text = await call(client, "write_note", {"path": "ReadOnly/Attempt", "content": "no"})
        check("write_note with a read token is refused", is_error and "only read" in text, text)


async def check_refused(where: Endpoint, token: str | None, mode: str, label: str) -> None:
    connection = Connection(where, token, mode)
    try:
        async with connection as client:
            await client.list_tools()
    except BaseException as err:  # the SDK raises exception groups from its task groups
        if isinstance(err, (KeyboardInterrupt, SystemExit)):
            raise
        check(f"{label}: the connection fails with HTTP 401", 401 in connection.statuses, f"statuses {connection.statuses}: {err!r}")
        return
    raise CheckFailed(f"{label}: the connection succeeded")


def failure_in(err: BaseException) -> CheckFailed | None:
    """The CheckFailed inside an exception (group), if any."""
    if isinstance(err, CheckFailed):
        return err
    for inner in getattr(err, "exceptions", ()):
        found = failure_in(inner)
        if found:
            return found
    cause = err.__cause__ or err.__context__
    return failure_in(cause) if cause else None


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True, help="the wiki's MCP endpoint, e.g. http://notes.localhost:8080/mcp")
    parser.add_argument("--token", required=True, help="a wiki token with write access")
    parser.add_argument("--read-token", required=True, help="a wiki token that may only read")
    parser.add_argument("--mode", required=True, choices=["discover", "initialize"], help="the handshake to use")
    args = parser.parse_args()
    where = endpoint(args.url)
    try:
        await check_writer(where, args.token, args.mode)
        await check_reader(where, args.read_token, args.mode)
        await check_refused(where, "holt_not-a-real-token", args.mode, "bad token")
        await check_refused(where, None, args.mode, "no token")
    except BaseException as err:  # noqa: BLE001 - report the first failure, whatever it is
        failure = failure_in(err)
        message = str(failure) if failure else f"unexpected error: {err!r}"
        print(f"FAIL {message}", flush=True)
        print(f"python_client.py: FAILED ({args.mode}): {message}", file=sys.stderr)
        return 1
    print(f"python_client.py: all checks passed ({args.mode})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

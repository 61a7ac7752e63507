// Drives a Holt wiki's MCP server with the official TypeScript SDK
// (@modelcontextprotocol/sdk, pinned in package.json), as an assistant's client would: list the
// tools, call every one of them against real notes, and check what a read-only token and a bad
// token get. Prints a line per check; exits non-zero at the first failure.
//
//   node ts_client.mjs --url http://notes.localhost:PORT/mcp --connect 127.0.0.1:PORT \
//       --token WRITE_TOKEN --read-token VIEWER_TOKEN
//
// `--connect` is where the wiki's host name really is (names under .localhost do not resolve in
// Node): requests go there with the wiki's Host header.

import http from "node:http";

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const args = Object.fromEntries(
  process.argv.slice(2).reduce((pairs, arg, i, all) => {
    if (arg.startsWith("--")) pairs.push([arg.slice(2), all[i + 1]]);
    return pairs;
  }, []),
);
for (const required of ["url", "connect", "token", "read-token"]) {
  if (!args[required]) {
    console.error(`missing --${required}`);
    process.exit(2);
  }
}
const wikiUrl = new URL(args.url);

const ALL_TOOLS = [
  "append_note", "delete_attachment", "delete_note", "diff_note", "download_attachment",
  "edit_note", "edit_section", "find_orphaned_notes", "get_history", "get_links",
  "get_recent_changes", "list_attachments", "list_notes", "read_note", "read_notes",
  "rename_note", "revert_note", "search_notes", "semantic_search", "upload_attachment",
  "whoami", "write_note",
];
const WRITE_TOOLS = [
  "append_note", "delete_attachment", "delete_note", "edit_note", "edit_section",
  "rename_note", "revert_note", "upload_attachment", "write_note",
];

let checks = 0;
function check(what, ok, detail = "") {
  if (!ok) {
    console.error(`FAIL ${what}${detail ? `: ${detail}` : ""}`);
    process.exit(1);
  }
  checks += 1;
  console.log(`ok   ${what}`);
}

/**
 * fetch, but to the --connect address with the wiki's Host header (Node's own fetch will not
 * send a Host header of our choosing, so this speaks HTTP/1.1 through node:http).
 */
function fetchVia(input, init = {}) {
  const url = new URL(input instanceof Request ? input.url : String(input));
  const headers = Object.fromEntries(new Headers(init.headers ?? {}).entries());
  headers.host = wikiUrl.host;
  const [host, port] = args.connect.split(":");
  return new Promise((resolve, reject) => {
    const request = http.request(
      { host, port, path: url.pathname + url.search, method: init.method ?? "GET", headers },
      (response) => {
        const chunks = [];
        response.on("data", (chunk) => chunks.push(chunk));
        response.on("error", reject);
        response.on("end", () => {
          const replyHeaders = new Headers();
          for (const [name, value] of Object.entries(response.headers)) {
            for (const one of [].concat(value ?? [])) replyHeaders.append(name, one);
          }
          const empty = [204, 205, 304].includes(response.statusCode);
          resolve(new Response(empty ? null : Buffer.concat(chunks), {
            status: response.statusCode,
            headers: replyHeaders,
          }));
        });
      },
    );
    request.on("error", reject);
    if (init.body) request.write(init.body);
    request.end();
  });
}

async function connect(token) {
  const client = new Client({ name: "holt-ts-check", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(wikiUrl, {
    fetch: fetchVia,
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  });
  await client.connect(transport);
  return client;
}

function text(result) {
  return (result.content ?? []).filter((c) => c.type === "text").map((c) => c.text).join("\n");
}

/** Calls a tool that must succeed; its text. */
async function ok(client, name, toolArgs) {
  const result = await client.callTool({ name, arguments: toolArgs });
  check(`${name} succeeds`, !result.isError, text(result));
  return text(result);
}

/** Calls a tool that must fail; its text. */
async function fails(client, name, toolArgs) {
  const result = await client.callTool({ name, arguments: toolArgs });
  check(`${name} fails as it should`, result.isError === true, text(result));
  return text(result);
}

/** The first 40-hex revision id in a tool's text. */
function revisionIn(output) {
  const match = output.match(/\b[0-9a-f]{40}\b/);
  return match ? match[0] : null;
}

const client = await connect(args.token);
const info = client.getServerVersion();
check("the server says it is Holt", info?.name === "holt", JSON.stringify(info));

const listed = (await client.listTools()).tools;
const names = listed.map((t) => t.name).sort();
check("tools/list has every tool", ALL_TOOLS.every((t) => names.includes(t)), names.join(", "));
for (const tool of listed) {
  check(
    `${tool.name} has a description and an object schema`,
    tool.description?.length > 20 && tool.inputSchema?.type === "object",
  );
}

// Notes, written and read back.
const created = await ok(client, "write_note", {
  path: "TS/Guide",
  content: "# Guide\n\nIntro with a [[TS/Target]] link.\n\n## Setup\n\nOld setup.\n\n## Usage\n\nUse it.\n",
  message: "Start the guide",
});
const rev1 = revisionIn(created);
check("write_note names the new revision", rev1 !== null, created);
await ok(client, "write_note", { path: "TS/Target", content: "# Target\n\nThe target.\n" });

const read = await ok(client, "read_note", { path: "TS/Guide" });
check("read_note returns the content and revision", read.includes("Old setup.") && read.includes(rev1), read);
const section = await ok(client, "read_note", { path: "TS/Guide", section: "Guide > Setup" });
check("read_note returns one section", section.includes("Old setup.") && !section.includes("Use it."), section);

const stale = await fails(client, "write_note", {
  path: "TS/Guide",
  content: "no base revision",
});
check("overwriting without a base revision says what to do", /revision/i.test(stale), stale);

const edited = await ok(client, "edit_note", {
  path: "TS/Guide",
  old_string: "Intro with",
  new_string: "An introduction with",
  base_revision: rev1,
});
const rev2 = revisionIn(edited);
const staleEdit = await fails(client, "write_note", {
  path: "TS/Guide",
  content: "from a stale revision",
  base_revision: rev1,
});
check("a stale base revision names the current one", staleEdit.includes(rev2), staleEdit);
const twice = await fails(client, "edit_note", { path: "TS/Guide", old_string: "e", new_string: "E" });
check("an ambiguous edit says how often it matched", /\d+ times|more than once/i.test(twice), twice);

await ok(client, "append_note", { path: "TS/Guide", content: "Appended line." });
await ok(client, "edit_section", { path: "TS/Guide", section: "Guide > Setup", content: "New setup.\n" });
const afterEdits = await ok(client, "read_note", { path: "TS/Guide" });
check(
  "edits, append and section edit all landed",
  afterEdits.includes("An introduction with") &&
    afterEdits.includes("Appended line.") &&
    afterEdits.includes("New setup.") &&
    !afterEdits.includes("Old setup.") &&
    afterEdits.includes("Use it."),
  afterEdits,
);

const batch = await ok(client, "read_notes", { paths: ["TS/Guide", "TS/Target"] });
check("read_notes returns both notes", batch.includes("The target.") && batch.includes("Appended line."), batch);
const listing = await ok(client, "list_notes", { prefix: "TS/" });
check("list_notes lists by prefix", listing.includes("TS/Guide") && listing.includes("TS/Target"), listing);
const found = await ok(client, "search_notes", { query: "introduction" });
check("search_notes finds the edited note", found.includes("TS/Guide"), found);
const semantic = await fails(client, "semantic_search", { query: "how to set it up" });
check("semantic_search says it is off", /is off/i.test(semantic), semantic);

const links = await ok(client, "get_links", { path: "TS/Target" });
check("get_links shows the backlink", links.includes("TS/Guide"), links);
const orphans = await ok(client, "find_orphaned_notes", {});
check("find_orphaned_notes lists the unlinked note", orphans.includes("TS/Guide") && !orphans.includes("TS/Target"), orphans);
const recent = await ok(client, "get_recent_changes", { limit: 5 });
check("get_recent_changes shows the latest commit", recent.includes("TS/Guide"), recent);
const history = await ok(client, "get_history", { path: "TS/Guide" });
check("get_history lists the note's commits", history.includes(rev1) && history.includes(rev2), history);
const diff = await ok(client, "diff_note", { path: "TS/Guide", from: rev1, to: rev2 });
check("diff_note shows the change", diff.includes("-Intro with") && diff.includes("+An introduction with"), diff);

await ok(client, "revert_note", { path: "TS/Guide", revision: rev1 });
const reverted = await ok(client, "read_note", { path: "TS/Guide" });
check("revert_note restores the old content", reverted.includes("Old setup.") && !reverted.includes("Appended line."), reverted);

await ok(client, "rename_note", { from: "TS/Target", to: "TS/Renamed" });
const relinked = await ok(client, "read_note", { path: "TS/Guide" });
check("rename_note rewrote the link", relinked.includes("[[TS/Renamed]]"), relinked);

// Attachments.
const bytes = Buffer.from([0, 1, 2, 250, 251, 252, 253, 254, 255]);
await ok(client, "upload_attachment", { path: "TS/Guide", name: "blob.bin", content_base64: bytes.toString("base64") });
await ok(client, "upload_attachment", { path: "TS/Guide", name: "notes.txt", text: "plain words" });
const attachments = await ok(client, "list_attachments", { path: "TS/Guide" });
check("list_attachments lists both", attachments.includes("blob.bin") && attachments.includes("notes.txt"), attachments);
const downloaded = await ok(client, "download_attachment", { path: "TS/Guide", name: "blob.bin" });
check("download_attachment returns the bytes", downloaded.includes(bytes.toString("base64")), downloaded);
const downloadedText = await ok(client, "download_attachment", { path: "TS/Guide", name: "notes.txt" });
check("download_attachment returns text as text", downloadedText.includes("plain words"), downloadedText);
await ok(client, "delete_attachment", { path: "TS/Guide", name: "blob.bin" });
const fewer = await ok(client, "list_attachments", { path: "TS/Guide" });
check("delete_attachment removed it", !fewer.includes("blob.bin") && fewer.includes("notes.txt"), fewer);

await ok(client, "delete_note", { path: "TS/Renamed" });
const gone = await fails(client, "read_note", { path: "TS/Renamed" });
check("a deleted note is not found", /not found|no note|does not exist/i.test(gone), gone);

const me = await ok(client, "whoami", {});
check("whoami names the user and what they may do", /write/i.test(me), me);
const badArgs = await fails(client, "read_note", { nope: 1 });
check("bad arguments are named", /path|nope/i.test(badArgs), badArgs);
await client.close();

// A viewer's token: no write tools listed, and a write call is refused.
const viewer = await connect(args["read-token"]);
const viewerTools = (await viewer.listTools()).tools.map((t) => t.name);
check(
  "a viewer sees only read tools",
  WRITE_TOOLS.every((t) => !viewerTools.includes(t)) && viewerTools.includes("read_note"),
  viewerTools.join(", "),
);
const refused = await fails(viewer, "write_note", { path: "TS/Viewer", content: "nope" });
check("a viewer's write is refused with a reason", /read/i.test(refused), refused);
const viewerRead = await ok(viewer, "read_note", { path: "TS/Guide" });
check("a viewer can read", viewerRead.includes("Old setup."), viewerRead);
await viewer.close();

// A bad token: the connection fails with 401.
try {
  await connect("holt_not-a-real-token");
  check("a bad token is refused", false, "connected");
} catch (err) {
  check("a bad token is refused with 401", err.code === 401, `${err} (code ${err.code})`);
}

console.log(`all ${checks} checks passed`);

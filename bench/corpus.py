#!/usr/bin/env python3
"""Holt's benchmark corpus: a deterministic git repository of Markdown wiki pages.

    python3 bench/corpus.py --out DIR [--manifest FILE] [--pages 500] [--commits 2000] [--seed N]

Holt and An Otter Wiki are benchmarked on the same wiki, and Holt's tests import it, so the
corpus is made from the checkout alone and is reproducible: the same arguments always give the
same HEAD commit id (printed, and stored in the manifest). It needs the standard library and the
`git` binary; the whole history is one `git fast-import` stream, written in a few seconds.

What the repository holds:
  * pages are `path/of/page.md`, lowercase words joined by `-`; the home page is `home.md`;
    folders go 3 levels deep (`engineering/services/storage/...`), and some folders have a page
    of the same name beside them (`ops/runbooks.md` and `ops/runbooks/`)
  * a page is `# Title`, an introduction, then `##` sections (some with `###`) of paragraphs,
    bullet, numbered and task lists, pipe tables, fenced code and blockquotes, with inline code,
    emphasis, external links and `[[path/of/page]]` / `[[Shown|path/of/page]]` wiki links to
    other pages; a few pages are large (tens of KB)
  * exactly --commits commits: pages are created over time (some in groups), edited with a
    Zipf-like popularity where one hot page gets ~300 revisions, a few are written under
    `drafts/` and renamed to their place later (pure renames, which `git log --follow`
    follows), and a few scratch pages are created and deleted again

The manifest (JSON) has `head`, `commits`, `pages` (each page's path without `.md`, its size
in bytes and the commits that touched it, following renames) and `targets`, the pages and words
the benchmarks request of every wiki engine:
  home, small (near the 10th size percentile), median (the 4 pages nearest the median size),
  large (the largest), nested (3 folders deep, near the median size), history_hot (the most
  commits), history_typical (the 3 nearest the median commit count), renamed (the pages that
  began in drafts/), search_common (a word on ~40 % of the pages) with search_common_pages,
  and search_rare, a made-up word written into exactly search_rare_pages pages and nowhere
  else, so a full-text search for it must find exactly that many.
"""

import argparse
import json
import math
import os
import random
import re
import shutil
import subprocess
import sys
import time

# ---------------------------------------------------------------------------- vocabulary

NOUNS = """
account adapter alert allowlist archive artifact audit backlog backup badge balancer batch
benchmark billing bucket budget buffer build bundle cache calendar canary certificate changelog
checklist checksum client cluster commit compiler config connection console container contract
cookie counter credential cursor daemon dashboard database deadline dependency deployment
digest directory disk domain download driver endpoint environment event exporter failover
feature firewall flag fleet gateway handler hash header heartbeat host image incident index
inventory invoice job journal kernel key label latency lease ledger library limit listener
lock log mailbox manifest metric migration mirror module monitor namespace network node
notebook offset operator outage owner package pager parser partition patch payload peer
permission pipeline plugin policy pool preview probe process profile protocol proxy queue
quota ratelimit reader record region registry release replica report repository request
resolver retention revision roadmap rollout route runbook sandbox scheduler schema scope
secret segment sensor server service session shard signal sitemap snapshot socket spreadsheet
stream subnet summary supervisor switch tablespace tag template tenant terminal thread
threshold ticket timeout token topology trace tunnel upgrade upload vault vendor volume
webhook widget worker workflow workspace zone
""".split()
NOUN_SET = set(NOUNS)

VERBS = """
archive audit back-up check clean configure deploy disable document drain enable export flush
import inspect measure migrate monitor patch promote prune rebuild reload rename replay reset
restart restore review rotate scale snapshot tag tune update upgrade validate verify
""".split()

ADJECTIVES = """
active archived automatic busy critical degraded durable empty experimental external global
healthy hot idle internal legacy local manual minor nightly noisy optional partial primary
private public read-only regional required secondary shared slow stable stale temporary
trusted weekly
""".split()

STATES = ["degraded", "full", "stale", "unreachable", "read-only", "behind", "overloaded",
          "locked", "out of date", "healthy again"]
FAILURES = ["fails", "stalls", "times out", "runs out of memory", "falls behind",
            "refuses connections", "restarts in a loop", "fills its disk"]
WHEN = ["every night", "once a week", "after each release", "before a deploy", "on demand",
        "during the maintenance window", "at the start of each sprint", "every quarter",
        "when the pager fires", "on the first Monday of the month"]
UNITS = ["seconds", "minutes", "hours", "requests", "connections", "megabytes", "percent"]
PEOPLE = ["Amara", "Bjørn", "Chloé", "Dmitri", "Eun-ji", "Farid", "Greta", "Hiroshi", "Inés",
          "José", "Kalinda", "Léa", "Mateus", "Nnamdi", "Oona", "Priya", "Søren", "Tomás"]
TEAMS = ["platform", "storage", "billing", "search", "mobile", "security", "data", "support"]
PLACES = ["Zürich", "São Paulo", "Kraków", "Montréal", "Malmö", "Reykjavík", "Lagos", "Ōsaka"]

TEMPLATES = [
    "{Verb} the {adj} {noun} before you {verb} the {noun2}.",
    "When the {noun} is {state}, {verb} the {noun2} and then {verb2} the {noun3}.",
    "Each {noun} keeps its own {noun2}, so a {adj} {noun3} never blocks the {noun4}.",
    "We {verb} the {noun} {when}.",
    "If the {noun} {failure}, the {noun2} should {verb} it within {n} {unit}.",
    "Ask {person} on the {team} team before you {verb} a {adj} {noun}.",
    "The {noun} reads its {noun2} from `{path}`.",
    "Keep the {noun} below {n} {unit}; past that the {noun2} becomes {state}.",
    "The {team} team owns the {noun} and the {adj} {noun2} behind it.",
    "Most {noun} problems come from a {adj} {noun2}, not from the {noun3} itself.",
    "A {adj} {noun} is expected after a {noun2} {upgrade}, and it recovers by itself.",
    "The {place} office runs its own {noun}, which it syncs with the {noun2} {when}.",
    "Nobody should {verb} the {noun} by hand: the {noun2} does it {when}.",
    "There is a {noun} per {noun2}, and at most {n} of them per {noun3}.",
    "To find out why the {noun} {failure}, look at the {noun2} first.",
    "The old {noun} is kept for {n} days and then archived.",
]

CODE_LANGUAGES = ["bash", "yaml", "python", "json", "sql", "toml", "rust"]
MEETING_KINDS = ["weekly-sync", "planning", "retrospective", "design-review", "ops-review",
                 "all-hands", "roadmap-review"]

RARE_WORD = "glimmerwick"  # made up: in no vocabulary list, a prefix of no other word
RARE_PAGES = 3
COMMON_SHARE = 0.4  # the common search word is the noun on closest to this share of the pages

# folder, share of the pages, how its pages are named. A folder page (`ops/runbooks.md`
# beside `ops/runbooks/`) is added for each folder in FOLDER_PAGES.
FOLDERS = [
    ("", 0.08, "topic"),
    ("handbook", 0.10, "topic"),
    ("handbook/onboarding", 0.04, "topic"),
    ("engineering", 0.06, "topic"),
    ("engineering/services", 0.08, "service"),
    ("engineering/services/storage", 0.03, "topic"),
    ("engineering/architecture", 0.05, "topic"),
    ("engineering/architecture/decisions", 0.04, "decision"),
    ("ops", 0.03, "topic"),
    ("ops/runbooks", 0.12, "runbook"),
    ("ops/postmortems", 0.07, "postmortem"),
    ("products/atlas", 0.05, "topic"),
    ("products/atlas/releases", 0.03, "release"),
    ("products/harbor", 0.04, "topic"),
    ("meetings", 0.10, "meeting"),
    ("reference/cli", 0.04, "command"),
    ("reference/config", 0.04, "topic"),
]
FOLDER_PAGES = ["handbook", "engineering", "engineering/services", "engineering/architecture",
                "ops", "ops/runbooks", "products", "products/atlas", "meetings", "reference"]

RENAMED = 8          # pages written under drafts/ first
SCRATCH = 6          # pages created and deleted again
HOT_REVISIONS = 300  # commits of the hottest page
START = 1675674000   # 2023-02-06 09:00 UTC, the first commit
AUTHORS = [
    ("Amara Okafor", "amara@example.org", "+0100"), ("Bjørn Halvorsen", "bjorn@example.org", "+0100"),
    ("Chloé Martin", "chloe@example.org", "+0100"), ("Dmitri Volkov", "dmitri@example.org", "+0300"),
    ("Eun-ji Park", "eunji@example.org", "+0900"), ("Farid Haddad", "farid@example.org", "+0200"),
    ("Greta Lind", "greta@example.org", "+0100"), ("Hiroshi Tanaka", "hiroshi@example.org", "+0900"),
    ("Inés Romero", "ines@example.org", "-0300"), ("Kalinda Brooks", "kalinda@example.org", "-0500"),
    ("Priya Raman", "priya@example.org", "+0530"), ("Tomás Silva", "tomas@example.org", "+0000"),
]


def title_of(path):
    """`ops/runbooks/restart-the-cache` -> `Restart The Cache`; dated names keep their date."""
    name = path.rsplit("/", 1)[-1]
    m = re.match(r"^(\d{4}-\d{2}-\d{2})-(.*)$", name)
    if m:
        return "%s %s" % (m.group(2).replace("-", " ").capitalize(), m.group(1))
    return " ".join(w.capitalize() for w in name.split("-"))


def folder_of(path):
    return path.rsplit("/", 1)[0] if "/" in path else ""


# ---------------------------------------------------------------------------- text

class Writer:
    """Markdown text from the seeded PRNG `r`."""

    def __init__(self, r):
        self.r = r

    def sentence(self):
        r = self.r
        verb = r.choice(VERBS)
        text = r.choice(TEMPLATES).format(
            Verb=verb.capitalize(), verb=verb, verb2=r.choice(VERBS), adj=r.choice(ADJECTIVES),
            noun=r.choice(NOUNS), noun2=r.choice(NOUNS), noun3=r.choice(NOUNS),
            noun4=r.choice(NOUNS), state=r.choice(STATES), failure=r.choice(FAILURES),
            when=r.choice(WHEN), n=r.choice([2, 3, 5, 10, 15, 30, 50, 100, 250]),
            unit=r.choice(UNITS), person=r.choice(PEOPLE), team=r.choice(TEAMS),
            place=r.choice(PLACES), upgrade=r.choice(["upgrade", "restart", "failover"]),
            path="/etc/%s/%s.toml" % (r.choice(NOUNS), r.choice(NOUNS)))
        text = re.sub(r"\b([Aa]) ([aeiou])", r"\1n \2", text)
        return text[0].upper() + text[1:]

    def decorate(self, sentence, links):
        """Sometimes adds emphasis, inline code, an external link or a wiki link."""
        r = self.r
        x = r.random()
        words = sentence.split(" ")
        i = r.randrange(1, len(words)) if len(words) > 1 else 0
        if x < 0.12 and words[i].isalpha():
            words[i] = "**%s**" % words[i]
        elif x < 0.22 and words[i].isalpha():
            words[i] = "*%s*" % words[i]
        elif x < 0.30:
            words.insert(i, "`%s_%s`" % (r.choice(NOUNS), r.choice(NOUNS)))
        elif x < 0.36:
            return sentence + " The [vendor notes](https://example.com/%s/%s) say the same." % (
                r.choice(NOUNS), r.choice(NOUNS))
        elif x < 0.50 and links:
            return sentence + " " + self.see(links)
        return " ".join(words)

    def see(self, links):
        target = self.r.choice(links)
        if self.r.random() < 0.5:
            return "See [[%s]]." % target
        return "More in [[%s|%s]]." % (title_of(target), target)

    def paragraph(self, links, lo=2, hi=5):
        return " ".join(self.decorate(self.sentence(), links)
                        for _ in range(self.r.randint(lo, hi)))

    def list_item(self, links):
        r = self.r
        text = self.sentence().rstrip(".")
        if links and r.random() < 0.2:
            text += " (see [[%s]])" % r.choice(links)
        return text

    def bullets(self, links):
        r = self.r
        lines = []
        for _ in range(r.randint(3, 7)):
            lines.append("- " + self.list_item(links))
            if r.random() < 0.15:
                lines += ["    - " + self.list_item(()) for _ in range(r.randint(1, 3))]
        return "\n".join(lines)

    def numbered(self, links):
        return "\n".join("%d. %s" % (i, self.list_item(links))
                         for i in range(1, self.r.randint(3, 8) + 1))

    def tasks(self, links):
        r = self.r
        return "\n".join("- [%s] %s" % ("x" if r.random() < 0.4 else " ", self.list_item(links))
                         for _ in range(r.randint(3, 6)))

    def table(self, rows):
        r = self.r
        columns = r.sample(["Name", "Owner", "Region", "Limit", "Status", "Since", "Notes",
                            "Version", "Port", "Size"], r.randint(3, 5))
        lines = ["| " + " | ".join(columns) + " |",
                 "|" + "|".join(r.choice([" --- ", " :--- ", " ---: "]) for _ in columns) + "|"]
        for _ in range(rows):
            cells = []
            for column in columns:
                if column in ("Limit", "Port", "Size"):
                    cells.append(str(r.randint(1, 65535)))
                elif column == "Version":
                    cells.append("`%d.%d.%d`" % (r.randint(0, 4), r.randint(0, 20), r.randint(0, 9)))
                elif column == "Owner":
                    cells.append(r.choice(PEOPLE))
                elif column == "Region":
                    cells.append(r.choice(PLACES))
                elif column == "Status":
                    cells.append(r.choice(ADJECTIVES))
                elif column == "Since":
                    cells.append("%d-%02d-%02d" % (r.randint(2019, 2024), r.randint(1, 12),
                                                   r.randint(1, 28)))
                else:
                    cells.append("%s %s" % (r.choice(ADJECTIVES), r.choice(NOUNS)))
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def code(self):
        r = self.r
        lang = r.choice(CODE_LANGUAGES)
        n, a, b = r.randint(3, 14), r.choice(NOUNS), r.choice(NOUNS)
        if lang == "bash":
            body = ["%s %s --%s %s" % (r.choice(["atlasctl", "harbor", "systemctl", "kubectl"]),
                                       r.choice(VERBS), r.choice(NOUNS), r.choice(NOUNS))
                    for _ in range(n)]
        elif lang == "yaml":
            body = ["%s%s: %s" % ("  " * min(i, 2), r.choice(NOUNS),
                                  r.choice([r.choice(NOUNS), str(r.randint(1, 900)), "true"]))
                    for i in range(n)]
        elif lang == "python":
            body = ["def %s_%s(%s):" % (r.choice(VERBS).replace("-", "_"), a, b),
                    '    """%s"""' % self.sentence()]
            body += ["    %s = %s.%s(%d)" % (r.choice(NOUNS), b, r.choice(NOUNS), r.randint(0, 99))
                     for _ in range(n)]
            body.append("    return %s" % b)
        elif lang == "json":
            body = ["{"] + ['  "%s": %s,' % (r.choice(NOUNS), r.randint(0, 9999))
                           for _ in range(n)] + ['  "%s": "%s"' % (a, b), "}"]
        elif lang == "sql":
            body = ["SELECT %s, count(*) FROM %s" % (a, b),
                    "WHERE %s > %d" % (r.choice(NOUNS), r.randint(1, 100)),
                    "GROUP BY %s ORDER BY 2 DESC LIMIT %d;" % (a, r.randint(5, 50))]
        elif lang == "toml":
            body = ["[%s]" % a] + ["%s = %d" % (r.choice(NOUNS), r.randint(0, 999))
                                   for _ in range(n)]
        else:
            body = ["fn %s_%s(%s: &str) -> Result<(), Error> {" % (
                r.choice(VERBS).replace("-", "_"), a, b)]
            body += ['    let %s = %s.%s()?;' % (r.choice(NOUNS), b, r.choice(NOUNS))
                     for _ in range(n)]
            body += ["    Ok(())", "}"]
        return "```%s\n%s\n```" % (lang, "\n".join(body))

    def quote(self):
        return "> **%s:** %s" % (self.r.choice(["Note", "Warning", "Tip"]), self.sentence())

    def section(self, links, large):
        """One `##` section: a block of the page, revealed by one commit."""
        r = self.r
        heading = "%s %s" % (r.choice(VERBS + ADJECTIVES).capitalize(), r.choice(NOUNS))
        parts = ["## " + heading, self.paragraph(links)]
        for _ in range(r.randint(1, 4 if large else 3)):
            x = r.random()
            if x < 0.28:
                parts.append(self.paragraph(links))
            elif x < 0.42:
                parts.append(self.bullets(links))
            elif x < 0.50:
                parts.append(self.numbered(links))
            elif x < 0.56:
                parts.append(self.tasks(links))
            elif x < 0.68:
                parts.append(self.table(r.randint(15, 45) if large else r.randint(3, 9)))
            elif x < 0.82:
                parts.append(self.code())
            elif x < 0.90:
                parts.append(self.quote())
            else:
                parts.append("### %s\n\n%s" % (r.choice(NOUNS).capitalize(), self.paragraph(links)))
        return "\n\n".join(parts)


# ---------------------------------------------------------------------------- the wiki

class Corpus:
    """Plans the pages and the history, then writes it as a git fast-import stream."""

    def __init__(self, seed, n_pages, n_commits):
        self.r = random.Random(seed)
        self.text = Writer(self.r)
        self.n_pages, self.n_commits = n_pages, n_commits

    # -- names

    def page_name(self, style, k):
        r = self.r
        if style == "service":
            return "%s-%s" % (r.choice(NOUNS), r.choice(["service", "api", "worker", "gateway"]))
        if style == "runbook":
            return r.choice(["%s-the-%s", "%s-a-%s", "%s-%s"]) % (r.choice(VERBS), r.choice(NOUNS))
        if style in ("meeting", "postmortem"):
            t = START + k * 5 * 86400 + r.randint(0, 3) * 86400
            day = time.strftime("%Y-%m-%d", time.gmtime(t))
            if style == "meeting":
                return "%s-%s" % (day, r.choice(MEETING_KINDS))
            return "%s-%s-%s" % (day, r.choice(NOUNS), r.choice(["outage", "slowdown", "data-loss",
                                                                 "misconfiguration", "overload"]))
        if style == "decision":
            return "adr-%04d-%s-%s" % (k + 1, r.choice(VERBS), r.choice(NOUNS))
        if style == "release":
            return "v1-%d-%d" % (k // 3, k % 3)
        if style == "command":
            return "atlasctl-%s" % r.choice(VERBS + NOUNS)
        return "-".join(r.choice([[r.choice(NOUNS)], [r.choice(NOUNS), r.choice(NOUNS)],
                                  [r.choice(ADJECTIVES), r.choice(NOUNS)],
                                  [r.choice(VERBS), r.choice(NOUNS), r.choice(NOUNS)]]))

    def plan_paths(self):
        fixed = ["home"] + FOLDER_PAGES
        used = set(fixed) | {f for f, _, _ in FOLDERS} | {"drafts", "sandbox"}
        rest = self.n_pages - len(fixed)
        counts = [int(share * rest) for _, share, _ in FOLDERS]
        for i in range(rest - sum(counts)):
            counts[i % len(counts)] += 1
        paths = list(fixed)
        for (folder, _, style), count in zip(FOLDERS, counts):
            for k in range(count):
                while True:
                    name = self.page_name(style, k)
                    path = folder + "/" + name if folder else name
                    if path not in used:
                        break
                used.add(path)
                paths.append(path)
        return paths

    # -- content

    def links_for(self, path):
        """Pages a page links to: its siblings, its folder page, and a few anywhere."""
        r = self.r
        if path == "home":
            return [p for p in self.paths if p in FOLDER_PAGES or ("/" not in p and p != "home")]
        folder = folder_of(path)
        siblings = [p for p in self.paths if folder_of(p) == folder and p != path]
        links = r.sample(siblings, min(4, len(siblings))) + r.sample(self.paths, 6)
        if folder in self.paths:
            links.append(folder)
        return [p for p in links if p != path]

    def blocks_for(self, path, size):
        """The page as a list of blocks: the title and introduction, then sections."""
        links = self.links[path]
        blocks = ["# %s\n\n%s" % (title_of(path), self.text.paragraph(links, 1, 3))]
        if path == "home":
            blocks.append("## Where things are\n\n" + "\n".join(
                "- [[%s|%s]]" % (title_of(p), p) for p in links))
        while sum(len(b) + 2 for b in blocks) < size:
            blocks.append(self.text.section(links, size > 15000))
        return blocks

    def plan_sizes(self):
        r = self.r
        sizes = {p: max(350, min(12000, int(r.lognormvariate(math.log(2400), 0.65))))
                 for p in self.paths}
        for p in r.sample([p for p in self.paths if p not in ("home", self.hot)],
                          max(2, self.n_pages // 40)):
            sizes[p] = r.randint(20000, 45000)
        sizes["home"], sizes[self.hot] = 2500, 5000
        return sizes

    # -- history

    def plan_events(self):
        """Every commit as (time key, order, kind, payload), sorted: exactly n_commits."""
        r = self.r
        others = [p for p in self.paths if p != "home"]
        r.shuffle(others)
        groups, i = [["home"]], 0
        while i < len(others):
            k = 1 if r.random() < 0.9 else r.randint(2, 4)
            groups.append(others[i:i + k])
            i += k
        keys = [0.0] + sorted(r.random() * 0.85 for _ in groups[1:])
        created = {p: key for key, group in zip(keys, groups) for p in group}
        events = [(key, "create", group) for key, group in zip(keys, groups)]
        for p in self.renamed:
            c = created[p]
            events.append((c + (1 - c) * r.uniform(0.05, 0.4), "rename", p))
        for n in range(SCRATCH):
            a = r.uniform(0.05, 0.9)
            name = "sandbox/scratch-%d-%s" % (n + 1, r.choice(NOUNS))
            events += [(a, "scratch", name), (a + r.uniform(0.001, 1 - a), "unscratch", name)]
        n_edits = self.n_commits - len(events)
        hot_edits = min(HOT_REVISIONS - 1, n_edits // 4)
        if n_edits < hot_edits:
            raise SystemExit("%d commits are too few for %d pages" % (self.n_commits, self.n_pages))
        # Zipf-like popularity over the other pages, in a shuffled order
        popular = [p for p in self.paths if p != self.hot]
        r.shuffle(popular)
        weights = [1 / (rank + 1) ** 0.9 for rank in range(len(popular))]
        self.edits = {p: 0 for p in self.paths}
        for n in range(n_edits):
            if n < hot_edits:
                group = [self.hot]
            else:
                group = []
                for _ in range(1 if r.random() < 0.92 else 2):
                    p = r.choices(popular, weights)[0]
                    if p not in group:
                        group.append(p)
            c = max(created[p] for p in group)
            events.append((c + (1 - c) * r.random() ** 0.7 + 1e-9, "edit", group))
            for p in group:
                self.edits[p] += 1
        order = sorted(range(len(events)), key=lambda j: (events[j][0], j))
        return [events[j][1:] for j in order]

    def tweak(self, blocks, links):
        """Changes one block of a page a little (the content always changes); returns what
        was done, for the commit message."""
        r = self.r
        i = r.randrange(len(blocks))
        lines = blocks[i].split("\n")
        prose, fenced = [], False
        for k, line in enumerate(lines):
            if line.startswith("```"):
                fenced = not fenced
            elif not fenced and line[:1].isupper():
                prose.append(k)
        nouns = [(k, j) for k in prose for j, w in enumerate(lines[k].split(" ")) if w in NOUN_SET]
        x = r.random()
        if nouns and x < 0.35:
            k, j = r.choice(nouns)
            words = lines[k].split(" ")
            words[j] = r.choice([w for w in NOUNS if w != words[j]])
            lines[k] = " ".join(words)
            done = "Reword"
        elif prose and x < 0.65:
            lines[r.choice(prose)] += " " + self.text.sentence()
            done = "Expand"
        elif x < 0.85 or not links:
            lines += ["", "- " + self.text.list_item(())]
            done = "Add a note to"
        else:
            lines += ["", self.text.see(links)]
            done = "Link from"
        blocks[i] = "\n".join(lines)
        return done

    def build(self):
        """Plans everything and returns the fast-import stream."""
        r = self.r
        self.paths = self.plan_paths()
        plain = [p for p in self.paths if p != "home" and p not in FOLDER_PAGES]
        self.hot = r.choice([p for p in plain if "/" not in p])
        self.renamed = sorted(r.sample([p for p in plain if p != self.hot], RENAMED))
        self.links = {p: self.links_for(p) for p in self.paths}
        sizes = self.plan_sizes()
        final = {p: self.blocks_for(p, sizes[p]) for p in self.paths}
        self.rare = sorted(r.sample([p for p in plain if p != self.hot], RARE_PAGES))
        for p in self.rare:
            final[p].insert(1, "> **Note:** the %s %s is kept here, and nowhere else." % (
                RARE_WORD, r.choice(NOUNS)))
        events = self.plan_events()

        self.state = {}
        self.commits = {p: 0 for p in self.paths}
        where = {p: p for p in self.paths}
        for n, p in enumerate(self.renamed):
            where[p] = "drafts/%s-%d" % (p.rsplit("/", 1)[-1], n + 1)
        shown = {}
        done = {p: 0 for p in self.paths}
        out, t = [], START
        for mark, (kind, payload) in enumerate(events, start=1):
            t += int(r.expovariate(1 / (5 * 3600))) + 120
            ops = []
            if kind == "create":
                for p in payload:
                    shown[p] = max(1, len(final[p]) - (self.edits[p] + 1) // 2)
                    self.state[p] = final[p][:shown[p]]
                    ops.append(("M", where[p], self.content(p)))
                    self.commits[p] += 1
                message = ("Create %s" % title_of(payload[0]) if len(payload) == 1
                           else "Import %d pages from the old wiki" % len(payload))
            elif kind == "rename":
                ops.append(("R", where[payload], payload))
                message = "Move %s out of drafts" % title_of(payload)
                where[payload] = payload
                self.commits[payload] += 1
            elif kind == "scratch":
                ops.append(("M", payload, "# Scratch\n\n%s\n" % self.text.paragraph((), 1, 2)))
                message = "Try something out"
            elif kind == "unscratch":
                ops.append(("D", payload))
                message = "Remove the scratch page"
            else:
                for p in payload:
                    left_blocks = len(final[p]) - shown[p]
                    left_edits = self.edits[p] - done[p]
                    if left_blocks and (left_blocks >= left_edits or r.random() < 0.5):
                        self.state[p].append(final[p][shown[p]])
                        shown[p] += 1
                        what = "Add a section to"
                    else:
                        what = self.tweak(self.state[p], self.links[p])
                    done[p] += 1
                    self.commits[p] += 1
                    ops.append(("M", where[p], self.content(p)))
                message = ("%s %s" % (what, title_of(payload[0])) if len(payload) == 1
                           else "Update " + " and ".join(title_of(p) for p in payload))
            out.append(self.commit(mark, t, message, ops))
        return b"".join(out)

    def content(self, path):
        return "\n\n".join(self.state[path]) + "\n"

    def commit(self, mark, t, message, ops):
        name, email, tz = self.r.choice(AUTHORS)
        who = "%s <%s> %d %s" % (name, email, t, tz)
        lines = ["commit refs/heads/main", "mark :%d" % mark, "author " + who, "committer " + who]
        chunks = [("\n".join(lines) + "\n").encode()]
        chunks.append(data(message + "\n"))
        if mark > 1:
            chunks.append(b"from :%d\n" % (mark - 1))
        for op in ops:
            if op[0] == "M":
                chunks.append(("M 100644 inline %s.md\n" % op[1]).encode())
                chunks.append(data(op[2]))
            elif op[0] == "R":
                chunks.append(("R %s.md %s.md\n" % (op[1], op[2])).encode())
            else:
                chunks.append(("D %s.md\n" % op[1]).encode())
        chunks.append(b"\n")
        return b"".join(chunks)


def data(text):
    raw = text.encode("utf-8")
    return b"data %d\n%s\n" % (len(raw), raw)


# ---------------------------------------------------------------------------- output

def git(repo, *args, stdin=None):
    return subprocess.run(["git", "-C", repo, *args], input=stdin, check=True,
                          stdout=subprocess.PIPE).stdout.decode().strip()


def write_repo(out, stream):
    os.makedirs(out)
    git(out, "init", "-q")
    git(out, "symbolic-ref", "HEAD", "refs/heads/main")
    git(out, "fast-import", "--quiet", "--done", stdin=stream + b"done\n")
    git(out, "-c", "core.autocrlf=false", "reset", "-q", "--hard", "main")
    return git(out, "rev-parse", "HEAD")


def check(out, corpus):
    """The repository is what was planned: commit count, pages, contents, followed renames."""
    assert int(git(out, "rev-list", "--count", "HEAD")) == corpus.n_commits
    files = git(out, "ls-files").split("\n")
    assert sorted(files) == sorted(p + ".md" for p in corpus.paths), "pages at HEAD"
    for p in corpus.paths:
        with open(os.path.join(out, p + ".md"), encoding="utf-8") as f:
            assert f.read() == corpus.content(p), p
    for p in corpus.renamed:
        follow = git(out, "log", "--follow", "--format=%H", "--", p + ".md").split("\n")
        assert len(follow) == corpus.commits[p], "git log --follow of %s" % p


def words_of(text):
    return set(re.findall(r"[a-z0-9]+", text.lower()))


def manifest(corpus, head, seed):
    pages = [{"path": p, "bytes": len(corpus.content(p).encode()), "commits": corpus.commits[p]}
             for p in sorted(corpus.paths)]
    size = {x["path"]: x["bytes"] for x in pages}
    commits = {x["path"]: x["commits"] for x in pages}
    candidates = [p for p in sorted(size) if p not in ("home", corpus.hot)]
    by_size = sorted(size.values())

    def nearest(value, of, pool, k):
        return sorted(pool, key=lambda p: (abs(of[p] - value), p))[:k]

    median_size = by_size[len(by_size) // 2]
    median_commits = sorted(commits.values())[len(commits) // 2]
    words = {p: words_of(corpus.content(p)) for p in corpus.paths}
    on_pages = {w: sum(w in words[p] for p in corpus.paths) for w in NOUNS if w.isalpha()}
    common = min(sorted(on_pages), key=lambda w: abs(on_pages[w] - COMMON_SHARE * len(pages)))
    rare = [p for p in corpus.paths if RARE_WORD in words[p]]
    assert sorted(rare) == corpus.rare, "the rare word is on exactly the chosen pages"
    hot = max(sorted(commits), key=lambda p: commits[p])
    assert hot == corpus.hot
    targets = {
        "home": "home",
        "small": nearest(by_size[len(by_size) // 10], size, candidates, 1)[0],
        "median": nearest(median_size, size, candidates, 4),
        "large": max(candidates, key=lambda p: size[p]),
        "nested": nearest(median_size, size, [p for p in candidates if p.count("/") == 3], 1)[0],
        "history_hot": hot,
        "history_typical": nearest(median_commits, commits, candidates, 3),
        "search_common": common,
        "search_common_pages": on_pages[common],
        "search_rare": RARE_WORD,
        "search_rare_pages": len(rare),
        "renamed": corpus.renamed,
    }
    return {"generator": "bench/corpus.py", "seed": seed, "head": head,
            "commits": corpus.n_commits, "page_count": len(pages),
            "bytes_total": sum(by_size), "bytes_median": median_size,
            "targets": targets, "pages": pages}


def make(out, manifest_path=None, pages=500, commits=2000, seed=42):
    """Writes the corpus repository `out` (and its manifest); returns the manifest."""
    corpus = Corpus(seed, pages, commits)
    head = write_repo(out, corpus.build())
    check(out, corpus)
    result = manifest(corpus, head, seed)
    if manifest_path:
        with open(manifest_path, "w") as f:
            json.dump(result, f, indent=1)
    return result


def ensure(workdir, repo=None, manifest_path=None):
    """The corpus a benchmark runs on: `repo` and its manifest when given, else the default
    corpus, generated afresh into WORKDIR/corpus-repo (a few seconds, always the same HEAD)."""
    if repo:
        if not manifest_path:
            raise SystemExit("--repo needs --manifest")
        with open(manifest_path) as f:
            return os.path.abspath(repo), json.load(f)
    repo = os.path.join(workdir, "corpus-repo")
    shutil.rmtree(repo, ignore_errors=True)
    return repo, make(repo, os.path.join(workdir, "corpus-manifest.json"))


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="the repository to write (must not exist)")
    p.add_argument("--manifest", help="where to write the JSON manifest")
    p.add_argument("--pages", type=int, default=500)
    p.add_argument("--commits", type=int, default=2000)
    p.add_argument("--seed", type=int, default=42)
    a = p.parse_args()
    if os.path.exists(a.out):
        sys.exit("%s exists; remove it first" % a.out)
    print(make(a.out, a.manifest, a.pages, a.commits, a.seed)["head"])


if __name__ == "__main__":
    main()

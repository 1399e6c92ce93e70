"""What the wiki keeps of each file `wikimem bootstrap` reads: a README's opening, a doc's
title and first paragraph, an ADR's sections and links, a rule file's items, a manifest's
name and dependencies, a module's header. Pure functions of a file's text, so the raw log
stores facts, not whole files. (Which files, and in which role: `layout`.)
"""

from __future__ import annotations

import json
import posixpath
import re
import tomllib

from wikimem.repo.layout import Planned

# Items kept of one rule file; past it the page says where it stops (`stopped_at`).
MAX_RULE_ITEMS = 2000
# Bump when rule_facts keeps more or other facts: files recorded before are read again.
RULES_EXTRACT = 2
PARAGRAPH = 600


def extract(item: Planned, raw: bytes) -> dict:
    """What the wiki keeps of one file (see the module docstring)."""
    text = raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n")
    data: dict = {"path": item.path, "role": item.role, "blob": item.blob}
    if item.role == "readme":
        data.update(readme_facts(text, item.path))
    elif item.role == "docs":
        data.update(doc_facts(text, item.path))
    elif item.role == "decision":
        data.update(adr_facts(text, item.path))
    elif item.role == "rules":
        data.update(rule_facts(text, item.path))
    elif item.role == "manifest":
        data.update(manifest_facts(text, item.path))
    else:
        data["module"] = item.module
        if item.name:
            data["name"] = item.name
        data["text"] = header_text(text, item.path, member=item.role == "member")
    return data


_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
_SETEXT = re.compile(r"^(=+|-+)\s*$")
_FENCE = re.compile(r"^\s*(```+|~~~+)")
_BULLET = re.compile(r"^(\s*)(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?(.*)$")
_NOISE = re.compile(r"^\s*(?:<|!\[|\[!\[|\[!\w+\]|\|)")


def _collapse(text: str, limit: int = PARAGRAPH) -> str:
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    return (cut[: cut.rfind(" ")] if " " in cut[limit // 2:] else cut).rstrip(",;:") + " …"


def _strip_frontmatter(text: str) -> tuple[dict, str, int]:
    """Simple `key: value` YAML frontmatter (no nesting), the rest, and its line count."""
    if not text.startswith("---\n"):
        return {}, text, 0
    end = text.find("\n---", 4)
    if end < 0:
        return {}, text, 0
    meta = {}
    for line in text[4:end].splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip() and not key.startswith((" ", "\t", "-")):
            meta[key.strip().lower()] = value.strip().strip("'\"")
    rest_start = text.find("\n", end + 4)
    rest = text[rest_start + 1:] if rest_start >= 0 else ""
    return meta, rest, text[:rest_start + 1].count("\n") if rest_start >= 0 else 0


def blocks(text: str) -> list[tuple[int, str, str]]:
    """Markdown reduced to (line, kind, text) blocks: heading, para, bullet, code."""
    out: list[tuple[int, str, str]] = []
    lines = text.split("\n")
    i, para, para_line = 0, [], 0

    def flush():
        nonlocal para
        if para:
            out.append((para_line, "para", " ".join(s.strip() for s in para)))
            para = []

    while i < len(lines):
        line = lines[i]
        n = i + 1
        fence = _FENCE.match(line)
        if fence:
            flush()
            mark = fence.group(1)[:3]
            body = []
            i += 1
            while i < len(lines) and not lines[i].strip().startswith(mark):
                body.append(lines[i])
                i += 1
            out.append((n, "code", "\n".join(body)))
            i += 1
            continue
        heading = _HEADING.match(line)
        if heading:
            flush()
            out.append((n, f"h{len(heading.group(1))}", heading.group(2)))
        elif para and len(para) == 1 and _SETEXT.match(line) and not _BULLET.match(para[0]):
            out.append((para_line, "h1" if line.strip()[0] == "=" else "h2", para[0].strip()))
            para = []
        elif not line.strip():
            flush()
        elif line.lstrip().startswith("<!--"):
            flush()
            while i < len(lines) and "-->" not in lines[i]:
                i += 1
        elif bullet := _BULLET.match(line):
            flush()
            depth = len(bullet.group(1).expandtabs(4)) // 2
            item = [bullet.group(2)]
            while (i + 1 < len(lines) and lines[i + 1].strip()
                   and not _BULLET.match(lines[i + 1]) and not _HEADING.match(lines[i + 1])
                   and not _FENCE.match(lines[i + 1])
                   and lines[i + 1].startswith((" ", "\t"))):
                i += 1
                item.append(lines[i].strip())
            out.append((n, f"bullet{min(depth, 3)}", " ".join(item)))
        else:
            if not para:
                para_line = n
            para.append(line)
        i += 1
    flush()
    return out


def _is_prose(text: str) -> bool:
    return bool(text.strip()) and not _NOISE.match(text) and len(text.split()) >= 4


def readme_facts(text: str, path: str) -> dict:
    """The README's title, its first prose paragraphs and its section headings."""
    title, intro, sections = "", [], []
    for _, kind, value in blocks(text):
        if kind == "h1" and not title:
            title = _collapse(value, 200)
        elif kind.startswith("h"):
            if len(sections) < 30:
                sections.append(_collapse(value, 120))
        elif kind == "para" and not sections and len(intro) < 3 and _is_prose(value):
            intro.append(_collapse(value))
    if not intro:  # a README whose prose starts under a heading
        for _, kind, value in blocks(text):
            if kind == "para" and _is_prose(value):
                intro.append(_collapse(value))
                break
    return {"title": title or path, "intro": intro, "sections": sections}


def doc_facts(text: str, path: str) -> dict:
    meta, body, _ = _strip_frontmatter(text)
    title, first, headings = meta.get("title", ""), "", []
    for _, kind, value in blocks(body):
        if kind == "h1" and not title:
            title = _collapse(value, 200)
        elif kind.startswith("h") and len(headings) < 20:
            headings.append(_collapse(value, 120))
        elif kind == "para" and not first and _is_prose(value):
            first = _collapse(value, 400)
    return {"title": title or posixpath.basename(path), "summary": first, "headings": headings}


# ADRs ---------------------------------------------------------------------------------------

_ADR_NUMBER = re.compile(r"^(?:adr[-_ ]?)?(\d{1,5})(?=[-_ .]|$)", re.I)
_ADR_REF = re.compile(r"\b(?:ADR|decision)[-_ #]*0*(\d{1,5})\b", re.I)
_MD_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)[^)]*\)")
_TITLE_PREFIX = re.compile(r"^(?:ADR[-_ ]?\d+\s*[:.\-–—]?\s*|\d+\s*[.:\-–—]\s*)", re.I)
_FIELD_LINE = re.compile(r"^\s*(?:[-*]\s*)?\**(status|date|deciders|decision-makers)\**\s*:\s*"
                         r"\**\s*(.+?)\s*$", re.I)
_LINK_LINE = re.compile(r"^\W*(?:supersedes|superseded by|replaces|replaced by)\b", re.I)
_SECTIONS = {
    "status": "status",
    "context": "context", "context and problem statement": "context",
    "problem statement": "context", "problem": "context", "background": "context",
    "decision": "decision", "decision outcome": "decision", "outcome": "decision",
    "decision drivers": "drivers", "drivers": "drivers",
    "considered options": "options", "options considered": "options", "options": "options",
    "alternatives": "options", "alternatives considered": "options",
    "consequences": "consequences", "positive consequences": "consequences",
    "negative consequences": "consequences", "implications": "consequences",
}


def adr_facts(text: str, path: str) -> dict:
    """An ADR in MADR or Nygard form: number, title, status, date, sections, links."""
    meta, body, _ = _strip_frontmatter(text)
    stem = posixpath.basename(path).rsplit(".", 1)[0]
    number = _ADR_NUMBER.match(stem)
    facts: dict = {"number": int(number.group(1)) if number else None, "title": "",
                   "status": meta.get("status", ""), "date": meta.get("date", "")}
    parts: dict[str, list[str]] = {}
    links: list[str] = []  # "Supersedes ..." / "Superseded by ..." lines anywhere
    current = None
    for _, kind, value in blocks(body):
        if kind in ("para", "bullet0") and _LINK_LINE.match(value):
            links.append(value)
        if kind == "h1" and not facts["title"]:
            facts["title"] = _TITLE_PREFIX.sub("", value).strip() or value
            current = None
            continue
        if kind.startswith("h"):
            current = _SECTIONS.get(value.strip().strip(":").lower())
            if current is None and kind in ("h2", "h3") and parts.get("decision") is not None \
                    and value.lower().startswith(("positive", "negative", "pros", "cons")):
                current = "consequences"
            continue
        field_line = _FIELD_LINE.match(value) if kind in ("para", "bullet0") else None
        if field_line and current in (None, "status"):
            key = field_line.group(1).lower()
            if key == "status" and not facts["status"]:
                facts["status"] = field_line.group(2)
            elif key == "date" and not facts["date"]:
                facts["date"] = field_line.group(2)
            continue
        if current:
            shown = value if kind == "para" else (
                f"```\n{value}\n```" if kind == "code" else f"- {value}")
            parts.setdefault(current, []).append(shown)
    status_text = " ".join(parts.pop("status", [])) or facts["status"]
    facts["status"] = _collapse(status_text.lstrip("- "), 300)
    for key in ("context", "decision", "drivers", "options", "consequences"):
        facts[key] = _cap_block("\n".join(parts.get(key, [])), 1500)
    facts["title"] = _collapse(facts["title"] or stem.replace("-", " "), 200)
    date = re.search(r"\d{4}-\d{2}-\d{2}", facts["date"] or "")
    facts["date"] = date.group(0) if date else ""
    linked = " ".join([status_text, *links])
    facts["superseded_by"] = _refs(linked, "superseded by", path)
    facts["supersedes"] = list(dict.fromkeys(_refs(linked, "supersedes", path) + _refs(
        meta.get("supersedes", ""), "", path)))
    return facts


def _cap_block(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " …"


def _refs(text: str, after: str, path: str) -> list[str]:
    """ADR references in `text` after each `after` phrase: `path:<p>` or `number:<n>`.

    `after` is "supersedes" (also "replaces") or "superseded by" (also "replaced by"); an
    empty `after` reads the whole text.
    """
    phrases = {"supersedes": r"supersedes|replaces", "superseded by": r"superseded by|replaced by",
               "": None}[after]
    if phrases is None:
        tails = [text]
    else:
        tails = []
        for m in re.finditer(rf"\b(?:{phrases})\b", text, re.I):
            tail = text[m.end():]
            stop = re.search(r"\b(?:supersedes|superseded by|replaces|replaced by|amends|"
                             r"amended by)\b", tail, re.I)
            tails.append(tail[: stop.start()] if stop else tail)
    refs = []
    for tail in tails:
        for _, target in _MD_LINK.findall(tail):
            if "://" not in target and target.lower().endswith(".md"):
                resolved = posixpath.normpath(posixpath.join(posixpath.dirname(path),
                                                             target.split("#")[0]))
                refs.append(f"path:{resolved}")
        plain = _MD_LINK.sub(lambda m: m.group(1), tail)
        found = [f"number:{int(n)}" for n in _ADR_REF.findall(plain)]
        if not found:
            bare = re.match(r"\s*:?\s*#?0*(\d{1,5})\b", plain)
            found = [f"number:{int(bare.group(1))}"] if bare else []
        refs += found
    return list(dict.fromkeys(refs))


# Rules ----------------------------------------------------------------------------------------


def rule_facts(text: str, path: str) -> dict:
    """The items of an agent rule file: bullets, paragraphs and code blocks, with lines.

    All of them, up to MAX_RULE_ITEMS; past that, `items_total` and `stopped_at` (the line of
    the first item left out) say what the page does not quote.
    """
    meta, body, offset = _strip_frontmatter(text)
    scope = {k: meta[k] for k in ("description", "globs", "alwaysapply") if meta.get(k)}
    items, heading = [], ""
    total, stopped_at = 0, 0
    for line, kind, value in blocks(body):
        if kind.startswith("h"):
            heading = _collapse(value, 120)
            continue
        item = {"line": line + offset, "heading": heading}
        if kind == "code":
            if not value.strip():
                continue
            item["code"] = _cap_block(value, 1200)
        elif kind.startswith("bullet"):
            item["text"] = _collapse(value, 1000)
            item["depth"] = int(kind[-1])
        elif value.strip():
            item["text"] = _collapse(value, 1000)
        else:
            continue
        total += 1
        if len(items) >= MAX_RULE_ITEMS:
            stopped_at = stopped_at or item["line"]
            continue
        items.append(item)
    facts = {"scope": scope, "items": items, "extract": RULES_EXTRACT}
    if stopped_at:
        facts.update(items_total=total, stopped_at=stopped_at)
    return facts


# Manifests ------------------------------------------------------------------------------------

_GRADLE_DEP = re.compile(r"""(?:implementation|api)\s*\(?\s*["']([^"':]+:[^"':]+)""")
_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def _names(values, limit: int = 60) -> list[str]:
    out = []
    for v in values or []:
        m = _REQ_NAME.match(str(v))
        if m and m.group(1) not in out:
            out.append(m.group(1))
    return out[:limit]


def manifest_facts(text: str, path: str) -> dict:
    """Name, description, version, language, dependencies and entry points of a manifest."""
    name = posixpath.basename(path).lower()
    try:
        if name == "pyproject.toml":
            return _pyproject(tomllib.loads(text))
        if name == "package.json":
            return _package_json(json.loads(text))
        if name == "cargo.toml":
            return _cargo(tomllib.loads(text))
        if name == "go.mod":
            return _go_mod(text)
        if name == "composer.json":
            d = json.loads(text)
            return {"kind": "composer.json", "language": "PHP", "name": str(d.get("name", "")),
                    "description": str(d.get("description", "")),
                    "version": str(d.get("version", "")),
                    "dependencies": sorted(d.get("require", {}))[:60], "entry_points": []}
        if name == "gemfile":
            gems = re.findall(r"^\s*gem\s+['\"]([^'\"]+)", text, re.M)
            return {"kind": "Gemfile", "language": "Ruby", "name": "", "description": "",
                    "version": "", "dependencies": gems[:60], "entry_points": []}
        if name == "pom.xml":
            def tag(t: str) -> str:
                m = re.search(rf"<project\b.*?<{t}>([^<]+)</{t}>", text, re.S)
                return m.group(1).strip() if m else ""
            deps = re.findall(r"<dependency>.*?<artifactId>([^<]+)</artifactId>", text, re.S)
            return {"kind": "pom.xml", "language": "Java", "name": tag("artifactId"),
                    "description": tag("description"), "version": tag("version"),
                    "dependencies": deps[:60], "entry_points": []}
        if name.startswith("build.gradle"):
            return {"kind": posixpath.basename(path), "language":
                    "Kotlin" if name.endswith(".kts") else "Java", "name": "",
                    "description": "", "version": "", "entry_points": [],
                    "dependencies": _GRADLE_DEP.findall(text)[:60]}
    except (ValueError, tomllib.TOMLDecodeError, AttributeError, TypeError) as exc:
        return {"kind": posixpath.basename(path), "error": f"could not parse: {exc}"[:200]}
    return {"kind": posixpath.basename(path)}


def _pyproject(d: dict) -> dict:
    project = d.get("project") or {}
    poetry = (d.get("tool") or {}).get("poetry") or {}
    scripts = {**(poetry.get("scripts") or {}), **(project.get("scripts") or {}),
               **(project.get("gui-scripts") or {})}
    deps = project.get("dependencies") or [k for k in (poetry.get("dependencies") or {})
                                           if k.lower() != "python"]
    return {
        "kind": "pyproject.toml", "language": "Python",
        "name": str(project.get("name") or poetry.get("name") or ""),
        "description": str(project.get("description") or poetry.get("description") or ""),
        "version": str(project.get("version") or poetry.get("version") or ""),
        "requires": f"Python {project['requires-python']}" if project.get("requires-python")
        else "",
        "dependencies": _names(deps),
        "extras": sorted(project.get("optional-dependencies") or {})[:20],
        "entry_points": [f"{k} = {v}" for k, v in sorted(scripts.items())][:20],
    }


def _package_json(d: dict) -> dict:
    deps = sorted(d.get("dependencies") or {})
    dev = sorted(d.get("devDependencies") or {})
    bins = d.get("bin")
    entry = ([f"{k} = {v}" for k, v in sorted(bins.items())] if isinstance(bins, dict)
             else [f"{d.get('name', 'bin')} = {bins}"] if isinstance(bins, str) else [])
    if isinstance(d.get("main"), str):
        entry.append(f"main = {d['main']}")
    ts = "typescript" in deps or "typescript" in dev
    return {
        "kind": "package.json", "language": "TypeScript" if ts else "JavaScript",
        "name": str(d.get("name", "")), "description": str(d.get("description", "")),
        "version": str(d.get("version", "")),
        "requires": f"node {d['engines']['node']}" if isinstance(d.get("engines"), dict)
        and d["engines"].get("node") else "",
        "dependencies": deps[:60], "dev_dependencies": dev[:40],
        "scripts": sorted(d.get("scripts") or {})[:20], "entry_points": entry[:20],
    }


def _cargo(d: dict) -> dict:
    package = d.get("package") or {}
    bins = [b.get("name", "") for b in d.get("bin") or [] if isinstance(b, dict)]
    return {
        "kind": "Cargo.toml", "language": "Rust", "name": str(package.get("name", "")),
        "description": str(package.get("description", "")),
        "version": str(package.get("version", "")),
        "requires": f"edition {package['edition']}" if package.get("edition") else "",
        "dependencies": sorted(d.get("dependencies") or {})[:60],
        "workspace": list((d.get("workspace") or {}).get("members") or [])[:40],
        "entry_points": [f"bin {b}" for b in bins if b][:20],
    }


def _go_mod(text: str) -> dict:
    module = re.search(r"^module\s+(\S+)", text, re.M)
    go = re.search(r"^go\s+(\S+)", text, re.M)
    requires = re.findall(r"^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]+/\S+)\s+v\S+", text, re.M)
    return {"kind": "go.mod", "language": "Go", "name": module.group(1) if module else "",
            "description": "", "version": "", "requires": f"go {go.group(1)}" if go else "",
            "dependencies": requires[:60], "entry_points": []}


# Module headers -----------------------------------------------------------------------------

_PY_DOC = re.compile(r'\A(?:[ \t]*(?:#[^\n]*)?\n)*[ \t]*[rRuU]?("""|\'\'\')(.*?)\1', re.S)
_LICENSE = re.compile(r"copyright|spdx-license|licensed under|all rights reserved", re.I)


def header_text(text: str, path: str, *, member: bool = False) -> str:
    """What a file says about itself: a docstring, a top comment, a README's first paragraph."""
    name = posixpath.basename(path).lower()
    limit = 200 if member else PARAGRAPH
    if name.endswith((".md", ".rst", ".txt")) or name == "readme":
        facts = readme_facts(text, path)
        return _first(facts["intro"][0] if facts["intro"] else facts["title"], limit, member)
    if name in ("package.json", "cargo.toml", "pyproject.toml"):
        facts = manifest_facts(text, path)
        return _collapse(str(facts.get("description", "")), limit)
    if name.endswith(".py"):
        m = _PY_DOC.match(text)
        if m:
            return _first(_paragraph(m.group(2)), limit, member)
    return _first(_paragraph(_top_comment(text)), limit, member)


def _first(text: str, limit: int, member: bool) -> str:
    text = " ".join(text.split())
    if member:
        sentence = re.split(r"(?<=[.!?])\s", text, maxsplit=1)[0]
        text = sentence
    return _collapse(text, limit)


def _paragraph(text: str) -> str:
    for para in re.split(r"\n\s*\n", text.strip()):
        if para.strip():
            return para
    return ""


def _top_comment(text: str) -> str:
    """The first comment block at the top of a file that is not a licence header."""
    lines = text.split("\n")
    i = 0
    if lines and lines[0].startswith("#!"):
        i = 1
    while i < len(lines):
        while i < len(lines) and (not lines[i].strip() or lines[i].strip() in
                                  ('"use strict";', "'use strict';")):
            i += 1
        if i >= len(lines):
            return ""
        line = lines[i].strip()
        block: list[str] = []
        if line.startswith("/*"):
            while i < len(lines):
                part = lines[i].strip()
                block.append(part)
                i += 1
                if "*/" in part:
                    break
            cleaned = [re.sub(r"^/\*+!?|\*+/$|^\*+", "", b).strip() for b in block]
        elif line.startswith(("//", "#", "--")) and not line.startswith("#!["):
            mark = "//" if line.startswith("//") else line[:2] if line.startswith("--") else "#"
            while i < len(lines) and lines[i].strip().startswith(mark):
                block.append(lines[i].strip())
                i += 1
            cleaned = [re.sub(r"^(?://[/!]?|#+|--)\s?", "", b) for b in block]
        else:
            return ""
        joined = "\n".join(cleaned).strip()
        if joined and not _LICENSE.search(joined) and not joined.startswith(("-*-", "eslint",
                                                                              "@ts-", "go:")):
            return joined
    return ""

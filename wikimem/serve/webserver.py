"""`wikimem web`: the wiki over HTTP, read-only, with the standard library's server.

`WebApp.handle(method, target, headers)` answers one request with (status, headers, body) and
is what the tests call; `serve` runs it behind `ThreadingHTTPServer`. Safety, in the order a
request meets it:

* the Host header must name this server (a loopback name, the bound address, an IP literal on
  a wildcard bind, or a name given with --allow-host): a DNS-rebinding page gets 400;
* with a token, every request carries it (`Authorization: Bearer T`, or HTTP Basic with T as
  the password, which browsers prompt for); binding beyond loopback without one is refused;
* only GET and HEAD exist (nothing changes anything);
* the path is split on `/` before percent-decoding, and a segment that decodes to `/`, `\\`, a
  NUL, `.`, `..` or a dot-name is a 404; a page is served only when it is in the wiki's page
  list (`wiki_pages`: no dot-folders, no symbolic links), old versions come from git only, and
  static files from a fixed table;
* every response carries a Content-Security-Policy that allows no script at all, with
  nosniff, no-referrer and no framing.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
import json
import socket
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote

from wikimem import datafiles
from wikimem.errors import WikimemError
from wikimem.project import Project
from wikimem.serve.webrender import esc
from wikimem.serve.webviews import NotFound, ProjectSite, Rendered, Urls, layout

CSP = ("default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
       "base-uri 'none'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cache-Control": "no-store",
}
STATIC = {"web.css": "text/css; charset=utf-8"}
LOOPBACK_NAMES = {"localhost", "localhost.", "127.0.0.1", "::1"}

Response = tuple[int, dict[str, str], bytes]


def is_loopback(host: str) -> bool:
    """True for an address only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve beyond this machine without a token."""
    if not is_loopback(host) and not token:
        raise WikimemError(
            f"Serving on {host} would let other machines read this wiki: give --token "
            "SECRET (clients then send `Authorization: Bearer SECRET`, or a browser logs in "
            "with any user name and SECRET as the password), or serve on 127.0.0.1.")


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class WebApp:
    """The read-only web application over the registered projects."""

    def __init__(self, projects: Callable[[], list[Project]], *, host: str = "127.0.0.1",
                 token: str | None = None, allow_hosts: tuple[str, ...] = ()):
        self.projects = projects
        self.token = token
        self.bind = host.strip("[]").lower()
        self.allowed = LOOPBACK_NAMES | {self.bind} | {h.lower() for h in allow_hosts}
        self.wildcard = self.bind in ("0.0.0.0", "::", "")
        self._sites: dict[str, ProjectSite] = {}
        self._lock = threading.Lock()

    # --- checks -------------------------------------------------------------------------

    def host_ok(self, value: str | None) -> bool:
        if not value:
            return False
        value = value.strip().lower()
        if value.startswith("["):
            name = value[1:].partition("]")[0]
        else:
            name = value.rpartition(":")[0] if value.count(":") == 1 else value
        if name in self.allowed:
            return True
        return self.wildcard and _is_ip(name)

    def authorized(self, header: str | None) -> bool:
        if not self.token:
            return True
        if not header:
            return False
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() == "basic":
            try:
                value = base64.b64decode(value, validate=True).decode("utf-8").partition(":")[2]
            except (binascii.Error, UnicodeDecodeError, ValueError):
                return False
        elif scheme.lower() != "bearer":
            return False
        return hmac.compare_digest(value.encode("utf-8"), self.token.encode("utf-8"))

    # --- answering ----------------------------------------------------------------------

    def handle(self, method: str, target: str, headers) -> Response:
        """Answer one request (headers: a mapping with .get, case-insensitive)."""
        if not self.host_ok(headers.get("Host")):
            return self._text(400, "Bad Host header: this server answers only to its own "
                                   "name (start it with --allow-host NAME for another).")
        if not self.authorized(headers.get("Authorization")):
            status, head, body = self._text(401, "This wiki needs its token.")
            head["WWW-Authenticate"] = 'Basic realm="wikimem", charset="UTF-8"'
            return status, head, body
        if method not in ("GET", "HEAD"):
            status, head, body = self._text(405, "Read-only: only GET and HEAD.")
            head["Allow"] = "GET, HEAD"
            return status, head, body
        path, _, query = target.partition("?")
        segments = _segments(path)
        if segments is None:
            return self._error(404, "Not found.", [])
        params = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
        try:
            return self._route(segments, params)
        except NotFound as exc:
            return self._error(404, str(exc), segments)
        except WikimemError as exc:
            return self._error(400, str(exc), segments)

    def _route(self, seg: list[str], params: dict) -> Response:
        if seg == [] or seg == [""]:
            return self._html(self._projects_view(), None, Urls())
        if seg[0] == "static" and len(seg) == 2 and seg[1] in STATIC:
            body = datafiles.read_text("templates", seg[1]).encode("utf-8")
            return 200, {"Content-Type": STATIC[seg[1]], "Cache-Control": "max-age=300"}, body
        if seg[0] == "api":
            return self._api(seg[1:], params)
        if seg[0] == "p" and len(seg) >= 2:
            site = self.site(seg[1])
            return self._project_view(site, seg[2:], params)
        raise NotFound("Not found.")

    def site(self, project_id: str) -> ProjectSite:
        with self._lock:
            if project_id not in self._sites:
                found = next((p for p in self.projects() if p.project_id == project_id), None)
                if found is None:
                    raise NotFound(f"No project {project_id!r}.")
                self._sites[project_id] = ProjectSite(found, Urls(project_id))
            return self._sites[project_id]

    def _projects_view(self) -> Rendered:
        rows = "".join(
            f'<li><a href="/p/{esc(p.project_id)}/">{esc(p.workspace)}/{esc(p.name)}</a> '
            f'<small>{esc(p.root)}</small></li>' for p in self.projects())
        body = f'<ul class="projects">{rows}</ul>' if rows else \
            "<p>No projects yet. Run <code>wikimem init</code> inside a repository.</p>"
        return Rendered("Projects", f"<h1>Projects</h1>{body}")

    def _project_view(self, site: ProjectSite, seg: list[str], params: dict) -> Response:
        kind, rest = (seg[0], seg[1:]) if seg else ("", [])
        page = "/".join(rest)
        if kind == "" and not rest:
            view = site.home()
        elif kind == "page" and rest:
            view = site.page(page, at=params.get("at", ""))
        elif kind == "history" and rest:
            view = site.history(page)[0]
        elif kind == "rev" and len(rest) >= 2:
            view = site.revision("/".join(rest[1:]), rest[0])[0]
        elif kind == "diff" and rest:
            view = site.diff(page, params.get("from", ""), params.get("to", ""))[0]
        elif kind == "search" and not rest:
            view = site.search(params.get("q", ""), **_search_args(params))[0]
            return self._html(view, site, site.urls, query=params.get("q", ""))
        elif kind == "context" and not rest:
            view = site.context()[0]
        elif kind == "catchup" and not rest:
            view = site.catchup(params.get("since", "7d"))[0]
        else:
            raise NotFound("Not found.")
        return self._html(view, site, site.urls)

    def _api(self, seg: list[str], params: dict) -> Response:
        if seg == ["projects"]:
            return self._json([p.as_dict() for p in self.projects()])
        if len(seg) < 3 or seg[0] != "p":
            raise NotFound("Not found.")
        site, kind, rest = self.site(seg[1]), seg[2], seg[3:]
        page = "/".join(rest)
        if kind == "pages" and not rest:
            return self._json({"project": site.project.name, "pages": site.listing()[0]})
        if kind == "page" and rest:
            return self._json(site.page_json(page, at=params.get("at", ""),
                                             rev=params.get("rev", "")))
        if kind == "search" and not rest:
            hits = site.search(params.get("q", ""), **_search_args(params))[1]
            return self._json([h.to_dict() for h in hits])
        if kind == "context" and not rest:
            block = site.context()[1]
            return self._json({"project": site.project.name, "chars": len(block),
                               "context": block})
        if kind == "catchup" and not rest:
            return self._json(site.catchup(params.get("since", "7d"))[1])
        if kind == "history" and rest:
            return self._json(site.history(page)[1])
        if kind == "diff" and rest:
            old, new = params.get("from", ""), params.get("to", "")
            out = site.diff(page, old, new)[1]
            return self._json({"page": page, "from": old, "to": new or None, "diff": out})
        raise NotFound("Not found.")

    # --- responses ----------------------------------------------------------------------

    def _html(self, view: Rendered, site: ProjectSite | None, urls: Urls,
              query: str = "", status: int = 200) -> Response:
        doc = layout(view, urls, project=site.project if site else None, query=query)
        return status, {"Content-Type": "text/html; charset=utf-8"}, doc.encode("utf-8")

    def _json(self, data, status: int = 200) -> Response:
        body = json.dumps(data, indent=2, ensure_ascii=False, default=str).encode("utf-8")
        return status, {"Content-Type": "application/json; charset=utf-8"}, body

    def _text(self, status: int, message: str) -> Response:
        return status, {"Content-Type": "text/plain; charset=utf-8"}, \
            (message + "\n").encode("utf-8")

    def _error(self, status: int, message: str, seg: list[str]) -> Response:
        if seg and seg[0] == "api":
            return self._json({"error": message}, status)
        view = Rendered("Not found" if status == 404 else "Error",
                        f"<h1>{'Not found' if status == 404 else 'Error'}</h1>"
                        f"<p>{esc(message)}</p>")
        return self._html(view, None, Urls(), status=status)


def _segments(path: str) -> list[str] | None:
    """The path's segments, each percent-decoded on its own; None for any escape attempt."""
    if not path.startswith("/"):
        return None
    out = []
    for raw in path[1:].split("/"):
        try:
            part = unquote(raw, errors="strict")
        except UnicodeDecodeError:
            return None
        if any(c in part for c in "/\\\0") or part in (".", "..") or part.startswith("."):
            return None
        out.append(part)
    return out


def _search_args(params: dict) -> dict:
    kinds = [k for k in params.get("kind", "").replace(",", " ").split() if k]
    try:
        limit = max(1, min(int(params.get("limit") or 10), 1000))  # as `wikimem search`
    except ValueError:
        limit = 10
    return {"kinds": kinds, "since": params.get("since", ""), "until": params.get("until", ""),
            "include_all": params.get("all", "") not in ("", "0"), "limit": limit}


class _Handler(BaseHTTPRequestHandler):
    app: WebApp
    server_version = "wikimem"
    sys_version = ""
    protocol_version = "HTTP/1.1"

    def _answer(self, method: str) -> None:
        try:
            status, head, body = self.app.handle(method, self.path, self.headers)
        except Exception as exc:  # a bug must not take the server down or leak a traceback
            print(f"wikimem web: {method} {self.path[:200]}: {type(exc).__name__}: {exc}",
                  file=sys.stderr)
            status, head, body = 500, {"Content-Type": "text/plain; charset=utf-8"}, \
                b"Internal error: see the server's output.\n"
        self.send_response(status)
        for name, value in {**SECURITY_HEADERS, **head}.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if method != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:  # noqa: N802 (http.server's names)
        self._answer("GET")

    def do_HEAD(self) -> None:  # noqa: N802
        self._answer("HEAD")

    def _refuse(self) -> None:
        self._answer(self.command)

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse  # noqa: N815

    def log_message(self, format: str, *args) -> None:  # noqa: A002
        if self.server.quiet:  # type: ignore[attr-defined]
            return
        super().log_message(format, *args)


def make_server(app: WebApp, host: str, port: int, *, quiet: bool = False) -> ThreadingHTTPServer:
    """A bound (not yet serving) HTTP server for the app."""
    handler = type("Handler", (_Handler,), {"app": app})
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    server_class = type("Server", (ThreadingHTTPServer,),
                        {"address_family": family, "daemon_threads": True})
    server = server_class((host.strip("[]"), port), handler)
    server.quiet = quiet  # type: ignore[attr-defined]
    return server


def serve(projects: Callable[[], list[Project]], *, host: str = "127.0.0.1", port: int = 8470,
          token: str | None = None, allow_hosts: tuple[str, ...] = (), open_browser: bool = False,
          echo: Callable[[str], None] = print) -> None:
    """Serve until interrupted (refused beyond loopback without a token)."""
    check_bind(host, token)
    app = WebApp(projects, host=host, token=token, allow_hosts=allow_hosts)
    try:
        server = make_server(app, host, port)
    except OSError as exc:
        raise WikimemError(f"Cannot listen on {host}:{port}: {exc.strerror or exc}. Give "
                           "another --port (0 picks a free one) or --host.") from exc
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{server.server_address[1]}/"
    echo(f"wikimem web: serving {url} (read-only{', token required' if token else ''}); "
         "Ctrl-C stops it.")
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()

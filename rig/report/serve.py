"""`rig serve`: the report pages of a home, live, over HTTP (read-only, GET and HEAD only).

    /                    the home's nightly runs and campaigns, newest first
    /campaign/NAME       a campaign's report (NAME: a directory under campaigns/)
    /run/ID              a nightly run's report

Every page is rendered from the store and the campaign's files on each
request, and reloads itself every few seconds, so a running campaign can be
watched as it goes. A URL names a campaign only by a plain name of one
directory under the home's campaigns/, so no request reaches a file
elsewhere. Errors are short pages with a 400 or 404 (500 for a bug, whose
traceback goes to the log, never to the page).

The standard library's ThreadingHTTPServer is enough for a handful of
readers, and the rig has no web framework to reuse.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final
from urllib.parse import unquote, urlsplit

from rig.config import Home
from rig.errors import RigError
from rig.report.model import Subject, campaign_subject, run_campaign
from rig.report.render import error_page, index_page, open_store, report_page

log = logging.getLogger(__name__)

REFRESH_S: Final = 5
MAX_PATH: Final = 1024
# What a page may do in the browser: show itself (inline styles), nothing else.
SECURITY_HEADERS: Final = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
        "form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_RUN_ID: Final = re.compile(r"[0-9]{1,18}")


class PageError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


class ReportServer(ThreadingHTTPServer):
    """Serves the pages of one home; each request opens what it reads and closes it."""

    daemon_threads = True  # a slow reader never holds Ctrl-C up

    def __init__(self, address: tuple[str, int], home: Home, refresh_s: int = REFRESH_S) -> None:
        self.home = home
        self.refresh_s = refresh_s
        super().__init__(address, Handler)

    def url(self) -> str:
        host, port = self.server_address[:2]
        shown = f"[{host!s}]" if ":" in str(host) else str(host)
        return f"http://{shown}:{port}/"


def is_loopback(bind: str) -> bool:
    if bind == "localhost":
        return True
    try:
        return ipaddress.ip_address(bind).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def page(home: Home, path: str, refresh_s: int) -> str:
    """The HTML of a request path; PageError for a bad or unknown one."""
    if len(path) > MAX_PATH:
        raise PageError(HTTPStatus.REQUEST_URI_TOO_LONG, "the path is too long")
    parts = unquote(urlsplit(path).path).split("/")[1:]
    if any(p in (".", "..") or "\x00" in p or "\\" in p for p in parts):
        raise PageError(HTTPStatus.BAD_REQUEST, "a path may not step out of its directory")
    if parts in ([""], []):
        return index_page(home, refresh_s=refresh_s)
    if parts[-1] == "" and len(parts) > 1:
        parts = parts[:-1]  # a trailing slash
    if len(parts) == 2 and parts[0] == "campaign":
        subject = campaign_subject(home, parts[1])
        if subject is None:
            raise PageError(HTTPStatus.NOT_FOUND, f"no campaign {parts[1]!r} under {home.root}")
        return report_page(home, subject, refresh_s=refresh_s, index_url="/")
    if len(parts) == 2 and parts[0] == "run":
        if not _RUN_ID.fullmatch(parts[1]):
            raise PageError(HTTPStatus.BAD_REQUEST, f"{parts[1]!r} is not a run id")
        store = open_store(home)
        try:
            run = store.run(int(parts[1])) if store is not None else None
        finally:
            if store is not None:
                store.close()
        if run is None:
            raise PageError(HTTPStatus.NOT_FOUND, f"no run {parts[1]} in {home.crash_db}")
        subject = Subject(run_campaign(home, run), run)
        return report_page(home, subject, refresh_s=refresh_s, index_url="/")
    raise PageError(HTTPStatus.NOT_FOUND, "no such page: try / for the list of campaigns")


class Handler(BaseHTTPRequestHandler):
    server: ReportServer

    def version_string(self) -> str:
        return "rig-serve"

    def do_GET(self) -> None:
        self._answer(body=True)

    def do_HEAD(self) -> None:
        self._answer(body=False)

    def _refuse(self) -> None:
        self._send(
            HTTPStatus.METHOD_NOT_ALLOWED,
            _error(HTTPStatus.METHOD_NOT_ALLOWED, "the pages are read-only: GET and HEAD only"),
            body=True,
            allow=True,
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    def _answer(self, body: bool) -> None:
        try:
            text = page(self.server.home, self.path, self.server.refresh_s)
            status = HTTPStatus.OK
        except PageError as e:
            status, text = e.status, _error(e.status, str(e))
        except RigError as e:  # a damaged store or campaign: say what, as a page
            status, text = (
                HTTPStatus.INTERNAL_SERVER_ERROR,
                _error(HTTPStatus.INTERNAL_SERVER_ERROR, str(e)),
            )
        except Exception:
            log.exception("rig serve: %s failed", self.path[:MAX_PATH])
            status = HTTPStatus.INTERNAL_SERVER_ERROR
            text = _error(status, "the page could not be made; the server's log says why")
        self._send(status, text, body=body)

    def _send(self, status: HTTPStatus, text: str, body: bool, allow: bool = False) -> None:
        data = text.encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        if allow:
            self.send_header("Allow", "GET, HEAD")
        for k, v in SECURITY_HEADERS.items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        log.info("%s %s", self.address_string(), format % args)


def _error(status: HTTPStatus, message: str) -> str:
    return error_page(int(status), status.phrase, message)

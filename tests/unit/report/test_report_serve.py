"""`rig serve`: routes, status codes, headers, read-only, no traversal, no traceback in a page."""

from __future__ import annotations

import http.client
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from report_support import CAMPAIGN, SCRIPT, Synthetic

from rig.config import Home
from rig.report import serve
from rig.report.serve import ReportServer, is_loopback


@pytest.fixture(scope="module")
def server(synthetic: Synthetic) -> Iterator[ReportServer]:
    s = ReportServer(("127.0.0.1", 0), synthetic.home)
    t = threading.Thread(target=s.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    t.start()
    yield s
    s.shutdown()
    s.server_close()
    t.join(10)


def request(s: ReportServer, path: str, method: str = "GET") -> tuple[int, dict[str, str], str]:
    host, port = s.server_address[:2]
    conn = http.client.HTTPConnection(str(host), port, timeout=30)
    conn.request(method, path)
    r = conn.getresponse()
    body = r.read().decode()
    conn.close()
    return r.status, dict(r.getheaders()), body


def test_pages_of_the_home(server: ReportServer, synthetic: Synthetic) -> None:
    status, headers, body = request(server, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in headers["Content-Security-Policy"]
    assert f'href="/campaign/{CAMPAIGN}"' in body and f'href="/run/{synthetic.run}"' in body
    assert 'http-equiv="refresh"' in body
    status, _, body = request(server, f"/campaign/{CAMPAIGN}")
    assert status == 200 and synthetic.hostile in body and 'http-equiv="refresh"' in body
    assert SCRIPT not in body
    status, _, body = request(server, f"/run/{synthetic.run}/")
    assert status == 200 and 'id="comparison"' in body
    assert f'href="/run/{synthetic.previous}"' in body  # the history links to other runs
    status, headers, body = request(server, "/", "HEAD")
    assert status == 200 and body == "" and int(headers["Content-Length"]) > 0


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/campaign/nope", 404),
        ("/run/9999", 404),
        ("/run/abc", 400),
        ("/campaign/..", 400),
        ("/campaign/%2e%2e/%2e%2e/etc", 400),
        ("/campaign/..%2f..%2fcrashes.db", 400),
        ("/campaign/a%00b", 400),
        ("/../../etc/passwd", 400),
        ("/campaign/x/y", 404),
        ("/favicon.ico", 404),
        ("/" + "a" * 2000, 414),
    ],
)
def test_bad_paths_are_short_errors(server: ReportServer, path: str, status: int) -> None:
    got, _, body = request(server, path)
    assert got == status, body
    assert "Traceback" not in body and "/etc/passwd" not in body.replace(path, "")


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_read_only(server: ReportServer, method: str) -> None:
    status, headers, _ = request(server, "/", method)
    assert status == 405 and headers["Allow"] == "GET, HEAD"


def test_a_bug_is_a_500_page_without_traceback(
    server: ReportServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_a: object, **_k: object) -> str:
        raise ValueError("secret internals")

    monkeypatch.setattr(serve, "report_page", broken)
    status, _, body = request(server, f"/campaign/{CAMPAIGN}")
    assert status == 500
    assert "secret internals" not in body and "Traceback" not in body


def test_a_home_without_store_or_campaigns(tmp_path: Path) -> None:
    home = Home(tmp_path)
    html = serve.page(home, "/", 5)
    assert "no nightly run recorded" in html and "no campaign under" in html
    assert not (tmp_path / "crashes.db").exists()  # reading never creates a store
    with pytest.raises(serve.PageError):
        serve.page(home, "/run/1", 5)


def test_loopback_addresses() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")
    assert not is_loopback("example.org")

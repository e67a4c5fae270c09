"""The testbed's web application: a login form and a search page over SQLite.

It runs inside the server namespace behind the HTTP server, so hydra has a
form to brute-force, an ``/admin`` area behind HTTP Basic authentication to
guess, and sqlmap a real injectable parameter. The search query is
built by string formatting on purpose (the testbed's SQL injection target);
the database is an in-memory copy with made-up products. Run as
``python -m trafficlm.training.testbed.webapp PORT``.
"""

from __future__ import annotations

import base64
import binascii
import html
import sqlite3
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

USER, PASSWORD = "admin", "correct-horse-battery"
# Where the search page sits and what its parameter is called: the wide testbed draws one
# pair per run (``website.plan_site``), so an injection is not learnt as "a request for
# /search?q=", and a deep page pushes the payload past the first bytes as real apps do.
SEARCH_PAGES = ("/search", "/catalog/search.php", "/shop/index.php", "/app/lookup/item",
                "/portal/modules/inventory/query.aspx", "/cgi-bin/find.cgi")
SEARCH_PARAMS = ("q", "id", "search", "item", "term")
# the first path segments the HTTP servers hand to this application
APP_PREFIXES = ("login", "admin", *dict.fromkeys(page.split("/")[1] for page in SEARCH_PAGES))
PRODUCTS = [("router", 49), ("switch", 89), ("firewall", 399), ("sensor", 129), ("tap", 59)]
LOGIN_FORM = """<html><body><h1>Sign in</h1><form method="post" action="/login">
<input name="username"><input name="password" type="password"><button>Sign in</button>
</form></body></html>"""


def database() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:", check_same_thread=False)
    db.execute("CREATE TABLE products (name TEXT, price INTEGER)")
    db.execute("CREATE TABLE users (name TEXT, password TEXT)")
    db.executemany("INSERT INTO products VALUES (?, ?)", PRODUCTS)
    db.execute("INSERT INTO users VALUES (?, ?)", (USER, PASSWORD))
    return db


class Handler(BaseHTTPRequestHandler):
    db = database()
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if url.path == "/login":
            self._send(200, LOGIN_FORM)
        elif url.path.startswith("/admin"):
            self._admin()
        elif url.path in SEARCH_PAGES:
            self._search(next((query[p][0] for p in SEARCH_PARAMS if p in query), ""))
        else:
            self._send(404, "<html><body>not found</body></html>")

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(min(length, 65536)).decode("latin-1"))
        ok = form.get("username", [""])[0] == USER and form.get("password", [""])[0] == PASSWORD
        self._send(200, "<html><body>Welcome back</body></html>" if ok else
                   "<html><body>Login failed</body></html>")

    def _admin(self) -> None:
        """HTTP Basic authentication with the login form's account."""
        scheme, _, token = (self.headers.get("Authorization") or "").partition(" ")
        try:
            given = base64.b64decode(token, validate=True).decode("latin-1")
        except (binascii.Error, ValueError):
            given = ""
        if scheme.lower() == "basic" and given == f"{USER}:{PASSWORD}":
            self._send(200, "<html><body><h1>Administration</h1></body></html>")
            return
        body = b"<html><body>401 Authorization Required</body></html>"
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="testbed admin"')
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _search(self, term: str) -> None:
        sql = f"SELECT name, price FROM products WHERE name LIKE '%{term}%'"
        try:
            rows = self.db.execute(sql).fetchall()
        except sqlite3.Error as err:
            self._send(500, f"<html><body>database error: {html.escape(str(err))}</body></html>")
            return
        items = "".join(f"<li>{name}: {price}</li>" for name, price in rows)
        # the search term is echoed unescaped: the testbed's reflected-XSS target
        self._send(200, f"<html><body><h1>Results for {term}</h1><ul>{items}</ul></body></html>")

    def _send(self, status: int, body: str) -> None:
        data = body.encode("utf-8", "replace")
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        sys.stderr.write(f"webapp {self.address_string()} {format % args}\n")


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

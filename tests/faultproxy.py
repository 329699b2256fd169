"""A fault-injecting HTTP proxy on loopback, between the runner and the kube-apiserver.

The runner talks plain HTTP to the proxy (`http://127.0.0.1:PORT`, its bearer token
passes through untouched), or HTTPS with the API server's own certificate
(`serve_tls`: a runner in a pod, which trusts only the cluster's CA); the proxy
forwards each request over TLS to the real API server and relays the answer —
unless a `Rule` matches, in which case it answers one of the `Fault`s instead:

- `status(code)`: an API-server-shaped `Status` error (429 with or without Retry-After,
  409, 500, 503, ...), before the request reaches the server, or, with `after=True`,
  after the server acted on it (the write happened; the client is told it failed);
- `reset()`: the connection is torn down with a TCP reset, before or after forwarding;
- `delay(seconds, jitter=0)`: the answer comes only after `seconds` (plus up to
  `jitter` at random): past the client's timeout, the client gives up while the
  request still lands; short and random, runners' views of the cluster drift apart;
- `expire_continue()`: a LIST page after the first one is refused with 410 Expired, as
  when a `continue` token outlives the server's compaction;
- `hold()`: the request waits at the proxy, unforwarded, until the test calls
  `release()`; `held` is set when one arrives. The test then does what the race needs
  (another runner's pass, an administrator's cordon, a signal) while this request is
  in flight, deterministically. Each rule also has its own: `rule.arrived` is set when
  a request it holds arrives, and `rule.release()` lets only that rule's requests go,
  which orders requests made by several threads of one runner.

Rules choose requests by method and a regular expression on the path (with query),
then by count (`nth`: which of the matching requests, 1-based) or at random
(`probability`, with the proxy's seed). `on_answered` is called after every answered
request (crash tests kill the runner from there). Every request is logged in
`history` as (method, path, status or fault) for the test to read.
"""

from __future__ import annotations

import http.client
import json
import random
import re
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import attrs

from tests.translating import Translation

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SELF_REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
TOKEN_REVIEWS = "/apis/authentication.k8s.io/v1/tokenreviews"
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host"}
)


@attrs.frozen
class Fault:
    kind: str  # status | reset | delay | expire-continue | hold
    code: int = 0
    retry_after: int | None = None
    after: bool = False
    seconds: float = 0.0
    jitter: float = 0.0
    """delay: up to this many seconds more, at random (the proxy's seed)."""

    def __str__(self) -> str:
        if self.kind == "status":
            extra = f" Retry-After={self.retry_after}" if self.retry_after is not None else ""
            return f"{self.code}{extra}{' after forwarding' if self.after else ''}"
        if self.kind == "reset":
            return f"reset{' after forwarding' if self.after else ''}"
        if self.kind == "delay":
            return f"delay {self.seconds:g} s" + (
                f" + up to {self.jitter:g} s" if self.jitter else ""
            )
        if self.kind == "hold":
            return "held until released"
        return "410 on a continued LIST"


def status(code: int, *, retry_after: int | None = None, after: bool = False) -> Fault:
    return Fault("status", code=code, retry_after=retry_after, after=after)


def reset(*, after: bool = False) -> Fault:
    return Fault("reset", after=after)


def delay(seconds: float, *, jitter: float = 0.0) -> Fault:
    return Fault("delay", seconds=seconds, jitter=jitter)


def hold() -> Fault:
    return Fault("hold")


def expire_continue() -> Fault:
    return Fault("expire-continue")


@attrs.define
class Rule:
    fault: Fault
    method: str = ""
    """GET, PATCH, ...; "write" for any mutating verb; empty for all."""
    path: str = ""
    """A regular expression searched in the path with its query."""
    nth: frozenset[int] | None = None
    probability: float = 0.0
    seen: int = 0
    arrived: threading.Event = attrs.field(factory=threading.Event, eq=False, repr=False)
    """Set when a request this rule holds arrives."""
    let_go: threading.Event = attrs.field(factory=threading.Event, eq=False, repr=False)

    def release(self) -> None:
        """Let this rule's held requests (and its later ones) through."""
        self.let_go.set()

    def matches(self, method: str, path: str) -> bool:
        if self.method == "write":
            if method not in MUTATING:
                return False
        elif self.method and method != self.method:
            return False
        if self.fault.kind == "expire-continue" and "continue=" not in path:
            return False
        return re.search(self.path, path) is not None


_REASONS = {
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
}


def _status_body(code: int, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": _REASONS.get(code, "InternalError"),
            "code": code,
        }
    ).encode()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that went away (killed, timed out) is part of the game


class FaultProxy:
    def __init__(
        self,
        upstream: str,
        ca_file: str,
        *,
        seed: int = 0,
        translation: Translation | None = None,
        serve_tls: tuple[str, str] | None = None,
    ) -> None:
        self.translation = translation
        """Rewrites requests and answers to look like another Kubernetes version
        (tests/translating.py); None: relayed as they are."""
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 443
        self.tls = ssl.create_default_context(cafile=ca_file)
        self.random = random.Random(seed)
        self.rules: list[Rule] = []
        self.history: list[tuple[str, str, str]] = []
        self.writes_answered = 0
        self.on_answered: Callable[[str, str, int], None] | None = None
        self.held = threading.Event()
        """Set when a request is being held (a `hold()` fault)."""
        self._released = threading.Event()
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_args: object) -> None:
                pass

            def do_GET(self) -> None:
                proxy.handle(self)

            do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.scheme = "http"
        if serve_tls is not None:
            # HTTPS with the given certificate and key (the API server's own, valid for
            # 127.0.0.1): for clients that insist on TLS, a runner in a pod.
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*serve_tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FaultProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def release(self) -> None:
        """Let every held request (and every later one) through."""
        self._released.set()

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def add(self, rule: Rule) -> Rule:
        with self.lock:
            self.rules.append(rule)
        return rule

    def faults(self) -> list[tuple[str, str, str]]:
        return [entry for entry in self.history if not entry[2].isdigit()]

    # --- one request ----------------------------------------------------------------

    def _choose(self, method: str, path: str) -> tuple[Rule, Fault] | None:
        with self.lock:
            for rule in self.rules:
                if not rule.matches(method, path):
                    continue
                rule.seen += 1
                if rule.nth is not None and rule.seen in rule.nth:
                    return rule, rule.fault
                if rule.probability and self.random.random() < rule.probability:
                    return rule, rule.fault
        return None

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        method, path = handler.command, handler.path
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else None
        asked = path
        if (
            self.translation is not None
            and self.translation.reviewer_token
            and method == "POST"
            and path.split("?", 1)[0] == SELF_REVIEWS
        ):
            code, data = self._self_review(handler, self.translation.reviewer_token)
            self._record(method, path, str(code))
            self._send(handler, code, data, None)
            return
        if self.translation is not None:
            path, body, answer = self.translation.request(method, path, body)
            if answer is not None:
                self._record(method, asked, str(answer[0]))
                self._send(handler, answer[0], answer[1], None)
                return
        chosen = self._choose(method, path)
        rule, fault = chosen if chosen is not None else (None, None)
        if fault is not None:
            self._record(method, path, f"fault: {fault}")
        if fault is not None and not fault.after:
            if fault.kind == "status":
                self._send(handler, fault.code, _status_body(fault.code, "injected"), fault)
                return
            if fault.kind == "expire-continue":
                message = "The provided continue parameter is too old (injected)."
                self._send(handler, 410, _status_body(410, message), fault)
                return
            if fault.kind == "reset":
                self._reset(handler)
                return
            if fault.kind == "hold" and rule is not None:
                rule.arrived.set()
                self.held.set()
                until = time.monotonic() + 120
                while not (self._released.is_set() or rule.let_go.is_set()):
                    if time.monotonic() > until:
                        break
                    rule.let_go.wait(0.02)
            with self.lock:
                extra = self.random.random() * fault.jitter
            time.sleep(fault.seconds + extra)
        if method == "GET" and re.search(r"[?&]watch=(1|true)(&|$)", path):
            self._stream(handler, path, asked)
            return
        try:
            code, headers, data = self._forward(method, path, handler, body)
        except OSError as error:
            self._send(handler, 502, _status_body(502, f"proxy: {error}"), None)
            return
        if self.translation is not None:
            data = self.translation.response(asked, code, data)
        if fault is not None and fault.after:
            if fault.kind == "reset":
                self._reset(handler)
                return
            self._send(handler, fault.code, _status_body(fault.code, "injected after"), fault)
            self._answered(method, path, fault.code)
            return
        self._record(method, path, str(code))
        try:
            # The server's own Date and Server headers, not a second pair of ours: two
            # Dates join into one the runner cannot parse, and it loses the server's clock.
            handler.log_request(code)
            handler.send_response_only(code)
            for name, value in headers:
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            return  # the client gave up (a delay past its timeout)
        self._answered(method, path, code)

    def _self_review(self, handler: BaseHTTPRequestHandler, reviewer: str) -> tuple[int, bytes]:
        """A SelfSubjectReview answered by the real authenticator: a TokenReview of the
        caller's bearer token, made with the reviewer's (tests/translating.py)."""
        caller = handler.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        review = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "TokenReview",
            "spec": {"token": caller},
        }
        headers = {"Authorization": f"Bearer {reviewer}", "Content-Type": "application/json"}
        code, _, data = self._forward(
            "POST", TOKEN_REVIEWS, handler, json.dumps(review).encode(), headers=headers
        )
        if code >= 300:
            return code, data
        status = json.loads(data).get("status") or {}
        if not status.get("authenticated"):
            return 401, _status_body(401, "Unauthorized")
        answer = {
            "apiVersion": "authentication.k8s.io/v1",
            "kind": "SelfSubjectReview",
            "metadata": {"creationTimestamp": None},
            "status": {"userInfo": status.get("user") or {}},
        }
        return 201, json.dumps(answer).encode()

    def _forward(
        self,
        method: str,
        path: str,
        handler: BaseHTTPRequestHandler,
        body: bytes | None,
        *,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        connection = http.client.HTTPSConnection(
            self.upstream_host, self.upstream_port, context=self.tls, timeout=60
        )
        try:
            if headers is None:
                headers = {
                    name: value
                    for name, value in handler.headers.items()
                    if name.lower() not in _HOP_BY_HOP
                    # A translated body has its own length; answers must be plain JSON.
                    and name.lower() not in ("content-length", "accept-encoding")
                }
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _stream(self, handler: BaseHTTPRequestHandler, path: str, asked: str) -> None:
        """A watch: its events relayed one by one as they come (chunked), not at its
        end."""
        connection = http.client.HTTPSConnection(
            self.upstream_host, self.upstream_port, context=self.tls, timeout=None
        )
        try:
            headers = {
                name: value
                for name, value in handler.headers.items()
                if name.lower() not in _HOP_BY_HOP
                and name.lower() not in ("content-length", "accept-encoding")
            }
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            self._record("GET", path, str(response.status))
            handler.send_response_only(response.status)
            for name, value in response.getheaders():
                if name.lower() not in _HOP_BY_HOP and name.lower() != "content-length":
                    handler.send_header(name, value)
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            while True:
                line = response.readline()
                if not line:
                    break
                if self.translation is not None and line.strip():
                    line = self.translation.response(asked, response.status, line.strip()) + b"\n"
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                handler.wfile.flush()
            handler.wfile.write(b"0\r\n\r\n")
            handler.wfile.flush()
        except OSError:
            return  # the client ended the watch, or the server went away
        finally:
            handler.close_connection = True
            connection.close()

    def _send(
        self, handler: BaseHTTPRequestHandler, code: int, data: bytes, fault: Fault | None
    ) -> None:
        try:
            handler.send_response(code)
            handler.send_header("Content-Type", "application/json")
            if fault is not None and fault.retry_after is not None:
                handler.send_header("Retry-After", str(fault.retry_after))
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
            handler.wfile.flush()
        except OSError:
            pass

    def _reset(self, handler: BaseHTTPRequestHandler) -> None:
        # SO_LINGER 0: close() sends RST instead of FIN.
        connection: socket.socket = handler.connection
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        connection.close()

    def _record(self, method: str, path: str, what: str) -> None:
        with self.lock:
            self.history.append((method, path, what))

    def _answered(self, method: str, path: str, code: int) -> None:
        if method in MUTATING:
            with self.lock:
                self.writes_answered += 1
        if self.on_answered is not None:
            self.on_answered(method, path, code)

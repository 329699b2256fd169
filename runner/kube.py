"""A small raw-JSON Kubernetes API client for the runner.

Credentials come from runner/kubeconfig.py (in-cluster, tokens, client certificates)
or, for exec plugins and auth providers, from the official `kubernetes` package, which
is used for nothing else: requests go through urllib3 and responses stay JSON,
because deserializing tens of thousands of pods into models costs more than the whole
plan. Errors become `KubeError`s whose message is one line naming the verb, the
resource and what to do about it.

Transient trouble is retried inside one request, the way client-go does, so that a
busy or restarting API server costs a pass a few seconds rather than the pass:

- reads (GET) are retried on 429, 500, 502, 503 and 504, on a reset connection and on
  a timeout;
- writes are retried only where the server says it did not act: 429 (API Priority and
  Fairness shedding load) and 503 with a Retry-After header. A write that failed in
  any other way may or may not have happened; it fails its decision, and the next pass
  reads what is there (every write is guarded, so repeating one is harmless);
- evictions are never retried here: their 429 is a PodDisruptionBudget saying no,
  which the next pass asks again.

Up to `RETRIES` retries, waiting Retry-After (at most `MAX_WAIT` seconds) or a doubling
back-off from `BACKOFF`. Each retry is reported to `on_retry` (the runner logs it).
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import ssl
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, wait
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import attrs
import orjson
import urllib3

from runner import kubeconfig as kubeconfig_module

JSON = dict[str, Any]
PAGE_SIZE = 500
SLOTS = 16
"""Requests in flight at once on a Kube made without `connect`."""
T = TypeVar("T")
A = TypeVar("A")
DEFAULT_TIMEOUT = 30.0
RETRIES = 3
BACKOFF = 0.5
MAX_WAIT = 5.0
WATCH_SLACK = 30
"""Seconds a watch's read waits past the watch's own length before it gives up."""
STALE = -1
"""In `take_written`: a write answered 404 or 409, made on a copy that was behind."""
_RETRIED_READS = frozenset({429, 500, 502, 503, 504})


def _credentials_from_the_client(
    kubeconfig: str | None, context: str | None
) -> kubeconfig_module.Credentials:
    """Exec plugins, auth providers, merged kubeconfigs: the kubernetes package's job."""
    # Loaded only for those: the common cases never pay its 0.3 s import.
    from kubernetes import client, config  # noqa: PLC0415
    from kubernetes.config.config_exception import ConfigException  # noqa: PLC0415

    configuration = client.Configuration()
    try:
        config.load_kube_config(
            config_file=kubeconfig, context=context, client_configuration=configuration
        )
    except ConfigException as error:
        raise kubeconfig_module.KubeconfigError(str(error)) from None
    token = configuration.api_key.get("authorization") or configuration.api_key.get("BearerToken")
    if token and token.startswith("Bearer "):
        token = token.removeprefix("Bearer ")
    return kubeconfig_module.Credentials(
        server=configuration.host,
        token=token,
        ca_file=configuration.ssl_ca_cert,
        cert_file=configuration.cert_file,
        key_file=configuration.key_file,
        insecure=not configuration.verify_ssl,
    )


def _load_client_certificate(
    context: ssl.SSLContext, credentials: kubeconfig_module.Credentials
) -> None:
    if credentials.cert_file:
        context.load_cert_chain(credentials.cert_file, credentials.key_file)
        return
    if not credentials.cert_data:
        return
    # ssl wants files: write the inline certificate and key privately, load, remove.
    with tempfile.TemporaryDirectory(prefix="repairman-") as directory:
        cert, key = Path(directory) / "cert.pem", Path(directory) / "key.pem"
        cert.write_bytes(credentials.cert_data)
        key.touch(mode=0o600)
        key.write_bytes(credentials.key_data or b"")
        context.load_cert_chain(str(cert), str(key))


class KubeError(Exception):
    """An API call that failed; `str()` is one line for humans."""

    def __init__(
        self, message: str, *, status: int = 0, reason: str = "", causes: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.causes = causes
        """The reasons in the Status's `details.causes` (e.g. NamespaceTerminating)."""


class ConfigError(KubeError):
    """No usable credentials or cluster address."""


class Unreachable(KubeError):
    """The API server did not answer."""


def side_by_side(call: Callable[[A], T], items: Iterable[A], *, at_once: int) -> builtins.list[T]:
    """`call` of every item, `at_once` calls under way at a time, the answers in the
    items' order; the first error raised stops the calls not yet begun. Daemon threads,
    not a ThreadPoolExecutor: after a SIGTERM (or an error) nothing waits for a call
    still in flight, neither the Lease's release (which takes no slot:
    `Kube.request`'s `bounded`) nor the process's exit, which joins an executor's
    threads."""
    work: builtins.list[tuple[A, Future[T]]] = [(item, Future()) for item in items]
    futures = [future for _, future in work]
    queue = iter(work)
    taking = threading.Lock()

    def worker() -> None:
        while True:
            with taking:
                taken = next(queue, None)
            if taken is None:
                return
            item, future = taken
            if not future.set_running_or_notify_cancel():
                continue  # cancelled: an earlier call failed, or the caller stopped
            try:
                future.set_result(call(item))
            except BaseException as error:  # handed to the caller
                future.set_exception(error)

    try:
        for number in range(min(at_once, len(work))):
            threading.Thread(target=worker, name=f"side-by-side-{number}", daemon=True).start()
        done, _ = wait(futures, return_when=FIRST_EXCEPTION)
        if any(future.exception() is not None for future in done):
            for future in futures:
                future.cancel()  # before waiting on any other: none more begins
        return [future.result() for future in futures]
    finally:
        for future in futures:
            future.cancel()  # those not begun never will be


def _in_background(call: Callable[[A], T], item: A) -> Future[T]:
    """`call(item)` on a daemon thread (see side_by_side: nothing waits for it)."""
    future: Future[T] = Future()
    future.set_running_or_notify_cancel()

    def run() -> None:
        try:
            future.set_result(call(item))
        except BaseException as error:  # handed to the caller
            future.set_exception(error)

    threading.Thread(target=run, name="next-page", daemon=True).start()
    return future


def decoded(data: bytes) -> Any:
    """JSON from the API server: orjson (a whole fleet's pods are 30 s of the standard
    library's decoding), else the standard library for what orjson refuses and it
    reads (a number past a double, a lone surrogate)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def _short(error: Exception) -> str:
    """urllib3 starts its messages with the pool ("HTTPSConnectionPool(host=..): ");
    keep what happened."""
    text = str(error)
    if "Pool(" in text and "): " in text:
        text = text.split("): ", 1)[1]
    return text or type(error).__name__


def _retry_after(response: urllib3.BaseHTTPResponse) -> float | None:
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: not sent by the API server; use the back-off


def _resource_of(path: str) -> tuple[str, bool]:
    """'/api/v1/namespaces/ns/pods/x/eviction' -> ('pods/eviction', False); a collection
    path gives True (for messages: GET on a collection is the verb list)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] == ["api"]:
        parts = parts[2:]
    elif parts[:1] == ["apis"]:
        parts = parts[3:]
    if parts[:1] == ["namespaces"] and len(parts) > 2:
        parts = parts[2:]
    if not parts:
        return path, False
    resource = parts[0]
    if len(parts) >= 3:
        resource += f"/{parts[2]}"
    return resource, len(parts) == 1


def _kind_of(path: str) -> str:
    """'/api/v1/nodes/x/status' -> 'nodes': the kind a write changed (`take_written`)."""
    return _resource_of(path)[0].split("/")[0]


_VERBS = {"GET": "get", "POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


@attrs.define
class Kube:
    """A connection to one API server. Its repr names the server only: the headers
    carry the bearer token and must never reach a log line or a terminal."""

    server: str = attrs.field(repr=lambda url: repr(kubeconfig_module.without_userinfo(url)))
    pool: urllib3.PoolManager = attrs.field(repr=False)
    headers: dict[str, str] = attrs.field(repr=False)
    discovered: dict[str, bool] = attrs.field(factory=dict, repr=False)
    writes: int = 0
    """Mutating requests answered (the idempotence tests count them)."""
    retries: int = 0
    on_retry: Callable[[str], None] | None = None
    """Told, in one line, about every retry and why."""
    insecure: bool = False
    """The kubeconfig says insecure-skip-tls-verify: the server's certificate is not
    checked. urllib3's warning about it (one per request) is silenced, as kubectl says
    nothing; the runner logs it once in its own format."""
    _slots: threading.BoundedSemaphore = attrs.field(
        factory=lambda: threading.BoundedSemaphore(SLOTS), repr=False, eq=False
    )
    """Requests in flight at once, whatever the number of threads that call: the
    applier's lanes waiting on a shared read hold none (`connect`'s `connections`)."""
    _counting: threading.Lock = attrs.field(factory=threading.Lock, repr=False, eq=False)
    """Guards `writes`, `retries`, `_written` and `_watches`: the applier calls from
    several threads at once."""
    _written: builtins.list[tuple[str, int]] = attrs.field(factory=list, repr=False, eq=False)
    _watches: set[urllib3.BaseHTTPResponse] = attrs.field(factory=set, repr=False, eq=False)
    _server_clock: tuple[datetime, float] | None = None
    """The API server's Date header of the last answer, and our monotonic clock then."""

    @classmethod
    def connect(
        cls,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        connections: int = 4,
    ) -> Kube:
        """`connections`: kept open per server, one per thread that calls at once."""
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        try:
            credentials = kubeconfig_module.load(kubeconfig, context)
            if credentials is None:
                credentials = _credentials_from_the_client(kubeconfig, context)
        except kubeconfig_module.KubeconfigError as error:
            raise ConfigError(f"no usable cluster credentials: {error}") from None
        except (OSError, TypeError, ValueError) as error:
            raise ConfigError(f"no usable cluster credentials in {where}: {error}") from None
        headers = {"Accept": "application/json", "User-Agent": "repairman-runner"}
        # A token written as a YAML block (`token: |`) ends in a line break; strip it as
        # a token file is stripped. One that still holds a space or a control character
        # cannot be sent, and its text must not reach a message.
        token = (credentials.token or "").strip()
        if token and not all(33 <= ord(c) < 127 for c in token):
            raise ConfigError(
                f"no usable cluster credentials in {where}: the user's token holds a space, "
                "a line break or another character an HTTP header cannot carry"
            )
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            context_ssl = ssl.create_default_context(
                cafile=credentials.ca_file, cadata=credentials.ca_data
            )
            if credentials.insecure:
                context_ssl.check_hostname = False
                context_ssl.verify_mode = ssl.CERT_NONE
                warnings.filterwarnings(
                    "ignore", category=urllib3.exceptions.InsecureRequestWarning
                )
            _load_client_certificate(context_ssl, credentials)
        except (OSError, ssl.SSLError) as error:
            raise ConfigError(f"unusable TLS material in {where}: {error}") from None
        pool = urllib3.PoolManager(
            ssl_context=context_ssl,
            timeout=urllib3.Timeout(connect=min(5.0, timeout), read=timeout),
            retries=False,
            maxsize=connections,
        )
        return cls(
            server=credentials.server.rstrip("/"),
            pool=pool,
            headers=headers,
            insecure=credentials.insecure,
            slots=threading.BoundedSemaphore(connections),
        )

    # --- requests -------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int] | None = None,
        body: Any = None,
        content_type: str = "application/json",
        retry: bool = True,
        timeout: float | None = None,
        bounded: bool = True,
    ) -> JSON:
        """One API call; `retry=False` turns the retries off (evictions); `timeout`
        shortens the wait for this answer (the pool's otherwise); `bounded=False` takes
        no slot (the Lease's release: reads a stop left in flight may hold them all)."""
        url = self.server + path
        if query:
            url += "?" + urlencode(query)
        headers = dict(self.headers)
        data = None
        if body is not None:
            headers["Content-Type"] = content_type
            data = json.dumps(body).encode()
        attempt = 0
        while True:
            attempt += 1
            retries_left = retry and attempt <= RETRIES
            try:
                with self._slots if bounded else contextlib.nullcontext():
                    response = self.pool.request(
                        method,
                        url,
                        body=data,
                        headers=headers,
                        **(
                            {"timeout": urllib3.Timeout(connect=5.0, read=timeout)}
                            if timeout
                            else {}
                        ),
                    )
            except ValueError:
                # http.client refusing a header value, quoting it (the token): never shown.
                raise ConfigError(
                    f"{method} {path}: a request header holds a character HTTP forbids"
                ) from None
            except urllib3.exceptions.HTTPError as error:
                if retries_left and method == "GET":
                    self._pause(attempt, None, f"{method} {path}: {_short(error)}")
                    continue
                where = kubeconfig_module.without_userinfo(self.server)
                raise Unreachable(
                    f"cannot reach the API server at {where}: {_short(error)}"
                ) from None
            if method != "GET":
                with self._counting:
                    self.writes += 1
            self._heard(response)
            if response.status < 400:
                break
            wait = _retry_after(response)
            if retries_left and (
                (method == "GET" and response.status in _RETRIED_READS)
                or response.status == 429
                or (response.status == 503 and wait is not None)
            ):
                self._pause(attempt, wait, f"{method} {path}: {response.status}")
                continue
            if method != "GET" and response.status in (404, 409):
                # Written on a stale copy: a watch that shows it must list again.
                with self._counting:
                    self._written.append((_kind_of(path), STALE))
            raise self._error(method, path, response)
        if not response.data:
            return {}
        try:
            parsed: JSON = decoded(response.data)
        except ValueError:
            raise KubeError(
                f"{method} {path}: the API server answered something that is not JSON"
            ) from None
        if method != "GET":
            self._wrote(method, path, parsed)
        return parsed

    def _wrote(self, method: str, path: str, answer: JSON) -> None:
        """Record a write's revision for `take_written`. Not a DELETE's: it answers the
        object as it was, and its deletion's revision is unknown (the runner deletes
        only finished requests past their TTL, with a uid precondition: a copy still
        showing one makes the next delete answer 404, already done)."""
        version = (answer.get("metadata") or {}).get("resourceVersion")
        if (
            method == "DELETE"
            or not isinstance(version, str)
            or not version.isdigit()
            or answer.get("kind") == "Status"
        ):
            return
        with self._counting:
            self._written.append((_kind_of(path), int(version)))

    def _heard(self, response: urllib3.BaseHTTPResponse) -> None:
        date = response.headers.get("Date")
        if not date:
            return
        try:
            said = parsedate_to_datetime(date)
        except (TypeError, ValueError):
            return
        if said.tzinfo is not None:
            self._server_clock = (said.astimezone(UTC), time.monotonic())

    def server_now(self) -> datetime | None:
        """The API server's clock: the Date of its last answer (whole seconds), moved on
        by our monotonic clock since. None before any answer. What the Lease and the
        plan are judged by, so that a runner whose own clock is off cannot take a live
        Lease or expire a request early."""
        if self._server_clock is None:
            return None
        said, then = self._server_clock
        return said + timedelta(seconds=time.monotonic() - then)

    def _pause(self, attempt: int, wait: float | None, why: str) -> None:
        seconds = min(MAX_WAIT, wait if wait is not None else BACKOFF * 2 ** (attempt - 1))
        self._note(f"{why}; retry {attempt}/{RETRIES} in {seconds:g} s")
        time.sleep(seconds)

    def _note(self, why: str) -> None:
        with self._counting:
            self.retries += 1
        if self.on_retry is not None:
            self.on_retry(why)

    def _error(
        self, method: str, path: str, response: urllib3.BaseHTTPResponse, *, verb: str = ""
    ) -> KubeError:
        try:
            status: JSON = json.loads(response.data)
        except ValueError:
            status = {}
        message = status.get("message") or response.reason or ""
        resource, collection = _resource_of(path)
        verb = verb or (
            "list" if method == "GET" and collection else _VERBS.get(method, method.lower())
        )
        if response.status == 401:
            text = f"unauthorized: the cluster refused the credentials ({message})"
        elif response.status == 403:
            text = f"forbidden: {verb} {resource}: {message}"
        else:
            text = f"{verb} {resource}: {response.status} {status.get('reason', '')}: {message}"
        details = status.get("details") if isinstance(status.get("details"), dict) else {}
        causes = tuple(
            str(cause.get("reason") or "")
            for cause in (details.get("causes") or [])
            if isinstance(cause, dict)
        )
        return KubeError(
            text, status=response.status, reason=str(status.get("reason", "")), causes=causes
        )

    def list(self, path: str, *, query: Mapping[str, str] | None = None) -> Iterator[JSON]:
        """All items of a collection, page by page; starts over if a page expires (410)."""
        yield from self.list_as(path, lambda item: item, query=query)

    def list_as(
        self,
        path: str,
        convert: Callable[[JSON], T],
        *,
        query: Mapping[str, str] | None = None,
        page_size: int | None = None,
        keep: Callable[[JSON], bool] | None = None,
    ) -> builtins.list[T]:
        """All items of a collection (those `keep` says yes to), each converted as its
        page arrives, so that only one page of raw JSON is held at a time (a forecast's
        150,000 pods were 3.5 GB as dicts); starts over if a page expires (410)."""
        return self.list_at(path, convert, query=query, page_size=page_size, keep=keep)[0]

    def list_at(
        self,
        path: str,
        convert: Callable[[JSON], T],
        *,
        query: Mapping[str, str] | None = None,
        page_size: int | None = None,
        keep: Callable[[JSON], bool] | None = None,
    ) -> tuple[builtins.list[T], str]:
        """`list_as`, and the list's resourceVersion: the revision it was read at, from
        which a watch goes on (runner.mirror)."""

        def fetch(token: str) -> JSON:
            limit = page_size or PAGE_SIZE  # read now: tests make pages small
            page_query: dict[str, str | int] = {**(query or {}), "limit": limit}
            if token:
                page_query["continue"] = token
            return self.request("GET", path, query=page_query)

        for _attempt in range(3):
            items: builtins.list[T] = []
            version = ""
            # The next page is asked for while this one is converted: the API server
            # pages on its side while we convert on ours (a forecast's 150,000 pods).
            try:
                page = fetch("")
                while True:
                    meta = page.get("metadata") or {}
                    token = meta.get("continue") or ""
                    version = str(meta.get("resourceVersion") or version)
                    # On a daemon thread: after a SIGTERM, a page in flight holds up
                    # neither the Lease's release nor the exit (it ends by itself).
                    following = _in_background(fetch, token) if token else None
                    items.extend(
                        convert(item)
                        for item in page.get("items") or []
                        if keep is None or keep(item)
                    )
                    del page  # before the next page is decoded
                    if following is None:
                        break
                    page = following.result()
            except KubeError as error:
                if error.status == 410:
                    self._note(
                        f"list {_resource_of(path)[0]}: the page token expired; from the top"
                    )
                    continue
                raise
            return items, version
        raise KubeError(
            f"list {_resource_of(path)[0]}: the list kept changing (410 three times)", status=410
        )

    def watch(self, path: str, *, version: str, seconds: int) -> Iterator[JSON]:
        """The events of a collection after `version`, with bookmarks, as the server
        sends them, for at most `seconds` (the server ends the watch then). The request
        is made here: an error answer is a `KubeError` now (403: no watch permission;
        410: `version` is compacted away, list again); a connection lost midway ends
        the events with `Unreachable`. Not bounded by the slots: a watch holds its
        connection for its whole length. `stop_watches` ends every watch in flight."""
        query = {
            "watch": "1",
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": seconds,
        }
        url = f"{self.server}{path}?{urlencode(query)}"
        try:
            response = self.pool.request(
                "GET",
                url,
                headers=self.headers,
                preload_content=False,
                timeout=urllib3.Timeout(connect=5.0, read=seconds + WATCH_SLACK),
            )
        except urllib3.exceptions.HTTPError as error:
            where = kubeconfig_module.without_userinfo(self.server)
            raise Unreachable(f"cannot reach the API server at {where}: {_short(error)}") from None
        if response.status >= 400:
            response.read()
            response.release_conn()
            raise self._error("GET", path, response, verb="watch")
        with self._counting:
            self._watches.add(response)
        return self._events(path, response)

    def _events(self, path: str, response: urllib3.BaseHTTPResponse) -> Iterator[JSON]:
        resource = _resource_of(path)[0]
        try:
            for line in response:
                if line.strip():
                    try:
                        yield decoded(line)
                    except ValueError:
                        raise KubeError(f"watch {resource}: an event is not JSON") from None
        except urllib3.exceptions.HTTPError as error:
            raise Unreachable(f"watch {resource}: {_short(error)}") from None
        finally:
            with self._counting:
                self._watches.discard(response)
            response.release_conn()

    def stop_watches(self) -> None:
        """End every watch in flight (their events end); at the end of a run."""
        with self._counting:
            watching = builtins.list(self._watches)
        for response in watching:
            shutdown = getattr(response, "shutdown", None)  # urllib3 2.3+
            # RuntimeError: its watch ended and gave the connection back meanwhile.
            with contextlib.suppress(OSError, RuntimeError, urllib3.exceptions.HTTPError):
                (shutdown or response.close)()

    def take_written(self) -> builtins.list[tuple[str, int]]:
        """The writes answered since the last call: (resource, the resourceVersion a
        watch of it must reach to show the write, or `STALE`), for read-your-writes
        (runner.mirror)."""
        with self._counting:
            written, self._written = self._written, []
        return written

    def served(self, group_version: str) -> bool:
        """Does the API server serve this group/version (e.g. 'policy/v1')?"""
        if group_version not in self.discovered:
            path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
            try:
                self.request("GET", path)
                self.discovered[group_version] = True
            except KubeError as error:
                if error.status != 404:
                    raise
                self.discovered[group_version] = False
        return self.discovered[group_version]

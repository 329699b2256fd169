"""Credentials for the runner, without loading the kubernetes client when it can.

The common cases — in-cluster ServiceAccount, or a kubeconfig with a token or a client
certificate — are read here directly (importing the kubernetes package costs 0.3 s, a
large part of a pass on a small cluster). Anything else (exec plugins, auth providers,
several kubeconfig files merged) returns None, and the caller lets the kubernetes
package do it.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import attrs
import yaml

from runner.files import FileProblem, read_text

SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class KubeconfigError(Exception):
    """The kubeconfig cannot be used; the message says where and why."""


def without_userinfo(url: str) -> str:
    """`https://user:secret@host/` -> `https://host/`: an address fit for a message."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, path = rest.partition("/")
    return f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"


def _hidden(value: object) -> str:
    return "None" if value is None else "<hidden>"


@attrs.frozen
class Credentials:
    """What a connection needs. Secrets show as `<hidden>` in the repr."""

    server: str = attrs.field(repr=lambda url: repr(without_userinfo(url)))
    token: str | None = attrs.field(default=None, repr=_hidden)
    ca_file: str | None = None
    ca_data: str | None = attrs.field(default=None, repr=_hidden)
    cert_file: str | None = None
    key_file: str | None = None
    cert_data: bytes | None = attrs.field(default=None, repr=_hidden)
    key_data: bytes | None = attrs.field(default=None, repr=_hidden)
    insecure: bool = False


def _yaml_problem(error: yaml.YAMLError) -> str:
    """What is wrong and where, never the text around it: a kubeconfig's neighbouring
    lines are tokens and keys, which PyYAML's own message quotes."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"invalid YAML: {error.problem or error.context or 'cannot parse'}{where}"
    return "invalid YAML"


def in_cluster() -> Credentials | None:
    host, port = (
        os.environ.get("KUBERNETES_SERVICE_HOST"),
        os.environ.get("KUBERNETES_SERVICE_PORT"),
    )
    if not host or not port:
        return None
    try:
        token = (SERVICE_ACCOUNT / "token").read_text().strip()
    except OSError as error:
        raise KubeconfigError(
            f"in-cluster token {SERVICE_ACCOUNT / 'token'}: {error.strerror}"
        ) from None
    server_host = f"[{host}]" if ":" in host else host
    return Credentials(
        server=f"https://{server_host}:{port}", token=token, ca_file=str(SERVICE_ACCOUNT / "ca.crt")
    )


def _named(items: Any, name: str, what: str, path: Path) -> dict[str, Any]:
    for item in items or []:
        if isinstance(item, dict) and item.get("name") == name:
            return dict(item.get(what) or {})
    raise KubeconfigError(f"{path}: no {what} named {name!r}")


def from_file(path: Path, context: str | None) -> Credentials | None:
    try:
        document = yaml.safe_load(read_text(path))
    except FileProblem as problem:
        raise KubeconfigError(f"{path}: {problem}") from None
    except yaml.YAMLError as error:
        raise KubeconfigError(
            f"{path}: not a readable kubeconfig ({_yaml_problem(error)})"
        ) from None
    except RecursionError:
        raise KubeconfigError(f"{path}: not a readable kubeconfig (nested too deeply)") from None
    if not isinstance(document, dict):
        raise KubeconfigError(f"{path}: not a kubeconfig")
    name = context or document.get("current-context")
    if not name:
        raise KubeconfigError(f"{path}: no current-context, and no --context given")
    chosen = _named(document.get("contexts"), name, "context", path)
    cluster = _named(document.get("clusters"), chosen.get("cluster", ""), "cluster", path)
    user = (
        _named(document.get("users"), chosen.get("user", ""), "user", path)
        if chosen.get("user")
        else {}
    )
    if set(user) - {
        "token",
        "tokenFile",
        "client-certificate",
        "client-key",
        "client-certificate-data",
        "client-key-data",
    }:
        return None  # exec, auth-provider, basic auth...: the kubernetes package knows them
    base = path.parent

    def relative(value: Any) -> str | None:
        return None if not value else str(base / str(value))

    def decoded(value: Any) -> bytes | None:
        return None if not value else base64.b64decode(str(value))

    token = user.get("token")
    if not token and user.get("tokenFile"):
        token_file = Path(relative(user["tokenFile"]) or "")
        try:
            token = read_text(token_file).strip()
        except FileProblem as problem:
            raise KubeconfigError(f"{path}: tokenFile {token_file}: {problem}") from None
    server = cluster.get("server")
    if not server:
        raise KubeconfigError(f"{path}: cluster {chosen.get('cluster')!r} has no server")
    ca_data = decoded(cluster.get("certificate-authority-data"))
    return Credentials(
        server=str(server),
        token=token,
        ca_file=relative(cluster.get("certificate-authority")),
        ca_data=ca_data.decode() if ca_data else None,
        cert_file=relative(user.get("client-certificate")),
        key_file=relative(user.get("client-key")),
        cert_data=decoded(user.get("client-certificate-data")),
        key_data=decoded(user.get("client-key-data")),
        insecure=bool(cluster.get("insecure-skip-tls-verify")),
    )


def load(kubeconfig: str | None, context: str | None) -> Credentials | None:
    """Credentials, or None when only the kubernetes package can work them out."""
    if kubeconfig is None and context is None:
        found = in_cluster()
        if found is not None:
            return found
    if kubeconfig is None:
        paths = os.environ.get("KUBECONFIG", "")
        if os.pathsep in paths:
            return None  # several files to merge
        kubeconfig = paths or str(Path.home() / ".kube" / "config")
    return from_file(Path(kubeconfig), context)

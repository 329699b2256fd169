"""Reading credentials without the kubernetes package: what runner/kubeconfig.py takes
on itself, and what it hands over (exec plugins, auth providers, merged files).

Covers: token, token file and client-certificate users, inline and relative-path TLS
material, --context, in-cluster ServiceAccount, and one-line errors for a missing file,
a missing context and a cluster without a server. Real connections are the
integration tests' (every one of them goes through this).
"""

import base64
from pathlib import Path
from typing import Any

import pytest
import yaml

from runner import kubeconfig


def write(tmp_path: Path, users: list[dict[str, Any]], **extra: Any) -> Path:
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "c",
                "cluster": {"server": "https://127.0.0.1:6443", "certificate-authority": "ca.crt"},
            },
            {
                "name": "d",
                "cluster": {
                    "server": "https://10.1.1.1",
                    "certificate-authority-data": base64.b64encode(b"PEM").decode(),
                },
            },
        ],
        "users": users,
        "contexts": [
            {"name": "main", "context": {"cluster": "c", "user": users[0]["name"]}},
            {"name": "other", "context": {"cluster": "d", "user": users[-1]["name"]}},
        ],
        "current-context": "main",
        **extra,
    }
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(document))
    return path


def test_token_user_with_relative_ca(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "u", "user": {"token": "abc"}}])
    found = kubeconfig.load(str(path), None)
    assert found == kubeconfig.Credentials(
        server="https://127.0.0.1:6443", token="abc", ca_file=str(tmp_path / "ca.crt")
    )


def test_context_choice_token_file_and_inline_data(tmp_path: Path) -> None:
    (tmp_path / "token").write_text("from-file\n")
    path = write(
        tmp_path,
        [
            {"name": "u", "user": {"token": "abc"}},
            {
                "name": "v",
                "user": {
                    "tokenFile": "token",
                    "client-certificate-data": base64.b64encode(b"CERT").decode(),
                    "client-key-data": base64.b64encode(b"KEY").decode(),
                },
            },
        ],
    )
    found = kubeconfig.load(str(path), "other")
    assert found is not None
    assert (found.server, found.token, found.ca_data) == ("https://10.1.1.1", "from-file", "PEM")
    assert (found.cert_data, found.key_data) == (b"CERT", b"KEY")


def test_exec_plugins_are_left_to_the_kubernetes_package(tmp_path: Path) -> None:
    path = write(tmp_path, [{"name": "u", "user": {"exec": {"command": "aws", "apiVersion": "x"}}}])
    assert kubeconfig.load(str(path), None) is None


def test_in_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("sa-token\n")
    monkeypatch.setattr(kubeconfig, "SERVICE_ACCOUNT", tmp_path)
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "443")
    found = kubeconfig.load(None, None)
    assert found == kubeconfig.Credentials(
        server="https://10.0.0.1:443", token="sa-token", ca_file=str(tmp_path / "ca.crt")
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"current-context": "nope"}, "no context named 'nope'"),
        ({"current-context": None}, "no current-context"),
        ({"clusters": [{"name": "c", "cluster": {}}]}, "has no server"),
    ],
)
def test_errors_name_the_file_and_the_problem(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, [{"name": "u", "user": {"token": "abc"}}], **change)
    with pytest.raises(kubeconfig.KubeconfigError) as caught:
        kubeconfig.load(str(path), None)
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_missing_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(kubeconfig.KubeconfigError, match="no such file"):
        kubeconfig.load(str(tmp_path / "missing"), None)

"""The actor's first five minutes (issue 19), the parts that need no API server:
request names in kubectl's forms, the `--wait` progress line, and credentials kept out
of every repr and error message.

Leaves out what needs one (the control plane's test_actors.py): a missing target
refused, a timed-out or interrupted wait withdrawn, and the token searched for in a
real pass's logs and the Python API's output.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from repairman.actor import Request, maintenance, request_name
from repairman.plugin import Progress
from runner.kube import ConfigError, Kube, Unreachable
from runner.kubeconfig import Credentials, KubeconfigError, from_file

TOKEN = "s3cr3t-token-of-the-actor"


@pytest.mark.parametrize(
    ("reference", "name"),
    [
        ("mr-n1-rqdcs", "mr-n1-rqdcs"),
        ("maintenancerequest/mr-n1-rqdcs", "mr-n1-rqdcs"),
        ("maintenancerequests/mr-n1-rqdcs", "mr-n1-rqdcs"),
        ("mr/mr-n1-rqdcs", "mr-n1-rqdcs"),
        ("MaintenanceRequest/mr-n1-rqdcs", "mr-n1-rqdcs"),
        ("maintenancerequest.repairman.k8s.io/mr-n1-rqdcs", "mr-n1-rqdcs"),
    ],
)
def test_request_names_in_every_form_kubectl_prints(reference: str, name: str) -> None:
    assert request_name(reference) == name


@pytest.mark.parametrize("reference", ["node/worker-1", "ml/node", "mr/", "", "a/b/c"])
def test_anything_else_is_refused_saying_what_to_use(reference: str) -> None:
    with pytest.raises(ValueError, match=r"(?i)request"):
        request_name(reference)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_rewrites_one_line_and_ends_it() -> None:
    stream = Terminal()
    progress = Progress(stream)
    progress("mr-a: Pending (new)")
    progress("mr-a: Approved (Approved)")
    progress.end()
    progress.end()  # idempotent: the error path and the finally both end it
    assert stream.getvalue() == ("\r\x1b[Kmr-a: Pending (new)\r\x1b[Kmr-a: Approved (Approved)\n")


def test_progress_into_a_pipe_is_one_line_per_change() -> None:
    stream = io.StringIO()
    progress = Progress(stream)
    progress("mr-a: Pending (new)")
    progress("mr-a: Approved (Approved)")
    progress.end()
    assert stream.getvalue() == "mr-a: Pending (new)\nmr-a: Approved (Approved)\n"


def connected(tmp_path: Path, server: str = "https://127.0.0.1:1") -> Kube:
    config = tmp_path / "config"
    config.write_text(
        f"""
apiVersion: v1
kind: Config
current-context: c
clusters: [{{name: c, cluster: {{server: "{server}", insecure-skip-tls-verify: true}}}}]
users: [{{name: u, user: {{token: {TOKEN}}}}}]
contexts: [{{name: c, context: {{cluster: c, user: u}}}}]
"""
    )
    return Kube.connect(kubeconfig=str(config), timeout=1.0)


def test_no_repr_shows_a_credential(tmp_path: Path) -> None:
    kube = connected(tmp_path, server="https://admin:hunter2@127.0.0.1:1")
    assert kube.headers["Authorization"] == f"Bearer {TOKEN}", "the token is used"
    request = Request(kube, "maintenancerequest/mr-a")
    credentials = Credentials(
        server="https://admin:hunter2@h", token=TOKEN, key_data=b"KEY", ca_data="CA"
    )
    for shown in (repr(kube), repr(request), str(request), repr(credentials)):
        assert TOKEN not in shown and "hunter2" not in shown and "KEY" not in shown, shown
    assert request.name == "mr-a"
    assert repr(request).startswith("Request(kube=Kube(server='https://127.0.0.1:1'")
    assert repr(request).endswith("name='mr-a')")


def test_errors_name_the_server_without_its_password(tmp_path: Path) -> None:
    kube = connected(tmp_path, server="https://admin:hunter2@127.0.0.1:1")
    with pytest.raises(Unreachable) as caught:
        kube.request("GET", "/api/v1/nodes", retry=False)
    assert "https://127.0.0.1:1" in str(caught.value)
    assert "hunter2" not in str(caught.value) and TOKEN not in str(caught.value)


def test_a_kubeconfig_with_a_yaml_error_is_not_quoted_back(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text(f"users:\n- name: u\n  user:\n    token: {TOKEN}\n  bad: [unclosed\nx: 1\n")
    with pytest.raises(KubeconfigError) as caught:
        from_file(config, None)
    message = str(caught.value)
    assert TOKEN not in message, message
    assert str(config) in message and "line" in message and "\n" not in message


def test_a_token_with_a_line_break_is_stripped_and_a_bad_one_never_shown(
    tmp_path: Path,
) -> None:
    """Found by the break-this review: `token: |` keeps a line break, which http.client
    refused with a ValueError quoting the header — the token — in a traceback."""
    connected(tmp_path)  # writes tmp_path/config with the plain token
    config = tmp_path / "config"
    plain = config.read_text()
    config.write_text(plain.replace(f"token: {TOKEN}", f'token: "{TOKEN}\\n"'))
    assert Kube.connect(kubeconfig=str(config)).headers["Authorization"] == f"Bearer {TOKEN}"
    config.write_text(plain.replace(f"token: {TOKEN}", f'token: "{TOKEN}\\nsecond"'))
    with pytest.raises(ConfigError) as caught:
        Kube.connect(kubeconfig=str(config))
    assert "token" in str(caught.value) and TOKEN not in str(caught.value)


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), 0, -5, "60"])
def test_a_wait_must_be_finite_and_positive_before_anything_is_filed(timeout: object) -> None:
    """Issue 32 item 2: timeout=nan compared false with every deadline, and the wait
    polled without sleeping (12,135 GETs a second). Refused before any request is
    filed or any cluster contacted."""
    with (
        pytest.raises(ValueError, match="timeout must be"),
        maintenance("worker-1", requester="me", timeout=timeout),  # type: ignore[arg-type]
    ):
        pytest.fail("the body must not run")


@pytest.mark.parametrize("name", ["mr-a?watch=1", "mr-a%2F..", "..", "MR-A", "mr a"])
def test_a_request_name_that_would_change_the_api_path_is_refused(name: str) -> None:
    """Issue 32 item 6: the name goes into an API path."""
    with pytest.raises(ValueError, match="not a request name"):
        request_name(name)


def test_text_from_the_api_is_printed_without_its_control_characters() -> None:
    """Issue 32 item 6: a requester or reason with an escape sequence, printed raw by
    `list` and `explain`, could rewrite the operator's terminal."""
    from repairman.plugin import _table  # noqa: PLC0415

    printed = _table(("NAME", "REQUESTER"), [("mr-a", "evil\x1b[2J\x1b[Hclean")])
    assert "\x1b" not in printed and "\\x1b[2J" in printed, printed

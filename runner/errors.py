"""The one way a runner command fails: `Failure(message, code)`.

Raised anywhere below the command line; click turns it into one line on stderr
("error: ...") and the exit code, at its own boundary, once. Exit codes: 1 the pass
itself failed (the cluster unreachable, a permission missing, the CRDs not installed, a
decision failed), 2 bad usage, configuration or input file, 128 + N stopped by signal N
(143 for SIGTERM, 130 for SIGINT: runner.signals).
"""

from __future__ import annotations

from typing import IO, Any

import click

EXIT_PASS_FAILED = 1
EXIT_USAGE = 2


class Failure(click.ClickException):
    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.exit_code = code

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True, file=file)

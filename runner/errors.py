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


_HELP_INSTEAD = getattr(click.exceptions, "NoArgsIsHelpError", ())
"""Raised for a bare group: click shows the help then, which stays as it is."""


class _OneLine(click.Command):
    """A command whose usage errors (an unknown option, a bad value, a missing
    argument) are one line, as every other error: `error: WHAT (see COMMAND --help)`
    and exit 2, instead of click's usage block."""

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            if isinstance(error, _HELP_INSTEAD):
                raise
            raise _one_line(error) from None

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            if isinstance(error, _HELP_INSTEAD):
                raise
            raise _one_line(error) from None


class OneLineUsage(_OneLine, click.Group):
    """A command group with one-line usage errors."""


class OneLineCommand(_OneLine):
    """A single command with one-line usage errors."""


def _one_line(error: click.UsageError) -> Failure:
    where = f" (see {error.ctx.command_path} --help)" if error.ctx is not None else ""
    return Failure(f"{error.format_message()}{where}", EXIT_USAGE)

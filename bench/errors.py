"""Errors a user can cause: the CLI prints them as one line and exits non-zero."""


def first_line(exc: BaseException) -> str:
    """An exception's message cut to its first line, for one-line reports ('' when it has none)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else ""


class BenchError(Exception):
    """A problem with the user's input or environment, not a bug in bench."""


class UnknownNameError(BenchError):
    """A method, dataset or protocol name that is not registered."""


class DataError(BenchError):
    """Missing, corrupt or unusable data files."""


class TrackingError(BenchError):
    """The MLflow tracking store cannot be reached or used."""

"""Errors a user can cause: the CLI prints them as one line and exits non-zero."""


class BenchError(Exception):
    """A problem with the user's input or environment, not a bug in bench."""


class UnknownNameError(BenchError):
    """A method, dataset or protocol name that is not registered."""


class DataError(BenchError):
    """Missing, corrupt or unusable data files."""


class TrackingError(BenchError):
    """The MLflow tracking store cannot be reached or used."""

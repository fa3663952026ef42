"""The ``mlwarden`` command line: the only code that prints or exits (see :mod:`._app`)."""

from mlwarden.cli._app import main

__all__ = ["main"]

"""The package's version, in a module of its own so that every layer may read it without importing the top."""

__version__ = "0.1.0"  # keep in step with pyproject.toml's [project] version

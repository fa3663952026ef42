"""``python -m mlwarden``."""

from mlwarden.cli import main

main()

"""``python -m brahmi``: the same as the ``brahmi`` command."""

from brahmi.cli.app import main

main()

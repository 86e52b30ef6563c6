"""Command-line entry point: ``python starter.py COMMAND ...`` (see ``--help``)."""

import sys

from cli.main import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m dmt``."""

from dmt.cli import main

main()

"""`python -m launcher` runs the command line."""

from launcher.cli import main

raise SystemExit(main())

"""``python -m hub``: the ``hub`` command line."""

from hub.cli import main

raise SystemExit(main())

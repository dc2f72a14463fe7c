"""`python -m streamrec COMMAND ...`: the same as the ``streamrec`` command."""

from streamrec.cli.main import main

raise SystemExit(main())

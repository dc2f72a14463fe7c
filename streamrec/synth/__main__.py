"""``python -m streamrec.synth``: see :mod:`streamrec.synth.cli`."""

from streamrec.synth.cli import main

raise SystemExit(main())

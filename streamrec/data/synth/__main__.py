"""``python -m streamrec.data.synth``: see :mod:`streamrec.data.synth.cli`."""

from streamrec.data.synth.cli import main

raise SystemExit(main())

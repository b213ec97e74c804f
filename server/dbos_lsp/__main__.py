import os
import sys

# ``python -m dbos_lsp`` puts the working directory first on sys.path.  Started inside a
# user's project, that would let its modules (a ``tomllib.py``, say) shadow ours, and so
# run workspace code: drop that entry before importing anything else.
if sys.path and sys.path[0] in ("", os.getcwd()):
    del sys.path[0]

from dbos_lsp.cli.main import main

raise SystemExit(main())

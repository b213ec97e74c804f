"""Launch the dbos-lsp server bundled in the VS Code extension (dbos.importStrategy = useBundled).

The .vsix ships the server source next to this file (bundled/tool/dbos_lsp) and its
pure-Python dependencies (pygls, lsprotocol, cattrs, attrs, jedi, parso, ...) in
bundled/libs. Both go first on sys.path, ahead of the interpreter's site-packages, so
any Python >= 3.10 can run the server without installing anything.
"""

import os
import runpy
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIBS = os.path.join(os.path.dirname(HERE), "libs")


def main() -> None:
    if sys.version_info < (3, 10):
        sys.stderr.write(
            "dbos-lsp needs Python >= 3.10, but %s is %s. Set dbos.interpreter to a newer Python.\n"
            % (sys.executable, sys.version.split()[0])
        )
        raise SystemExit(1)
    for entry in (HERE, LIBS):
        while entry in sys.path:
            sys.path.remove(entry)
    sys.path[:0] = [LIBS, HERE]
    # Same as `python -m dbos_lsp`, with the bundled copies found first.
    runpy.run_module("dbos_lsp", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()

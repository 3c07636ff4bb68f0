"""The frozen app's entry point (PyInstaller runs this file as ``__main__``).

It is ``modelbay`` (``app.cli:main``: no command opens the window), plus the two
ways the app re-runs its own executable, which in a frozen build is this program
rather than a Python interpreter:

- ``modelbay serve`` execs ``sys.executable -m app.serving ...``: here that runs the
  serving runtime bundled in the app;
- the serving runtime's worker processes (multiprocessing, spawn) re-run the
  executable with multiprocessing's own arguments: ``freeze_support`` handles them.
"""

import multiprocessing
import sys


def _entry() -> None:
    multiprocessing.freeze_support()
    if sys.argv[1:3] == ["-m", "app.serving"]:
        from app.serving.__main__ import main as serve

        raise SystemExit(serve(sys.argv[3:]))
    from app.cli import run

    run()


if __name__ == "__main__":
    _entry()

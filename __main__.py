"""What ``python -m bench`` runs from the folder that holds a clone of this repository named ``bench``.

Python then imports the clone's top folder (a namespace package, with no ``__init__``) instead of
the installed package, and finds this file as ``bench.__main__``. It says so in one line, then runs
the installed bench, or says how to install it. It is not part of the installed package.
"""

import os
import sys

if __name__ == "__main__":
    clone = os.path.dirname(os.path.abspath(__file__))
    above = os.path.dirname(clone)
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != above]
    os.environ["PYTHONSAFEPATH"] = "1"  # nor in the worker processes, which start with `python -c`
    for name in [m for m in sys.modules if m == "bench" or m.startswith("bench.")]:
        del sys.modules[name]
    try:
        from bench.cli.main import main
    except ImportError:
        print(
            f"bench: error: {clone} is a clone of bench's sources, which Python took for the package "
            f"because you ran from {above}, and bench is not installed here: pip install -e {clone}",
            file=sys.stderr,
        )
        sys.exit(2)
    installed = os.path.dirname(os.path.dirname(sys.modules["bench.cli.main"].__file__))
    print(
        f"bench: note: the folder {clone} here shadows the installed bench; running the installed one "
        f"({installed}), as from any other folder",
        file=sys.stderr,
    )
    sys.exit(main())

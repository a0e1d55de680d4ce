"""Keep Great Expectations' import from ending the process with success.

Why: once pyspark is installed (the Spark engine), GX's compatibility layer imports
`pyspark.sql.connect`, whose `check_dependencies()` takes a `__main__` module with neither
`__spec__` nor `__file__` for pyspark's own doctest runner and, without the Spark Connect
extras, calls `sys.exit(0)` at import. Such a `__main__` is what `python -c`, `python -` and
pytest-xdist's workers have. A gate that exits 0 without validating anything is the worst
failure a gate can have (found by bench/engines.py, whose `python -c` child stopped silently at
the gate). So before GX is imported, such a `__main__` is given a `__file__`: it is not a
doctest run. A real script or module `__main__` is left as it is.
"""

from __future__ import annotations

import sys

NOT_A_DOCTEST = "<claims-pseudo-pipeline: not a pyspark doctest run>"


def mark_main_module() -> None:
    """Give a spec-less, file-less `__main__` a `__file__` (idempotent)."""
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "__spec__", None) is None \
            and not hasattr(main, "__file__"):
        main.__file__ = NOT_A_DOCTEST

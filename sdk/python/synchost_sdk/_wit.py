"""The generated bindings of the contract (`synchost:source@0.2.0`).

Inside a component, componentize-py generates the `wit_world` package (and
`componentize_py_types`) from the WIT given to `componentize-py -d WIT`; its
imports call the host. Natively (plain CPython, unit tests) there is no
generated package on the path, so the copy in `_bindings/`, generated from
the same WIT by `componentize-py bindings`, takes its place: the same
dataclasses, but its imports raise `NotImplementedError` until
`synchost_sdk.testing` substitutes them.
"""

import os
import sys

#: True inside the host (a componentize-py build runs on WASI).
IN_HOST = sys.platform == "wasi"

try:
    import wit_world  # noqa: F401
except ImportError:
    sys.path.append(os.path.join(os.path.dirname(__file__), "_bindings"))

from componentize_py_types import Err, Ok  # noqa: E402
from wit_world import exports  # noqa: E402
from wit_world.imports import http, log, types  # noqa: E402

__all__ = ["IN_HOST", "Err", "Ok", "exports", "http", "log", "types"]

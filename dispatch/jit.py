"""A typed ``numba.njit``: compiled kernels keep their Python signatures for mypy.

Kernels are cached on disk next to their module, so only the first run on a machine pays
the compilation (a few seconds).
"""

from collections.abc import Callable
from typing import TypeVar, cast

import numba

F = TypeVar("F", bound=Callable[..., object])


def jit(fn: F) -> F:
    """Compile ``fn`` in nopython mode, cached, releasing the GIL."""
    return cast("F", numba.njit(cache=True, nogil=True)(fn))

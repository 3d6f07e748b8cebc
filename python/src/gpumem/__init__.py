"""gpumem: how much GPU memory a model needs, and whether it fits.

A thin ctypes binding of libgpumem (the same C code as the `gpumem` command):
every function returns what the matching `gpumem ... --json` command prints.

    >>> import gpumem
    >>> r = gpumem.estimate("llama-3.1-8b", dtype="bf16", context=8192, gpu="rtx-4090")
    >>> r["per_gpu_bytes"], r["fits"]
"""

from ._binding import (
    ESTIMATE_OPTIONS,
    Model,
    estimate,
    fit,
    gpus,
    inspect,
    models,
    version,
)
from .errors import (
    Error,
    InvalidError,
    NotFoundError,
    OutOfMemoryError,
    ParseError,
    ReadError,
    SizeOverflowError,
    UnsupportedError,
    UsageError,
)

__version__ = version()

__all__ = [
    "ESTIMATE_OPTIONS", "Model", "estimate", "fit", "gpus", "inspect", "models", "version",
    "Error", "InvalidError", "NotFoundError", "OutOfMemoryError", "ParseError", "ReadError",
    "SizeOverflowError", "UnsupportedError", "UsageError",
]

"""Where the compiled kernels' machine code is cached: a folder per version of their source.

numba caches each ``njit(cache=True)`` function beside its module and invalidates the
entry when *that* module's file changes, not when a kernel it calls or inlines from
another module does: edit the incremental decoder and the local search, whose file did
not change, keeps running the old decoder from its cache. Every kernel's cache therefore
goes to a folder named by a digest of all kernel sources (and numba's version), so any
edit, upgrade or downgrade compiles afresh instead of running stale or unloadable code.

The folder is ``kernels-<digest>`` under ``NUMBA_CACHE_DIR`` when that is set, else under
the package's ``__pycache__`` (or ``~/.cache/aps`` when the package is read-only).
:func:`configure` runs when a kernel package is imported, before its decorators.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

import numba

#: the packages, under ``aps``, whose modules define cached kernels
KERNEL_PACKAGES = ("heuristics", "solvers/jobshop")

_ROOT = Path(__file__).parent
_configured: Path | None = None


def digest() -> str:
    """A digest of every kernel source file (a module of the kernel packages that compiles
    or types kernels: it mentions ``njit`` or ``structref``) and of numba's version."""
    h = hashlib.sha256(numba.__version__.encode())
    for package in KERNEL_PACKAGES:
        for path in sorted((_ROOT / package).glob("*.py")):
            text = path.read_bytes()
            if b"njit" in text or b"structref" in text:
                h.update(path.name.encode())
                h.update(text)
    return h.hexdigest()[:16]


def _base() -> Path:
    given = os.environ.get("NUMBA_CACHE_DIR")
    if given:
        return Path(given)
    local = _ROOT / "__pycache__"
    if os.access(local if local.exists() else _ROOT, os.W_OK):
        return local
    return Path.home() / ".cache" / "aps"


def configure() -> Path:
    """Point numba's cache at this source version's folder (once per process)."""
    global _configured
    if _configured is None:
        _configured = _base() / f"kernels-{digest()}"
        setattr(numba.config, "CACHE_DIR", str(_configured))  # noqa: B010 (untyped module)
    return _configured


def prune() -> list[Path]:
    """Remove the cache folders of other source versions beside this one; the removed."""
    here = configure()
    gone = [p for p in here.parent.glob("kernels-*") if p != here and p.is_dir()]
    for path in gone:
        shutil.rmtree(path, ignore_errors=True)
    return gone

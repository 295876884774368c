"""The compiled kernels' cache follows every kernel source, not only each kernel's own file."""

from __future__ import annotations

import shutil
from pathlib import Path

import numba
import pytest

from aps import kernels


def test_the_cache_folder_changes_with_any_kernel_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Tests that editing one kernel module (the engine, which the local search inlines)
    names a new cache folder, so no kernel compiled against the old source is loaded,
    while editing a module without kernels (a portfolio) keeps the compiled ones."""
    root = Path(kernels.__file__).parent
    for package in kernels.KERNEL_PACKAGES:
        (tmp_path / package).mkdir(parents=True)
        for path in (root / package).glob("*.py"):
            shutil.copy(path, tmp_path / package / path.name)
    monkeypatch.setattr(kernels, "_ROOT", tmp_path)
    before = kernels.digest()
    assert kernels.digest() == before
    portfolio = tmp_path / "solvers" / "jobshop" / "strategy.py"  # no kernel in it
    portfolio.write_text(portfolio.read_text() + "\n# changed\n")
    assert kernels.digest() == before
    engine = tmp_path / "heuristics" / "engine.py"
    engine.write_text(engine.read_text() + "\n# changed\n")
    assert kernels.digest() != before


def test_numba_caches_in_the_folder_of_this_source_version() -> None:
    """Tests that importing a kernel package pointed numba at ``kernels-<digest>``."""
    import aps.heuristics  # noqa: F401  (configures the cache on import)

    path = kernels.configure()
    assert path.name == f"kernels-{kernels.digest()}"
    assert getattr(numba.config, "CACHE_DIR") == str(path)  # noqa: B009

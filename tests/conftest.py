"""Shared fixtures: where the JSSP library is, and tiny problems."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aps.io.instances import instance_dir


@pytest.fixture(scope="session")
def jssp_dir() -> Path:
    """The standard instances; their absence is reported, not silently skipped in CI."""
    try:
        return instance_dir()
    except FileNotFoundError as exc:
        message = f"JSSP instances missing: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


@pytest.fixture(scope="session")
def fjsp_dir() -> Path:
    """The flexible job-shop collection (``APS_FJSP_DIR`` or ../shared/fjsp), as above."""
    try:
        return instance_dir(collection="fjsp")
    except FileNotFoundError as exc:
        message = f"FJSP instances missing: {exc}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)

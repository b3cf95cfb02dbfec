"""Fixtures of the fault suite: the real ``brahmi`` console script."""

from __future__ import annotations

from tests.acceptance.conftest import brahmi_exe, cli

__all__ = ["brahmi_exe", "cli"]

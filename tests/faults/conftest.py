"""Fixtures of the fault suite: the real ``brahmi`` console script."""

from __future__ import annotations

from tests.acceptance.conftest import brahmi_exe

__all__ = ["brahmi_exe"]

"""Package textstats as a single-file app: ``dist/textstats.pyz`` (stdlib zipapp).

Run from the project root: ``python tools/package.py``. The archive runs with any Python
3.11+: ``python dist/textstats.pyz README.md``.
"""

from __future__ import annotations

import sys
import zipapp
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "src"
TARGET = ROOT / "dist" / "textstats.pyz"


def _include(path: Path) -> bool:
    # zipimport never reads __pycache__, so compiled files would only add weight.
    return "__pycache__" not in path.parts and path.suffix != ".pyc"


def main() -> int:
    """Build the archive and say where it is."""
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    zipapp.create_archive(
        SOURCE,
        target=TARGET,
        interpreter="/usr/bin/env python3",
        main="textstats.cli:run",
        filter=_include,
        compressed=True,
    )
    print(f"wrote {TARGET.relative_to(ROOT)} ({TARGET.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""``python -m todo_api``: serve the API on ``HOST``:``PORT`` (default 127.0.0.1:8000)."""

from __future__ import annotations

import os

import uvicorn

from todo_api.app import create_app


def main() -> None:
    uvicorn.run(
        create_app(),
        host=os.environ.get("HOST", "127.0.0.1"),
        port=int(os.environ.get("PORT", "8000")),
        log_level="info",
    )


if __name__ == "__main__":
    main()

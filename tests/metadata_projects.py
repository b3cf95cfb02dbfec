"""Small real projects, written into a folder, for ``brahmi metadata generate`` tests."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path


def write(root: Path, files: dict[str, str]) -> Path:
    """Write ``{relative path: text}`` under ``root`` (dedented); returns ``root``."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def compose_fastapi(root: Path) -> Path:
    """A compose file naming PostgreSQL, Redis, a mail catcher and a FastAPI backend
    built from ``backend/``, which reads its configuration from the environment."""
    return write(
        root,
        {
            "compose.yaml": """
                services:
                  db:
                    image: postgres:16-alpine
                    environment:
                      POSTGRES_DB: shop
                      POSTGRES_USER: shop
                      POSTGRES_PASSWORD: example-only
                  cache:
                    image: redis
                    ports:
                      - "6380:6379"
                  mail:
                    image: mailhog/mailhog:v1.0.1
                    ports: ["8025:8025"]
                  api:
                    build: ./backend
                    ports:
                      - "8080:8000"
                    environment:
                      - DB_USER=shop
                      - REDIS_URL=redis://cache:6379/0
                      - LOG_LEVEL=${LOG_LEVEL:-debug}
                    depends_on:
                      - db
                      - cache
            """,
            "backend/requirements.txt": """
                fastapi>=0.115  # the API
                uvicorn[standard]>=0.30
                psycopg[binary]>=3.2
            """,
            "backend/app/__init__.py": "",
            "backend/app/main.py": """
                import os

                from fastapi import FastAPI

                DATABASE_URL = os.environ["DATABASE_URL"]
                PASSWORD = os.getenv("DB_PASSWORD")
                LEVEL = os.environ.get("LOG_LEVEL", "info")
                STRIPE = os.getenv("STRIPE_API_KEY")
                NAME = os.environ.get('DB_NAME')
                PAGE = int(os.getenv("PAGE_SIZE", 50))

                app = FastAPI()


                @app.get("/healthz")
                def healthz() -> dict[str, str]:
                    return {"status": "ok"}
            """,
            "backend/tests/test_main.py": """
                import os
                HOME = os.environ["HOME"]
            """,
        },
    )


def vite_frontend(root: Path) -> Path:
    """A Vite app at the project root with a lock file and a custom output folder."""
    write(
        root,
        {
            "vite.config.ts": """
                import { defineConfig } from "vite";
                export default defineConfig({ build: { outDir: "public-build" } });
            """,
            "src/main.ts": """
                const api = import.meta.env.VITE_API_URL;
                const mode = import.meta.env.MODE;
                console.log(api, mode);
            """,
            "index.html": "<!doctype html><div id=app></div>\n",
            "package-lock.json": "{}\n",
            "node_modules/express/package.json": '{"name": "express"}\n',
            "node_modules/express/index.js": "process.env.SHOULD_NOT_BE_READ;\n",
        },
    )
    manifest = {
        "name": "Storefront",
        "private": True,
        "scripts": {"dev": "vite", "build": "vite build", "preview": "vite preview"},
        "devDependencies": {"vite": "^5.4.0", "typescript": "^5.5.0"},
    }
    (root / "package.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    return root


def go_backend(root: Path) -> Path:
    """A Gin server under ``cmd/server`` that talks to PostgreSQL through pgx."""
    return write(
        root,
        {
            "go.mod": """
                module example.com/orders

                go 1.22

                require (
                \tgithub.com/gin-gonic/gin v1.10.0
                \tgithub.com/jackc/pgx/v5 v5.6.0
                )
            """,
            "cmd/server/main.go": """
                package main

                import (
                \t"os"

                \t"github.com/gin-gonic/gin"
                )

                func main() {
                \tsecret := os.Getenv("JWT_SECRET")
                \tenv := os.Getenv("APP_ENV")
                \t_ = secret
                \t_ = env
                \tr := gin.Default()
                \tr.GET("/health", func(c *gin.Context) { c.String(200, "ok") })
                \tr.Run(":9090")
                }
            """,
            "internal/store/store.go": """
                package store

                import "os"

                func URL() string { return os.Getenv("DATABASE_URL") }
            """,
        },
    )


def node_monorepo(root: Path) -> Path:
    """A workspace root, an Express API in ``api/`` on MongoDB and a server-rendered
    Next.js app in ``web/``; compose names the database and builds the API."""
    write(
        root,
        {
            "compose.yml": """
                services:
                  mongo:
                    image: mongo:7
                    environment:
                      MONGO_INITDB_ROOT_USERNAME: root
                      MONGO_INITDB_ROOT_PASSWORD: ${MONGO_PASSWORD:?set it}
                  api:
                    build:
                      context: api
                    depends_on: [mongo]
            """,
            "api/server.js": """
                const express = require("express");
                const mongoose = require("mongoose");
                mongoose.connect(process.env.MONGO_URL);
                const origin = process.env["CORS_ORIGIN"];
                const app = express();
                app.get("/api/health", (req, res) => res.send("ok"));
                app.listen(process.env.PORT || 4000);
            """,
            "api/.env.example": """
                # copy to .env
                API_TOKEN=changeme
                CORS_ORIGIN=http://localhost:3000
            """,
            "web/next.config.js": "module.exports = { reactStrictMode: true };\n",
            "web/pages/index.js": (
                "export default function Home() { return process.env.NEXT_PUBLIC_API; }\n"
            ),
        },
    )
    manifests = {
        "package.json": {"name": "mono", "private": True, "workspaces": ["api", "web"]},
        "api/package.json": {
            "name": "api",
            "main": "server.js",
            "scripts": {"start": "node server.js"},
            "dependencies": {"express": "^4.19.0", "mongoose": "^8.0.0"},
        },
        "web/package.json": {
            "name": "web",
            "scripts": {"build": "next build", "start": "next start"},
            "dependencies": {"next": "14.2.0", "react": "18.3.0"},
        },
    }
    for rel, data in manifests.items():
        (root / rel).write_text(json.dumps(data, indent=2), encoding="utf-8")
    (root / "yarn.lock").write_text("", encoding="utf-8")
    return root


def src_layout_python(root: Path) -> Path:
    """A ``src/`` package started with ``python -m`` (a Dockerfile and compose say so),
    reading a Redis URL; the compose port differs from the framework's default."""
    return write(
        root,
        {
            "Dockerfile": """
                FROM python:3.12-slim
                WORKDIR /app
                COPY . .
                RUN pip install -r requirements.txt
                ENV PYTHONPATH=/app/src \\
                    WORKERS=2
                EXPOSE 7000
                CMD ["python", "-m", "notes"]
            """,
            "docker-compose.yaml": """
                services:
                  redis:
                    image: redis:7.2
                  notes:
                    build: .
                    ports: ["7000:7000"]
            """,
            "requirements.txt": "aiohttp>=3.9\nredis>=5\n",
            "src/notes/__init__.py": "",
            "src/notes/__main__.py": """
                import os

                from aiohttp import web

                URL = os.getenv("REDIS_URL")
                SECRET = os.environ["SESSION_SECRET"]


                async def health(request):
                    return web.Response(text="ok")


                app = web.Application()
                app.router.add_get("/healthz", health)
                web.run_app(app, port=int(os.getenv("PORT", "7000")))
            """,
        },
    )

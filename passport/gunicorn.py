"""Run the app under gunicorn from ``passport serve`` (production and staging)."""

from __future__ import annotations

import gc
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication

#: gunicorn's default access line, then the request's id (`passport.web.requestid`).
ACCESS_LOG_FORMAT = ('%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" '
                     "%({x-request-id}o)s")


class _Server(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self._app = app
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self._app


def options(host: str, port: int, workers: int, timeout: int) -> dict[str, Any]:
    """gunicorn's settings: sync workers, access log to stdout, ``timeout`` seconds a
    request (gunicorn's default, 30 s, killed a dry run of a large file mid-way)."""
    return {"bind": f"{host}:{port}", "workers": workers, "timeout": timeout,
            "accesslog": "-", "access_log_format": ACCESS_LOG_FORMAT,
            # gunicorn's advice: heartbeat files in memory, not on a slow disk.
            "worker_tmp_dir": "/dev/shm"}  # noqa: S108


def serve(app: Flask, settings: dict[str, Any]) -> None:
    """Serve ``app`` under gunicorn with ``settings`` (`options`)."""
    # The app and the modules live as long as the process: out of the collector's sight
    # (a full collection walks them all, tens of milliseconds in the tail of whichever
    # request triggers it), and shared copy-on-write by the forked workers.
    gc.freeze()
    _Server(app, settings).run()

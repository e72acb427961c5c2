"""`crm serve`: the production server (gunicorn, threaded workers) plus the job consumer.

One command runs the whole embedded installation: static files are collected, gunicorn serves
`crm.wsgi:application`, and a Huey consumer (`crm worker`) runs as a child process that is
stopped when the server stops. At scale, run `crm serve --no-worker` on the web machines and
`crm worker` on others (see docs/operations.md).
"""

from __future__ import annotations

import ctypes
import os
import signal

# Starts our own job consumer: no shell, a fixed argument list.
import subprocess  # nosec B404
import sys
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connections
from gunicorn.app.base import BaseApplication


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, str(default)))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    """Linux: the consumer gets SIGTERM if the server dies without stopping it (kill -9)."""
    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


class JobConsumer:
    """The Huey consumer as a child process of the server."""

    def __init__(self, stop_timeout: float = 30.0) -> None:
        self.stop_timeout = stop_timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.owner_pid = os.getpid()

    def start(self) -> int:
        self.process = subprocess.Popen(  # nosec B603
            [sys.executable, "-m", "crm.cli", "worker"],
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        return self.process.pid

    def stop(self) -> None:
        # Forked web workers run the server's exit paths too; only the server stops the consumer.
        if self.process is None or os.getpid() != self.owner_pid:
            return
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Huey: finish running tasks, then exit
            try:
                self.process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


class WebServer(BaseApplication):
    """gunicorn configured in code (no config file), serving the project's WSGI application."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.settings.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from crm.wsgi import application

        return application


class Command(BaseCommand):
    help = "Serve the CRM with gunicorn (threaded workers) and run the job consumer beside it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--bind",
            default=os.environ.get("CRM_BIND", "127.0.0.1:8000"),
            help="address:port to listen on (CRM_BIND, default 127.0.0.1:8000)",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=_env_int("CRM_WEB_WORKERS", 2),
            help="web worker processes (CRM_WEB_WORKERS, default 2)",
        )
        parser.add_argument(
            "--threads",
            type=int,
            default=_env_int("CRM_WEB_THREADS", 4),
            help="threads per web worker (CRM_WEB_THREADS, default 4)",
        )
        parser.add_argument(
            "--no-worker",
            action="store_true",
            help="do not start the job consumer (run `crm worker` elsewhere)",
        )
        parser.add_argument(
            "--no-collectstatic", action="store_true", help="skip collecting static files"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if not options["no_collectstatic"]:
            call_command("collectstatic", interactive=False, verbosity=0)
        # Web workers are forked from this process: they must not share its database sockets.
        connections.close_all()
        consumer = None if options["no_worker"] else JobConsumer()

        def when_ready(server: Any) -> None:
            if consumer is not None:
                pid = consumer.start()
                server.log.info("Started the job consumer (pid: %s)", pid)

        def on_exit(server: Any) -> None:
            if consumer is not None:
                server.log.info("Stopping the job consumer")
                consumer.stop()

        server = WebServer(
            {
                "bind": options["bind"],
                "workers": options["workers"],
                "worker_class": "gthread",
                "threads": options["threads"],
                "timeout": 60,
                "graceful_timeout": 30,
                "keepalive": 5,
                "max_requests": 10000,
                "max_requests_jitter": 1000,
                "forwarded_allow_ips": os.environ.get("CRM_FORWARDED_ALLOW_IPS", "127.0.0.1,::1"),
                "accesslog": os.environ.get("CRM_ACCESS_LOG") or None,
                "errorlog": "-",
                "loglevel": os.environ.get("CRM_SERVER_LOG_LEVEL", "info"),
                "proc_name": "crm",
                # A per-user control socket would be shared by every server of the user.
                "control_socket_disable": True,
                "when_ready": when_ready,
                "on_exit": on_exit,
            }
        )
        try:
            server.run()
        finally:
            if consumer is not None:
                consumer.stop()

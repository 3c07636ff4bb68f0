"""Requests keep flowing through a deploy of a new version and a rollback: none may fail.

Two clients send predictions through Modelbay's tunnel to the service's front
for the whole time: one opens a new connection per request, one keeps a single
keep-alive connection (reopening it when the server closes it between requests).
"""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from dataclasses import dataclass, field

import pytest

from app.deploy.service import deploy, open_tunnel, rollback
from app.registry import Registry
from tests.deploy.conftest import HOST, PREDICT

pytestmark = pytest.mark.integration


@dataclass
class Client:
    url: str
    keep_alive: bool
    ok: int = 0
    failed: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)

    def run(self, stop: threading.Event) -> None:
        parts = urllib.parse.urlsplit(self.url)
        connection: http.client.HTTPConnection | None = None
        while not stop.is_set():
            if connection is None or not self.keep_alive:
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
            try:
                connection.request(
                    "POST", "/invocations", PREDICT, {"Content-Type": "application/json"}
                )
                answer = connection.getresponse()
                answer.read()
                if answer.status != 200:
                    self.failed.append(f"HTTP {answer.status}")
                else:
                    self.ok += 1
                    version = answer.getheader("x-model-version") or "?"
                    if not self.versions or self.versions[-1] != version:
                        self.versions.append(version)
                if answer.getheader("connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except (OSError, http.client.HTTPException) as exc:
                self.failed.append(f"{type(exc).__name__}: {exc}")
                connection.close()
                connection = None
            if not self.keep_alive and connection is not None:
                connection.close()
            time.sleep(0.005)
        if connection is not None:
            connection.close()


def test_no_request_fails_during_a_deploy_and_a_rollback(deploy_registry: Registry) -> None:
    registry = deploy_registry
    deploy(registry, "iris:1", HOST)
    with open_tunnel(registry, "iris@" + HOST) as (forward, _status):
        clients = [Client(forward.url, keep_alive=False), Client(forward.url, keep_alive=True)]
        stop = threading.Event()
        threads = [threading.Thread(target=c.run, args=(stop,)) for c in clients]
        for thread in threads:
            thread.start()
        try:
            time.sleep(1)
            deploy(registry, "iris:2", HOST)
            time.sleep(1)
            rollback(registry, "iris@" + HOST)
            time.sleep(1)
        finally:
            stop.set()
            for thread in threads:
                thread.join(60)
    report = ", ".join(
        f"{'keep-alive' if c.keep_alive else 'new connection each'}: {c.ok} ok, "
        f"{len(c.failed)} failed {c.failed[:3]}, versions seen {c.versions}"
        for c in clients
    )
    print(report)
    for client in clients:
        assert client.versions == ["1", "2", "1"], report
        assert client.ok > 50, report
        assert client.failed == [], report

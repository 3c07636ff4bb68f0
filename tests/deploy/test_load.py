"""Requests keep flowing through a deploy of a new version and a rollback: none may fail.

Two clients send predictions through Modelbay's tunnel to the service's front
for the whole time: one opens a new connection per request, one keeps a single
keep-alive connection (reopening it when the server closes it between requests).
"""

from __future__ import annotations

import threading
import time

import pytest

from app.deploy.service import deploy, open_tunnel, rollback
from app.registry import Registry
from tests.deploy.conftest import HOST, Client

pytestmark = pytest.mark.integration


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
    report = "; ".join(f"{c.describe()}, versions seen {c.versions}" for c in clients)
    print(report)
    for client in clients:
        assert client.versions == ["1", "2", "1"], report
        assert client.ok > 50, report
        assert client.failed == [], report

"""Deployments: run a version as a service on a host, health-check it, roll back, stop.

Qt-free; the CLI (``modelbay deploy``/``rollback``/``stop``/``deployments``/``logs``)
and the Deployments panel call the same functions in :mod:`app.deploy.service`.
"""

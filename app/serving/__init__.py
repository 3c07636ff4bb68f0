"""The model server that runs inside every image (and locally with ``modelbay serve``).

It speaks MLflow's scoring protocol so existing clients work, reports
Prometheus metrics, and keeps rolling monitoring windows of what it sees.

This package ships alone into images: it imports nothing else from ``app``
(an import-linter contract checks it) and needs only the packages in
``requirements.txt`` beside this file, plus the model's own framework.

A model folder served by it holds the version's files and ``modelbay.json``
(name, version, content hash, format, framework, signature, files), and
optionally ``profile.json`` (the reference profile the monitoring buckets on).
"""

RUNTIME_VERSION = "1"
"""Bumped when the HTTP contract or the model folder layout changes."""

"""On-demand benchmarks: ``python -m tests.benchmarks [NAME ...]`` (see README.md here)."""

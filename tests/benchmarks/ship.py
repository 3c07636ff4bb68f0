"""ship: ``modelbay ship`` against ``docker save IMAGE | ssh HOST docker load``.

A test host made for the run (tests/remote_host.py: a network namespace with
its own sshd and Docker daemon, reached over a veth pair). Images: the iris
RandomForest (joblib) built as version 1 and version 2 (other model bytes, the
same dependencies) on the local base image. Whole processes, 3 interleaved
rounds, medians:

(a) first ship to an empty host: ``modelbay ship iris:1 HOST --json`` and the
    baseline, each after the host's images are removed. The build kept the
    runtime image's layer tars (app/build/layers.py), so the ship reads them
    from the cache with no ``docker save``; the extra row "(a) without the layer
    cache" moves them aside for one more run per round and ships the way images
    built before that cache existed do (``docker save`` through the filter);
(b) a new version after the previous is there: host holds iris:1 only, then
    ``modelbay ship iris:2`` (the model layer and configuration from Modelbay's
    cache, no ``docker save``) and the baseline (which sends the whole image
    again; ``docker load`` skips what it has, after receiving it), removing
    iris:2 between runs. The builds happen before any timing, in both cases
    (Modelbay's build composes the model layer and keeps the runtime layers it
    later ships; their cost is in the image_build benchmark).

Bytes on the wire are the namespace's receive counter (/sys/class/net/eth0/
statistics/rx_bytes: SSH framing and TCP/IP headers included); Modelbay's own
count of archive bytes is printed too. Targets: (a) time <= 1.1x the baseline;
(b) bytes <= the changed layers + 1 MB, time <= 0.2x the baseline.

Rerun:  .venv/bin/python -m tests.benchmarks ship [--ship-rounds N] [--base-image IMAGE]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.benchmarks._common import MODELBAY, check_ok, median, print_header, print_table, verdict

NAME = "ship-iris"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("ship")
    group.add_argument("--ship-rounds", type=int, default=3, help="interleaved rounds")


def _clear(remote: Any, keep: str | None = None) -> None:
    images = remote.docker("images", "--format", "{{.Repository}}:{{.Tag}}").stdout.split()
    doomed = [i for i in images if i != keep]
    if doomed:
        remote.docker("rmi", "-f", *doomed, check=False)
    remote.docker("image", "prune", "-f", check=False)


def _timed(
    argv: list[str], env: dict[str, str], remote: Any, shell: bool = False
) -> tuple[float, int, bytes]:
    before = remote.received_bytes()
    start = time.perf_counter()
    done = subprocess.run(
        argv if not shell else " ".join(argv),
        env=env,
        shell=shell,
        capture_output=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"benchmark aborted: {argv[:3]} failed: {done.stderr.decode()[-2000:]}")
    return seconds, remote.received_bytes() - before, done.stdout


def run(args: argparse.Namespace) -> None:
    from app.build.service import BuildOptions, build_image
    from app.config import Config
    from app.registry import Registry
    from tests.formats import makers
    from tests.remote_host import start_remote_host

    workdir: Path = args.workdir
    workdir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="ship-", dir=workdir))
    home = scratch / "home"
    base_image = getattr(args, "base_image", None) or os.environ.get(
        "MODELBAY_TEST_BASE_IMAGE", "modelbay-test/python:3.11-bookworm"
    )
    rows: dict[str, list[tuple[float, int, int]]] = {
        k: [] for k in ("a-mb", "a-base", "a-save", "b-mb", "b-base")
    }
    try:
        with Registry.open(Config.at(home)) as registry:
            registry.import_path(makers.sklearn_joblib(scratch / "a"), name=NAME)
            registry.import_path(makers.sklearn_joblib(scratch / "b", compress="gzip"), name=NAME)
            builds = [
                build_image(
                    registry,
                    f"{NAME}:{v}",
                    BuildOptions(base_image=base_image, smoke_test=False),
                    config=Config.at(home),
                )
                for v in (1, 2)
            ]
        tags = [b.tag for b in builds]
        changed = _changed_layer_bytes(tags)
        with start_remote_host() as remote:
            key_type, blob = remote.host_public_key.split()
            with Registry.open(Config.at(home)) as registry:
                registry.add_host(
                    "bench",
                    remote.address,
                    port=remote.port,
                    user=remote.user,
                    identity_file=str(remote.identity_file),
                )
                registry.pin_host_key("bench", key_type, blob, remote.host_key_fingerprint)
            env = {
                **os.environ,
                "MODELBAY_HOME": str(home),
                "MODELBAY_SSH_CONFIG": str(scratch / "no-ssh-config"),
            }
            env.pop("SSH_AUTH_SOCK", None)
            ssh = " ".join(remote.ssh_command("docker", "load"))
            for _ in range(args.ship_rounds):
                _clear(remote)
                seconds, wire, out = _timed(
                    [str(MODELBAY), "ship", f"{NAME}:1", "bench", "--json"], env, remote
                )
                rows["a-mb"].append((seconds, wire, json.loads(out)["bytes_sent"]))
                _clear(remote)
                seconds, wire, _ = _timed(
                    ["docker", "save", tags[0], "|", ssh], env, remote, shell=True
                )
                rows["a-base"].append((seconds, wire, wire))
                _clear(remote)
                with _layers_aside(home):
                    seconds, wire, out = _timed(
                        [str(MODELBAY), "ship", f"{NAME}:1", "bench", "--json"], env, remote
                    )
                rows["a-save"].append((seconds, wire, json.loads(out)["bytes_sent"]))
                # (b): the host holds version 1 (loaded just now by the baseline)
                _clear(remote, keep=tags[0])
                seconds, wire, out = _timed(
                    [str(MODELBAY), "ship", f"{NAME}:2", "bench", "--json"], env, remote
                )
                rows["b-mb"].append((seconds, wire, json.loads(out)["bytes_sent"]))
                _clear(remote, keep=tags[0])
                seconds, wire, _ = _timed(
                    ["docker", "save", tags[1], "|", ssh], env, remote, shell=True
                )
                rows["b-base"].append((seconds, wire, wire))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)

    def m(key: str, i: int) -> float:
        return median([r[i] for r in rows[key]])

    print_header(
        f"ship: {NAME} (iris RandomForest) to a test host over a veth pair, whole processes, "
        f"median of {args.ship_rounds} interleaved rounds"
    )
    print_table(
        ["case", "tool", "median s", "wire MB", "archive MB", "vs baseline time"],
        [
            [
                "(a) first ship, empty host",
                "modelbay ship",
                f"{m('a-mb', 0):.1f}",
                f"{m('a-mb', 1) / 1e6:.1f}",
                f"{m('a-mb', 2) / 1e6:.1f}",
                f"{m('a-mb', 0) / m('a-base', 0):.2f}x",
            ],
            [
                "(a) without the layer cache",
                "modelbay ship (docker save)",
                f"{m('a-save', 0):.1f}",
                f"{m('a-save', 1) / 1e6:.1f}",
                f"{m('a-save', 2) / 1e6:.1f}",
                f"{m('a-save', 0) / m('a-base', 0):.2f}x",
            ],
            [
                "(a) first ship, empty host",
                "docker save | ssh docker load",
                f"{m('a-base', 0):.1f}",
                f"{m('a-base', 1) / 1e6:.1f}",
                "-",
                "1.00x",
            ],
            [
                "(b) new version, v1 there",
                "modelbay ship",
                f"{m('b-mb', 0):.1f}",
                f"{m('b-mb', 1) / 1e6:.3f}",
                f"{m('b-mb', 2) / 1e6:.3f}",
                f"{m('b-mb', 0) / m('b-base', 0):.2f}x",
            ],
            [
                "(b) new version, v1 there",
                "docker save | ssh docker load",
                f"{m('b-base', 0):.1f}",
                f"{m('b-base', 1) / 1e6:.1f}",
                "-",
                "1.00x",
            ],
        ],
    )
    print(f"changed layers of version 2 (docker history): {changed / 1e6:.3f} MB")
    ratio_a = m("a-mb", 0) / m("a-base", 0)
    verdict("(a) first ship time vs baseline", f"{ratio_a:.2f}x", "<= 1.1x", ratio_a <= 1.1)
    limit = changed + 1_000_000
    verdict(
        "(b) bytes on the wire",
        f"{m('b-mb', 1) / 1e6:.3f} MB",
        f"<= {limit / 1e6:.3f} MB (changed layers + 1 MB)",
        m("b-mb", 1) <= limit,
    )
    ratio_b = m("b-mb", 0) / m("b-base", 0)
    verdict("(b) new-version ship time vs baseline", f"{ratio_b:.2f}x", "<= 0.2x", ratio_b <= 0.2)


@contextlib.contextmanager
def _layers_aside(home: Path) -> Iterator[None]:
    """The data home's kept runtime layers moved out of the way, then back."""
    from app.build.layers import LayerCache
    from app.config import Config

    layers = LayerCache(Config.at(home).cache_dir).root
    aside = layers.with_name("layers.aside")
    layers.rename(aside)
    try:
        yield
    finally:
        aside.rename(layers)


def _changed_layer_bytes(tags: list[str]) -> int:
    """Sizes of version 2's layers that version 1 does not have (by diff id)."""

    def layers(tag: str) -> list[str]:
        out = subprocess.run(
            ["docker", "image", "inspect", tag, "--format", "{{json .RootFS.Layers}}"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return list(json.loads(out))

    first, second = layers(tags[0]), layers(tags[1])
    shared = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        shared += 1
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{json .}}", tags[1]],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    sizes = [json.loads(h)["Size"] for h in history]
    from tests.benchmarks.image_build import _parse_size

    with_content = [_parse_size(s) for s in reversed(sizes) if _parse_size(s) > 0]
    return sum(with_content[shared:])


__all__ = ["check_ok"]

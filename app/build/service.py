"""``modelbay build``: turn a registered version into a verified Docker image.

Steps, each reported to ``progress`` and ``log`` and cancellable in between:
check the version may be served, work out its dependencies, probe the base
image's Python, lock the dependencies into a wheelhouse (cached), write the
build context, build, smoke-test the image, record the build in the registry.

Once Docker has started building, the outcome is recorded whatever it is
(verified, built without a smoke test, failed with the reason, cancelled), so
the version's history shows every attempt.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from app.bundle import check_servable, model_metadata, write_model_folder
from app.config import Config
from app.errors import Cancelled, ModelbayError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress

from . import context as ctx
from .requirements import model_requirements, runtime_requirements
from .wheelhouse import Wheelhouse

if TYPE_CHECKING:
    from app.registry import BuildInfo, Registry, VersionInfo

DEFAULT_BASE_IMAGE = "python:3.11-slim"
BASE_IMAGE_ENV = "MODELBAY_BASE_IMAGE"

# The phases of a build, for progress bars: (name, share of the bar).
PHASES = (("prepare", 5), ("dependencies", 15), ("context", 5), ("build", 60), ("smoke", 15))


@dataclass(frozen=True)
class BuildOptions:
    base_image: str | None = None  # None: the environment, the settings, then the default
    tag: str | None = None  # None: modelbay/<name>:<version>
    profile: dict[str, Any] | None = None  # a reference profile to bake in (monitoring)
    smoke_test: bool = True
    refresh_lock: bool = False  # resolve the dependencies again instead of reusing the lock
    health_timeout: float = 120.0


def default_base_image(config: Config) -> str:
    return (
        os.environ.get(BASE_IMAGE_ENV)
        or config.setting("build", "base_image")
        or DEFAULT_BASE_IMAGE
    )


class _Phases:
    """Maps each phase's own (done, total) onto one bar from 0 to 100."""

    def __init__(self, progress: ProgressCallback) -> None:
        self.progress = progress
        self.offsets: dict[str, tuple[int, int]] = {}
        start = 0
        for name, share in PHASES:
            self.offsets[name] = (start, share)
            start += share

    def report(self, phase: str, done: int, total: int | None, message: str) -> None:
        start, share = self.offsets[phase]
        fraction = min(done / total, 1.0) if total else 0.0
        self.progress(start + int(share * fraction), 100, message)


def build_image(
    registry: Registry,
    ref: str,
    options: BuildOptions | None = None,
    *,
    config: Config | None = None,
    log: Callable[[str], None] | None = None,
    progress: ProgressCallback = no_progress,
    cancel: CancelToken = NEVER_CANCELLED,
) -> BuildInfo:
    """Build (and by default smoke-test) an image of ``ref``; returns the recorded build.

    Raises :class:`ModelbayError` subclasses for what stops a build before Docker starts
    (quarantined version, unknown format, daemon down, dependency not found); a build
    that Docker started is recorded even when it fails, then its error is raised.
    """

    from . import engine
    from .smoke import sample_request, smoke_test

    options = options or BuildOptions()
    config = config or Config.from_environment()
    say = log or (lambda line: None)
    phases = _Phases(progress)
    started = time.monotonic()

    info = registry.get(ref)
    check_servable(info)
    requirements = runtime_requirements() + model_requirements(info)
    base_image = options.base_image or default_base_image(config)
    tag = options.tag or ctx.image_tag(info.name, info.version)
    phases.report("prepare", 0, 1, f"checking Docker and the base image {base_image}")
    client = engine.connect()
    try:
        target, base_image_id = engine.probe_target(client, base_image)
        say(f"base image {base_image}: {target.describe()}")
        for requirement in requirements:
            say(f"requires {requirement.line}  ({requirement.source})")
        cancel.raise_if_cancelled()

        phases.report("dependencies", 0, 1, "locking dependencies")
        wheelhouse = Wheelhouse(config.cache_dir)
        lock = wheelhouse.lock(
            requirements, target, refresh=options.refresh_lock, log=say, cancel=cancel
        )
        say(f"lock {lock.sha256[:12]}: {len(lock.wheels)} wheels")
        cancel.raise_if_cancelled()

        phases.report("context", 0, 1, "writing the build context")
        runtime = ctx.runtime_files()
        metadata = model_metadata(info)
        labels = ctx.labels(metadata, lock, ctx.digest(runtime))
        with (
            tempfile.TemporaryDirectory(prefix="build-", dir=_scratch(config)) as scratch,
            ctx.spooled() as context_file,
        ):
            model_dir = write_model_folder(
                registry, info, Path(scratch) / "model", profile=options.profile
            )
            ctx.write_context(
                context_file,
                dockerfile_text=ctx.dockerfile(base_image, labels, tag),
                lock=lock,
                wheelhouse=wheelhouse,
                runtime=runtime,
                model_dir=model_dir,
            )
            cancel.raise_if_cancelled()
            record = _Recorder(registry, info, tag, base_image, base_image_id, lock, started)
            try:
                output = engine.build(
                    client,
                    context_file,
                    tag=tag,
                    log=say,
                    progress=lambda d, t, m: phases.report("build", d, t, m),
                    cancel=cancel,
                )
            except Cancelled:
                record.finish("cancelled", error="cancelled by the user")
                raise
            except ModelbayError as exc:
                record.finish("failed", error=str(exc))
                raise
        facts = engine.image_facts(client, output.image_id)
        say(
            f"built {tag} ({output.image_id[:19]}), {output.cached_steps} of {output.steps} "
            f"steps from cache, {facts['size'] / 1e6:.0f} MB"
        )
        if not options.smoke_test:
            return record.finish("built", image_id=output.image_id, facts=facts)

        phases.report("smoke", 0, 1, "smoke test: starting the image")
        say("smoke test: starting the container and waiting for /health")
        body = sample_request(info.signature, options.profile)
        try:
            smoke = smoke_test(
                client, output.image_id, body, timeout=options.health_timeout, cancel=cancel
            )
        except Cancelled:
            record.finish("cancelled", image_id=output.image_id, facts=facts, error="cancelled")
            raise
        say(("smoke test passed: " if smoke.ok else "smoke test FAILED: ") + smoke.reason)
        for line in smoke.log_tail:
            say(f"  container: {line}")
        phases.report("smoke", 1, 1, "verified" if smoke.ok else "smoke test failed")
        return record.finish(
            "verified" if smoke.ok else "failed",
            image_id=output.image_id,
            facts=facts,
            smoke=smoke.to_json(),
            error="" if smoke.ok else f"smoke test failed: {smoke.reason}",
        )
    finally:
        client.close()


class _Recorder:
    """Records the build once, with what is known when it ends."""

    def __init__(
        self,
        registry: Registry,
        info: VersionInfo,
        tag: str,
        base_image: str,
        base_image_id: str,
        lock: Any,
        started: float,
    ) -> None:
        self.registry = registry
        self.info = info
        self.tag = tag
        self.base_image = base_image
        self.base_image_id = base_image_id
        self.lock = lock
        self.started = started

    def finish(
        self,
        status: str,
        *,
        image_id: str | None = None,
        facts: dict[str, Any] | None = None,
        smoke: dict[str, Any] | None = None,
        error: str = "",
    ) -> BuildInfo:
        from app.registry import NewBuild

        facts = facts or {}
        return self.registry.record_build(
            self.info,
            NewBuild(
                status=status,
                tag=self.tag,
                base_image=self.base_image,
                base_image_id=self.base_image_id,
                seconds=time.monotonic() - self.started,
                image_id=image_id,
                lock_sha256=self.lock.sha256,
                lock_text=self.lock.text,
                requirements=[r.to_json() for r in self.lock.requirements],
                layers=facts.get("layers") or [],
                size=facts.get("size"),
                smoke=smoke,
                error=error,
            ),
        )


def _scratch(config: Config) -> Path:
    path = config.cache_dir / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path

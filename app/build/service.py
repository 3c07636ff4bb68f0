"""``modelbay build``: turn a registered version into a verified Docker image.

Steps, each reported to ``progress`` and ``log`` and cancellable in between:
check the version may be served, work out its dependencies, probe the base
image's Python, lock the dependencies into a wheelhouse (cached), write the
build context, build the runtime image with Docker, put the model layer on top
of it (app/build/model_image.py), smoke-test the image, record the build in the
registry.

Once Docker has started building, the outcome is recorded whatever it is
(verified, built without a smoke test, failed with the reason, cancelled), so
the version's history shows every attempt.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from app.bundle import check_servable, model_metadata, monitoring_profile, write_model_folder
from app.config import Config
from app.errors import Cancelled, ModelbayError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress
from app.units import human_size

from . import context as ctx
from .requirements import Requirement, model_requirements, runtime_requirements
from .wheelhouse import Lock, Wheelhouse

_log = logging.getLogger(__name__)

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
    # the profile to bake in for monitoring; None: the version's reference data's, if any
    profile: dict[str, Any] | None = None
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

    info = registry.get(ref)
    check_servable(info)
    say = log or (lambda line: None)
    job = _Job(
        registry=registry,
        info=info,
        options=with_reference_profile(registry, info, options or BuildOptions(), say),
        config=config or Config.from_environment(),
        say=say,
        phases=_Phases(progress),
        cancel=cancel,
    )
    requirements = runtime_requirements() + model_requirements(job.info)
    job.phases.report("prepare", 0, 1, f"checking Docker and the base image {job.base_image}")
    client = engine.connect()
    try:
        lock = job.lock(client, requirements)
        runtime = ctx.runtime_files()
        runtime_sha256 = ctx.digest(runtime)
        with ctx.spooled() as context_file:
            job.write_context(context_file, lock, runtime)
            try:
                output = engine.build(
                    client,
                    context_file,
                    tag=ctx.runtime_tag(job.base_image_id, lock.sha256, runtime_sha256),
                    log=job.say,
                    progress=lambda d, t, m: job.phases.report("build", d, t, m),
                    cancel=cancel,
                )
                cancel.raise_if_cancelled()
                image_id = job.add_model(client, output.image_id, lock, runtime_sha256)
            except (Cancelled, KeyboardInterrupt):
                job.record("cancelled", lock, error="cancelled by the user")
                raise
            except ModelbayError as exc:
                job.record("failed", lock, error=str(exc))
                raise
        facts = engine.image_facts(client, image_id)
        job.say(
            f"built {job.tag} ({image_id[:19]}): runtime image {output.image_id[:19]} "
            f"({output.cached_steps} of {output.steps} steps from cache) + the model layer, "
            f"{facts['size'] / 1e6:.0f} MB"
        )
        facts["image_id"] = image_id
        # Kept while the smoke test runs: the container start is mostly waiting.
        keeping = threading.Thread(
            target=job.keep_runtime_layers,
            args=(client, output.image_id),
            name="keep-runtime-layers",
            daemon=True,
        )
        keeping.start()
        try:
            if not job.options.smoke_test:
                return job.record("built", lock, facts=facts)
            return job.smoke(client, lock, facts)
        finally:
            keeping.join()
    finally:
        client.close()


def with_reference_profile(
    registry: Registry,
    info: VersionInfo,
    options: BuildOptions,
    say: Callable[[str], None] = lambda line: None,
) -> BuildOptions:
    """``options`` with the version's reference profile when they name no profile of their own."""
    if options.profile is not None:
        return options
    profile = monitoring_profile(registry, info)
    if profile is None:
        return options
    say(
        f"monitoring: live inputs will be counted on the reference data's bins "
        f"({len(profile['columns'])} columns)"
    )
    return replace(options, profile=profile)


@dataclass
class _Job:
    """One build's inputs and the steps that need them."""

    registry: Registry
    info: VersionInfo
    options: BuildOptions
    config: Config
    say: Callable[[str], None]
    phases: _Phases
    cancel: CancelToken
    started: float = field(default_factory=time.monotonic)
    base_image_id: str = ""

    @property
    def base_image(self) -> str:
        return self.options.base_image or default_base_image(self.config)

    @property
    def tag(self) -> str:
        return self.options.tag or ctx.image_tag(self.info.name, self.info.version)

    def lock(self, client: Any, requirements: list[Requirement]) -> Lock:
        from . import engine

        target, self.base_image_id = engine.probe_target(client, self.base_image)
        self.say(f"base image {self.base_image}: {target.describe()}")
        for requirement in requirements:
            self.say(f"requires {requirement.line}  ({requirement.source})")
        self.cancel.raise_if_cancelled()
        self.phases.report("dependencies", 0, 1, "locking dependencies")
        lock = Wheelhouse(self.config.cache_dir).lock(
            requirements,
            target,
            refresh=self.options.refresh_lock,
            log=self.say,
            cancel=self.cancel,
        )
        self.say(f"lock {lock.sha256[:12]}: {len(lock.wheels)} wheels")
        self.cancel.raise_if_cancelled()
        return lock

    def write_context(
        self, destination: IO[bytes], lock: Lock, runtime: list[ctx.ContextFile]
    ) -> None:
        self.phases.report("context", 0, 1, "writing the build context")
        ctx.write_context(
            destination,
            dockerfile_text=ctx.dockerfile(self.base_image),
            lock=lock,
            wheelhouse=Wheelhouse(self.config.cache_dir),
            runtime=runtime,
        )
        self.cancel.raise_if_cancelled()

    def add_model(self, client: Any, runtime_id: str, lock: Lock, runtime_sha256: str) -> str:
        """The model layer, tag and labels on top of the runtime image; the image's id."""
        from .model_image import ImageCache, compose

        metadata = model_metadata(self.info)
        self.phases.report("build", 1, 1, "adding the model layer")
        with tempfile.TemporaryDirectory(prefix="build-", dir=_scratch(self.config)) as scratch:
            model_dir = write_model_folder(
                self.registry, self.info, Path(scratch) / "model", profile=self.options.profile
            )
            parts = compose(
                client,
                runtime_id,
                model_dir,
                ImageCache(self.config.cache_dir),
                tag=self.tag,
                labels=ctx.labels(metadata, lock, runtime_sha256),
                model_sha256=str(metadata["sha256"]),
            )
        self.say(f"model layer: {human_size(parts.layer_size())}, image {parts.image_id[:19]}")
        return parts.image_id

    def keep_runtime_layers(self, client: Any, runtime_id: str) -> None:
        """Keep the runtime image's layer tars for shipping (app/build/layers.py), then drop
        cached parts of images Docker no longer has. A failure only costs ships their speed
        (they fall back to ``docker save``): it is logged, never raised."""
        from .layers import LayerCache, prune_cache

        layers = LayerCache(self.config.cache_dir)
        try:
            chain = list(client.api.inspect_image(runtime_id)["RootFS"]["Layers"])
            if layers.missing(chain):
                started = time.monotonic()
                written = layers.keep_image(client, runtime_id, chain, cancel=self.cancel)
                self.say(
                    f"kept the runtime image's layers for shipping: {human_size(written)} in "
                    f"{time.monotonic() - started:.1f} s"
                )
            freed = prune_cache(client, self.config.cache_dir)
            if freed:
                self.say(f"removed {human_size(freed)} of cached layers no image uses")
        except Cancelled:
            return
        except Exception as exc:  # noqa: BLE001 - an optimisation for later ships
            self.say(
                f"could not keep the runtime layers for shipping ({exc}); ships will use "
                "docker save"
            )
            _log.warning("keeping the runtime layers of %s failed", runtime_id, exc_info=True)

    def smoke(self, client: Any, lock: Lock, facts: dict[str, Any]) -> BuildInfo:
        from .smoke import sample_request, smoke_test

        self.phases.report("smoke", 0, 1, "smoke test: starting the image")
        self.say("smoke test: starting the container and waiting for /health")
        body = sample_request(self.info.signature, self.options.profile)
        try:
            result = smoke_test(
                client,
                facts["image_id"],
                body,
                timeout=self.options.health_timeout,
                cancel=self.cancel,
            )
        except (Cancelled, KeyboardInterrupt):
            self.record("cancelled", lock, facts=facts, error="cancelled by the user")
            raise
        self.say(("smoke test passed: " if result.ok else "smoke test FAILED: ") + result.reason)
        for line in result.log_tail:
            self.say(f"  container: {line}")
        self.phases.report("smoke", 1, 1, "verified" if result.ok else "smoke test failed")
        return self.record(
            "verified" if result.ok else "failed",
            lock,
            facts=facts,
            smoke=result.to_json(),
            error="" if result.ok else f"smoke test failed: {result.reason}",
        )

    def record(
        self,
        status: str,
        lock: Lock,
        *,
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
                base_image_id=self.base_image_id or None,
                seconds=time.monotonic() - self.started,
                image_id=facts.get("image_id"),
                lock_sha256=lock.sha256,
                lock_text=lock.text,
                requirements=[r.to_json() for r in lock.requirements],
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

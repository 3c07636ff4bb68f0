"""A monitored service in a real registry, without a host: what the Monitoring panel reads.

The version gets real reference data (``attach_reference`` profiles a table);
its windows are made by the serving runtime's own counter
(:class:`app.serving.monitor.Windows`) from pandas tables, some shifted, and
stored with their drift from :func:`app.monitor.live.drift_of`, exactly as a
pull stores them. Used by the panel's tests, its screenshot and its benchmark.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from app.monitor import live
from app.monitor.profile import runtime_profile
from app.registry import DeploymentInfo, NewDeployment, NewVersion, Registry, VersionInfo
from app.registry.monitoring import NewWindow
from app.serving.monitor import Windows
from app.store import StoredFile

PLANS = ["basic", "pro", "team"]
HOST = "gpu-1"
SERVICE = "churn"
ADDRESS = f"{SERVICE}@{HOST}"


def table(rows: int, *, seed: int, shift: float = 0.0, plans: Sequence[float] | None = None) -> Any:
    """Four inputs as a churn model might take them; ``shift`` moves x1 by that many sd."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "tenure": rng.normal(24.0 + 12.0 * shift, 12.0, rows),
            "monthly_charges": rng.normal(65.0, 20.0, rows),
            "support_calls": rng.exponential(1.5, rows),
            "plan": rng.choice(PLANS, rows, p=list(plans or [0.5, 0.3, 0.2])),
        }
    )


@dataclass
class Monitored:
    info: VersionInfo
    deployment: DeploymentInfo
    profile: dict[str, Any]


def deploy_with_reference(
    registry: Registry,
    work: Path,
    *,
    address: str = "127.0.0.1",
    port: int | None = None,
    reference_rows: int = 3000,
) -> Monitored:
    """churn:1 with reference data, recorded as live on HOST (a host entry at ``address``)."""
    registry.add_host(HOST, address, port=port, user="modelbay")
    sha, size = registry.store.put_bytes(b"a churn model's weights")
    [info] = registry.register_versions(
        [
            NewVersion(
                name="churn",
                files=(StoredFile("model.joblib", sha, size),),
                sha256=sha,
                format="joblib",
                framework="sklearn",
            )
        ]
    )
    reference = work / "reference.csv"
    table(reference_rows, seed=1).to_csv(reference, index=False)
    registry.attach_reference(info.ref, reference)
    profile = registry.reference_profile(info.ref)
    assert profile is not None
    row = registry.start_deployment(
        NewDeployment(
            host=HOST,
            service=SERVICE,
            target=info,
            image_id="sha256:" + "1" * 64,
            image_tag="modelbay/churn:1",
            port=32771,
        )
    )
    deployment = registry.update_deployment(row.uid, "live")
    return Monitored(info, deployment, profile)


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def record_windows(
    registry: Registry,
    monitored: Monitored,
    frames: Sequence[Any],
    state: Path,
    *,
    start: float,
    window_seconds: float = 60.0,
    batch: int = 25,
    errors: Sequence[int] | None = None,
) -> list[NewWindow]:
    """One window per frame, counted by the serving runtime and stored with its drift."""
    clock = Clock(start)
    counter = Windows(
        runtime_profile(monitored.profile),
        state,
        window_seconds=window_seconds,
        keep=len(frames) + 10,
        reservoir=500,
        clock=clock,
    )
    for index, frame in enumerate(frames):
        for first in range(0, len(frame), batch):
            rows = frame.iloc[first : first + batch]
            said = [1 / (1 + math.exp(-(t - 24.0) / 12.0)) for t in rows["tenure"]]
            counter.record(rows, np.asarray(said), requests=1)
        for _ in range(errors[index] if errors else 0):
            counter.record_error()
        clock.now += window_seconds
    clock.now += window_seconds
    reference = live.Reference(monitored.profile)
    stored = []
    for window in counter.closed_windows():
        data = {
            key: window[key]
            for key in ("features", "predictions", "sample", "sample_predictions", "sampled_from")
            if key in window
        }
        data.update({key: int(window.get(key) or 0) for key in ("rows", "requests", "errors")})
        stored.append(
            NewWindow(
                seq=int(window["seq"]),
                started_at=dt.datetime.fromtimestamp(window["start"], dt.UTC),
                seconds=window["end"] - window["start"],
                requests=data["requests"],
                rows=data["rows"],
                errors=data["errors"],
                data=data,
                drift=live.drift_of(reference, data),
            )
        )
    registry.add_windows(monitored.deployment.uid, stored)
    return stored


def calm_then_shifted(calm: int, shifted: int, rows: int = 200) -> list[Any]:
    """``calm`` windows like the reference, then ``shifted`` ones: tenure up 0.5 sd and a
    plan mix turned around (the two features that should be flagged)."""
    frames = [table(rows, seed=100 + i) for i in range(calm)]
    frames += [
        table(rows, seed=500 + i, shift=0.5, plans=[0.15, 0.25, 0.6]) for i in range(shifted)
    ]
    return frames

"""serving: ``modelbay serve`` against ``mlflow models serve``, the same scikit-learn model.

The model: ``RandomForestClassifier(n_estimators=50, random_state=0)`` fitted on
``make_classification`` (2,000 rows, 10 numeric features ``f0..f9``, seed 0) as a
pandas DataFrame. Modelbay imports it (joblib) into a fresh MODELBAY_HOME and
serves it with ``modelbay serve rf:1 --workers 2``, twice: with monitoring on
and a reference profile (9 quantile edges per feature, the two classes), so
every row is bucketed, and with ``--no-monitoring``. MLflow (its own venv)
saves the same fitted estimator with ``mlflow.sklearn.save_model`` and serves
it with ``mlflow models serve --env-manager local`` and
``MLFLOW_MODELS_WORKERS=2`` (the envvar of its ``--workers`` option).

One server runs at a time, in 3 interleaved rounds (on, off, MLflow, on, ...;
figures are medians over rounds). Load: ``wrk`` (one thread, 8 connections, a
Lua script cycling through single-row ``dataframe_split`` bodies drawn from
the data), 2 s of warm-up, then 20 s measured, capped in requests too, only to
127.0.0.1. The CPU the server's processes, the client and anything else on the
machine used meanwhile is printed (per server process: keep-alive connections
stay with the worker that accepted them, which need not spread them evenly).
Without ``wrk`` an asyncio + httpx client in this process does the same and
its own CPU use is printed. Before the load, 100 rows are scored by each
server and the predictions compared with each other and with the model in
this process; after the monitored runs, the windows the server wrote on
shutdown are read back to check every row was bucketed on every feature, and
notable lines of each server's log (errors, tracebacks, restarts) are printed.
Targets: Modelbay (monitoring on) at least 2x MLflow's requests/s; the cost of
monitoring, 1 - rps_on/rps_off, under 5 %.

Rerun:  .venv/bin/python -m tests.benchmarks serving [--serve-seconds N] [--serve-rounds N]
        [--serve-keep]   (keeps the scratch folder: logs, monitoring windows)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.benchmarks._common import (
    MLFLOW_DRIVER,
    MLFLOW_ENV,
    MODELBAY,
    check_ok,
    mlflow_python,
    print_header,
    print_table,
    run_process,
    verdict,
)

TARGET_RATIO = 2.0
TARGET_MONITORING_COST = 0.05
COLUMNS = [f"f{i}" for i in range(10)]
MODEL_NAME = "rf"
HOST = "127.0.0.1"
START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 40.0  # both servers finish in-flight requests first (Modelbay: up to 30 s)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("serving")
    group.add_argument("--serve-seconds", type=float, default=20.0, help="measured load per run")
    group.add_argument("--serve-warmup", type=float, default=2.0, help="unmeasured load first")
    group.add_argument("--serve-connections", type=int, default=8, help="concurrent requests")
    group.add_argument("--serve-workers", type=int, default=2, help="server processes of each")
    group.add_argument(
        "--serve-rounds",
        type=int,
        default=3,
        help="rounds of the three servers, interleaved; figures are medians over rounds",
    )
    group.add_argument(
        "--serve-max-requests",
        type=int,
        default=2_000_000,
        help="cap on requests per load run (besides the time)",
    )
    group.add_argument(
        "--serve-keep",
        action="store_true",
        help="keep the scratch folder (model, homes, server logs, monitoring windows)",
    )
    group.add_argument(
        "--serve-client",
        choices=["auto", "wrk", "python"],
        default="auto",
        help="load generator (auto: wrk when installed)",
    )


# ---------------------------------------------------------------------- the model
@dataclass
class Fixture:
    scratch: Path
    home: Path
    profile: Path
    mlflow_model: Path
    rows: list[list[float]]  # rows drawn from the data, for the request bodies
    check_rows: list[list[float]]  # 100 rows whose predictions both servers must agree on
    expected: list[int]  # the model's own predictions for check_rows, in this process
    sklearn: str
    mlflow: str


def _build(workdir: Path, scratch: Path) -> Fixture:
    import joblib
    import numpy as np
    import pandas as pd
    import sklearn
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    from app.config import Config
    from app.registry import Registry

    features, labels = make_classification(n_samples=2000, n_features=10, random_state=0)
    frame = pd.DataFrame(features, columns=COLUMNS)
    model = RandomForestClassifier(n_estimators=50, random_state=0).fit(frame, labels)

    joblib_path = scratch / f"{MODEL_NAME}.joblib"
    joblib.dump(model, joblib_path)
    home = scratch / "modelbay-home"
    with Registry.open(Config.at(home)) as registry:
        info = registry.import_path(joblib_path, name=MODEL_NAME)
    if info.status != "ready" or info.version != 1:
        raise SystemExit(f"benchmark aborted: the import gave {info.ref} {info.status}")

    deciles = [i / 10 for i in range(1, 10)]
    profile = {
        "schema_version": 1,
        "columns": {
            c: {"kind": "numeric", "bin_edges": np.quantile(frame[c], deciles).tolist()}
            for c in COLUMNS
        },
        "prediction": {"kind": "categorical", "categories": ["0", "1"]},
    }
    profile_path = scratch / "profile.json"
    profile_path.write_text(json.dumps(profile), encoding="utf-8")

    mlflow_python_path = mlflow_python(workdir)
    peer_sklearn = _peer_sklearn(mlflow_python_path)
    if peer_sklearn != sklearn.__version__:
        print(
            f"the MLflow venv has scikit-learn {peer_sklearn}, this one {sklearn.__version__}: "
            "installing the same version there"
        )
        pip = [
            mlflow_python_path,
            "-m",
            "pip",
            "install",
            "-q",
            f"scikit-learn=={sklearn.__version__}",
        ]
        check_ok(run_process(pip, capture=True), "pip install scikit-learn in the MLflow venv")
    pickled = scratch / f"{MODEL_NAME}.pkl"
    with pickled.open("wb") as out:
        pickle.dump(model, out)
    mlflow_model = scratch / "mlflow-model"
    saved = _mlflow_driver(mlflow_python_path, "save-sklearn", mlflow_model, "--pickle", pickled)

    rng = np.random.default_rng(0)
    drawn = features[rng.choice(len(features), size=500, replace=False)]
    check = features[rng.choice(len(features), size=100, replace=False)]
    expected = model.predict(pd.DataFrame(check, columns=COLUMNS)).tolist()
    return Fixture(
        scratch=scratch,
        home=home,
        profile=profile_path,
        mlflow_model=mlflow_model,
        rows=drawn.tolist(),
        check_rows=check.tolist(),
        expected=expected,
        sklearn=sklearn.__version__,
        mlflow=str(saved["mlflow"]),
    )


def _peer_sklearn(python: Path) -> str:
    argv = [python, "-c", "import sklearn; print(sklearn.__version__)"]
    run = run_process(argv, env=MLFLOW_ENV, capture=True)
    check_ok(run, "the MLflow venv's python")
    return run.stdout.decode().strip()


def _mlflow_driver(python: Path, *args: object) -> dict[str, Any]:
    run = run_process([python, MLFLOW_DRIVER, *args], env=MLFLOW_ENV, capture=True)
    check_ok(run, "the MLflow driver")
    result: dict[str, Any] = json.loads(run.stdout.decode().strip().splitlines()[-1])
    return result


def _body(rows: Sequence[Sequence[float]]) -> bytes:
    return json.dumps({"dataframe_split": {"columns": COLUMNS, "data": list(rows)}}).encode()


# ---------------------------------------------------------------------- server processes
@dataclass
class Server:
    label: str
    argv: list[str]
    env: dict[str, str]
    ready_path: str
    log: Path
    state: Path | None = None  # TMPDIR of the server: where Modelbay's state folder lands


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _get(url: str, timeout: float = 2.0) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, urllib.error.URLError):
        return 0


def _post(url: str, body: bytes) -> Any:
    request = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()  # state, ppid, pgrp, ...
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


@dataclass(frozen=True)
class CpuSnapshot:
    """CPU seconds so far: per process of the server's group, and of the whole machine."""

    at: float
    by_pid: dict[int, float]
    machine_busy: float

    @classmethod
    def take(cls, pgid: int) -> CpuSnapshot:
        ticks = os.sysconf("SC_CLK_TCK")
        by_pid = {}
        for pid in _group_members(pgid):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            by_pid[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime + stime
        # the first line of /proc/stat: user nice system idle iowait irq softirq steal ...
        first = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
        values = [int(v) for v in first]
        busy = sum(values[:8]) - values[3] - values[4]
        return cls(time.perf_counter(), by_pid, busy / ticks)


def _cores(before: CpuSnapshot, after: CpuSnapshot, client_seconds: float) -> dict[str, Any]:
    """Cores used between two snapshots: by the server's processes, and by everything else."""
    wall = after.at - before.at
    per_process = sorted(
        ((after.by_pid[pid] - before.by_pid.get(pid, 0.0)) / wall for pid in after.by_pid),
        reverse=True,
    )
    server = sum(per_process)
    machine = (after.machine_busy - before.machine_busy) / wall
    return {
        "server": server,
        "per_process": [c for c in per_process if c >= 0.05],
        "client": client_seconds / wall,
        "other": max(0.0, machine - server - client_seconds / wall),
    }


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the server (its own process group), wait; then the group; SIGKILL last."""
    pgid = proc.pid  # started with start_new_session: the leader's pid is the group's id
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=STOP_TIMEOUT_S)
    deadline = time.monotonic() + STOP_TIMEOUT_S
    signalled = False
    while _group_members(pgid):
        if time.monotonic() > deadline:
            print(f"warning: process group {pgid} still alive; SIGKILL")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            break
        if not signalled and proc.poll() is not None:  # leader gone, workers left over
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            signalled = True
        time.sleep(0.1)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    time.sleep(0.2)
    if _group_members(pgid):
        raise SystemExit(f"benchmark aborted: could not stop process group {pgid}")


@contextlib.contextmanager
def _running(server: Server) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Start the server, wait until its ready path answers 200; always stop it on the way out."""
    port = _free_port()
    argv = [a.replace("{port}", str(port)) for a in server.argv]
    base = f"http://{HOST}:{port}"
    with server.log.open("wb") as log:
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **server.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while _get(base + server.ready_path) != 200:
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = server.log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"benchmark aborted: {server.label} did not start:\n{tail}")
            time.sleep(0.2)
        yield proc, base
    finally:
        _stop(proc)


# ---------------------------------------------------------------------- load
@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    client_cpu: float  # cores the load generator used
    server_cpu: float  # cores the server's processes used
    server_processes: list[float]  # cores per busy server process (>= 0.05), busiest first
    other_cpu: float  # cores used by anything else on the machine meanwhile
    first_error: str = ""

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


LUA = """
local bodies = {
%(bodies)s
}
local max_requests = %(max_requests)d
local index = 0
local answered = 0
non2xx = 0
first_error = ""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

local threads = {}
function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  index = math.random(#bodies)
end

function request()
  index = index %% #bodies + 1
  return wrk.format(nil, nil, nil, bodies[index])
end

function response(status, headers, body)
  answered = answered + 1
  if status < 200 or status >= 300 then
    non2xx = non2xx + 1
    if first_error == "" then
      first_error = status .. " " .. string.sub(body, 1, 300)
    end
  end
  if answered >= max_requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local bad = 0
  local message = ""
  for _, thread in ipairs(threads) do
    bad = bad + thread:get("non2xx")
    local e = thread:get("first_error")
    if e ~= "" then message = e end
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT {\\"requests\\": %%d, \\"duration_us\\": %%d, \\"p50_us\\": %%d, \\"p99_us\\": %%d, "
    .. "\\"non2xx\\": %%d, \\"socket_errors\\": %%d}\\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad, e.connect + e.read + e.write + e.timeout))
  if message ~= "" then
    io.write("FIRST_ERROR " .. message .. "\\n")
  end
end
"""


def _lua_script(path: Path, bodies: Sequence[bytes], max_requests: int) -> None:
    quoted = ",\n".join(f"[==[{b.decode()}]==]" for b in bodies)
    path.write_text(LUA % {"bodies": quoted, "max_requests": max_requests}, encoding="utf-8")


def _wrk(base: str, script: Path, seconds: float, connections: int, pgid: int) -> Load:
    argv = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        base + "/invocations",
    ]
    before = CpuSnapshot.take(pgid)
    with tempfile.TemporaryFile() as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        try:
            _, status, usage = _wait4(proc, timeout=seconds + 60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        cores = _cores(before, CpuSnapshot.take(pgid), usage.ru_utime + usage.ru_stime)
        out.seek(0)
        text = out.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0 or "RESULT " not in text:
        raise SystemExit(f"benchmark aborted: wrk failed:\n{text[-3000:]}")
    result = json.loads(text.split("RESULT ", 1)[1].splitlines()[0])
    first_error = text.split("FIRST_ERROR ", 1)[1].splitlines()[0] if "FIRST_ERROR" in text else ""
    return Load(
        requests=int(result["requests"]),
        seconds=result["duration_us"] / 1e6,
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        non_2xx=int(result["non2xx"]),
        socket_errors=int(result["socket_errors"]),
        client_cpu=cores["client"],
        server_cpu=cores["server"],
        server_processes=cores["per_process"],
        other_cpu=cores["other"],
        first_error=first_error,
    )


def _wait4(proc: subprocess.Popen[bytes], timeout: float) -> tuple[int, int, Any]:
    """``os.wait4`` on ``proc`` with a deadline (its rusage is the child's own CPU use)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return pid, status, usage
        if time.monotonic() > deadline:
            proc.kill()
            _, status, usage = os.wait4(proc.pid, 0)
            proc.returncode = os.waitstatus_to_exitcode(status)
            raise SystemExit("benchmark aborted: wrk did not finish in time")
        time.sleep(0.05)


def _python_load(
    base: str, bodies: Sequence[bytes], seconds: float, *, connections: int, cap: int, pgid: int
) -> Load:
    """The fallback client: asyncio + httpx, ``connections`` loops sending one request each."""
    import asyncio
    import resource

    import httpx

    latencies: list[float] = []
    failures = {"non2xx": 0, "socket": 0}
    first_error: list[str] = []

    async def loop(client: httpx.AsyncClient, offset: int, stop_at: float) -> None:
        i = offset
        while time.perf_counter() < stop_at and len(latencies) < cap:
            i = (i + 1) % len(bodies)
            sent = time.perf_counter()
            try:
                reply = await client.post("/invocations", content=bodies[i])
            except httpx.HTTPError:
                failures["socket"] += 1
                continue
            latencies.append(time.perf_counter() - sent)
            if not 200 <= reply.status_code < 300:
                failures["non2xx"] += 1
                if not first_error:
                    first_error.append(f"{reply.status_code} {reply.text[:300]}")

    async def main() -> float:
        limits = httpx.Limits(max_connections=connections)
        headers = {"Content-Type": "application/json"}
        async with httpx.AsyncClient(
            base_url=base, limits=limits, headers=headers, timeout=10
        ) as client:
            start = time.perf_counter()
            stop_at = start + seconds
            await asyncio.gather(*(loop(client, k * 61, stop_at) for k in range(connections)))
            return time.perf_counter() - start

    before = CpuSnapshot.take(pgid)
    cpu_before = resource.getrusage(resource.RUSAGE_SELF)
    wall = asyncio.run(main())
    cpu_after = resource.getrusage(resource.RUSAGE_SELF)
    used = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
    cores = _cores(before, CpuSnapshot.take(pgid), used)
    ordered = sorted(latencies) or [0.0]
    return Load(
        requests=len(latencies),
        seconds=wall,
        p50_ms=ordered[len(ordered) // 2] * 1000,
        p99_ms=ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000,
        non_2xx=failures["non2xx"],
        socket_errors=failures["socket"],
        client_cpu=cores["client"],
        server_cpu=cores["server"],
        server_processes=cores["per_process"],
        other_cpu=cores["other"],
        first_error=first_error[0] if first_error else "",
    )


# ---------------------------------------------------------------------- one server
@dataclass
class Measured:
    load: Load
    warmup_requests: int
    predictions: list[Any]
    log_notes: list[str]  # lines of the server's log that say something went wrong


NOTABLE = ("error", "exception", "died", "kill", "restart", "timeout", "warning")


def _notable(log: Path) -> list[str]:
    """Lines of a server log that say something went wrong; a traceback by its last line."""
    notes = []
    in_traceback = False
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and not line[:1].isspace():
            notes.append(f"traceback: {line.strip()}")
            in_traceback = False
        elif (
            not in_traceback
            and any(w in line.lower() for w in NOTABLE)
            and "Exception in ASGI application" not in line  # its traceback follows
        ):
            notes.append(line.strip())
    return notes


def _measure(
    server: Server, fixture: Fixture, args: argparse.Namespace, client: str, script: Path
) -> Measured:
    bodies = [_body([row]) for row in fixture.rows]
    with _running(server) as (proc, base):
        answer = _post(base + "/invocations", _body(fixture.check_rows))
        predictions = answer["predictions"] if isinstance(answer, dict) else answer

        def load(seconds: float) -> Load:
            if client == "wrk":
                return _wrk(base, script, seconds, args.serve_connections, proc.pid)
            return _python_load(
                base,
                bodies,
                seconds,
                connections=args.serve_connections,
                cap=args.serve_max_requests,
                pgid=proc.pid,
            )

        warm = load(args.serve_warmup)
        measured = load(args.serve_seconds)
    return Measured(measured, warm.requests, list(predictions), _notable(server.log))


def _bucketed(state: Path) -> dict[str, Any]:
    """Sum the monitoring windows a server wrote under ``state`` (its TMPDIR)."""
    rows = requests = errors = 0
    per_feature: dict[str, int] = {}
    predicted = 0
    files = sorted(state.rglob("windows/window-*.json"))
    for path in files:
        window = json.loads(path.read_text(encoding="utf-8"))
        rows += window["rows"]
        requests += window["requests"]
        errors += window["errors"]
        for name, counted in window["features"].items():
            per_feature[name] = (
                per_feature.get(name, 0) + sum(counted["counts"]) + counted["missing"]
            )
        if window.get("predictions"):
            counts = window["predictions"]["counts"]
            predicted += sum(counts.values()) + window["predictions"]["other"]
    return {
        "files": len(files),
        "rows": rows,
        "requests": requests,
        "errors": errors,
        "features": per_feature,
        "predictions": predicted,
    }


# ---------------------------------------------------------------------- run
def _servers(fixture: Fixture, workdir: Path, workers: int) -> list[Server]:
    scratch = fixture.scratch
    modelbay_env = {"MODELBAY_HOME": str(fixture.home), "MODELBAY_DATABASE_URL": ""}
    serve = [str(MODELBAY), "serve", f"{MODEL_NAME}:1", "--port", "{port}"]
    serve += ["--workers", str(workers)]
    on_state, off_state = scratch / "state-on", scratch / "state-off"
    peer_bin = mlflow_python(workdir).parent
    return [
        Server(
            "modelbay, monitoring on",
            [*serve, "--profile", str(fixture.profile)],
            {**modelbay_env, "TMPDIR": str(on_state)},
            "/health",
            scratch / "modelbay-on.log",
            on_state,
        ),
        Server(
            "modelbay, --no-monitoring",
            [*serve, "--no-monitoring"],
            {**modelbay_env, "TMPDIR": str(off_state)},
            "/health",
            scratch / "modelbay-off.log",
            off_state,
        ),
        Server(
            "mlflow models serve",
            [
                str(peer_bin / "mlflow"),
                "models",
                "serve",
                "-m",
                str(fixture.mlflow_model),
                "-h",
                HOST,
                "-p",
                "{port}",
                "--env-manager",
                "local",
            ],
            {
                **MLFLOW_ENV,
                "MLFLOW_MODELS_WORKERS": str(workers),
                # `--env-manager local` execs `uvicorn` from PATH: the MLflow venv's one
                "PATH": f"{peer_bin}{os.pathsep}{os.environ.get('PATH', '')}",
            },
            "/ping",
            scratch / "mlflow.log",
        ),
    ]


def _client(choice: str) -> str:
    if choice != "auto":
        if choice == "wrk" and not shutil.which("wrk"):
            raise SystemExit("benchmark aborted: wrk is not installed (apt-get install wrk)")
        return choice
    return "wrk" if shutil.which("wrk") else "python"


def run(args: argparse.Namespace) -> None:
    workdir: Path = args.workdir
    client = _client(args.serve_client)
    scratch = Path(tempfile.mkdtemp(prefix="serving-", dir=workdir))
    try:
        fixture = _build(workdir, scratch)
        servers = _servers(fixture, workdir, args.serve_workers)
        for server in servers:
            if server.state:
                server.state.mkdir()
        script = scratch / "load.lua"
        _lua_script(script, [_body([row]) for row in fixture.rows], args.serve_max_requests)
        results: dict[str, list[Measured]] = {s.label: [] for s in servers}
        for _ in range(args.serve_rounds):
            for server in servers:
                results[server.label].append(_measure(server, fixture, args, client, script))
        _report(args, fixture, servers, results, client)
    finally:
        if args.serve_keep:
            print(f"kept the scratch folder: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def _per_process(measured: Sequence[Measured]) -> str:
    """The server's cores in the median-rps run, and how they split over its processes."""
    middle = sorted(measured, key=lambda m: m.load.rps)[len(measured) // 2].load
    split = "+".join(f"{c:.2f}" for c in middle.server_processes)
    return f"{middle.server_cpu:.2f} ({split})"


def _spread(measured: Sequence[Measured]) -> float:
    rates = [m.load.rps for m in measured]
    middle = statistics.median(rates)
    return (max(rates) - min(rates)) / middle if middle else 0.0


def _median_load(measured: Sequence[Measured], attribute: str) -> float:
    return float(statistics.median(getattr(m.load, attribute) for m in measured))


def _report(
    args: argparse.Namespace,
    fixture: Fixture,
    servers: Sequence[Server],
    results: Mapping[str, Sequence[Measured]],
    client: str,
) -> None:
    generator = "wrk -t1" if client == "wrk" else "asyncio + httpx client in this process (no wrk)"
    print_header(
        f"serving: RandomForest(50) on 10 features, single-row JSON, {args.serve_connections} "
        f"connections, {args.serve_seconds:g} s after {args.serve_warmup:g} s warm-up, "
        f"{args.serve_workers} workers each, load by {generator}; median of "
        f"{args.serve_rounds} round(s)"
    )
    print(
        f"scikit-learn {fixture.sklearn} on both sides; MLflow {fixture.mlflow} "
        f"(mlflow models serve --env-manager local, MLFLOW_MODELS_WORKERS={args.serve_workers})"
    )
    rows = []
    for server in servers:
        measured = results[server.label]
        rows.append(
            [
                server.label,
                f"{_median_load(measured, 'rps'):,.0f}",
                f"{_median_load(measured, 'p50_ms'):.2f}",
                f"{_median_load(measured, 'p99_ms'):.2f}",
                f"{sum(m.load.non_2xx for m in measured)}",
                f"{sum(m.load.socket_errors for m in measured)}",
                f"{sum(m.load.requests for m in measured):,}",
                _per_process(measured),
                f"{_median_load(measured, 'client_cpu'):.2f}",
                f"{_median_load(measured, 'other_cpu'):.2f}",
            ]
        )
    print_table(
        [
            "server",
            "requests/s",
            "p50 ms",
            "p99 ms",
            "non-2xx",
            "socket err",
            "requests",
            "server cores (per process)",
            "client cores",
            "other cores",
        ],
        rows,
    )
    if args.serve_rounds > 1:
        for server in servers:
            each = ", ".join(
                f"{m.load.rps:,.0f} [{'+'.join(f'{c:.2f}' for c in m.load.server_processes)}]"
                for m in results[server.label]
            )
            print(f"requests/s [cores per busy process] per round, {server.label}: {each}")
    for server in servers:
        for m in results[server.label]:
            if m.load.first_error:
                print(f"first error from {server.label}: {m.load.first_error}")
            notes = Counter(m.log_notes)
            for line, count in notes.most_common(5):
                print(f"log of {server.label}: {count} x {line[:300]}")
            if len(notes) > 5:
                print(f"log of {server.label}: ... {len(notes) - 5} more kinds of lines")

    on, off, peer = (results[s.label] for s in servers)
    agree = _agreement(fixture, servers, results)
    _monitoring_check(servers[0], on, fixture, args.serve_connections)

    rps_on, rps_off, rps_peer = (_median_load(m, "rps") for m in (on, off, peer))
    failures = sum(m.load.non_2xx + m.load.socket_errors for ms in results.values() for m in ms)
    speedup = rps_on / rps_peer if rps_peer else 0.0
    print(
        f"ratio modelbay/mlflow: monitoring on {speedup:.2f}x, "
        f"monitoring off {rps_off / rps_peer if rps_peer else 0.0:.2f}x"
    )
    cost = 1 - rps_on / rps_off if rps_off else 1.0
    print(f"cost of monitoring: 1 - {rps_on:,.0f}/{rps_off:,.0f} = {cost:.1%}")
    noise = max(_spread(on), _spread(off))
    if len(on) > 1:
        print(
            "round-to-round spread of requests/s ((max - min) / median): "
            + ", ".join(f"{s.label} {_spread(results[s.label]):.0%}" for s in servers)
            + (
                f"; the cost of monitoring ({cost:.1%}) is within that noise"
                if abs(cost) < noise
                else ""
            )
        )
    verdict(
        "modelbay (monitoring on) requests/s vs mlflow models serve",
        f"{speedup:.2f}x",
        f">= {TARGET_RATIO:g}x",
        speedup >= TARGET_RATIO and failures == 0 and agree,
    )
    verdict(
        "throughput cost of monitoring (1 - rps_on/rps_off)",
        f"{cost:.1%}" + (f" (rounds spread {noise:.0%})" if len(on) > 1 else ""),
        f"< {TARGET_MONITORING_COST:.0%}",
        cost < TARGET_MONITORING_COST and failures == 0,
    )


def _agreement(
    fixture: Fixture, servers: Sequence[Server], results: Mapping[str, Sequence[Measured]]
) -> bool:
    ok = True
    for server in servers:
        for m in results[server.label]:
            got = [int(p) for p in m.predictions]
            differ = sum(a != b for a, b in zip(got, fixture.expected, strict=False))
            differ += abs(len(got) - len(fixture.expected))
            ok = ok and differ == 0
            if differ:
                print(f"{server.label}: {differ} of 100 predictions differ from the model's")
    first = [results[s.label][0].predictions for s in servers]
    same = all(p == first[0] for p in first)
    print(
        f"predictions on {len(fixture.check_rows)} rows: "
        + ("all servers agree with each other and with the model" if ok and same else "DIFFER")
    )
    return ok and same


def _monitoring_check(
    server: Server, measured: Sequence[Measured], fixture: Fixture, connections: int
) -> None:
    # `modelbay serve` keeps its monitoring state beside the model folder in the data home
    found = _bucketed(fixture.home / "serving")
    counted = sum(m.load.requests + m.warmup_requests for m in measured)
    sent = counted + len(fixture.check_rows) * len(measured)
    # the load generator stops counting at its deadline: a few requests per connection
    # are still answered (and bucketed) after it, in each warm-up and measured run
    slack = 2 * connections * len(measured)
    features = found["features"]
    every_feature = len(features) == len(COLUMNS) and all(
        n == found["rows"] for n in features.values()
    )
    in_range = sent <= found["rows"] <= sent + slack
    print(
        f"monitoring windows written: {found['files']} files, {found['rows']:,} rows "
        f"bucketed in {found['requests']:,} requests (the client counted {sent:,} rows, up to "
        f"{slack} more in flight), every feature bucketed on every row: {every_feature}, "
        f"predictions bucketed: {found['predictions']:,}, errors: {found['errors']}"
        + ("" if in_range and every_feature else "  <-- MISMATCH")
    )

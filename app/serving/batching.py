"""Score concurrent requests together: one prediction call for everything that is waiting.

A tree ensemble costs about the same for 8 rows as for 1, and calling the model
from many threads at once only makes them fight over the GIL. So each server
process predicts on one dedicated thread, and requests that arrive while it
is busy are concatenated into the next call, then split back by row counts.

If a combined call fails, each request of the batch is retried alone, so one
bad request never fails the others.

``observe(frame, predictions, requests)`` (the monitoring windows) runs on the predictor
thread once per call, on the whole batch: the event loop keeps answering HTTP
meanwhile, and the per-request cost of monitoring shrinks with the batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

MAX_BATCH_ROWS = 512


class BatchingPredictor:
    def __init__(
        self,
        predictor: Any,
        *,
        observe: Callable[[Any, Any, int], None] | None = None,
        max_rows: int = MAX_BATCH_ROWS,
    ) -> None:
        self.predictor = predictor
        self.observe = observe
        self.max_rows = max_rows
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[Any]]] | None = None
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="modelbay-predict")
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._queue = asyncio.Queue()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def predict(self, frame: Any) -> Any:
        assert self._queue is not None, "start() first"
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        await self._queue.put((frame, future))
        return await future

    def _predict(self, frame: Any, requests: int = 1) -> Any:
        result = self.predictor.predict(frame)
        if self.observe is not None:
            self.observe(frame, result, requests)
        return result

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            first = await self._queue.get()
            batch = [first]
            rows = len(first[0].index)
            while rows < self.max_rows and not self._queue.empty():
                item = self._queue.get_nowait()
                if list(item[0].columns) != list(first[0].columns):
                    await self._score(loop, [item])  # a different shape: on its own
                    continue
                batch.append(item)
                rows += len(item[0].index)
            await self._score(loop, batch)

    async def _score(
        self, loop: asyncio.AbstractEventLoop, batch: list[tuple[Any, asyncio.Future[Any]]]
    ) -> None:
        live = [(frame, future) for frame, future in batch if not future.done()]
        if not live:
            return  # every caller gave up (timeout) meanwhile
        if len(live) == 1:
            frame, future = live[0]
            try:
                result = await loop.run_in_executor(self._executor, self._predict, frame)
            except Exception as exc:  # noqa: BLE001 - handed to the caller, who answers a 400
                _settle(future, error=exc)
            else:
                _settle(future, result=result)
            return
        import pandas as pd

        combined = pd.concat([frame for frame, _ in live], ignore_index=True)
        try:
            result = await loop.run_in_executor(self._executor, self._predict, combined, len(live))
            parts = _split(result, [len(frame.index) for frame, _ in live])
        except Exception:  # noqa: BLE001 - find the culprit: score each request alone
            for item in live:
                await self._score(loop, [item])
            return
        for (_, future), part in zip(live, parts, strict=True):
            _settle(future, result=part)


def _split(result: Any, counts: list[int]) -> list[Any]:
    import numpy as np

    array = np.asarray(result)
    if array.ndim == 0 or array.shape[0] != sum(counts):
        raise ValueError("the model's output does not have one entry per input row")
    bounds = np.cumsum(counts)[:-1]
    return list(np.split(array, bounds))


def _settle(
    future: asyncio.Future[Any], *, result: Any = None, error: BaseException | None = None
) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)

"""The content-addressed artifact store: every file lives once, under its SHA-256.

Layout under the store root::

    blobs/ab/cdef...   one file per distinct content, named by its SHA-256
    tmp/               files being written; anything left here is from a crash

Writing: the source is read once; each chunk is hashed and written to a temp
file in ``tmp/`` (same file system, so the final rename is atomic), the temp
file is fsynced and renamed to its hash, then the directory is fsynced. A
crash leaves at worst a temp file, which :meth:`ArtifactStore.clean_temp`
removes on the next start; never a blob whose name does not match its content.

Memory stays bounded: a copy holds at most ``_QUEUE_DEPTH`` chunks of
``CHUNK_SIZE`` bytes, whatever the file's size.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import queue
import stat
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from app.errors import InvalidInputError, NotFoundError, StoreError
from app.progress import NEVER_CANCELLED, CancelToken, ProgressCallback, no_progress

CHUNK_SIZE = 1 << 20
_QUEUE_DEPTH = 8
_TEMP_PREFIX = "incoming-"

try:  # POSIX: a lock on each temp file tells a live writer from a crashed one
    import fcntl
except ImportError:  # pragma: no cover - Windows: an open file cannot be deleted anyway
    fcntl = None  # type: ignore[assignment]


@dataclass(frozen=True)
class StoredFile:
    """One file of a model version: its path inside the version, its content hash and size."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Ingested:
    """What :meth:`ArtifactStore.ingest` stored: the files and the version's content hash.

    For a single file ``sha256`` is the file's hash; for a folder it is the
    hash of its manifest (see :func:`manifest_sha256`), so the same folder
    content always gives the same hash.
    """

    files: tuple[StoredFile, ...]
    sha256: str
    size: int
    is_folder: bool
    # the blobs this ingest added (the others were stored already): what to remove
    # again if nothing ends up referring to them, e.g. when the import is refused
    created: frozenset[str] = frozenset()


@dataclass
class VerifyReport:
    checked: int = 0
    missing: list[str] = field(default_factory=list)
    corrupt: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.missing and not self.corrupt


def manifest_sha256(files: Iterable[StoredFile]) -> str:
    """The content hash of a folder.

    SHA-256 over one line ``"<sha256>  <size>  <path>\\n"`` per file, sorted by path.
    """
    digest = hashlib.sha256()
    for item in sorted(files, key=lambda f: f.path):
        digest.update(f"{item.sha256}  {item.size}  {item.path}\n".encode())
    return digest.hexdigest()


def _is_sha256(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


class ArtifactStore:
    """Files by content hash under ``root``. Safe to use from several threads and processes."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._blobs = root / "blobs"
        self._tmp = root / "tmp"

    # ------------------------------------------------------------------ layout
    def ensure(self) -> None:
        try:
            self._blobs.mkdir(parents=True, exist_ok=True)
            self._tmp.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the artifact store at {self.root}: {exc.strerror}",
                hint="check that the data home is writable or set MODELBAY_HOME",
            ) from exc

    def blob_path(self, sha256: str) -> Path:
        if not _is_sha256(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self._blobs / sha256[:2] / sha256[2:]

    def has(self, sha256: str) -> bool:
        return self.blob_path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        try:
            return self.blob_path(sha256).open("rb")
        except FileNotFoundError as exc:
            raise NotFoundError(
                f"file {sha256[:12]} is missing from the artifact store",
                hint="run `modelbay verify` to list every damaged version",
            ) from exc

    # ------------------------------------------------------------------ writing
    def ingest(
        self,
        source: Path,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> Ingested:
        """Store a file or every file of a folder; return what was stored.

        Raises :class:`InvalidInputError` for a path that does not exist, is
        empty, unreadable, or a folder with no files.
        """
        source = Path(source)
        try:
            st = source.stat()
        except FileNotFoundError:
            raise InvalidInputError(f"{source} does not exist", hint="check the path") from None
        except PermissionError:
            raise InvalidInputError(
                f"cannot read {source}: permission denied", hint="check the file's permissions"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            members = _folder_members(source)
            if not members:
                raise InvalidInputError(
                    f"{source} is an empty folder: there is no model file to import",
                    hint="point at the folder your framework wrote, or at the model file itself",
                )
            total = sum(size for _, _, size in members)
            done = 0
            stored: list[StoredFile] = []
            created: set[str] = set()
            try:
                for relative, path, size in members:
                    sha, written, new = self._put_file(
                        path,
                        progress=_offset(progress, done, total, f"copying {relative}"),
                        cancel=cancel,
                    )
                    stored.append(StoredFile(relative, sha, written))
                    if new:
                        created.add(sha)
                    done += size
            except BaseException:
                self.remove(created)  # a folder stored halfway (cancelled, unreadable file)
                raise
            files = tuple(sorted(stored, key=lambda f: f.path))
            return Ingested(
                files,
                manifest_sha256(files),
                sum(f.size for f in files),
                True,
                frozenset(created),
            )
        if not stat.S_ISREG(st.st_mode):
            raise InvalidInputError(f"{source} is not a regular file or folder")
        if st.st_size == 0:
            raise InvalidInputError(
                f"{source} is empty (0 bytes): there is no model in it",
                hint="check that the training script finished writing the file",
            )
        sha, size, new = self._put_file(source, progress=progress, cancel=cancel)
        added = frozenset({sha}) if new else frozenset()
        return Ingested((StoredFile(source.name, sha, size),), sha, size, False, added)

    def put_file(
        self,
        source: Path,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> tuple[str, int]:
        """Copy ``source`` into the store, hashing while copying. Return (sha256, size)."""
        sha, size, _new = self._put_file(source, progress=progress, cancel=cancel)
        return sha, size

    def _put_file(
        self, source: Path, *, progress: ProgressCallback, cancel: CancelToken
    ) -> tuple[str, int, bool]:
        """:meth:`put_file`, and whether the blob is new (False: the content was there)."""
        self.ensure()
        try:
            reader = source.open("rb", buffering=0)
        except FileNotFoundError:
            raise InvalidInputError(f"{source} does not exist", hint="check the path") from None
        except PermissionError:
            raise InvalidInputError(
                f"cannot read {source}: permission denied", hint="check the file's permissions"
            ) from None
        except IsADirectoryError:
            raise InvalidInputError(f"{source} is a folder, expected a file") from None
        with reader:
            total = os.fstat(reader.fileno()).st_size
            with self._temp_file() as (temp_path, writer):
                sha, size = _copy_hashing(
                    reader, writer, total=total, source=source, progress=progress, cancel=cancel
                )
                writer.flush()
                os.fsync(writer.fileno())
                new = self._commit(temp_path, sha)
        return sha, size, new

    def remove(self, sha256s: Iterable[str]) -> int:
        """Delete these blobs (those that exist); return how many were deleted.

        The store does not know what refers to a blob: the caller checks that
        nothing does (see ``Registry.import_path``).
        """
        removed = 0
        for sha in sorted(set(sha256s)):
            try:
                self.blob_path(sha).unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreError(
                    f"cannot remove {sha[:12]} from the artifact store at {self.root}: "
                    f"{exc.strerror}",
                    hint="check the permissions of the data home",
                ) from exc
            removed += 1
        return removed

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store a small in-memory payload (a manifest, a profile). Return (sha256, size)."""
        self.ensure()
        sha = hashlib.sha256(data).hexdigest()
        if self.has(sha):
            return sha, len(data)
        with self._temp_file() as (temp_path, writer):
            writer.write(data)
            writer.flush()
            os.fsync(writer.fileno())
            self._commit(temp_path, sha)
        return sha, len(data)

    @contextlib.contextmanager
    def _temp_file(self) -> Iterator[tuple[Path, BinaryIO]]:
        import tempfile

        try:
            fd, name = tempfile.mkstemp(prefix=_TEMP_PREFIX, dir=self._tmp)
        except OSError as exc:
            raise StoreError(
                f"cannot write to the artifact store at {self.root}: {exc.strerror}",
                hint="check free disk space and permissions of the data home",
            ) from exc
        path = Path(name)
        writer = os.fdopen(fd, "wb", buffering=0)
        if fcntl is not None:
            fcntl.flock(writer.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        try:
            yield path, writer
        finally:
            writer.close()
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # already renamed on success; removed on failure or cancel

    def _commit(self, temp_path: Path, sha256: str) -> bool:
        """Move the temp file into place; False when that content was stored already."""
        target = self.blob_path(sha256)
        if target.exists():
            return False  # identical content is stored once; the temp file is dropped
        try:
            target.parent.mkdir(exist_ok=True)
            os.chmod(temp_path, 0o444)
            os.replace(temp_path, target)
            _fsync_dir(target.parent)
        except OSError as exc:
            raise StoreError(
                f"cannot move a stored file into place in {self.root}: {exc.strerror}",
                hint="check free disk space and permissions of the data home",
            ) from exc
        return True

    # ------------------------------------------------------------------ reading
    def export(
        self,
        files: Iterable[StoredFile],
        destination: Path,
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> list[Path]:
        """Write ``files`` under ``destination`` at their relative paths, byte-identical.

        Each file is written to a temp name, checked against its hash, then
        renamed, so an interrupted export never leaves a wrong file. An
        existing different file is not overwritten.
        """
        items = list(files)
        total = sum(f.size for f in items)
        done = 0
        written: list[Path] = []
        for item in items:
            target = _safe_join(destination, item.path)
            if target.exists():
                raise InvalidInputError(
                    f"{target} already exists; export does not overwrite files",
                    hint="choose an empty folder",
                )
            target.parent.mkdir(parents=True, exist_ok=True)
            temp = target.with_name(f".{target.name}.modelbay-partial")
            try:
                with self.open(item.sha256) as reader, temp.open("wb") as writer:
                    sha, _ = _copy_hashing(
                        reader,
                        writer,
                        total=item.size,
                        source=Path(item.path),
                        progress=_offset(progress, done, total, f"exporting {item.path}"),
                        cancel=cancel,
                    )
                if sha != item.sha256:
                    raise StoreError(
                        f"stored file for {item.path} is corrupt (hash {sha[:12]}, expected "
                        f"{item.sha256[:12]})",
                        hint="run `modelbay verify`, then re-import the model from its source",
                    )
                os.replace(temp, target)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    temp.unlink()
            written.append(target)
            done += item.size
        return written

    def verify(
        self,
        expected: Iterable[tuple[str, int]],
        *,
        progress: ProgressCallback = no_progress,
        cancel: CancelToken = NEVER_CANCELLED,
    ) -> VerifyReport:
        """Re-hash every expected blob: report the ones missing or whose bytes no longer match."""
        wanted = dict(expected)
        total = sum(wanted.values())
        report = VerifyReport()
        done = 0
        for sha, size in sorted(wanted.items()):
            cancel.raise_if_cancelled()
            path = self.blob_path(sha)
            try:
                reader = path.open("rb", buffering=0)
            except FileNotFoundError:
                report.missing.append(sha)
                done += size
                continue
            with reader:
                actual, actual_size = _hash_stream(
                    reader, _offset(progress, done, total, "verifying the artifact store"), cancel
                )
            report.checked += 1
            if actual != sha or actual_size != size:
                report.corrupt.append(sha)
            done += size
        progress(total, total, "verified")
        return report

    # ------------------------------------------------------------------ housekeeping
    def clean_temp(self) -> int:
        """Remove temp files left by a crashed import. Files still being written are kept."""
        if not self._tmp.is_dir():
            return 0
        removed = 0
        for entry in self._tmp.iterdir():
            if not entry.name.startswith(_TEMP_PREFIX):
                continue
            if fcntl is not None:
                try:
                    fd = os.open(entry, os.O_RDONLY)
                except FileNotFoundError:
                    continue
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue  # a live writer holds it
                finally:
                    os.close(fd)
            with contextlib.suppress(FileNotFoundError, PermissionError):
                entry.unlink()
                removed += 1
        return removed


# ---------------------------------------------------------------------- copying
def _offset(progress: ProgressCallback, base: int, overall: int, label: str) -> ProgressCallback:
    """Report one file's progress as part of a larger job of ``overall`` bytes."""

    def report(done: int, total: int | None, message: str) -> None:
        progress(base + done, overall, label)

    return report


def _copy_hashing(
    reader: BinaryIO,
    writer: BinaryIO,
    *,
    total: int,
    source: Path,
    progress: ProgressCallback,
    cancel: CancelToken,
) -> tuple[str, int]:
    """Read ``reader`` once; hash and write every chunk. Return (sha256, bytes).

    Reading and hashing run on this thread while a second thread writes, so
    the copy costs about as much as the slower of the two rather than their
    sum (hashlib and file I/O release the GIL). The queue between them holds
    at most ``_QUEUE_DEPTH`` chunks: memory is bounded.
    """
    digest = hashlib.sha256()
    chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUE_DEPTH)
    failure: list[BaseException] = []

    def write_chunks() -> None:
        try:
            while (chunk := chunks.get()) is not None:
                if not failure:
                    writer.write(chunk)
        except BaseException as exc:  # noqa: BLE001 - handed to the reading thread below
            failure.append(exc)
            while chunks.get() is not None:  # drain so the reader never blocks
                pass

    thread = threading.Thread(target=write_chunks, name="modelbay-store-writer", daemon=True)
    thread.start()
    size = 0
    last_report = 0
    try:
        while True:
            if failure:
                break
            cancel.raise_if_cancelled()
            try:
                chunk = reader.read(CHUNK_SIZE)
            except OSError as exc:
                raise InvalidInputError(
                    f"cannot read {source}: {exc.strerror or exc}",
                    hint="check the disk or network share the file is on",
                ) from exc
            if not chunk:
                break
            digest.update(chunk)
            chunks.put(chunk)
            size += len(chunk)
            if size - last_report >= 16 * CHUNK_SIZE:
                progress(size, total, f"copying {source.name}")
                last_report = size
    finally:
        chunks.put(None)
        thread.join()
    if failure:
        error = failure[0]
        if isinstance(error, OSError):
            raise StoreError(
                f"cannot write {source.name} into the artifact store: {error.strerror or error}",
                hint="check free disk space in the data home",
            ) from error
        raise error
    progress(size, total, f"copied {source.name}")
    return digest.hexdigest(), size


def _hash_stream(
    reader: BinaryIO, progress: ProgressCallback, cancel: CancelToken
) -> tuple[str, int]:
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK_SIZE)
    view = memoryview(buffer)
    size = 0
    last_report = 0
    while True:
        cancel.raise_if_cancelled()
        n = reader.readinto(view)  # type: ignore[attr-defined]
        if not n:
            break
        digest.update(view[:n])
        size += n
        if size - last_report >= 16 * CHUNK_SIZE:
            progress(size, None, "")
            last_report = size
    return digest.hexdigest(), size


# ---------------------------------------------------------------------- folders
def _folder_members(folder: Path) -> list[tuple[str, Path, int]]:
    """Every regular file below ``folder`` as (relative posix path, path, size), sorted.

    Symbolic links are followed only when they stay inside the folder, so an
    import never pulls in files from elsewhere on the disk.
    """
    root = folder.resolve()
    members: list[tuple[str, Path, int]] = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            resolved = path.resolve()
            if not resolved.is_relative_to(root):
                raise InvalidInputError(
                    f"{path} links outside the folder being imported",
                    hint="copy the linked file into the folder, or import the file itself",
                )
            try:
                st = resolved.stat()
            except OSError as exc:
                raise InvalidInputError(f"cannot read {path}: {exc.strerror}") from exc
            if not stat.S_ISREG(st.st_mode):
                continue
            if not os.access(resolved, os.R_OK):
                raise InvalidInputError(
                    f"cannot read {path}: permission denied", hint="check the file's permissions"
                )
            relative = PurePosixPath(*path.relative_to(folder).parts).as_posix()
            members.append((relative, path, st.st_size))
    return members


def _safe_join(destination: Path, relative: str) -> Path:
    parts = PurePosixPath(relative).parts
    if not parts or PurePosixPath(relative).is_absolute() or ".." in parts:
        raise StoreError(f"refusing to export to an unsafe path {relative!r}")
    return destination.joinpath(*parts)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":  # pragma: no cover - directories cannot be fsynced on Windows
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

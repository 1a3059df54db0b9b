"""The charge journal: every settled call written to a local file as it settles, so a crash loses no charge.

Each process appends to its own journal (a random id, one file per segment, locked while the process
lives). A record is one line: `[seq, user_id, token_id, token_limited, channel_id, charged, log_row]`
(user 0: a log row with no charge).
The record is copied into a memory-mapped segment before the answer reaches the client: that is a
memory copy (no system call, so no release of the GIL for other threads to grab), and the kernel keeps
the page through SIGKILL. (A power cut can lose what the kernel had not written back yet.)
The keeper seals the current segment at each flush, commits everything up to that sequence number
together with the journal's mark (`tollway_markers`, name `journal:<id>`) in the same transaction, and
then deletes the sealed segments. At start, segments no live process holds are replayed: records
above the database's mark are applied once, so a replay never bills twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import mmap
import os
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger(__name__)

SUFFIX = ".jnl"
SEGMENT_BYTES = 64 << 20  # a segment's mapped size; the file is sparse, so only what is written takes space
NO_CHARGE = 0  # the user id of a record that carries only a log row (user ids start at 1)


@dataclass(frozen=True)
class Record:
    """One settled call as the journal keeps it."""

    seq: int
    user_id: int
    token_id: int
    token_limited: bool
    channel_id: int
    charged: int
    log_row: dict[str, Any] | None

    @classmethod
    def from_line(cls, line: bytes) -> Record:
        seq, user_id, token_id, limited, channel_id, charged, log_row = orjson.loads(line)
        return cls(int(seq), int(user_id), int(token_id), bool(limited), int(channel_id), int(charged), log_row)


def mark_name(journal_id: str) -> str:
    """The `tollway_markers` row that holds the last sequence number committed from a journal."""
    return f"journal:{journal_id}"


class Journal:
    """This process's journal: appends records, seals segments at flushes, deletes what is committed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.id = secrets.token_hex(8)
        self.seq = 0
        self._segment = 0
        self._fd = -1
        self._map: mmap.mmap | None = None
        self._used = 0  # bytes written into the current segment
        self._path = Path()
        # Sealed segments stay locked (their descriptors open) until deleted: another process must never take
        # them for orphans while this one may still commit them.
        self._sealed: list[tuple[Path, int, int]] = []  # (segment, last seq written to it, descriptor)

    def open(self) -> None:
        """Start a segment (the keeper opens it after replaying what earlier processes left)."""
        if self._map is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._start_segment()

    def _start_segment(self) -> None:
        self._segment += 1
        self._path = self.directory / f"{self.id}.{self._segment:06d}{SUFFIX}"
        # Made under another name and renamed once locked: a sibling looking for orphans (storage/replay.py) must
        # never find the segment before its lock is taken.
        making = self._path.with_suffix(".new")
        self._fd = os.open(making, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        # Held until this process ends (however it ends): a segment nobody holds is an orphan to replay.
        fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.ftruncate(self._fd, SEGMENT_BYTES)
        os.rename(making, self._path)
        self._map = mmap.mmap(self._fd, SEGMENT_BYTES, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        self._used = 0

    def _end_segment(self) -> int:
        """Unmap the current segment and cut the file to what was written; returns its (still locked) descriptor."""
        assert self._map is not None
        self._map.close()
        self._map = None
        os.ftruncate(self._fd, self._used)
        fd, self._fd = self._fd, -1
        return fd

    def append(self, user_id: int, token_id: int, token_limited: bool, channel_id: int, charged: int,
               log_row: dict[str, Any] | None) -> int:
        """Copy one record into the journal; returns its sequence number."""
        if self._map is None:
            self.open()
        line = orjson.dumps([self.seq + 1, user_id, token_id, token_limited, channel_id, charged, log_row]) + b"\n"
        if self._used + len(line) > SEGMENT_BYTES:
            self.seal()  # a full segment waits for the next flush like a flushed one
        assert self._map is not None
        end = self._used + len(line)
        self._map[self._used:end] = line
        self._used = end
        self.seq += 1
        return self.seq

    def seal(self) -> int:
        """Close the current segment and start a new one; returns the last sequence number sealed."""
        if self._map is not None and self._used:
            path = self._path
            self._sealed.append((path, self.seq, self._end_segment()))
            self._start_segment()
        return self.seq

    def discard(self, upto: int) -> None:
        """Delete the sealed segments whose every record is committed (sequence number ≤ `upto`)."""
        kept = []
        for path, last, fd in self._sealed:
            if last <= upto:
                path.unlink(missing_ok=True)
                os.close(fd)
            else:
                kept.append((path, last, fd))
        self._sealed = kept

    def sealed_records(self, after: int, upto: int) -> list[Record]:
        """The records with sequence numbers in (after, upto] from the sealed segments (a flush's, read back)."""
        paths = [path for path, last, _ in self._sealed if last > after]
        return [record for record in read(paths) if after < record.seq <= upto]

    @property
    def clean(self) -> bool:
        """Nothing is left on disk that the database lacks (every sealed segment discarded, the open one empty)."""
        return not self._sealed and not self._used

    def close(self) -> None:
        """Stop writing; an empty segment is removed, the others are left for the next start to replay."""
        for _, _, fd in self._sealed:
            os.close(fd)
        self._sealed = []
        if self._map is None:
            return
        empty = not self._used
        os.close(self._end_segment())
        if empty:
            self._path.unlink(missing_ok=True)


@dataclass
class Orphan:
    """The segments of a journal no live process holds, locked by this process while it replays them."""

    journal_id: str
    paths: list[Path]
    _fds: list[int]

    def release(self, *, delete: bool) -> None:
        """Delete the segments (replayed) or leave them for a later try, and drop the locks."""
        for path, fd in zip(self.paths, self._fds, strict=True):
            if delete:
                path.unlink(missing_ok=True)
            os.close(fd)
        self._fds = []


def claim_orphans(directory: Path) -> list[Orphan]:
    """Lock the segments of journals no live process holds, by journal id, oldest first.

    The locks keep a sibling process that looks at the same moment from replaying the same segments.
    """
    found: dict[str, Orphan] = {}
    if not directory.is_dir():
        return []
    for making in directory.glob("*.new"):
        # A process killed while it made a segment, before any record (a young one may be being made right now).
        with contextlib.suppress(FileNotFoundError):
            if time.time() - making.stat().st_mtime > 60:
                _remove_if_unlocked(making)
    for path in sorted(directory.glob(f"*{SUFFIX}")):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a live process still writes it, or a sibling replays it
        if not path.exists():  # replayed and deleted by a sibling between the listing and the lock
            os.close(fd)
            continue
        journal_id = path.name.split(".", 1)[0]
        orphan = found.setdefault(journal_id, Orphan(journal_id, [], []))
        orphan.paths.append(path)
        orphan._fds.append(fd)
    return list(found.values())


def _remove_if_unlocked(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink(missing_ok=True)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


def orphans(directory: Path) -> dict[str, list[Path]]:
    """Segments of journals no live process holds, by journal id, oldest first (not locked: for a look only)."""
    claimed = claim_orphans(directory)
    for orphan in claimed:
        orphan.release(delete=False)
    return {orphan.journal_id: orphan.paths for orphan in claimed}


def read(paths: Iterable[Path]) -> list[Record]:
    """The records of a journal's segments in order; a torn last line (a crash mid-write) is skipped."""
    records: list[Record] = []
    for path in paths:
        # A segment whose process was killed still has its full mapped size: the records end at the first NUL.
        data = path.read_bytes()
        end = data.find(b"\0")
        for number, line in enumerate((data if end < 0 else data[:end]).split(b"\n")):
            if not line.strip():
                continue
            try:
                records.append(Record.from_line(line))
            except (orjson.JSONDecodeError, ValueError, TypeError):
                log.error("%s line %d is unreadable and is skipped: %r", path, number + 1, line[:200])
    records.sort(key=lambda record: record.seq)
    return records

"""Typed values for the messages of protocol v1.

Arrays decoded from the wire are read-only NumPy views of the received frames (no copy); call
``.copy()`` on one to modify it. Every value that comes from the daemon's outbound socket has a
``topic`` (``None`` when it is a query reply) and, except :class:`Rejected` and
:class:`RawMessage`, a ``start_epoch`` (identifies the daemon run) and a ``seq`` (counts
messages per topic within that run).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "IdColumn",
    "Scalar",
    "CentersSnapshot",
    "Assignments",
    "Heartbeat",
    "Event",
    "Rejected",
    "RawMessage",
    "VectorBatch",
    "Message",
]

#: A column of row ids: int64 array (every row has an integer id), ``list[str]`` (every row has
#: a string id), or, for the mixed form ``VASM``, a list whose entries are ``int``, ``str`` or
#: ``None`` (a row without id).
IdColumn = Union[NDArray[np.int64], List[str], List[Union[int, str, None]]]

#: A value of a flat JSON object (event fields, stats): a string or a number.
Scalar = Union[str, int, float]


def _ids_equal(a: Optional[IdColumn], b: Optional[IdColumn]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, np.ndarray) != isinstance(b, np.ndarray):
        return False
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return list(a) == list(b)


def _values_equal(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype
                and a.shape == b.shape and bool(np.array_equal(a, b)))
    return bool(a == b)


class _ArrayEquality:
    """Field-by-field equality that compares NumPy arrays by dtype, shape and values."""

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        for f in fields(self):  # type: ignore[arg-type]
            x, y = getattr(self, f.name), getattr(other, f.name)
            same = _ids_equal(x, y) if f.name == "ids" else _values_equal(x, y)
            if not same:
                return False
        return True

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True, eq=False, repr=False)
class CentersSnapshot(_ArrayEquality):
    """The model's centers: a ``centers.bin`` / ``centers.json`` message or a ``snapshot`` reply.

    Attributes:
        k: the number of centers.
        d: their dimension.
        start_epoch: identifies the daemon run; it changes when the daemon restarts.
        seq: the message's number on its topic within ``start_epoch`` (0 in a snapshot reply).
        model_epoch: bumped when the model is re-initialised.
        model_version: bumped on every model update (also available as :attr:`version`).
        temperature: the responsibility temperature the model was at.
        centers: ``(k, d)`` float32, row-major.
        counts: ``(k,)`` float64 soft counts.
        topic: ``"centers.bin"``, ``"centers.json"``, or ``None`` for a query reply.
        spreads: ``(k,)`` float64 cluster spreads (``centers.json`` only), else ``None``.
    """

    k: int
    d: int
    start_epoch: int
    seq: int
    model_epoch: int
    model_version: int
    temperature: float
    centers: NDArray[np.float32]
    counts: NDArray[np.float64]
    topic: Optional[str] = None
    spreads: Optional[NDArray[np.float64]] = None

    @property
    def version(self) -> int:
        """The model version (the protocol's ``model_version``)."""
        return self.model_version

    def __repr__(self) -> str:
        return (f"CentersSnapshot(k={self.k}, d={self.d}, start_epoch={self.start_epoch}, seq={self.seq}, "
                f"model_epoch={self.model_epoch}, model_version={self.model_version}, "
                f"temperature={self.temperature!r}, topic={self.topic!r})")


@dataclass(frozen=True, eq=False, repr=False)
class Assignments(_ArrayEquality):
    """Per-vector results: an ``assignments.bin`` / ``assignments.json`` message or a
    ``predict`` reply.

    Row ``i``'s sparse responsibilities (its entmax support) are
    ``indices[offsets[i]:offsets[i+1]]`` with weights ``weights[offsets[i]:offsets[i+1]]``, which
    sum to 1: CSR form, so :meth:`to_scipy` wraps the arrays without copying the structure.

    Attributes:
        k: the number of centers of the model that computed the rows.
        start_epoch: identifies the daemon run.
        seq: the message's number on its topic within ``start_epoch`` (0 in a predict reply).
        model_version: the model version the rows were computed with.
        ids: ``None`` when no row has an id, else an :data:`IdColumn` with one entry per row.
        best: ``(n,)`` int32, each row's nearest center.
        distances: ``(n,)`` float32, the squared Euclidean distance to that center.
        offsets: ``(n + 1,)`` uint32, CSR row pointers (``offsets[0] == 0``).
        indices: ``(nnz,)`` uint32 center indices.
        weights: ``(nnz,)`` float32 responsibilities.
        topic: ``"assignments.bin"``, ``"assignments.json"``, or ``None`` for a query reply.
    """

    k: int
    start_epoch: int
    seq: int
    model_version: int
    ids: Optional[IdColumn]
    best: NDArray[np.int32]
    distances: NDArray[np.float32]
    offsets: NDArray[np.uint32]
    indices: NDArray[np.uint32]
    weights: NDArray[np.float32]
    topic: Optional[str] = None

    @property
    def n(self) -> int:
        """The number of rows."""
        return int(self.best.shape[0])

    def __len__(self) -> int:
        return self.n

    def support(self, row: int) -> Tuple[NDArray[np.uint32], NDArray[np.float32]]:
        """Row ``row``'s support: its center indices and their responsibilities."""
        lo, hi = int(self.offsets[row]), int(self.offsets[row + 1])
        return self.indices[lo:hi], self.weights[lo:hi]

    def to_dense(self) -> NDArray[np.float32]:
        """The responsibilities as a dense ``(n, k)`` float32 array (zeros off the support)."""
        out = np.zeros((self.n, self.k), dtype=np.float32)
        lengths = self.offsets[1:].astype(np.int64) - self.offsets[:-1].astype(np.int64)
        rows = np.repeat(np.arange(self.n), lengths)
        out[rows, self.indices.astype(np.int64)] = self.weights
        return out

    def to_scipy(self) -> Any:
        """The responsibilities as a ``scipy.sparse.csr_matrix`` of shape ``(n, k)``.

        Raises:
            ImportError: scipy is not installed (``pip install scipy``); :meth:`to_dense`
                needs no scipy.
        """
        try:
            sparse = importlib.import_module("scipy.sparse")
        except ImportError as error:
            raise ImportError(
                "Assignments.to_scipy() and .responsibilities need scipy, which is not installed "
                "(pip install scipy); Assignments.to_dense() works without it") from error
        return sparse.csr_matrix(
            (np.array(self.weights, dtype=np.float32), self.indices.astype(np.int64), self.offsets.astype(np.int64)),
            shape=(self.n, self.k))

    @property
    def responsibilities(self) -> Any:
        """The same as :meth:`to_scipy`: a ``(n, k)`` ``scipy.sparse.csr_matrix``."""
        return self.to_scipy()

    def __repr__(self) -> str:
        kind = "none" if self.ids is None else ("int64" if isinstance(self.ids, np.ndarray) else "list")
        return (f"Assignments(n={self.n}, k={self.k}, start_epoch={self.start_epoch}, seq={self.seq}, "
                f"model_version={self.model_version}, ids={kind}, nnz={self.indices.shape[0]}, topic={self.topic!r})")


@dataclass(frozen=True)
class Heartbeat:
    """The periodic liveness message on the ``heartbeat`` topic.

    Attributes:
        start_epoch: identifies the daemon run.
        seq: the message's number on the topic within ``start_epoch``.
        time_unix_ms: wall-clock time, milliseconds since the Unix epoch.
        vectors_in: vectors received since start.
        vectors_accepted: vectors accepted into training since start.
        dropped: inbound messages dropped since start, every reason together.
        model_version: the current model version.
        temperature: the current responsibility temperature.
        topic: ``"heartbeat"``.
    """

    start_epoch: int
    seq: int
    time_unix_ms: int
    vectors_in: int
    vectors_accepted: int
    dropped: int
    model_version: int
    temperature: float
    topic: Optional[str] = "heartbeat"


@dataclass(frozen=True)
class Event:
    """A lifecycle or model event on the ``events`` topic.

    Attributes:
        start_epoch: identifies the daemon run.
        seq: the message's number on the topic within ``start_epoch``.
        time_unix_ms: wall-clock time, milliseconds since the Unix epoch.
        name: the event (the JSON key ``event``): ``start``, ``seeded``, ``restore``,
            ``reseed``, ``separate``, ``shutdown``, …; ignore names you do not know.
        fields: event-specific strings and numbers.
        topic: ``"events"``.
    """

    start_epoch: int
    seq: int
    time_unix_ms: int
    name: str
    fields: Dict[str, Scalar] = field(default_factory=dict)
    topic: Optional[str] = "events"


@dataclass(frozen=True)
class Rejected:
    """A rejected inbound message republished on the ``rejected`` topic (when the daemon runs
    with ``output.dead_letter = true``): why, and the original frames (each truncated).

    Attributes:
        reason: the rejection reason (``non_finite``, ``bad_header``, …).
        detail: human-readable specifics.
        frames: the original message's frames, topic first.
        topic: ``"rejected"``.
    """

    reason: str
    detail: str
    frames: List[bytes]
    topic: Optional[str] = "rejected"


@dataclass(frozen=True)
class RawMessage:
    """A message on a topic this package does not know; its frames, topic first."""

    topic: str
    frames: List[bytes]


@dataclass(frozen=True, eq=False, repr=False)
class VectorBatch(_ArrayEquality):
    """An inbound vector message as the daemon reads it (see :func:`voronoid.wire.decode_vectors`).

    Attributes:
        topic: frame 0 (``vectors`` or ``vectors/<producer>``).
        vectors: ``(n, d)`` float32.
        ids: ``None``, an int64 array, or a list of strings.
        seq: the producer's sequence number; 0 for unsequenced messages and form 1.
        weights: ``None`` (every vector weighs 1), or ``(n,)`` float32 sample weights (``VW1…``).
    """

    topic: str
    vectors: NDArray[np.float32]
    ids: Optional[IdColumn]
    seq: int
    weights: Optional[NDArray[np.float32]] = None

    def __repr__(self) -> str:
        return f"VectorBatch(topic={self.topic!r}, shape={self.vectors.shape}, seq={self.seq})"


#: Everything :class:`voronoid.Subscriber` yields.
Message = Union[CentersSnapshot, Assignments, Heartbeat, Event, Rejected, RawMessage]

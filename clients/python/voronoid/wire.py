"""Protocol v1, bytes to values and back (``Sources/Wire/Wire.docc/Protocol.md``).

Every function here is pure: no sockets. Decoders take the frames of one multipart message (a
sequence of ``bytes``) and raise :class:`~voronoid.errors.ProtocolError` for anything that is
not a well-formed message, rather than returning garbage: wrong magic, wrong frame count,
frame lengths that disagree with the header, CSR offsets that are not monotone, center indices
not below ``k``, non-finite values. Encoders validate their input and raise :class:`ValueError`
for what the daemon would drop, so a mistake shows at the producer instead of only in the
daemon's drop counters.

All integers and floats on the wire are little-endian.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .errors import NotReady, ProtocolError, VoronoidError
from .messages import (
    Assignments,
    CentersSnapshot,
    Event,
    Heartbeat,
    IdColumn,
    Message,
    RawMessage,
    Rejected,
    Scalar,
    VectorBatch,
)

__all__ = [
    "BATCH_HEADER",
    "CENTERS_HEADER",
    "ASSIGNMENTS_HEADER",
    "TOPICS",
    "MAX_STRING_ID_BYTES",
    "as_vectors",
    "encode_batch",
    "encode_predict_request",
    "encode_centers",
    "encode_assignments",
    "decode_vectors",
    "decode_centers",
    "decode_centers_json",
    "decode_assignments",
    "decode_assignments_json",
    "decode_heartbeat",
    "decode_event",
    "decode_rejected",
    "decode_message",
    "decode_stats",
    "raise_for_error",
]

#: ``struct`` layout of the inbound batch header: magic, count, seq (16 bytes).
BATCH_HEADER = struct.Struct("<4sIQ")
#: ``struct`` layout of the ``centers.bin`` header: magic, k, d, start_epoch, seq, model_epoch,
#: model_version, temperature (52 bytes).
CENTERS_HEADER = struct.Struct("<4sIIQQQQd")
#: ``struct`` layout of the ``assignments.bin`` header: magic, n, k, start_epoch, seq,
#: model_version (36 bytes).
ASSIGNMENTS_HEADER = struct.Struct("<4sIIQQQ")

#: The daemon's outbound topics (none is a byte prefix of another).
TOPICS = ("centers.bin", "centers.json", "assignments.bin", "assignments.json", "heartbeat", "events")

#: The longest accepted string id, in UTF-8 bytes.
MAX_STRING_ID_BYTES = 64

_MAX_TOPIC_BYTES = 255
_U64_MAX = 2**64 - 1
_I64_MIN, _I64_MAX = -(2**63), 2**63 - 1

Frames = Sequence[bytes]
IdsLike = Union[None, int, str, bytes, ArrayLike, Sequence[Any]]


# MARK: Encoding (producer side)

#: The largest magnitude the daemon accepts is just below 2**40 (WireLimits.maxAbsoluteValue):
#: squared distances between larger values could overflow float32.
MAX_ABSOLUTE_VALUE = float(2 ** 40)

def as_vectors(X: ArrayLike) -> NDArray[np.float32]:
    """``X`` as a C-contiguous little-endian float32 ``(n, d)`` array.

    A 1-D array is one vector (``n = 1``).

    Raises:
        ValueError: ``X`` is empty, has more than two dimensions, or holds a NaN or an infinity
            (including a float64 value too large for float32), or a value of magnitude 2**40 or
            more: the daemon would drop it.
    """
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise ValueError(f"vectors must be a 1-D vector or a 2-D (n, d) array, not {arr.ndim}-D")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"vectors must not be empty (shape {arr.shape})")
    with np.errstate(over="ignore", invalid="ignore"):
        out = np.ascontiguousarray(arr, dtype="<f4")
    if not np.isfinite(out).all():
        raise ValueError("vectors hold a NaN or an infinity (or a value too large for float32); "
                         "the daemon drops such messages as non_finite")
    if (np.abs(out) >= MAX_ABSOLUTE_VALUE).any():
        raise ValueError(f"vectors hold a value of magnitude 2**40 ({MAX_ABSOLUTE_VALUE:.4g}) or more; "
                         "the daemon drops such messages as out_of_range")
    return out


def _check_string_id(raw: bytes, row: int) -> None:
    if not raw:
        raise ValueError(f"string id of row {row} is empty")
    if len(raw) > MAX_STRING_ID_BYTES:
        raise ValueError(f"string id of row {row} has {len(raw)} UTF-8 bytes, at most {MAX_STRING_ID_BYTES}")
    if b"\n" in raw:
        raise ValueError(f"string id of row {row} contains a line feed")


def _encode_ids(ids: IdsLike, n: int) -> Tuple[bytes, Optional[bytes]]:
    """The batch magic and ids frame for ``ids`` (``None`` frame for no ids)."""
    if ids is None:
        return b"VB1N", None
    if isinstance(ids, (int, np.integer, str, bytes)) and not isinstance(ids, bool):
        return _encode_ids([ids], n)  # a single id for a single vector
    if isinstance(ids, np.ndarray):
        if ids.ndim != 1:
            raise ValueError(f"ids must be one-dimensional, not shape {ids.shape}")
        if ids.dtype.kind in "iu":
            if ids.dtype.kind == "u" and ids.size and int(ids.max()) > _I64_MAX:
                raise ValueError("integer ids must fit in int64")
            column = ids.astype("<i8")
            if len(column) != n:
                raise ValueError(f"{len(column)} ids for {n} vectors")
            return b"VB1I", column.tobytes()
        ids = ids.tolist()
    values = list(ids)  # type: ignore[arg-type]
    if len(values) != n:
        raise ValueError(f"{len(values)} ids for {n} vectors")
    if all(isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_)) for v in values):
        for row, v in enumerate(values):
            if not _I64_MIN <= int(v) <= _I64_MAX:
                raise ValueError(f"integer id {v} of row {row} does not fit in int64")
        return b"VB1I", np.asarray([int(v) for v in values], dtype="<i8").tobytes()
    if all(isinstance(v, (str, bytes)) for v in values):
        encoded = []
        for row, v in enumerate(values):
            if isinstance(v, bytes):
                try:
                    v.decode("utf-8")
                except UnicodeDecodeError:
                    raise ValueError(f"string id of row {row} is not UTF-8") from None
                raw = v
            else:
                raw = v.encode("utf-8")
            _check_string_id(raw, row)
            encoded.append(raw)
        return b"VB1S", b"\n".join(encoded)
    raise ValueError("ids must be all integers or all strings (the protocol has no mixed inbound ids)")


def as_weights(weights: ArrayLike, n: int) -> NDArray[np.float32]:
    """``weights`` as ``n`` little-endian float32 values, each finite and > 0.

    Raises:
        ValueError: another count, or a weight the daemon would reject as ``bad_weights``.
    """
    with np.errstate(over="ignore"):  # too large for float32 becomes inf, refused below
        w = np.ascontiguousarray(np.asarray(weights, dtype=np.float64).reshape(-1).astype("<f4"))
    if w.shape != (n,):
        raise ValueError(f"{w.size} weights for {n} vectors")
    if not (np.isfinite(w).all() and (w > 0).all()):
        raise ValueError("weights must be finite and > 0 (after rounding to float32)")
    return w


def encode_batch(X: ArrayLike, ids: IdsLike = None, seq: int = 0, topic: Union[str, bytes, None] = None,
                 weights: Optional[ArrayLike] = None) -> List[bytes]:
    """The frames of a form 2 (binary batch) message: ``[topic?, header, body, ids?, weights?]``.

    Args:
        X: one vector (1-D) or a batch ``(n, d)``; converted to little-endian float32.
        ids: ``None``; integers (a list, or an integer NumPy array), sent as ``VB1I``; or
            strings of 1–64 UTF-8 bytes without a line feed, sent as ``VB1S``. A single int or
            str is accepted for a single vector.
        seq: the producer sequence number; 0 means unsequenced.
        topic: frame 0 (``vectors`` or ``vectors/<producer>``); ``None`` leaves it out.
        weights: ``None`` (every vector weighs 1), or one sample weight per vector, finite and
            > 0: the magic becomes ``VW1N``/``VW1I``/``VW1S`` and a float32 weights frame ends
            the message. A vector of weight w acts on the model as w copies of it.

    Raises:
        ValueError: bad vectors, ids, weights, sequence number or topic.
    """
    vectors = as_vectors(X)
    n = vectors.shape[0]
    if n > 0xFFFFFFFF:
        raise ValueError(f"{n} vectors do not fit one message")
    if not 0 <= seq <= _U64_MAX:
        raise ValueError(f"sequence number {seq} is not a u64")
    magic, id_frame = _encode_ids(ids, n)
    weight_frame = None
    if weights is not None:
        weight_frame = as_weights(weights, n).tobytes()
        magic = b"VW1" + magic[3:]
    frames: List[bytes] = []
    if topic is not None:
        frames.append(_topic_bytes(topic))
    frames += [BATCH_HEADER.pack(magic, n, seq), vectors.tobytes()]
    if id_frame is not None:
        frames.append(id_frame)
    if weight_frame is not None:
        frames.append(weight_frame)
    return frames


def _topic_bytes(topic: Union[str, bytes]) -> bytes:
    raw = topic.encode("utf-8") if isinstance(topic, str) else bytes(topic)
    if not 1 <= len(raw) <= _MAX_TOPIC_BYTES:
        raise ValueError(f"a topic is 1-{_MAX_TOPIC_BYTES} bytes of UTF-8, not {len(raw)}")
    return raw


def encode_predict_request(X: ArrayLike, ids: IdsLike = None) -> List[bytes]:
    """The frames of a ``predict`` query: ``[b"predict", header, body, ids?]``."""
    return [b"predict"] + encode_batch(X, ids, 0)


def encode_centers(snapshot: CentersSnapshot, topic: Optional[str] = "centers.bin") -> List[bytes]:
    """The frames of ``centers.bin`` (or, with ``topic=None``, of a ``snapshot`` reply)."""
    centers = np.ascontiguousarray(snapshot.centers, dtype="<f4")
    counts = np.ascontiguousarray(snapshot.counts, dtype="<f8")
    if centers.shape != (snapshot.k, snapshot.d) or counts.shape != (snapshot.k,):
        raise ValueError("centers must be (k, d) and counts (k,)")
    header = CENTERS_HEADER.pack(b"VCT1", snapshot.k, snapshot.d, snapshot.start_epoch, snapshot.seq,
                                 snapshot.model_epoch, snapshot.model_version, snapshot.temperature)
    frames = [header, centers.tobytes(), counts.tobytes()]
    return frames if topic is None else [topic.encode()] + frames


def encode_assignments(assignments: Assignments, topic: Optional[str] = "assignments.bin") -> List[bytes]:
    """The frames of ``assignments.bin`` (or, with ``topic=None``, of a ``predict`` reply).

    The magic is chosen from the ids as the daemon does: ``VASN`` without ids, ``VASI`` for an
    int64 array, ``VASS`` for a list of strings, ``VASM`` for anything else (``None`` entries
    or both kinds).
    """
    a = assignments
    n = a.n
    ids = a.ids
    id_frame: Optional[bytes]
    if ids is None:
        magic, id_frame = b"VASN", None
    elif isinstance(ids, np.ndarray):
        magic, id_frame = b"VASI", np.ascontiguousarray(ids, dtype="<i8").tobytes()
    elif all(isinstance(v, str) for v in ids):
        magic, id_frame = b"VASS", b"\n".join(v.encode("utf-8") for v in ids)  # type: ignore[union-attr]
    else:
        magic, parts = b"VASM", []
        for v in ids:
            if v is None:
                parts.append(b"\x00")
            elif isinstance(v, str):
                raw = v.encode("utf-8")
                parts.append(b"\x02" + bytes([len(raw)]) + raw)
            else:
                parts.append(b"\x01" + struct.pack("<q", int(v)))
        id_frame = b"".join(parts)
    frames = [] if topic is None else [topic.encode()]
    frames.append(ASSIGNMENTS_HEADER.pack(magic, n, a.k, a.start_epoch, a.seq, a.model_version))
    if id_frame is not None:
        frames.append(id_frame)
    frames += [np.ascontiguousarray(a.best, dtype="<i4").tobytes(),
               np.ascontiguousarray(a.distances, dtype="<f4").tobytes(),
               np.ascontiguousarray(a.offsets, dtype="<u4").tobytes(),
               np.ascontiguousarray(a.indices, dtype="<u4").tobytes(),
               np.ascontiguousarray(a.weights, dtype="<f4").tobytes()]
    return frames


# MARK: Decoding helpers

def _frames(frames: Iterable[Any]) -> List[bytes]:
    return [f if isinstance(f, bytes) else bytes(f) for f in frames]


def _array(raw: bytes, dtype: str) -> NDArray[Any]:
    """A read-only view of ``raw`` as ``dtype``, in the native byte order for the caller."""
    arr = np.frombuffer(raw, dtype=dtype)
    return arr.astype(arr.dtype.newbyteorder("="), copy=False)


def _utf8(raw: bytes, what: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProtocolError("invalid_utf8", f"{what} is not UTF-8") from None


def _split_topic(frames: List[bytes], has_topic: bool) -> Tuple[Optional[str], List[bytes]]:
    if not has_topic:
        return None, frames
    if not frames:
        raise ProtocolError("frame_count", "no frames")
    return _utf8(frames[0], "topic"), frames[1:]


def _string_ids(raw: bytes, n: int) -> List[str]:
    if n == 0:
        if raw:
            raise ProtocolError("bad_ids", f"ids frame of {len(raw)} bytes for 0 rows")
        return []
    parts = raw.split(b"\n")
    if len(parts) != n:
        raise ProtocolError("bad_ids", f"{len(parts)} string ids for {n} rows")
    out = []
    for row, part in enumerate(parts):
        if not part:
            raise ProtocolError("bad_ids", f"empty string id at row {row}")
        if len(part) > MAX_STRING_ID_BYTES:
            raise ProtocolError("id_too_long", f"string id of {len(part)} bytes at row {row}")
        out.append(_utf8(part, f"string id at row {row}"))
    return out


def _int_ids(raw: bytes, n: int) -> NDArray[np.int64]:
    if len(raw) != 8 * n:
        raise ProtocolError("bad_ids", f"ids frame of {len(raw)} bytes for {n} int64 ids")
    return _array(raw, "<i8")


def _mixed_ids(raw: bytes, n: int) -> List[Union[int, str, None]]:
    out: List[Union[int, str, None]] = []
    p = 0
    for row in range(n):
        if p >= len(raw):
            raise ProtocolError("bad_ids", f"ids frame ends at row {row}")
        tag = raw[p]
        p += 1
        if tag == 0:
            out.append(None)
        elif tag == 1:
            if p + 8 > len(raw):
                raise ProtocolError("bad_ids", f"truncated int id at row {row}")
            out.append(struct.unpack_from("<q", raw, p)[0])
            p += 8
        elif tag == 2:
            if p >= len(raw):
                raise ProtocolError("bad_ids", f"truncated string id at row {row}")
            length = raw[p]
            p += 1
            if length == 0 or p + length > len(raw):
                raise ProtocolError("bad_ids", f"bad string id length {length} at row {row}")
            if length > MAX_STRING_ID_BYTES:
                raise ProtocolError("id_too_long", f"string id of {length} bytes at row {row}")
            part = raw[p:p + length]
            if b"\n" in part:
                raise ProtocolError("bad_ids", f"string id with a line feed at row {row}")
            out.append(_utf8(part, f"string id at row {row}"))
            p += length
        else:
            raise ProtocolError("bad_ids", f"unknown id tag {tag} at row {row}")
    if p != len(raw):
        raise ProtocolError("bad_ids", f"{len(raw) - p} trailing bytes in the ids frame")
    return out


def _reject_constant(name: str) -> Any:
    raise ProtocolError("bad_json", f"{name} is not JSON")


def _object_without_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ProtocolError("bad_json", f"duplicate key {key!r}")
        out[key] = value
    return out


def _json_object(frames: List[bytes], has_topic: bool, what: str) -> Tuple[Optional[str], Dict[str, Any]]:
    topic, rest = _split_topic(frames, has_topic)
    if len(rest) != 1:
        raise ProtocolError("frame_count", f"{what}: {len(rest)} frames after the topic; expected 1")
    text = _utf8(rest[0], f"{what} JSON")
    try:
        value = json.loads(text, object_pairs_hook=_object_without_duplicates, parse_constant=_reject_constant)
    except json.JSONDecodeError as error:
        raise ProtocolError("bad_json", f"{what}: {error}") from None
    if not isinstance(value, dict):
        raise ProtocolError("bad_json", f"{what}: expected a JSON object")
    return topic, value


def _int_field(obj: Mapping[str, Any], key: str, what: str, lo: int = 0, hi: int = _U64_MAX) -> int:
    if key not in obj:
        raise ProtocolError("bad_json", f"{what} lacks {key!r}")
    v = obj[key]
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ProtocolError("bad_json", f"{what}: {key!r} is not an integer in [{lo}, {hi}]")
    return v


def _float_field(obj: Mapping[str, Any], key: str, what: str) -> float:
    if key not in obj:
        raise ProtocolError("bad_json", f"{what} lacks {key!r}")
    v = obj[key]
    if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
        raise ProtocolError("bad_json", f"{what}: {key!r} is not a finite number")
    return float(v)


def _scalars(obj: Any, what: str) -> Dict[str, Scalar]:
    if not isinstance(obj, dict):
        raise ProtocolError("bad_json", f"{what} is not an object")
    for key, v in obj.items():
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            raise ProtocolError("bad_json", f"{what}: {key!r} is not a string or a number")
    return dict(obj)


# MARK: Decoding (consumer side)

def decode_centers(frames: Frames, has_topic: bool = True) -> CentersSnapshot:
    """Decodes ``centers.bin`` ``[topic, header, centers, counts]``, or with
    ``has_topic=False`` a ``snapshot`` reply ``[header, centers, counts]``.

    Raises:
        ProtocolError: wrong frame count, header length or magic; frame sizes that disagree
            with ``k`` and ``d``; a non-finite value.
    """
    topic, f = _split_topic(_frames(frames), has_topic)
    if len(f) != 3:
        raise ProtocolError("frame_count", f"centers: {len(f)} frames after the topic; expected 3")
    header, raw_centers, raw_counts = f
    if len(header) != CENTERS_HEADER.size:
        raise ProtocolError("bad_header", f"centers header of {len(header)} bytes; expected {CENTERS_HEADER.size}")
    magic, k, d, start_epoch, seq, model_epoch, model_version, temperature = CENTERS_HEADER.unpack(header)
    if magic != b"VCT1":
        raise ProtocolError("unknown_format", f"centers magic {magic!r}; expected b'VCT1'")
    if len(raw_centers) != 4 * k * d:
        raise ProtocolError("count_mismatch", f"centers frame of {len(raw_centers)} bytes for k={k} d={d}")
    if len(raw_counts) != 8 * k:
        raise ProtocolError("count_mismatch", f"counts frame of {len(raw_counts)} bytes for k={k}")
    centers = _array(raw_centers, "<f4").reshape(k, d)
    counts = _array(raw_counts, "<f8")
    if not (math.isfinite(temperature) and np.isfinite(centers).all() and np.isfinite(counts).all()):
        raise ProtocolError("non_finite", "a non-finite center, count or temperature")
    return CentersSnapshot(k=k, d=d, start_epoch=start_epoch, seq=seq, model_epoch=model_epoch,
                           model_version=model_version, temperature=temperature, centers=centers,
                           counts=counts, topic=topic)


def decode_centers_json(frames: Frames, has_topic: bool = True) -> CentersSnapshot:
    """Decodes ``centers.json`` ``[topic, json]``.

    Raises:
        ProtocolError: malformed JSON, a missing field, or sizes that disagree with ``k``, ``d``.
    """
    topic, obj = _json_object(_frames(frames), has_topic, "centers")
    k = _int_field(obj, "k", "centers", hi=0xFFFFFFFF)
    d = _int_field(obj, "d", "centers", hi=0xFFFFFFFF)
    rows, counts = obj.get("centers"), obj.get("counts")
    if not isinstance(rows, list) or not isinstance(counts, list):
        raise ProtocolError("bad_json", "centers: 'centers' and 'counts' must be arrays")
    if len(rows) != k or len(counts) != k or any(not isinstance(r, list) or len(r) != d for r in rows):
        raise ProtocolError("count_mismatch", f"centers JSON sizes disagree with k={k} d={d}")
    values = [v for r in rows for v in r] + list(counts)
    if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in values):
        raise ProtocolError("bad_json", "centers: a center component or count is not a number")
    with np.errstate(over="ignore"):
        centers = np.asarray(rows, dtype=np.float32).reshape(k, d)
    counts_array = np.asarray(counts, dtype=np.float64)
    if not (np.isfinite(centers).all() and np.isfinite(counts_array).all()):
        raise ProtocolError("non_finite", "a center component too large for float32")
    spreads = obj.get("spreads")
    spreads_array = None
    if spreads is not None:
        if (not isinstance(spreads, list) or len(spreads) != k
                or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in spreads)):
            raise ProtocolError("count_mismatch", f"centers JSON spreads disagree with k={k}")
        spreads_array = np.asarray(spreads, dtype=np.float64)
    return CentersSnapshot(
        k=k, d=d, start_epoch=_int_field(obj, "start_epoch", "centers"), seq=_int_field(obj, "seq", "centers"),
        model_epoch=_int_field(obj, "model_epoch", "centers"), model_version=_int_field(obj, "model_version", "centers"),
        temperature=_float_field(obj, "temperature", "centers"), centers=centers, counts=counts_array, topic=topic,
        spreads=spreads_array)


def _check_assignments(n: int, k: int, best: NDArray[Any], dist: NDArray[Any], offsets: NDArray[Any],
                       indices: NDArray[Any], weights: NDArray[Any]) -> None:
    if offsets[0] != 0:
        raise ProtocolError("bad_support", f"offsets[0] is {int(offsets[0])}, not 0")
    if int(offsets[n]) != indices.shape[0]:
        raise ProtocolError("bad_support", f"offsets end at {int(offsets[n])} but there are {indices.shape[0]} support entries")
    steps = np.diff(offsets.astype(np.int64))
    if (steps < 0).any():
        raise ProtocolError("bad_support", f"offsets decrease at row {int(np.argmax(steps < 0))}")
    if n and ((best < 0) | (best >= k)).any():
        row = int(np.argmax((best < 0) | (best >= k)))
        raise ProtocolError("bad_support", f"best center {int(best[row])} of row {row} not in [0, k={k})")
    if indices.shape[0] and (indices >= k).any():
        j = int(np.argmax(indices >= k))
        raise ProtocolError("bad_support", f"support index {int(indices[j])} at entry {j} not below k={k}")
    if not (np.isfinite(dist).all() and np.isfinite(weights).all()):
        raise ProtocolError("non_finite", "a non-finite distance or weight")


def decode_assignments(frames: Frames, has_topic: bool = True) -> Assignments:
    """Decodes ``assignments.bin`` ``[topic, header, ids?, best, dist, offsets, indices,
    weights]``, or with ``has_topic=False`` a ``predict`` reply.

    Raises:
        ProtocolError: wrong frame count, header length or magic; an ids frame that does not
            hold ``n`` ids of its kind; frame sizes that disagree with ``n``; offsets that do
            not start at 0, decrease, or do not end at the number of support entries; a best
            center or support index not below ``k``; a non-finite distance or weight.
    """
    topic, f = _split_topic(_frames(frames), has_topic)
    if len(f) not in (6, 7):
        raise ProtocolError("frame_count", f"assignments: {len(f)} frames after the topic; expected 6 or 7")
    header = f[0]
    if len(header) != ASSIGNMENTS_HEADER.size:
        raise ProtocolError("bad_header", f"assignments header of {len(header)} bytes; expected {ASSIGNMENTS_HEADER.size}")
    magic, n, k, start_epoch, seq, model_version = ASSIGNMENTS_HEADER.unpack(header)
    if magic not in (b"VASN", b"VASI", b"VASS", b"VASM"):
        raise ProtocolError("unknown_format", f"assignments magic {magic!r}")
    if (magic == b"VASN") != (len(f) == 6):
        raise ProtocolError("frame_count", f"{len(f)} frames after the topic do not match magic {magic.decode()}")
    ids: Optional[IdColumn] = None
    if magic == b"VASI":
        ids = _int_ids(f[1], n)
    elif magic == b"VASS":
        ids = _string_ids(f[1], n)
    elif magic == b"VASM":
        ids = _mixed_ids(f[1], n)
    raw_best, raw_dist, raw_offsets, raw_indices, raw_weights = f[-5:]
    if len(raw_best) != 4 * n or len(raw_dist) != 4 * n or len(raw_offsets) != 4 * (n + 1):
        raise ProtocolError("count_mismatch", f"best/dist/offsets frames of {len(raw_best)}/{len(raw_dist)}/"
                                              f"{len(raw_offsets)} bytes do not match n={n}")
    if len(raw_indices) != len(raw_weights) or len(raw_indices) % 4:
        raise ProtocolError("bad_support", f"indices and weights frames of {len(raw_indices)} and {len(raw_weights)} bytes")
    best = _array(raw_best, "<i4")
    dist = _array(raw_dist, "<f4")
    offsets = _array(raw_offsets, "<u4")
    indices = _array(raw_indices, "<u4")
    weights = _array(raw_weights, "<f4")
    _check_assignments(n, k, best, dist, offsets, indices, weights)
    return Assignments(k=k, start_epoch=start_epoch, seq=seq, model_version=model_version, ids=ids, best=best,
                       distances=dist, offsets=offsets, indices=indices, weights=weights, topic=topic)


def decode_assignments_json(frames: Frames, has_topic: bool = True) -> Assignments:
    """Decodes ``assignments.json`` ``[topic, json]`` into the same arrays as the binary form.

    Ids become an int64 array when every row has an integer id, a list of strings when every
    row has a string id, a list with ``None`` entries otherwise, and ``None`` without ids.
    """
    topic, obj = _json_object(_frames(frames), has_topic, "assignments")
    k = _int_field(obj, "k", "assignments", hi=0xFFFFFFFF)
    rows = obj.get("rows")
    if not isinstance(rows, list):
        raise ProtocolError("bad_json", "assignments: 'rows' must be an array")
    ids: List[Union[int, str, None]] = []
    best, dist, offsets, indices, weights = [], [], [0], [], []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise ProtocolError("bad_json", f"assignments: row {i} is not an object")
        rid = row.get("id")
        if isinstance(rid, str):
            _check_json_string_id(rid, i)
        elif rid is not None and (isinstance(rid, bool) or not isinstance(rid, int) or not _I64_MIN <= rid <= _I64_MAX):
            raise ProtocolError("bad_ids", f"assignments: id of row {i} is not an int64 or a string")
        ids.append(rid)
        best.append(_int_field(row, "best", f"row {i}", hi=0x7FFFFFFF))
        dist.append(_float_field(row, "dist", f"row {i}"))
        support = row.get("support")
        if not isinstance(support, list):
            raise ProtocolError("bad_json", f"assignments: support of row {i} is not an array")
        for pair in support:
            if not isinstance(pair, list) or len(pair) != 2:
                raise ProtocolError("bad_json", f"assignments: a support entry of row {i} is not [center, weight]")
            indices.append(_int_field({"c": pair[0]}, "c", f"support of row {i}", hi=0xFFFFFFFF))
            weights.append(_float_field({"w": pair[1]}, "w", f"support of row {i}"))
        offsets.append(len(indices))
    n = len(rows)
    column: Optional[IdColumn]
    if all(v is None for v in ids):
        column = None
    elif all(isinstance(v, int) for v in ids):
        column = np.asarray(ids, dtype=np.int64)
    elif all(isinstance(v, str) for v in ids):
        column = [str(v) for v in ids]
    else:
        column = ids
    best_a = np.asarray(best, dtype=np.int32)
    dist_a = np.asarray(dist, dtype=np.float32)
    offsets_a = np.asarray(offsets, dtype=np.uint32)
    indices_a = np.asarray(indices, dtype=np.uint32)
    weights_a = np.asarray(weights, dtype=np.float32)
    _check_assignments(n, k, best_a, dist_a, offsets_a, indices_a, weights_a)
    return Assignments(k=k, start_epoch=_int_field(obj, "start_epoch", "assignments"), seq=_int_field(obj, "seq", "assignments"),
                       model_version=_int_field(obj, "model_version", "assignments"), ids=column, best=best_a,
                       distances=dist_a, offsets=offsets_a, indices=indices_a, weights=weights_a, topic=topic)


def _check_json_string_id(value: str, row: int) -> None:
    raw = value.encode("utf-8", errors="surrogatepass")
    if not raw:
        raise ProtocolError("bad_ids", f"empty string id at row {row}")
    if len(raw) > MAX_STRING_ID_BYTES:
        raise ProtocolError("id_too_long", f"string id of {len(raw)} bytes at row {row}")
    if "\n" in value:
        raise ProtocolError("bad_ids", f"string id with a line feed at row {row}")


def decode_heartbeat(frames: Frames, has_topic: bool = True) -> Heartbeat:
    """Decodes a ``heartbeat`` message ``[topic, json]``; unknown keys are ignored."""
    topic, obj = _json_object(_frames(frames), has_topic, "heartbeat")
    w = "heartbeat"
    return Heartbeat(
        start_epoch=_int_field(obj, "start_epoch", w), seq=_int_field(obj, "seq", w),
        time_unix_ms=_int_field(obj, "time_unix_ms", w, lo=_I64_MIN, hi=_I64_MAX),
        vectors_in=_int_field(obj, "vectors_in", w), vectors_accepted=_int_field(obj, "vectors_accepted", w),
        dropped=_int_field(obj, "dropped", w), model_version=_int_field(obj, "model_version", w),
        temperature=_float_field(obj, "temperature", w), topic=topic)


def decode_event(frames: Frames, has_topic: bool = True) -> Event:
    """Decodes an ``events`` message ``[topic, json]``; ``fields`` may be absent (empty)."""
    topic, obj = _json_object(_frames(frames), has_topic, "event")
    name = obj.get("event")
    if not isinstance(name, str):
        raise ProtocolError("bad_json", "event: 'event' must be a string")
    return Event(start_epoch=_int_field(obj, "start_epoch", "event"), seq=_int_field(obj, "seq", "event"),
                 time_unix_ms=_int_field(obj, "time_unix_ms", "event", lo=_I64_MIN, hi=_I64_MAX), name=name,
                 fields=_scalars(obj.get("fields", {}), "event fields"), topic=topic)


def decode_rejected(frames: Frames) -> Rejected:
    """Decodes a ``rejected`` message ``[topic, reason, detail, original frames…]``."""
    f = _frames(frames)
    if len(f) < 3:
        raise ProtocolError("frame_count", f"rejected: {len(f)} frames; expected at least 3")
    return Rejected(reason=_utf8(f[1], "reason"), detail=_utf8(f[2], "detail"), frames=f[3:], topic=_utf8(f[0], "topic"))


_DECODERS: Dict[str, Callable[[Frames], Message]] = {
    "centers.bin": decode_centers,
    "centers.json": decode_centers_json,
    "assignments.bin": decode_assignments,
    "assignments.json": decode_assignments_json,
    "heartbeat": decode_heartbeat,
    "events": decode_event,
}


def decode_message(frames: Frames) -> Message:
    """Decodes one message from the daemon's outbound socket by its topic (frame 0).

    Topics this version does not know come back as :class:`~voronoid.messages.RawMessage`.

    Raises:
        ProtocolError: the message does not follow its topic's format.
    """
    f = _frames(frames)
    if not f:
        raise ProtocolError("frame_count", "no frames")
    topic = _utf8(f[0], "topic")
    decoder = _DECODERS.get(topic)
    if decoder is not None:
        return decoder(f)
    if topic == "rejected":
        return decode_rejected(f)
    return RawMessage(topic=topic, frames=f[1:])


def decode_stats(frames: Frames) -> Dict[str, Scalar]:
    """Decodes the ``stats`` reply ``[json]``: one flat object of strings and numbers."""
    _, obj = _json_object(_frames(frames), False, "stats")
    return _scalars(obj, "stats")


def raise_for_error(frames: Frames) -> None:
    """Raises if ``frames`` is a query's error reply ``[b"error", reason, detail]``.

    Raises:
        NotReady: reason ``not_ready`` (the model is still warming up).
        VoronoidError: any other reason.
    """
    if len(frames) == 3 and bytes(frames[0]) == b"error":
        reason = bytes(frames[1]).decode("utf-8", errors="replace")
        detail = bytes(frames[2]).decode("utf-8", errors="replace")
        raise (NotReady if reason == "not_ready" else VoronoidError)(reason, detail)


# MARK: Inbound decoding (what the daemon reads; for tests and mock daemons)

def decode_vectors(frames: Frames) -> VectorBatch:
    """Decodes an inbound vector message in form 1 ``[topic, body]`` or form 2 ``[topic,
    header, body, ids?, weights?]``, the way the daemon reads it (without its dimension and
    size limits).

    Raises:
        ProtocolError: under the protocol's rejection reasons (``frame_count``,
            ``unknown_format``, ``bad_header``, ``bad_body_length``, ``count_mismatch``,
            ``non_finite``, ``bad_ids``, ``bad_weights``, ``id_too_long``, ``invalid_utf8``,
            ``bad_topic``).
    """
    f = _frames(frames)
    if len(f) < 2 or len(f) > 5:
        raise ProtocolError("frame_count", f"{len(f)} frames; a vector message has 2 to 5")
    weight_frame: Optional[bytes] = None
    if not 1 <= len(f[0]) <= _MAX_TOPIC_BYTES:
        raise ProtocolError("bad_topic", f"topic of {len(f[0])} bytes")
    topic = _utf8(f[0], "topic")
    if len(f) == 2:
        count, seq, magic, body, id_frame = 1, 0, b"VB1N", f[1], None
    else:
        if len(f[1]) == 4:
            raise ProtocolError("unknown_format", f"frame 1 {f[1]!r}: the JSON form is not decoded here")
        if len(f[1]) != BATCH_HEADER.size:
            raise ProtocolError("bad_header", f"header of {len(f[1])} bytes; expected {BATCH_HEADER.size}")
        magic, count, seq = BATCH_HEADER.unpack(f[1])
        if magic[:3] not in (b"VB1", b"VW1") or magic[3:] not in (b"N", b"I", b"S"):
            raise ProtocolError("unknown_format", f"batch magic {magic!r}")
        weighted = magic[:3] == b"VW1"
        after_body = (0 if magic[3:] == b"N" else 1) + (1 if weighted else 0)
        if len(f) != 3 + after_body:
            raise ProtocolError("frame_count", f"{len(f)} frames do not match magic {magic.decode()}")
        if count == 0:
            raise ProtocolError("bad_header", "count is 0")
        body = f[2]
        id_frame = f[3] if magic[3:] != b"N" else None
        weight_frame = f[-1] if weighted else None
        magic = b"VB1" + magic[3:]
    if not body or len(body) % 4:
        raise ProtocolError("bad_body_length", f"body of {len(body)} bytes")
    if (len(body) // 4) % count:
        raise ProtocolError("count_mismatch", f"{len(body) // 4} floats do not divide into {count} vectors")
    vectors = _array(body, "<f4").reshape(count, -1)
    if not np.isfinite(vectors).all():
        raise ProtocolError("non_finite", "a NaN or infinite component")
    ids: Optional[IdColumn] = None
    if magic == b"VB1I":
        ids = _int_ids(id_frame or b"", count)
    elif magic == b"VB1S":
        ids = _string_ids(id_frame or b"", count)
    weights: Optional[NDArray[np.float32]] = None
    if weight_frame is not None:
        if len(weight_frame) != 4 * count:
            raise ProtocolError("bad_weights", f"weights frame of {len(weight_frame)} bytes for {count} vectors")
        weights = _array(weight_frame, "<f4")
        if not (np.isfinite(weights).all() and (weights > 0).all()):
            raise ProtocolError("bad_weights", "a weight that is not finite and > 0")
    return VectorBatch(topic=topic, vectors=vectors, ids=ids, seq=seq, weights=weights)

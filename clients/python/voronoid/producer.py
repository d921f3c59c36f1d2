"""Publishing vectors to the daemon's input socket."""

from __future__ import annotations

import itertools
import math
import os
import socket as _socket
import time
from typing import Any, Dict, List, Optional

import numpy as np
import zmq
from numpy.typing import ArrayLike

from ._sockets import milliseconds, open_socket
from .errors import VoronoidTimeout
from .security import CurveKeys
from .wire import IdsLike, as_vectors, as_weights, encode_batch

__all__ = ["Producer"]

_instances = itertools.count(1)


def _default_topic() -> str:
    # The daemon counts sequence gaps per full topic, so two producers on one topic would see
    # each other's numbers as gaps: each producer gets a topic of its own by default.
    host = _socket.gethostname().replace("\n", "")[:64] or "host"
    return f"vectors/{host}-{os.getpid()}-{next(_instances)}"


class Producer:
    """Sends vectors to voronoid, each message with the next sequence number of its topic.

    Every send is a form 2 binary batch (``[topic, header, body, ids?]``, float32
    little-endian), even for one vector, so every message carries a sequence number and the
    daemon's ``sequence_gaps`` counter shows what was lost. Sequence numbers start at 1 and go
    up by one per message; batches larger than the daemon's per-message limits are split into
    several messages.

    With ``socket="pub"`` (the default; the daemon's ``input.socket = "sub"``) sending never
    blocks and a full queue drops messages. A publisher drops what it sends before the daemon's
    subscription reaches it (the slow joiner), so the socket is an XPUB, which hears that
    subscription: the first send waits until a subscription covering this producer's topic has
    arrived, at most ``connect_wait`` seconds. With ``socket="push"`` (the daemon runs with
    ``--pull``) delivery is lossless and a send blocks while the daemon's queue is full, at most
    ``send_timeout`` seconds.

    Use it as a context manager, or call :meth:`close`; closing waits up to ``linger``
    seconds for queued messages to leave.

    Example::

        with Producer("tcp://127.0.0.1:5555") as producer:
            producer.send(X)                       # a (n, d) batch
            producer.send(X, ids=np.arange(len(X)))
            producer.send(x, ids="sensor-7/42")    # one vector with a string id
    """

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5555",
        *,
        topic: Optional[str] = None,
        socket: str = "pub",
        curve: Optional[CurveKeys] = None,
        context: Optional[zmq.Context[Any]] = None,
        bind: bool = False,
        sequence: bool = True,
        connect_wait: Optional[float] = None,
        send_timeout: Optional[float] = None,
        linger: float = 2.0,
        max_vectors_per_message: int = 65_536,
        max_frame_bytes: int = 64 * 1024 * 1024,
        high_water_mark: Optional[int] = None,
    ) -> None:
        """Connects (or binds) the sending socket.

        Args:
            endpoint: the daemon's input endpoint.
            topic: frame 0 of every message; must start with one of the daemon's
                ``input.topics`` prefixes (default ``vectors``). Default: a topic of this
                producer's own, ``vectors/<host>-<pid>-<n>``.
            socket: ``"pub"`` or ``"push"``.
            curve: CURVE keys when the daemon requires them.
            context: the ZeroMQ context; default the process-wide one.
            bind: bind instead of connect (for a daemon run with ``--connect``).
            sequence: send sequence numbers 1, 2, 3, …; with False every message has 0.
            connect_wait: for PUB, the longest the first send waits for the daemon's
                subscription (default 2 s; it goes as soon as the subscription arrives); for
                PUSH, seconds between connecting and the first send (default 0).
            send_timeout: seconds a PUSH send may block; ``None`` waits as long as it takes.
            linger: seconds :meth:`close` waits for queued messages to leave.
            max_vectors_per_message: split larger batches (the daemon's
                ``input.max_vectors_per_message``).
            max_frame_bytes: split batches whose body would exceed this many bytes (the
                daemon's ``input.max_frame_bytes``; libzmq disconnects a peer that sends more).
            high_water_mark: messages queued before PUB drops or PUSH blocks; default libzmq's.
        """
        # XPUB sends exactly as PUB does, and also reports the subscriptions it receives.
        kinds = {"pub": zmq.XPUB, "push": zmq.PUSH}
        if socket not in kinds:
            raise ValueError(f"socket must be 'pub' or 'push', not {socket!r}")
        if max_vectors_per_message < 1 or max_frame_bytes < 4:
            raise ValueError("max_vectors_per_message and max_frame_bytes must be positive")
        self.endpoint = endpoint
        self.topic: str = topic if topic is not None else _default_topic()
        self._topic_bytes = self.topic.encode("utf-8")
        if not 1 <= len(self._topic_bytes) <= 255:
            raise ValueError("a topic is 1-255 bytes of UTF-8")
        self.kind = socket
        self.sequenced = sequence
        self._next_seq = 1
        self._max_vectors = max_vectors_per_message
        self._max_frame_bytes = max_frame_bytes
        self._linger_ms = milliseconds(linger)
        self._context = context if context is not None else zmq.Context.instance()
        options: Dict[int, int] = {} if high_water_mark is None else {zmq.SNDHWM: high_water_mark}
        if socket == "push":
            options[zmq.SNDTIMEO] = milliseconds(send_timeout)
        self._socket: Optional[zmq.Socket[Any]] = open_socket(
            self._context, kinds[socket], endpoint, curve=curve, linger_ms=self._linger_ms, bind=bind, options=options)
        wait = connect_wait if connect_wait is not None else (2.0 if socket == "pub" else 0.0)
        self._ready_at = time.monotonic() + wait
        self._subscribed = socket != "pub"
        self.messages_sent = 0
        self.vectors_sent = 0

    @property
    def next_sequence(self) -> int:
        """The sequence number the next message will carry (0 when unsequenced)."""
        return self._next_seq if self.sequenced else 0

    def send(self, X: ArrayLike, ids: IdsLike = None, weights: Optional[ArrayLike] = None) -> List[int]:
        """Sends one vector (1-D) or a batch ``(n, d)``.

        Args:
            X: the vectors; converted to little-endian float32.
            ids: ``None``, integer ids (``VB1I``: a list or an integer array, one per vector),
                or string ids (``VB1S``: 1–64 UTF-8 bytes each, no line feed); a single int or
                str for a single vector. The daemon echoes them in ``assignments.bin``.
            weights: ``None``, or one sample weight per vector (finite, > 0; a scalar for a
                single vector), sent as a ``VW1…`` batch: a vector of weight w moves the model
                as w copies of it would.

        Returns:
            The sequence number of each message sent (one unless the batch was split; zeros
            when unsequenced).

        Raises:
            ValueError: vectors or ids the daemon would drop (NaN, infinity, wrong id count,
                a bad string id, mixed id kinds).
            VoronoidTimeout: a PUSH send blocked longer than ``send_timeout``; the batch's
                remaining messages were not sent.
        """
        vectors = as_vectors(X)
        n, d = vectors.shape
        per_message = max(1, min(self._max_vectors, self._max_frame_bytes // (4 * d)))
        id_column = self._id_column(ids, n)
        weight_column = None if weights is None else as_weights(weights, n)
        sent: List[int] = []
        for start in range(0, n, per_message):
            stop = min(n, start + per_message)
            chunk_ids = None if id_column is None else id_column[start:stop]
            chunk_weights = None if weight_column is None else weight_column[start:stop]
            seq = self._next_seq if self.sequenced else 0
            frames = encode_batch(vectors[start:stop], chunk_ids, seq, topic=self._topic_bytes,
                                  weights=chunk_weights)
            self._send(frames)
            if self.sequenced:
                self._next_seq += 1
            self.messages_sent += 1
            self.vectors_sent += stop - start
            sent.append(seq)
        return sent

    @staticmethod
    def _id_column(ids: IdsLike, n: int) -> Any:
        """``ids`` as something sliceable per message, checked against ``n``."""
        if ids is None:
            return None
        if isinstance(ids, np.ndarray):
            column: Any = ids
        elif isinstance(ids, (int, np.integer, str, bytes)) and not isinstance(ids, bool):
            column = [ids]
        else:
            column = list(ids)  # type: ignore[arg-type]
        if len(column) != n:
            raise ValueError(f"{len(column)} ids for {n} vectors")
        return column

    def _send(self, frames: List[bytes]) -> None:
        socket = self._require_open()
        if not self._subscribed:
            self._await_subscription(socket)
        delay = self._ready_at - time.monotonic()
        if delay > 0 and self.kind == "push":
            time.sleep(delay)
        try:
            socket.send_multipart(frames, copy=len(frames[2]) < 65536)
        except zmq.Again:
            raise VoronoidTimeout(f"no daemon took the message on {self.endpoint} in time (PUSH send timed out)") from None

    def _await_subscription(self, socket: zmq.Socket[Any]) -> None:
        """Waits until a subscription covering this producer's topic arrives (frame ``b"\\x01"``
        + prefix), or until ``connect_wait`` has passed since connecting; either way once."""
        while True:
            left = self._ready_at - time.monotonic()
            if left <= 0:
                break
            # Rounded up, and checked again after a quiet poll: the wait never ends early.
            if socket.poll(max(1, math.ceil(left * 1000)), zmq.POLLIN):
                message = socket.recv()
                if message[:1] == b"\x01" and self._topic_bytes.startswith(message[1:]):
                    break
        self._subscribed = True

    def _require_open(self) -> zmq.Socket[Any]:
        if self._socket is None:
            raise RuntimeError("the producer is closed")
        return self._socket

    def close(self, linger: Optional[float] = None) -> None:
        """Closes the socket, waiting up to ``linger`` seconds (default: the constructor's) for
        queued messages to leave."""
        if self._socket is not None:
            self._socket.close(self._linger_ms if linger is None else milliseconds(linger))
            self._socket = None

    def __enter__(self) -> "Producer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Producer({self.endpoint!r}, topic={self.topic!r}, socket={self.kind!r}, next_sequence={self.next_sequence})"

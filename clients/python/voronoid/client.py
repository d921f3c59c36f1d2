"""Queries: the daemon's REP socket (``snapshot``, ``stats``, ``predict``)."""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional, Sequence

import zmq
from numpy.typing import ArrayLike

from ._sockets import DEFAULT, Timeout, milliseconds, open_socket
from .errors import NotReady, VoronoidTimeout
from .messages import Assignments, CentersSnapshot, Scalar
from .security import CurveKeys
from .wire import IdsLike, decode_assignments, decode_centers, decode_stats, encode_predict_request, raise_for_error

__all__ = ["Client"]


class Client:
    """A REQ client of the daemon's query socket.

    Each call sends one request and waits at most ``timeout`` seconds for the reply. A REQ
    socket whose reply never came cannot send again (its state machine waits for that reply
    forever), so after a timeout the socket is closed and a fresh one connected: the next call
    works as soon as the daemon answers again.

    Errors: a reply ``[b"error", reason, detail]`` raises :class:`~voronoid.VoronoidError`
    (``reason`` and ``detail`` as the daemon sent them), or :class:`~voronoid.NotReady` while
    the model is warming up; no reply in time raises :class:`~voronoid.VoronoidTimeout` (a
    :class:`TimeoutError`); a malformed reply raises :class:`~voronoid.ProtocolError`.

    Example::

        with Client("tcp://127.0.0.1:5557", timeout=5) as client:
            centers = client.snapshot().centers
            labels = client.predict(X).best
    """

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5557",
        *,
        timeout: Optional[float] = 5.0,
        curve: Optional[CurveKeys] = None,
        context: Optional[zmq.Context[Any]] = None,
    ) -> None:
        """Connects the REQ socket.

        Args:
            endpoint: the daemon's query endpoint.
            timeout: default seconds to wait for each reply; ``None`` waits forever.
            curve: CURVE keys when the daemon requires them.
            context: the ZeroMQ context; default the process-wide one.
        """
        self.endpoint = endpoint
        self.timeout = timeout
        self._curve = curve
        self._context = context if context is not None else zmq.Context.instance()
        self._socket: Optional[zmq.Socket[Any]] = self._connect()
        #: How many times a timed-out socket was replaced.
        self.reconnects = 0

    def _connect(self) -> zmq.Socket[Any]:
        return open_socket(self._context, zmq.REQ, self.endpoint, curve=self._curve, linger_ms=0)

    def request(self, *frames: bytes, timeout: Timeout = DEFAULT) -> List[bytes]:
        """Sends ``frames`` and returns the reply's raw frames (error replies included).

        Raises:
            VoronoidTimeout: no reply within ``timeout`` seconds (default the constructor's);
                the socket has been replaced by a fresh one.
        """
        if self._socket is None:
            raise RuntimeError("the client is closed")
        wait = self.timeout if timeout is DEFAULT else timeout
        socket = self._socket
        try:
            # Sending can wait too (no connection yet): bound it with the same timeout.
            if not socket.poll(milliseconds(wait), zmq.POLLOUT):
                raise VoronoidTimeout(f"could not send to {self.endpoint} within {wait} s")
            socket.send_multipart(list(frames))
            if not socket.poll(milliseconds(wait), zmq.POLLIN):
                raise VoronoidTimeout(f"no reply from {self.endpoint} within {wait} s")
            return socket.recv_multipart()
        except VoronoidTimeout:
            self._reset()
            raise
        except zmq.ZMQError:
            self._reset()
            raise

    def _reset(self) -> None:
        if self._socket is not None:
            self._socket.close(0)
        self._socket = self._connect()
        self.reconnects += 1

    def _ask(self, frames: Sequence[bytes], timeout: Timeout) -> List[bytes]:
        reply = self.request(*frames, timeout=timeout)
        raise_for_error(reply)
        return reply

    def snapshot(self, timeout: Timeout = DEFAULT) -> CentersSnapshot:
        """The model's current centers (``seq`` is 0 in a reply).

        Raises:
            NotReady: no model yet. VoronoidTimeout, VoronoidError, ProtocolError: see the class.
        """
        return decode_centers(self._ask([b"snapshot"], timeout), has_topic=False)

    def stats(self, timeout: Timeout = DEFAULT) -> Dict[str, Scalar]:
        """The daemon's counters: one flat dict of strings and numbers (``vectors_accepted``,
        ``dropped``, ``dropped_<reason>``, ``sequence_gaps``, ``temperature``, …)."""
        return decode_stats(self._ask([b"stats"], timeout))

    def predict(self, X: ArrayLike, ids: IdsLike = None, timeout: Timeout = DEFAULT) -> Assignments:
        """Assigns vectors with the current model, without training on them.

        Args:
            X: one vector or a batch ``(n, d)`` of the model's dimension.
            ids: optional ids, echoed in the reply (as in :meth:`voronoid.Producer.send`).
            timeout: seconds to wait; default the constructor's.

        Returns:
            The rows' best centers, squared distances and sparse responsibilities (``seq`` is 0).

        Raises:
            ValueError: vectors or ids the daemon would refuse (NaN, bad ids).
            NotReady: no model yet.
            VoronoidError: e.g. ``dimension_mismatch``, ``too_many_vectors`` (the daemon's
                ``query.max_predict_vectors``).
            VoronoidTimeout: no reply in time.
        """
        return decode_assignments(self._ask(encode_predict_request(X, ids), timeout), has_topic=False)

    def wait_ready(self, timeout: float = 30.0, interval: float = 0.1) -> CentersSnapshot:
        """Polls :meth:`snapshot` until the model exists; returns the first snapshot.

        Raises:
            NotReady: still no model after ``timeout`` seconds.
            VoronoidTimeout: the daemon did not answer within ``timeout`` seconds.
        """
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                return self.snapshot(timeout=max(0.001, min(left, self.timeout if self.timeout is not None else left)))
            except (NotReady, VoronoidTimeout):
                if time.monotonic() + interval > deadline:
                    raise
            time.sleep(interval)

    def close(self) -> None:
        """Closes the socket."""
        if self._socket is not None:
            self._socket.close(0)
            self._socket = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Client({self.endpoint!r}, timeout={self.timeout!r})"

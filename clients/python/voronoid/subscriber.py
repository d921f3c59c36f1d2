"""Receiving the daemon's centers, assignments, heartbeats and events."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Iterator, List, Optional, Type, TypeVar, Union

import zmq

from ._sockets import DEFAULT, Timeout, milliseconds, open_socket
from .errors import VoronoidTimeout
from .messages import CentersSnapshot, Message
from .security import CurveKeys
from .wire import decode_message

__all__ = ["Subscriber", "SequenceTracker", "DEFAULT_TOPICS"]

#: The topics a :class:`Subscriber` subscribes to by default.
DEFAULT_TOPICS = ("centers.bin", "assignments.bin", "heartbeat", "events")

M = TypeVar("M")


@dataclass
class _TopicState:
    start_epoch: int
    last_seq: int


class SequenceTracker:
    """Per-topic gap and restart accounting from ``(start_epoch, seq)``.

    The daemon numbers its messages 1, 2, 3, … per topic within a run. For each topic:

    - the first message seen starts the count, whatever its number (a late joiner has
      missed nothing it asked for);
    - a ``seq`` more than one above the previous adds the difference minus one to
      :attr:`missed` (libzmq dropped messages at a high-water mark, or a reconnection);
    - a different ``start_epoch`` is a daemon restart: counted in :attr:`restarts`, never as
      missed, and the count starts again;
    - a ``seq`` at or below the previous one in the same run is a repeat, counted in
      :attr:`repeats`: the daemon re-sends its latest centers whenever any subscriber
      subscribes to them, and every subscriber of that topic receives the copy.

    Messages with ``seq == 0`` (query replies) are not counted.
    """

    def __init__(self) -> None:
        self._topics: Dict[str, _TopicState] = {}
        #: Messages known to be lost, per topic.
        self.missed: Dict[str, int] = {}
        #: Daemon restarts seen (changes of ``start_epoch``), per topic.
        self.restarts: Dict[str, int] = {}
        #: Messages that repeated an already seen number (re-sent centers), per topic.
        self.repeats: Dict[str, int] = {}

    def observe(self, topic: str, start_epoch: int, seq: int) -> int:
        """Records one message; returns how many messages on ``topic`` were lost just before it."""
        if seq == 0:
            return 0
        state = self._topics.get(topic)
        if state is None:
            self._topics[topic] = _TopicState(start_epoch, seq)
            self.missed.setdefault(topic, 0)
            return 0
        if start_epoch != state.start_epoch:
            self.restarts[topic] = self.restarts.get(topic, 0) + 1
            state.start_epoch, state.last_seq = start_epoch, seq
            return 0
        if seq <= state.last_seq:
            self.repeats[topic] = self.repeats.get(topic, 0) + 1
            return 0
        lost = seq - state.last_seq - 1
        state.last_seq = seq
        if lost:
            self.missed[topic] = self.missed.get(topic, 0) + lost
        return lost

    @property
    def total_missed(self) -> int:
        """Messages lost over every topic."""
        return sum(self.missed.values())

    def last_seen(self, topic: str) -> Optional[int]:
        """The highest ``seq`` seen on ``topic`` in the current run, or ``None``."""
        state = self._topics.get(topic)
        return None if state is None else state.last_seq


class Subscriber:
    """Iterates the daemon's outbound messages, decoded and typed.

    Yields :class:`~voronoid.CentersSnapshot` (``centers.bin`` and ``centers.json``),
    :class:`~voronoid.Assignments` (``assignments.bin`` and ``assignments.json``),
    :class:`~voronoid.Heartbeat` (``heartbeat``), :class:`~voronoid.Event` (``events``),
    :class:`~voronoid.Rejected` (``rejected``) and, for topics this version does not know,
    :class:`~voronoid.RawMessage`.

    Late joiners: the daemon keeps its latest centers and re-sends them as soon as a
    subscription to ``centers.bin`` / ``centers.json`` arrives, so a new subscriber gets the
    current model at once instead of waiting for the next ``output.centers_interval_ms``
    (existing subscribers receive that copy too; :attr:`repeats` counts it). Assignments,
    heartbeats and events published before the subscription are not replayed.

    Gaps: :attr:`missed` counts, per topic, messages that the sequence numbers show were lost
    (a slow subscriber loses its own copies at its high-water mark); a new ``start_epoch`` is
    a daemon restart (:attr:`restarts`), not a gap. See :class:`SequenceTracker`.

    Example::

        with Subscriber("tcp://127.0.0.1:5556") as sub:
            for message in sub:
                if isinstance(message, voronoid.CentersSnapshot):
                    print(message.centers)
    """

    def __init__(
        self,
        endpoint: str = "tcp://127.0.0.1:5556",
        topics: Iterable[str] = DEFAULT_TOPICS,
        *,
        timeout: Optional[float] = None,
        curve: Optional[CurveKeys] = None,
        context: Optional[zmq.Context[Any]] = None,
        high_water_mark: Optional[int] = None,
    ) -> None:
        """Connects and subscribes.

        Args:
            endpoint: the daemon's XPUB endpoint.
            topics: topic names (byte-prefix subscriptions); ``""`` subscribes to everything.
            timeout: default seconds :meth:`recv` and iteration wait for a message before
                raising :class:`~voronoid.VoronoidTimeout`; ``None`` waits forever.
            curve: CURVE keys when the daemon requires them.
            context: the ZeroMQ context; default the process-wide one.
            high_water_mark: messages queued for this subscriber before libzmq drops (and the
                gap shows in :attr:`missed`); default libzmq's 1000.
        """
        self.endpoint = endpoint
        self.timeout = timeout
        self.tracker = SequenceTracker()
        #: The frames of the message most recently received, topic first (for logging and checks).
        self.last_frames: Optional[List[bytes]] = None
        #: The newest centers received, or ``None`` before the first.
        self.latest_centers: Optional[CentersSnapshot] = None
        self._context = context if context is not None else zmq.Context.instance()
        options: Dict[int, int] = {} if high_water_mark is None else {zmq.RCVHWM: high_water_mark}
        self._socket: Optional[zmq.Socket[Any]] = open_socket(
            self._context, zmq.SUB, endpoint, curve=curve, linger_ms=0, options=options)
        self.topics: List[str] = []
        for topic in topics:
            self.subscribe(topic)

    def subscribe(self, topic: Union[str, bytes]) -> None:
        """Adds a subscription (a byte-prefix match on frame 0)."""
        name = topic.decode("utf-8") if isinstance(topic, bytes) else topic
        self._require_open().setsockopt(zmq.SUBSCRIBE, name.encode("utf-8"))
        if name not in self.topics:
            self.topics.append(name)

    def unsubscribe(self, topic: Union[str, bytes]) -> None:
        """Removes a subscription."""
        name = topic.decode("utf-8") if isinstance(topic, bytes) else topic
        self._require_open().setsockopt(zmq.UNSUBSCRIBE, name.encode("utf-8"))
        if name in self.topics:
            self.topics.remove(name)

    @property
    def missed(self) -> Dict[str, int]:
        """Messages the sequence numbers show were lost, per topic (a copy)."""
        return dict(self.tracker.missed)

    @property
    def restarts(self) -> Dict[str, int]:
        """Daemon restarts seen (new ``start_epoch``), per topic (a copy)."""
        return dict(self.tracker.restarts)

    @property
    def repeats(self) -> Dict[str, int]:
        """Messages that repeated a number already seen (re-sent centers), per topic (a copy)."""
        return dict(self.tracker.repeats)

    def recv_frames(self, timeout: Timeout = DEFAULT) -> List[bytes]:
        """The next message's raw frames (no decoding and no gap accounting).

        Args:
            timeout: seconds to wait; default the constructor's; ``None`` waits forever.

        Raises:
            VoronoidTimeout: nothing arrived in time.
        """
        socket = self._require_open()
        wait = self.timeout if timeout is DEFAULT else timeout
        if not socket.poll(milliseconds(wait), zmq.POLLIN):
            raise VoronoidTimeout(f"no message from {self.endpoint} within {wait} s")
        return socket.recv_multipart()

    def recv(self, timeout: Timeout = DEFAULT) -> Message:
        """The next message, decoded; its sequence number updates :attr:`missed`.

        Args:
            timeout: seconds to wait; default the constructor's; ``None`` waits forever.

        Raises:
            VoronoidTimeout: nothing arrived in time.
            ProtocolError: the message is malformed (its frames are in :attr:`last_frames`).
        """
        frames = self.recv_frames(timeout)
        self.last_frames = frames
        message = decode_message(frames)
        seq = getattr(message, "seq", None)
        epoch = getattr(message, "start_epoch", None)
        if seq is not None and epoch is not None:
            self.tracker.observe(message.topic or "", epoch, seq)
        if isinstance(message, CentersSnapshot):
            self.latest_centers = message
        return message

    def wait_for(self, kind: Type[M], timeout: Optional[float] = 10.0) -> M:
        """Receives until a message of type ``kind`` arrives, within ``timeout`` seconds overall;
        other messages are still decoded and counted.

        Raises:
            VoronoidTimeout: none arrived in time.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            try:
                message = self.recv(left)
            except VoronoidTimeout:
                raise VoronoidTimeout(f"no {kind.__name__} from {self.endpoint} within {timeout} s") from None
            if isinstance(message, kind):
                return message

    def __iter__(self) -> Iterator[Message]:
        """Messages as they arrive; each wait is bounded by the constructor's ``timeout``."""
        while True:
            yield self.recv()

    def _require_open(self) -> zmq.Socket[Any]:
        if self._socket is None:
            raise RuntimeError("the subscriber is closed")
        return self._socket

    def close(self) -> None:
        """Closes the socket."""
        if self._socket is not None:
            self._socket.close(0)
            self._socket = None

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Subscriber({self.endpoint!r}, topics={self.topics!r}, missed={self.missed!r})"


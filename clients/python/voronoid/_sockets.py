"""Socket set-up shared by the producer, the subscriber and the query client."""

from __future__ import annotations

import enum
from typing import Any, Mapping, Optional, Union

import zmq

from .security import CurveKeys


def open_socket(context: zmq.Context[Any], kind: int, endpoint: str, *, curve: Optional[CurveKeys],
                linger_ms: int, bind: bool = False, options: Optional[Mapping[int, int]] = None) -> zmq.Socket[Any]:
    """A socket of ``kind`` connected (or bound) to ``endpoint``.

    Options such as high-water marks and the CURVE keys only apply to connections made after
    they are set, so they all go on before ``connect``/``bind``.
    """
    socket: zmq.Socket[Any] = context.socket(kind)
    try:
        socket.setsockopt(zmq.LINGER, linger_ms)
        for option, value in (options or {}).items():
            socket.setsockopt(option, value)
        if curve is not None:
            if bind:
                raise ValueError("CURVE client keys cannot secure a bound socket; the daemon is the CURVE server")
            curve.apply(socket)
        if bind:
            socket.bind(endpoint)
        else:
            socket.connect(endpoint)
    except BaseException:
        socket.close(0)
        raise
    return socket


def milliseconds(seconds: Optional[float]) -> int:
    """A timeout in seconds as libzmq's milliseconds (-1 waits forever)."""
    if seconds is None:
        return -1
    if seconds < 0:
        raise ValueError(f"a timeout must not be negative, not {seconds}")
    return int(round(seconds * 1000))


class Default(enum.Enum):
    """The type of :data:`DEFAULT`, a marker for "the value given to the constructor"."""

    TOKEN = 0


#: Marks an argument left out, where ``None`` already means "wait forever".
DEFAULT = Default.TOKEN

#: A timeout argument: seconds, ``None`` for no limit, or :data:`DEFAULT`.
Timeout = Union[float, None, Default]

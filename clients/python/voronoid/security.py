"""CURVE keys for talking to a daemon that runs with ``security.curve_secret_key_file``."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import zmq
from zmq.utils import z85

__all__ = ["CurveKeys"]

PathOrKey = Union[str, bytes, "os.PathLike[str]"]


def _z85_key(value: Union[str, bytes], what: str) -> str:
    text = value.decode("ascii") if isinstance(value, bytes) else value
    text = text.strip()
    if len(text) != 40:
        raise ValueError(f"{what} must be 40 Z85 characters, not {len(text)}")
    try:
        z85.decode(text)
    except Exception as error:  # z85.decode raises KeyError/ValueError for characters outside Z85
        raise ValueError(f"{what} is not Z85 text") from error
    return text


def _key_or_file(value: PathOrKey, what: str) -> str:
    """``value`` itself when it is 40 characters of Z85 that name no file, else the file's content."""
    if isinstance(value, (str, bytes)):
        text = value.decode("ascii", errors="replace") if isinstance(value, bytes) else value
        if len(text.strip()) == 40 and not os.path.exists(text):
            return _z85_key(text, what)
    return _z85_key(Path(os.fsdecode(value)).read_text(encoding="ascii"), what)


@dataclass(frozen=True)
class CurveKeys:
    """The keys a client needs for CURVE: the daemon's public key and the client's key pair,
    each as 40 Z85 characters (what ``voronoid keygen`` writes).

    The client's public key must be listed in the daemon's ``security.allowed_clients_file``.

    Attributes:
        server_key: the daemon's public key (``server.pub``).
        public_key: the client's public key (``client.pub``).
        secret_key: the client's secret key (``client.key``).
    """

    server_key: str
    public_key: str
    secret_key: str

    def __post_init__(self) -> None:
        for name in ("server_key", "public_key", "secret_key"):
            object.__setattr__(self, name, _z85_key(getattr(self, name), name))
        if zmq.curve_public(self.secret_key.encode()).decode() != self.public_key:
            raise ValueError("public_key does not belong to secret_key")

    @classmethod
    def load(cls, server_key: PathOrKey, client_secret_key: PathOrKey) -> "CurveKeys":
        """Keys from ``voronoid keygen`` output.

        Args:
            server_key: the daemon's public key: 40 Z85 characters, or the path of ``server.pub``.
            client_secret_key: the client's secret key: 40 Z85 characters, or the path of
                ``client.key``; the public key is derived from it.
        """
        secret = _key_or_file(client_secret_key, "client secret key")
        public = zmq.curve_public(secret.encode()).decode()
        return cls(server_key=_key_or_file(server_key, "server key"), public_key=public, secret_key=secret)

    @classmethod
    def generate(cls, server_key: PathOrKey) -> "CurveKeys":
        """A fresh client key pair for the given daemon key (list ``public_key`` on the daemon)."""
        public, secret = zmq.curve_keypair()
        return cls(server_key=_key_or_file(server_key, "server key"), public_key=public.decode(), secret_key=secret.decode())

    def apply(self, socket: zmq.Socket[Any]) -> None:
        """Makes ``socket`` a CURVE client of the daemon; call before ``connect``."""
        socket.curve_serverkey = self.server_key.encode()
        socket.curve_publickey = self.public_key.encode()
        socket.curve_secretkey = self.secret_key.encode()

    def __repr__(self) -> str:
        return f"CurveKeys(server_key={self.server_key!r}, public_key={self.public_key!r}, secret_key=<hidden>)"

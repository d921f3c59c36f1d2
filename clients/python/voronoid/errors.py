"""The exceptions the package raises.

- :class:`ProtocolError` — bytes that do not follow protocol v1 (a consumer-side decoding
  failure); its ``reason`` uses the daemon's reason names (``bad_header``, ``bad_support``, …).
- :class:`VoronoidError` — the daemon answered a query with ``[b"error", reason, detail]``.
- :class:`NotReady` — the same with reason ``not_ready``: the model is still warming up.
- :class:`VoronoidTimeout` — no reply (or no message) in time; a :class:`TimeoutError`.
"""

from __future__ import annotations

__all__ = ["ProtocolError", "VoronoidError", "NotReady", "VoronoidTimeout"]


class ProtocolError(ValueError):
    """Bytes that are not a valid protocol v1 message.

    Attributes:
        reason: a stable snake_case name, one of the protocol's rejection reasons
            (``frame_count``, ``bad_header``, ``unknown_format``, ``count_mismatch``,
            ``bad_support``, ``bad_ids``, ``id_too_long``, ``invalid_utf8``, ``non_finite``,
            ``bad_json``, ``bad_body_length``).
        detail: human-readable specifics.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class VoronoidError(Exception):
    """The daemon refused a query: its ``[b"error", reason, detail]`` reply.

    Attributes:
        reason: the daemon's reason name (for example ``dimension_mismatch``); new daemons may
            add reasons, so compare with strings and keep a default branch.
        detail: the daemon's human-readable explanation.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


class NotReady(VoronoidError):
    """The daemon has no model yet (reason ``not_ready``): it is still gathering its warm-up
    vectors. Send more vectors, or wait and retry (:meth:`voronoid.Client.wait_ready`)."""


class VoronoidTimeout(TimeoutError):
    """Nothing arrived within the timeout: no reply from the query socket, no message on a
    subscription, or a PUSH send that could not leave because no daemon took it."""

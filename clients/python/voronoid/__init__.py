"""Python client for voronoid, the streaming clustering daemon (protocol v1 over ZeroMQ).

- :class:`Producer` sends vectors (PUB or PUSH), with ids and sequence numbers.
- :class:`Subscriber` iterates decoded centers, assignments, heartbeats and events, and
  counts missed messages per topic.
- :class:`Client` asks the query socket for ``snapshot``, ``stats`` and ``predict``.
- :class:`RemoteKMeans` reads the live model like a fitted scikit-learn ``KMeans``.
- :mod:`voronoid.wire` encodes and decodes the bytes, with no sockets.

Example::

    import numpy as np, voronoid

    with voronoid.Producer() as producer:
        producer.send(np.random.rand(256, 8), ids=np.arange(256))
    with voronoid.Client() as client:
        print(client.predict(np.random.rand(4, 8)).best)
"""

from .client import Client
from .errors import NotReady, ProtocolError, VoronoidError, VoronoidTimeout
from .estimator import RemoteKMeans
from .messages import Assignments, CentersSnapshot, Event, Heartbeat, Message, RawMessage, Rejected, VectorBatch
from .producer import Producer
from .security import CurveKeys
from .subscriber import SequenceTracker, Subscriber

__version__ = "1.0.0"

__all__ = [
    "Assignments",
    "CentersSnapshot",
    "Client",
    "CurveKeys",
    "Event",
    "Heartbeat",
    "Message",
    "NotReady",
    "Producer",
    "ProtocolError",
    "RawMessage",
    "Rejected",
    "RemoteKMeans",
    "SequenceTracker",
    "Subscriber",
    "VectorBatch",
    "VoronoidError",
    "VoronoidTimeout",
]

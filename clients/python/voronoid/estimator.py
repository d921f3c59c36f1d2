"""A scikit-learn-shaped view of a running daemon's model."""

from __future__ import annotations

from typing import Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .client import Client
from .wire import as_vectors

__all__ = ["RemoteKMeans"]


class RemoteKMeans:
    """The daemon's model read like a fitted ``sklearn.cluster.KMeans``.

    The daemon trains itself from the vectors producers send, so there is no ``fit``: every
    attribute and method reads the live model. ``predict`` asks the daemon (``predict``
    query); ``cluster_centers_``, ``transform`` and ``score`` use a fresh ``snapshot``. The
    model may move between two calls; compare results of one call with each other.

    Example::

        km = RemoteKMeans(Client("tcp://127.0.0.1:5557"))
        labels = km.predict(X)              # (n,) int32
        D = km.transform(X)                 # (n, k) Euclidean distances
        C = km.cluster_centers_             # (k, d) float32
    """

    def __init__(self, client: Optional[Client] = None, *, endpoint: str = "tcp://127.0.0.1:5557",
                 timeout: Optional[float] = 5.0, max_predict_vectors: int = 65_536) -> None:
        """Wraps ``client``, or a new :class:`~voronoid.Client` on ``endpoint``.

        Args:
            client: the query client to use.
            endpoint: the query endpoint when no client is given.
            timeout: reply timeout of the client created when none is given.
            max_predict_vectors: :meth:`predict` splits larger inputs into requests of at most
                this many vectors (the daemon's ``query.max_predict_vectors``).
        """
        if max_predict_vectors < 1:
            raise ValueError("max_predict_vectors must be positive")
        self.client = client if client is not None else Client(endpoint, timeout=timeout)
        self.max_predict_vectors = max_predict_vectors

    def predict(self, X: ArrayLike) -> NDArray[np.int32]:
        """The index of each vector's nearest center, ``(n,)`` int32, as computed by the daemon.

        Raises:
            NotReady, VoronoidError, VoronoidTimeout: as :meth:`voronoid.Client.predict`.
        """
        vectors = as_vectors(X)
        parts = [np.asarray(self.client.predict(vectors[i:i + self.max_predict_vectors]).best, dtype=np.int32)
                 for i in range(0, vectors.shape[0], self.max_predict_vectors)]
        return np.concatenate(parts)

    @property
    def cluster_centers_(self) -> NDArray[np.float32]:
        """The current centers, ``(k, d)`` float32 (a fresh snapshot on every access)."""
        return np.array(self.client.snapshot().centers, dtype=np.float32)

    @property
    def n_clusters(self) -> int:
        """The number of centers, ``k``."""
        return self.client.snapshot().k

    @property
    def n_features_in_(self) -> int:
        """The model's dimension, ``d``."""
        return self.client.snapshot().d

    def transform(self, X: ArrayLike) -> NDArray[np.float64]:
        """Euclidean distances from each vector to every center, ``(n, k)`` float64, from one
        fresh snapshot (as ``KMeans.transform``: distances, not squared).

        Raises:
            ValueError: the vectors' dimension is not the model's.
        """
        return np.sqrt(self._squared_distances(X, self.client.snapshot().centers))

    def score(self, X: ArrayLike) -> float:
        """Minus the sum of squared distances to the nearest centers (as ``KMeans.score``)."""
        return -float(self._squared_distances(X, self.client.snapshot().centers).min(axis=1).sum())

    @staticmethod
    def _squared_distances(X: ArrayLike, centers: NDArray[np.float32]) -> NDArray[np.float64]:
        vectors = as_vectors(X).astype(np.float64)
        C = np.asarray(centers, dtype=np.float64)
        if vectors.shape[1] != C.shape[1]:
            raise ValueError(f"vectors of dimension {vectors.shape[1]}, the model has {C.shape[1]}")
        # Differences rather than the ‖x‖² − 2x·c + ‖c‖² expansion: exact zeros for vectors
        # equal to a center, no cancellation; memory is n × k × d, so go row block by block.
        out = np.empty((vectors.shape[0], C.shape[0]), dtype=np.float64)
        block = max(1, (1 << 22) // max(1, C.shape[0] * C.shape[1]))
        for i in range(0, vectors.shape[0], block):
            diff = vectors[i:i + block, None, :] - C[None, :, :]
            out[i:i + block] = np.einsum("nkd,nkd->nk", diff, diff)
        return out

    def __repr__(self) -> str:
        return f"RemoteKMeans({self.client!r})"

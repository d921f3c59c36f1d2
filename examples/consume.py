"""Subscribe to voronoid's centers and assignments with the Python client package."""
import numpy as np

import voronoid

np.set_printoptions(precision=3, suppress=True)
centers = assignments = None
with voronoid.Subscriber("tcp://127.0.0.1:5556", ["centers.bin", "assignments.bin"], timeout=20) as sub:
    for message in sub:
        if isinstance(message, voronoid.CentersSnapshot) and centers is None:
            centers = message
            print(f"centers: k={centers.k} d={centers.d} version={centers.version} "
                  f"temperature={centers.temperature:.4g}")
            print(centers.centers)
        elif isinstance(message, voronoid.Assignments) and assignments is None:
            assignments = message
            # Row 0's sparse responsibilities: a CSR row of center indices and their weights.
            indices, weights = assignments.support(0)
            support = ", ".join(f"{c}: {w:.3f}" for c, w in zip(indices, weights))
            first = "-" if assignments.ids is None else assignments.ids[0]
            print(f"assignments: n={assignments.n} first id={first} best={assignments.best[0]} "
                  f"dist={assignments.distances[0]:.3f} support={{{support}}}")
            print(assignments.to_dense()[:3])  # the first rows' responsibilities, dense (n, k)
        if centers is not None and assignments is not None:
            break
    print("missed:", sub.missed)  # per topic, messages the sequence numbers show were lost

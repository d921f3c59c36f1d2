"""Ask voronoid for its centers, its counters, and the clusters of new vectors."""
import voronoid

with voronoid.Client("tcp://127.0.0.1:5557", timeout=5) as client:
    snapshot = client.wait_ready()  # retries while the daemon answers not_ready (warming up)
    print(f"snapshot: k={snapshot.k} d={snapshot.d} version={snapshot.version}")

    stats = client.stats()
    print(f"stats: vectors_accepted={stats['vectors_accepted']} dropped={stats['dropped']}")

    # Predict without training: each center itself must be assigned to its own cluster.
    names = [f"center-{i}" for i in range(snapshot.k)]
    predicted = client.predict(snapshot.centers, ids=names)
    print(f"predict: n={predicted.n} best={predicted.best.tolist()} ids={predicted.ids}")

    # The same live model, read like a fitted scikit-learn KMeans.
    km = voronoid.RemoteKMeans(client)
    X = km.cluster_centers_
    print(f"RemoteKMeans: n_clusters={km.n_clusters} n_features_in_={km.n_features_in_} "
          f"labels={km.predict(X).tolist()}")
    print(km.transform(X).round(1))  # Euclidean distances between the centers

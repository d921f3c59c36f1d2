"""Publish feature vectors to voronoid with the Python client package."""
import time

import numpy as np

import voronoid

rng = np.random.default_rng(7)
means = rng.uniform(-20, 20, size=(4, 8))


def blobs(n):
    return means[rng.integers(0, 4, n)] + rng.normal(size=(n, 8))


# Every send is a binary batch with the next sequence number of the producer's topic, so the
# daemon's sequence_gaps counter shows anything lost on the way.
with voronoid.Producer("tcp://127.0.0.1:5555", topic="vectors/example") as producer:
    for i in range(70):  # integer ids (VB1I)
        producer.send(blobs(256), ids=np.arange(i * 256, (i + 1) * 256))
        time.sleep(0.005)  # SUB input is best effort: a burst could overflow the daemon's queue
    for i in range(10):  # string ids (VB1S)
        producer.send(blobs(256), ids=[f"sensor-{i}/{j}" for j in range(256)])
        time.sleep(0.005)
    producer.send(means[0])  # one vector without an id (VB1N)
    producer.send(means[1], ids="the-second-mean")
    print("sent", producer.vectors_sent, "vectors in", producer.messages_sent, "messages")

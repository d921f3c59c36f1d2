import CPartPool
import Clustering

/// Runs the core's per-row parts on the calling thread and `width − 1` threads of its own, which
/// keep polling for the next batch's parts for a moment after each (see `CPartPool.h`).
///
/// The clustering loop calls it from its own thread (never Swift's cooperative pool), one batch
/// at a time, so blocking until the parts finish is fine.
// SAFETY: `run` is called by one thread at a time (the pool's owner); the C pool's threads only
// read the job it publishes, and `deinit` joins them.
public final class PartPool: ParallelLoop, @unchecked Sendable {
    /// How many parts to make.
    public let width: Int
    private let pool: OpaquePointer?

    /// How long a pool thread polls for more work after a part before it sleeps. A batch's serial
    /// remainder (the step, the publication) is a few hundred microseconds at embedding sizes;
    /// at d 384, k 256 through the daemon, 0.3 ms measured faster than 0.1 ms or 1 ms (1 ms
    /// polled away processor time the socket threads needed).
    public static let defaultPollNanoseconds = 300_000

    /// Creates a pool of `width` parts (at least 1): the caller and `width − 1` threads named
    /// `name` (what `top -H` shows; at most 15 bytes).
    public init(width: Int, pollNanoseconds: Int = PartPool.defaultPollNanoseconds, name: String = "voronoid-part") {
        self.width = max(1, width)
        // Without threads (width 1, or none could start) the parts run one after another.
        pool = self.width > 1 ? voronoid_part_pool_create(Int32(self.width - 1), Int64(pollNanoseconds), name) : nil
    }

    deinit {
        voronoid_part_pool_destroy(pool)
    }

    public func run(_ parts: Int, _ body: (Int) -> Void) {
        guard parts > 1, let pool else {
            for p in 0..<parts { body(p) }
            return
        }
        withoutActuallyEscaping(body) { body in
            var job = Job(body: body)
            withUnsafeMutablePointer(to: &job) { pointer in
                voronoid_part_pool_run(pool, parts, { context, part in
                    context!.assumingMemoryBound(to: Job.self).pointee.body(part)
                }, pointer)
            }
        }
    }
}

private struct Job {
    let body: (Int) -> Void
}

import Clustering
import Dispatch

/// Runs the core's per-row work on several threads with `DispatchQueue.concurrentPerform`.
///
/// Used by the clustering loop, which runs on its own thread (never on Swift's cooperative pool),
/// so blocking until the parts finish is fine.
public struct DispatchLoop: ParallelLoop {
    /// How many parts to make.
    public let width: Int

    /// Creates a loop of `width` parts (at least 1).
    public init(width: Int) { self.width = max(1, width) }

    public func run(_ parts: Int, _ body: (Int) -> Void) {
        if parts <= 1 {
            body(0)
        } else {
            withoutActuallyEscaping(body) { body in
                let shared = PartsBody(body: body)
                DispatchQueue.concurrentPerform(iterations: parts) { shared.body($0) }
            }
        }
    }
}

// SAFETY: concurrentPerform returns only after every iteration has returned, so the closure never
// outlives `run`; the core's parts write disjoint rows and per-part accumulators.
private struct PartsBody: @unchecked Sendable {
    let body: (Int) -> Void
}

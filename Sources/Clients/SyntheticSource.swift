import Clustering

/// Gaussian blobs around `k` random centers, optionally drifting: a reproducible stand-in for
/// real producers, with known ground truth.
///
/// Center `c` starts at a point whose components are drawn from N(0, σ_c²) with
/// `σ_c = separation / √(2d)`, so the expected distance between two centers is about
/// `separation`. Each center moves along its own random unit direction by `drift` per 1000
/// vectors emitted (by all clusters together). A row picks its cluster uniformly at random and
/// adds N(0, spread²) noise to every component of that cluster's current center.
///
/// The whole stream is a function of the seed: two sources with the same parameters and seed
/// produce the same rows, however they are chunked.
public struct SyntheticSource: VectorSource, Sendable {
    /// The number of clusters.
    public let k: Int
    /// The dimension of every row.
    public let dimension: Int
    /// The standard deviation of each component around its center.
    public let spread: Double
    /// The expected distance between two initial centers.
    public let separation: Double
    /// How far every center moves per 1000 emitted vectors.
    public let drift: Double

    /// The centers before any drift, `k × dimension` row-major.
    public let initialCenters: [Float]
    /// Each center's unit drift direction, `k × dimension` row-major.
    private let directions: [Double]
    private var random: RandomSource

    /// The number of rows emitted so far.
    public private(set) var emitted: Int = 0
    /// The cluster of each row of the last ``next(into:maxRows:)`` call: the ground truth.
    public private(set) var lastLabels: [Int] = []

    /// Creates a source.
    /// - Parameters:
    ///   - k: the number of clusters (≥ 1).
    ///   - dimension: the dimension (≥ 1).
    ///   - spread: per-component standard deviation of the noise (≥ 0).
    ///   - separation: the expected distance between centers (≥ 0).
    ///   - drift: center movement per 1000 vectors (≥ 0).
    ///   - seed: the seed of the whole stream.
    /// - Throws: ``ClientError`` `.badInput` for a parameter out of range.
    public init(k: Int = 8, dimension: Int = 16, spread: Double = 1, separation: Double = 10, drift: Double = 0, seed: UInt64 = 1) throws(ClientError) {
        guard k >= 1 else { throw ClientError(.badInput, "k must be ≥ 1, got \(k)") }
        guard dimension >= 1 else { throw ClientError(.badInput, "dimension must be ≥ 1, got \(dimension)") }
        guard spread.isFinite, spread >= 0 else { throw ClientError(.badInput, "spread must be finite and ≥ 0, got \(spread)") }
        guard separation.isFinite, separation >= 0 else { throw ClientError(.badInput, "separation must be finite and ≥ 0, got \(separation)") }
        guard drift.isFinite, drift >= 0 else { throw ClientError(.badInput, "drift must be finite and ≥ 0, got \(drift)") }
        self.k = k
        self.dimension = dimension
        self.spread = spread
        self.separation = separation
        self.drift = drift
        var random = RandomSource(seed: seed)
        let sigma = separation / (2 * Double(dimension)).squareRoot()
        var centers = [Float](repeating: 0, count: k * dimension)
        for i in centers.indices { centers[i] = Float(sigma * random.nextGaussian()) }
        var directions = [Double](repeating: 0, count: k * dimension)
        for c in 0..<k {
            // A normalised Gaussian vector is uniform on the sphere.
            var norm = 0.0
            repeat {
                norm = 0
                for j in 0..<dimension {
                    let g = random.nextGaussian()
                    directions[c * dimension + j] = g
                    norm += g * g
                }
            } while norm == 0
            let inverse = 1 / norm.squareRoot()
            for j in 0..<dimension { directions[c * dimension + j] *= inverse }
        }
        self.initialCenters = centers
        self.directions = directions
        self.random = random
    }

    /// The true centers now, after the drift of the ``emitted`` rows, `k × dimension` row-major.
    public var centers: [Float] { centers(after: emitted) }

    /// The true centers after `vectors` emitted rows, `k × dimension` row-major.
    public func centers(after vectors: Int) -> [Float] {
        let shift = drift * Double(vectors) / 1000
        return (0..<initialCenters.count).map { Float(Double(initialCenters[$0]) + shift * directions[$0]) }
    }

    /// Never exhausted: always fills `maxRows` rows.
    public mutating func next(into rows: inout [Float], maxRows: Int) throws(ClientError) -> Int {
        precondition(maxRows >= 1, "SyntheticSource: maxRows must be ≥ 1")
        let d = dimension
        rows.removeAll(keepingCapacity: true)
        rows.reserveCapacity(maxRows * d)
        lastLabels.removeAll(keepingCapacity: true)
        for _ in 0..<maxRows {
            // k is tiny next to 2⁶⁴, so the modulo's bias is far below anything measurable.
            let c = Int(random.next() % UInt64(k))
            lastLabels.append(c)
            let shift = drift * Double(emitted) / 1000
            for j in 0..<d {
                let center = Double(initialCenters[c * d + j]) + shift * directions[c * d + j]
                rows.append(Float(center + spread * random.nextGaussian()))
            }
            emitted += 1
        }
        return maxRows
    }

    /// Restarting an infinite stream is never needed; this does nothing.
    public var canRewind: Bool { true }

    /// Does nothing: the stream is infinite, so `--loop` never calls it.
    public mutating func rewind() throws(ClientError) {}
}

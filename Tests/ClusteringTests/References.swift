import RealModule
import Clustering

/// Slow, obviously correct references written straight from the formulas in MATH.md.
enum Reference {
    /// `‖x − c‖²` in double precision, one coordinate at a time.
    static func squaredDistance(_ x: ArraySlice<Float>, _ c: ArraySlice<Float>) -> Double {
        zip(x, c).reduce(0.0) { acc, p in
            let e = Double(p.0) - Double(p.1)
            return acc + e * e
        }
    }

    /// Entmax-1.5 of logits `z` by bisection on τ: `Σ [z/2 − τ]₊² = 1`, monotone in τ.
    static func entmax15(_ z: [Double]) -> [Double] {
        let half = z.map { $0 / 2 }
        let top = half.max()!
        var lo = top - 1
        var hi = top
        for _ in 0..<200 {
            let mid = (lo + hi) / 2
            let total = half.reduce(0.0) { $0 + Swift.max(0, $1 - mid) * Swift.max(0, $1 - mid) }
            if total >= 1 { lo = mid } else { hi = mid }
        }
        let p = half.map { Swift.max(0, $0 - lo) * Swift.max(0, $0 - lo) }
        let s = p.reduce(0, +)
        return p.map { $0 / s }
    }

    /// Softmax of `−(d − min d) / T`, in double precision.
    static func softmax(distances d: [Double], temperature: Double) -> [Double] {
        let m = d.min()!
        let e = d.map { ($0 == m) ? 1 : Double.exp(-($0 - m) / temperature) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Dense responsibilities of one row in `mode`.
    static func responsibilities(distances d: [Double], temperature: Double, mode: ResponsibilityMode) -> [Double] {
        switch mode {
        case .entmax15:
            let m = d.min()!
            return entmax15(d.map { -($0 - m) / temperature })
        case .softmax:
            return softmax(distances: d, temperature: temperature)
        case .hard:
            let best = d.firstIndex(of: d.min()!)!
            return d.indices.map { $0 == best ? 1 : 0 }
        }
    }

    /// One streaming update, vector by vector from the formulas:
    /// `N_k ← γ N_k + Σ w r`, `c_k ← c_k + Σ w r (x − c_k) / N_k`.
    static func update(
        centers: [Float], counts: [Double], k: Int, d: Int, rows: [Float], weights: [Double]?,
        temperature: Double, mode: ResponsibilityMode, gamma: Double
    ) -> (centers: [Double], counts: [Double]) {
        let n = rows.count / d
        var mass = [Double](repeating: 0, count: k)
        var delta = [Double](repeating: 0, count: k * d)
        for i in 0..<n {
            let x = rows[(i * d)..<((i + 1) * d)]
            let dist = (0..<k).map { squaredDistance(x, centers[($0 * d)..<(($0 + 1) * d)]) }
            let r = responsibilities(distances: dist, temperature: temperature, mode: mode)
            let w = weights?[i] ?? 1
            for j in 0..<k where r[j] > 0 {
                mass[j] += w * r[j]
                for t in 0..<d { delta[j * d + t] += w * r[j] * (Double(x[x.startIndex + t]) - Double(centers[j * d + t])) }
            }
        }
        var newCounts = counts
        var newCenters = centers.map(Double.init)
        for j in 0..<k {
            newCounts[j] = gamma * counts[j] + mass[j]
            guard mass[j] > 0 else { continue }
            for t in 0..<d { newCenters[j * d + t] += delta[j * d + t] / newCounts[j] }
        }
        return (newCenters, newCounts)
    }

    /// One Lloyd iteration: each center moves to the mean of the rows nearest to it.
    static func lloyd(centers: [Float], k: Int, d: Int, rows: [Float]) -> [Double] {
        let n = rows.count / d
        var sums = [Double](repeating: 0, count: k * d)
        var counts = [Double](repeating: 0, count: k)
        for i in 0..<n {
            let x = rows[(i * d)..<((i + 1) * d)]
            let dist = (0..<k).map { squaredDistance(x, centers[($0 * d)..<(($0 + 1) * d)]) }
            let best = dist.firstIndex(of: dist.min()!)!
            counts[best] += 1
            for t in 0..<d { sums[best * d + t] += Double(x[x.startIndex + t]) }
        }
        var out = centers.map(Double.init)
        for j in 0..<k where counts[j] > 0 {
            for t in 0..<d { out[j * d + t] = sums[j * d + t] / counts[j] }
        }
        return out
    }
}

/// Seeded Gaussian blobs for tests.
struct TestBlobs {
    var rows: [Float] = []
    var labels: [Int] = []
    var means: [Float] = []

    init(k: Int, d: Int, perCluster: Int, spread: Double, side: Double, seed: UInt64, shuffle: Bool = true) {
        var random = RandomSource(seed: seed)
        means = (0..<(k * d)).map { _ in Float((random.nextUnit() - 0.5) * side) }
        var order = [Int]()
        for j in 0..<k { order += Array(repeating: j, count: perCluster) }
        if shuffle { order.shuffle(using: &random) }
        for j in order {
            labels.append(j)
            for t in 0..<d { rows.append(means[j * d + t] + Float(random.nextGaussian() * spread)) }
        }
    }
}

func maxAbsDifference(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).reduce(0) { Swift.max($0, abs($1.0 - $1.1)) }
}


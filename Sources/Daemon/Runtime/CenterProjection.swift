import Glibc

/// The k centers projected onto their top two principal components, for drawing the model in
/// two dimensions (the live view's scatter).
///
/// The centers are centred on their mean; the principal directions are the top eigenvectors
/// of their Gram matrix, found by power iteration on a block of two vectors. Of the two Gram
/// matrices that share those eigenvalues, the smaller is used: the k×k `X Xᵀ` when k ≤ d, the
/// d×d `Xᵀ X` otherwise, so the cost is `min(k, d)² · max(k, d)` to build it and `min(k, d)²`
/// per iteration.
struct CenterProjection: Sendable {
    /// Each center's coordinate along the first principal component.
    var x: [Double]
    /// Each center's coordinate along the second principal component.
    var y: [Double]
    /// The variance of the centers along each of the two components (their eigenvalues over k).
    var variance: (Double, Double)
    /// The centers' total variance (the trace of their covariance), so a reader can tell how
    /// much of the spread the picture shows.
    var totalVariance: Double

    /// Projects `k` row-major centers of dimension `dimension`.
    ///
    /// Signs are fixed so that the center farthest out along each component lies on its
    /// positive side: the picture does not flip between two calls on nearly the same model.
    /// Degenerate inputs give zeros where there is no spread (one center, dimension one, all
    /// centers equal or on a line). Every result is finite when the centers are.
    /// - Parameters:
    ///   - centers: `k · dimension` values.
    ///   - k: the number of centers (≥ 0).
    ///   - dimension: their dimension (≥ 1).
    ///   - maxIterations: the bound on power iterations.
    static func project(centers: [Float], k: Int, dimension d: Int, maxIterations: Int = 300) -> CenterProjection {
        precondition(k >= 0 && d >= 1 && centers.count == k * d, "CenterProjection: \(centers.count) values for k \(k), d \(d)")
        guard k > 0 else { return CenterProjection(x: [], y: [], variance: (0, 0), totalVariance: 0) }
        // Centred rows, in Double: float32 centers far from the origin would lose the spread
        // to cancellation otherwise.
        var mean = [Double](repeating: 0, count: d)
        for c in 0..<k { for j in 0..<d { mean[j] += Double(centers[c * d + j]) } }
        for j in 0..<d { mean[j] /= Double(k) }
        var rows = [Double](repeating: 0, count: k * d)
        for c in 0..<k { for j in 0..<d { rows[c * d + j] = Double(centers[c * d + j]) - mean[j] } }

        let small = k <= d
        let m = small ? k : d
        var gram = [Double](repeating: 0, count: m * m)
        if small {
            // (X Xᵀ)[a, b]: inner products of the centred centers.
            for a in 0..<k {
                for b in a..<k {
                    var s = 0.0
                    for j in 0..<d { s += rows[a * d + j] * rows[b * d + j] }
                    gram[a * m + b] = s
                    gram[b * m + a] = s
                }
            }
        } else {
            // (Xᵀ X)[i, j]: the scatter matrix of the coordinates.
            for c in 0..<k {
                for i in 0..<d {
                    let v = rows[c * d + i]
                    if v == 0 { continue }
                    for j in i..<d { gram[i * m + j] += v * rows[c * d + j] }
                }
            }
            for i in 0..<d { for j in 0..<i { gram[i * m + j] = gram[j * m + i] } }
        }
        var trace = 0.0
        for i in 0..<m { trace += gram[i * m + i] }

        let (vectors, values) = topTwoEigenpairs(gram, m: m, maxIterations: maxIterations)
        var x = [Double](repeating: 0, count: k)
        var y = [Double](repeating: 0, count: k)
        for (component, vector) in vectors.enumerated() {
            var scores = [Double](repeating: 0, count: k)
            if small {
                // X v = σ u for an eigenvector u of X Xᵀ with eigenvalue σ².
                let sigma = values[component].squareRoot()
                for c in 0..<k { scores[c] = sigma * vector[c] }
            } else {
                for c in 0..<k {
                    var s = 0.0
                    for j in 0..<d { s += rows[c * d + j] * vector[j] }
                    scores[c] = s
                }
            }
            var farthest = 0
            for c in 1..<k where abs(scores[c]) > abs(scores[farthest]) + 1e-12 * abs(scores[farthest]) { farthest = c }
            if scores[farthest] < 0 { for c in 0..<k { scores[c] = -scores[c] } }
            if component == 0 { x = scores } else { y = scores }
        }
        let n = Double(k)
        return CenterProjection(x: x, y: y, variance: (values.count > 0 ? values[0] / n : 0, values.count > 1 ? values[1] / n : 0),
                                totalVariance: max(0, trace) / n)
    }

    /// The (up to) two leading eigenvectors of a symmetric positive semi-definite m×m matrix,
    /// unit length, with their eigenvalues, largest first; fewer when m < 2 or the matrix has
    /// no spread in that direction (eigenvalue at rounding level), whose coordinates then stay 0.
    ///
    /// Subspace iteration on two vectors at once converges at the rate λ₃/λ₂ whatever the gap
    /// between λ₁ and λ₂ (two equal leading eigenvalues would stall a one-vector power
    /// iteration); a final 2×2 Rayleigh–Ritz step orders the pair.
    static func topTwoEigenpairs(_ a: [Double], m: Int, maxIterations: Int) -> (vectors: [[Double]], values: [Double]) {
        guard m > 0 else { return ([], []) }
        var scale = 0.0
        for i in 0..<m { scale = max(scale, a[i * m + i]) }
        guard scale > 0, scale.isFinite else { return ([], []) }
        let width = min(2, m)

        func multiply(_ v: [Double]) -> [Double] {
            var out = [Double](repeating: 0, count: m)
            for i in 0..<m {
                var s = 0.0
                for j in 0..<m { s += a[i * m + j] * v[j] }
                out[i] = s
            }
            return out
        }
        func dot(_ u: [Double], _ v: [Double]) -> Double {
            var s = 0.0
            for i in 0..<u.count { s += u[i] * v[i] }
            return s
        }
        /// Gram–Schmidt; a vector that collapses is replaced by a fixed direction orthogonal to
        /// the ones before, so the block keeps its width.
        func orthonormalize(_ block: inout [[Double]]) {
            for i in 0..<block.count {
                let before = dot(block[i], block[i]).squareRoot()
                for _ in 0..<2 {  // twice, for orthogonality to rounding level
                    for p in 0..<i {
                        let c = dot(block[i], block[p])
                        for t in 0..<m { block[i][t] -= c * block[p][t] }
                    }
                }
                var norm = dot(block[i], block[i]).squareRoot()
                // What is left of a vector that lay (almost) in the span of the others is
                // rounding noise with no direction of its own: normalising it would give a
                // vector that is not orthogonal at all.
                if !(norm > 1e-10 * before) || norm < 1e-300 {
                    // The axis least in the span of the others; with i < m one keeps a norm of
                    // at least 1/√m.
                    var best = block[i]
                    norm = 0
                    for axis in 0..<m {
                        var candidate = (0..<m).map { $0 == axis ? 1.0 : 0.0 }
                        for p in 0..<i {
                            let c = dot(candidate, block[p])
                            for t in 0..<m { candidate[t] -= c * block[p][t] }
                        }
                        let size = dot(candidate, candidate).squareRoot()
                        if size > norm { (best, norm) = (candidate, size) }
                    }
                    block[i] = best
                }
                for t in 0..<m { block[i][t] /= norm }
            }
        }

        // A fixed pseudo-random start: the all-ones vector would lie in the null space of a
        // centred Gram matrix, and any fixed pattern keeps the result reproducible.
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        var block = (0..<width).map { _ in
            (0..<m).map { _ -> Double in
                seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                return Double(seed >> 11) / Double(1 << 53) - 0.5
            }
        }
        orthonormalize(&block)
        for _ in 0..<maxIterations {
            var next = block.map(multiply)
            // Converged when A V stays in the span of V: the residual of projecting it back.
            var residual = 0.0, size = 0.0
            for i in 0..<width {
                var r = next[i]
                for p in 0..<width {
                    let c = dot(next[i], block[p])
                    for t in 0..<m { r[t] -= c * block[p][t] }
                }
                residual += dot(r, r)
                size += dot(next[i], next[i])
            }
            orthonormalize(&next)
            block = next
            if residual <= 1e-24 * size { break }
        }

        // Rayleigh–Ritz in the span: H = Vᵀ A V, 2×2 symmetric, solved in closed form.
        let av = block.map(multiply)
        var values: [Double]
        var vectors: [[Double]]
        if width == 1 {
            values = [dot(block[0], av[0])]
            vectors = block
        } else {
            let h00 = dot(block[0], av[0]), h11 = dot(block[1], av[1]), h01 = dot(block[0], av[1])
            let half = (h00 - h11) / 2
            let root = (half * half + h01 * h01).squareRoot()
            let mid = (h00 + h11) / 2
            let (l1, l2) = (mid + root, mid - root)
            // The eigenvector of H for l1 is (cos θ, sin θ) with tan 2θ = 2 h01 / (h00 − h11).
            let theta = 0.5 * atan2(2 * h01, h00 - h11)
            let (c, s) = (cos(theta), sin(theta))
            let first = (0..<m).map { c * block[0][$0] + s * block[1][$0] }
            let second = (0..<m).map { -s * block[0][$0] + c * block[1][$0] }
            values = [l1, l2]
            vectors = [first, second]
        }
        // Directions with no spread beyond rounding stay out: their scores would be noise.
        let floor = scale * Double(m) * 1e-12
        var kept = 0
        while kept < values.count && values[kept] > floor { kept += 1 }
        return (Array(vectors.prefix(kept)), Array(values.prefix(kept)).map { max(0, $0) })
    }
}

/// Entmax-1.5 over many rows, four at a time.
///
/// One row of entmax is a short chain of dependent steps (minimum, candidates, sort, prefix
/// moments, square root, weights), so a row at a time leaves the core waiting on latencies and
/// mispredicted branches. Rows with at most four candidates (the usual case once the temperature
/// is below the gaps between centers) are done four at a time, one row per SIMD lane: the
/// candidates of a row go into four slots, ranks come from comparing slots instead of sorting
/// them, and every prefix moment, threshold and weight is one vector operation for the four
/// rows, with no branch that depends on the data. Any other row goes through the one-row kernel,
/// which gives the same answer up to rounding.
extension ResponsibilityKernel {
    /// Entmax-1.5 for `rows` rows of `k` distances, the way the updater runs it: each row's
    /// minimum, then its sparse responsibilities into `k` slots per row.
    ///
    /// - Parameters:
    ///   - d: `rows × k` squared distances, row after row.
    ///   - temperature: `T > 0`.
    ///   - indices, weights: out, `k` slots per row; row `i`'s support is written in decreasing
    ///     weight order from `i·k`, so `indices[i·k]` is its nearest center (lowest index on
    ///     ties). Slots past the support may be overwritten.
    ///   - supports: out, one support size per row.
    ///   - scratch: room for `2k` doubles.
    /// - Returns: the total support size.
    @discardableResult
    public static func entmax15(
        rows d: UnsafePointer<Float>, count rows: Int, k: Int, temperature: Double,
        indices: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>,
        supports: UnsafeMutablePointer<Int32>, scratch: UnsafeMutablePointer<Double>
    ) -> Int {
        var total = 0
        var i = 0
        let twoT = 2 * temperature
        let inverseTwoT = 1 / twoT
        // Four slots need k ≥ 4; a subnormal 2T has no finite inverse, which the one-row
        // kernel handles with a division.
        if k >= 4 && twoT > 0 && inverseTwoT.isFinite {
            while i &+ 4 <= rows {
                let group = fourRows(d + i &* k, k: k, twoT: twoT, inverseTwoT: inverseTwoT,
                                     indices: indices + i &* k, weights: weights + i &* k, supports: supports + i)
                total &+= group.support
                var left = group.handedBack
                while left != 0 {
                    total &+= oneRow(d, i &+ left.trailingZeroBitCount, k: k, temperature: temperature,
                                     indices: indices, weights: weights, supports: supports, scratch: scratch)
                    left &= left &- 1
                }
                i &+= 4
            }
        }
        while i < rows {
            total &+= oneRow(d, i, k: k, temperature: temperature, indices: indices, weights: weights,
                             supports: supports, scratch: scratch)
            i &+= 1
        }
        return total
    }

    @inline(__always)
    static func oneRow(
        _ d: UnsafePointer<Float>, _ i: Int, k: Int, temperature: Double,
        indices: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>,
        supports: UnsafeMutablePointer<Int32>, scratch: UnsafeMutablePointer<Double>
    ) -> Int {
        let row = d + i &* k
        let s = entmax15(row, count: k, dMin: minimum(row, count: k), temperature: temperature,
                         indices: indices + i &* k, weights: weights + i &* k, scratch: scratch)
        supports[i] = Int32(truncatingIfNeeded: s)
        return s
    }

    /// Four rows at once, one per SIMD lane, for the rows with at most four candidates.
    ///
    /// - Returns: the total support of the rows done, and a bit for each row handed back to the
    ///   one-row kernel: more than four candidates, no finite minimum, or a negligible weight
    ///   inside the support (which only the one-row kernel leaves out). A handed-back row's
    ///   slots and support may hold anything. When three or more rows would
    ///   be handed back (a hot temperature), all four are, before any vector work.
    @inline(never)
    static func fourRows(
        _ d: UnsafePointer<Float>, k: Int, twoT: Double, inverseTwoT: Double,
        indices: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>,
        supports: UnsafeMutablePointer<Int32>
    ) -> (support: Int, handedBack: UInt8) {
        let row0 = d, row1 = d + k, row2 = d + 2 &* k, row3 = d + 3 &* k
        let sa, sb, sc, se: (u: SIMD4<Double>, centers: SIMD4<Int32>)
        // Rows the path cannot take still fill their lanes (with whatever their first four
        // candidates give, so no branch depends on them) and are handed back at the end.
        let unfit: SIMDMask<SIMD4<Int64>>
        if k <= 64 {
            let a = candidates(row0, k: k, twoT: twoT)
            let b = candidates(row1, k: k, twoT: twoT)
            let c = candidates(row2, k: k, twoT: twoT)
            let e = candidates(row3, k: k, twoT: twoT)
            let misses = SIMD4<Int64>(a.fits ? 0 : 1, b.fits ? 0 : 1, c.fits ? 0 : 1, e.fits ? 0 : 1)
            guard misses.wrappedSum() <= 2 else { return (0, 0b1111) }
            unfit = misses .!= 0
            sa = slots(row0, mask: a.mask, floor: a.floor, twoT: twoT, inverseTwoT: inverseTwoT)
            sb = slots(row1, mask: b.mask, floor: b.floor, twoT: twoT, inverseTwoT: inverseTwoT)
            sc = slots(row2, mask: c.mask, floor: c.floor, twoT: twoT, inverseTwoT: inverseTwoT)
            se = slots(row3, mask: e.mask, floor: e.floor, twoT: twoT, inverseTwoT: inverseTwoT)
        } else {
            let a = wideSlots(row0, k: k, twoT: twoT, inverseTwoT: inverseTwoT)
            let b = wideSlots(row1, k: k, twoT: twoT, inverseTwoT: inverseTwoT)
            let c = wideSlots(row2, k: k, twoT: twoT, inverseTwoT: inverseTwoT)
            let e = wideSlots(row3, k: k, twoT: twoT, inverseTwoT: inverseTwoT)
            let misses = SIMD4<Int64>(a == nil ? 1 : 0, b == nil ? 1 : 0, c == nil ? 1 : 0, e == nil ? 1 : 0)
            guard misses.wrappedSum() <= 2 else { return (0, 0b1111) }
            unfit = misses .!= 0
            let empty = (u: SIMD4<Double>(repeating: -4), centers: SIMD4<Int32>())
            (sa, sb, sc, se) = (a ?? empty, b ?? empty, c ?? empty, e ?? empty)
        }
        // Transposed: vector `uN` holds slot N of the four rows.
        let u0 = SIMD4(sa.u[0], sb.u[0], sc.u[0], se.u[0])
        let u1 = SIMD4(sa.u[1], sb.u[1], sc.u[1], se.u[1])
        let u2 = SIMD4(sa.u[2], sb.u[2], sc.u[2], se.u[2])
        let u3 = SIMD4(sa.u[3], sb.u[3], sc.u[3], se.u[3])
        let centers = (SIMD4(sa.centers[0], sb.centers[0], sc.centers[0], se.centers[0]),
                       SIMD4(sa.centers[1], sb.centers[1], sc.centers[1], se.centers[1]),
                       SIMD4(sa.centers[2], sb.centers[2], sc.centers[2], se.centers[2]),
                       SIMD4(sa.centers[3], sb.centers[3], sc.centers[3], se.centers[3]))
        let p0 = prefix(u0, u1, u2, u3, lowerSlots: 0)
        let p1 = prefix(u1, u0, u2, u3, lowerSlots: 1)
        let p2 = prefix(u2, u0, u1, u3, lowerSlots: 2)
        let p3 = prefix(u3, u0, u1, u2, lowerSlots: 3)
        let t0 = threshold(u0, p0), t1 = threshold(u1, p1), t2 = threshold(u2, p2), t3 = threshold(u3, p3)
        // The support ends before the first rank whose threshold fails, as in the one-row loop.
        let m01 = t0.failure.replacing(with: t1.failure, where: t1.failure .< t0.failure)
        let m23 = t2.failure.replacing(with: t3.failure, where: t3.failure .< t2.failure)
        let support = m01.replacing(with: m23, where: m23 .< m01) - 1
        let zero = SIMD4<Double>()
        let tau = zero.replacing(with: t0.tau, where: p0.rho .== support)
            + zero.replacing(with: t1.tau, where: p1.rho .== support)
            + zero.replacing(with: t2.tau, where: p2.rho .== support)
            + zero.replacing(with: t3.tau, where: p3.rho .== support)
        let in0 = p0.rho .<= support, in1 = p1.rho .<= support
        let in2 = p2.rho .<= support, in3 = p3.rho .<= support
        let e0 = u0 - tau, e1 = u1 - tau, e2 = u2 - tau, e3 = u3 - tau
        let w0 = zero.replacing(with: e0 * e0, where: in0)
        let w1 = zero.replacing(with: e1 * e1, where: in1)
        let w2 = zero.replacing(with: e2 * e2, where: in2)
        let w3 = zero.replacing(with: e3 * e3, where: in3)
        let sum = (w0 + w1) + (w2 + w3)
        // A negligible weight inside the support (a tie at the threshold): the one-row kernel
        // leaves it out.
        let cutoff = SIMD4<Double>(repeating: negligibleWeight)
        let vanished = (in0 .& (w0 .<= cutoff)) .| (in1 .& (w1 .<= cutoff)) .| (in2 .& (w2 .<= cutoff))
            .| (in3 .& (w3 .<= cutoff)) .| .!(sum .> zero) .| unfit
        let scale = 1 / sum
        let ranks = (p0.rank, p1.rank, p2.rank, p3.rank)
        let scaled = (w0 * scale, w1 * scale, w2 * scale, w3 * scale)
        emit(0, ranks: ranks, centers: centers, scaled: scaled, indices: indices, weights: weights)
        emit(1, ranks: ranks, centers: centers, scaled: scaled, indices: indices + k, weights: weights + k)
        emit(2, ranks: ranks, centers: centers, scaled: scaled, indices: indices + 2 &* k, weights: weights + 2 &* k)
        emit(3, ranks: ranks, centers: centers, scaled: scaled, indices: indices + 3 &* k, weights: weights + 3 &* k)
        let none = SIMD4<Int64>(), unit = SIMD4<Int64>(repeating: 1)
        let count = (none.replacing(with: unit, where: in0) &+ none.replacing(with: unit, where: in1)
            &+ none.replacing(with: unit, where: in2) &+ none.replacing(with: unit, where: in3))
            .replacing(with: 0, where: vanished)
        supports[0] = Int32(truncatingIfNeeded: count[0])
        supports[1] = Int32(truncatingIfNeeded: count[1])
        supports[2] = Int32(truncatingIfNeeded: count[2])
        supports[3] = Int32(truncatingIfNeeded: count[3])
        let handedBack = (vanished[0] ? 1 : 0) | (vanished[1] ? 2 : 0) | (vanished[2] ? 4 : 0) | (vanished[3] ? 8 : 0)
        return (Int(count.wrappedSum()), UInt8(handedBack))
    }

    /// A row's minimum, the mask of the centers that may lie within 2T of it, and whether the
    /// four-row path can take it (at most four candidates, a finite minimum).
    @inline(always)
    static func candidates(_ row: UnsafePointer<Float>, k: Int, twoT: Double) -> (floor: Double, mask: UInt64, fits: Bool) {
        let floor = Double(minimum(row, count: k))
        let mask = candidateMask(row, count: k, limit: Float(floor + twoT).nextUp)
        return (floor, mask, mask.nonzeroBitCount <= 4 && floor.isFinite)
    }

    /// Up to four candidates of one row, in index order, as `u = −δ / 2T ∈ (−1, 0]`; empty
    /// slots and candidates the exact test rejects hold `−4`, which ranks last and never passes.
    @inline(always)
    static func slots(
        _ row: UnsafePointer<Float>, mask: UInt64, floor: Double, twoT: Double, inverseTwoT: Double
    ) -> (u: SIMD4<Double>, centers: SIMD4<Int32>) {
        var m = mask
        var u = SIMD4<Double>(repeating: -4)
        var c = SIMD4<Int32>()
        for slot in 0..<4 {
            // Always four steps, so the loop's branches do not depend on the data.
            let present = m != 0
            let j = present ? m.trailingZeroBitCount : 0
            m &= m &- 1
            let delta = Double(row[j]) - floor
            u[slot] = present && delta < twoT ? -delta * inverseTwoT : -4
            c[slot] = Int32(truncatingIfNeeded: j)
        }
        return (u, c)
    }

    /// ``candidates`` and ``slots`` for a row of more than 64 centers, one block of 64 at a time;
    /// nil when the row has more than four candidates or no finite minimum.
    @inline(always)
    static func wideSlots(
        _ row: UnsafePointer<Float>, k: Int, twoT: Double, inverseTwoT: Double
    ) -> (u: SIMD4<Double>, centers: SIMD4<Int32>)? {
        let floor = Double(minimum(row, count: k))
        guard floor.isFinite else { return nil }
        let limit = Float(floor + twoT).nextUp
        var u = SIMD4<Double>(repeating: -4)
        var c = SIMD4<Int32>()
        var found = 0
        var block = 0
        while block < k {
            var m = candidateMask(row + block, count: Swift.min(64, k &- block), limit: limit)
            if m != 0 {
                guard found &+ m.nonzeroBitCount <= 4 else { return nil }
                repeat {
                    let j = block &+ m.trailingZeroBitCount
                    m &= m &- 1
                    let delta = Double(row[j]) - floor
                    u[found] = delta < twoT ? -delta * inverseTwoT : -4
                    c[found] = Int32(truncatingIfNeeded: j)
                    found &+= 1
                } while m != 0
            }
            block &+= 64
        }
        return (u, c)
    }

    /// Where slot `u` falls in its row's descending order and the moments of the slots up to it.
    ///
    /// `x, y, z` are the row's other slots in slot order; the first `lowerSlots` of them hold
    /// lower center indices and so come first on ties (the stable order of the one-row sort).
    @inline(always)
    static func prefix(
        _ u: SIMD4<Double>, _ x: SIMD4<Double>, _ y: SIMD4<Double>, _ z: SIMD4<Double>, lowerSlots: Int
    ) -> (rank: SIMD4<Int64>, rho: SIMD4<Double>, sum: SIMD4<Double>, sumSquares: SIMD4<Double>) {
        let one = SIMD4<Double>(repeating: 1), zero = SIMD4<Double>()
        let bx = (x .> u) .| ((x .== u) .& (lowerSlots > 0))
        let by = (y .> u) .| ((y .== u) .& (lowerSlots > 1))
        let bz = (z .> u) .| ((z .== u) .& (lowerSlots > 2))
        let none = SIMD4<Int64>(), unit = SIMD4<Int64>(repeating: 1)
        let rank = none.replacing(with: unit, where: bx) &+ none.replacing(with: unit, where: by)
            &+ none.replacing(with: unit, where: bz)
        let rho = one + zero.replacing(with: one, where: bx) + zero.replacing(with: one, where: by)
            + zero.replacing(with: one, where: bz)
        let sum = u + zero.replacing(with: x, where: bx) + zero.replacing(with: y, where: by)
            + zero.replacing(with: z, where: bz)
        let sumSquares = u * u + zero.replacing(with: x * x, where: bx) + zero.replacing(with: y * y, where: by)
            + zero.replacing(with: z * z, where: bz)
        return (rank, rho, sum, sumSquares)
    }

    /// The threshold `τ_ρ` of the slots up to this one (the one-row kernel's formula), and `ρ`
    /// where the support condition `τ_ρ ≤ u` fails or the slot is empty (5 where it holds).
    @inline(always)
    static func threshold(
        _ u: SIMD4<Double>, _ p: (rank: SIMD4<Int64>, rho: SIMD4<Double>, sum: SIMD4<Double>, sumSquares: SIMD4<Double>)
    ) -> (tau: SIMD4<Double>, failure: SIMD4<Double>) {
        let one = SIMD4<Double>(repeating: 1)
        let inverseRho = one / p.rho
        let mean = p.sum * inverseRho
        let spread = p.sumSquares - p.sum * mean
        let radicand = ((one - spread) * inverseRho).replacing(with: 0, where: spread .> one)
        let root = SIMD4(radicand[0].squareRoot(), radicand[1].squareRoot(),
                         radicand[2].squareRoot(), radicand[3].squareRoot())
        let tau = mean - root
        let holds = (tau .<= u) .& (u .> SIMD4<Double>(repeating: -2))
        return (tau, SIMD4<Double>(repeating: 5).replacing(with: p.rho, where: .!holds))
    }

    /// Writes lane `r`'s four slots at their ranks; slots past the support land past it.
    @inline(always)
    static func emit(
        _ r: Int, ranks: (SIMD4<Int64>, SIMD4<Int64>, SIMD4<Int64>, SIMD4<Int64>),
        centers: (SIMD4<Int32>, SIMD4<Int32>, SIMD4<Int32>, SIMD4<Int32>),
        scaled: (SIMD4<Double>, SIMD4<Double>, SIMD4<Double>, SIMD4<Double>),
        indices: UnsafeMutablePointer<Int32>, weights: UnsafeMutablePointer<Float>
    ) {
        let p0 = Int(ranks.0[r]), p1 = Int(ranks.1[r]), p2 = Int(ranks.2[r]), p3 = Int(ranks.3[r])
        indices[p0] = centers.0[r]; weights[p0] = Float(scaled.0[r])
        indices[p1] = centers.1[r]; weights[p1] = Float(scaled.1[r])
        indices[p2] = centers.2[r]; weights[p2] = Float(scaled.2[r])
        indices[p3] = centers.3[r]; weights[p3] = Float(scaled.3[r])
    }
}

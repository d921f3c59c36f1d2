import RealModule

/// Squared Euclidean distances between rows and centers.
///
/// The direct form `Σ (x − c)²` is used rather than `‖x‖² − 2x·c + ‖c‖²`: the expanded form
/// cancels catastrophically when the data sit far from the origin (coordinates near 1000 with a
/// spread of 1 lose every significant digit in float32), and entmax decides supports from small
/// differences of distances. Four centers are processed per pass over a row so each loaded
/// coordinate of `x` is used four times; `Relaxed.multiplyAdd` lets the compiler vectorize the
/// reductions and fuse the multiply-adds.
public enum DistanceKernel {
    /// Writes `out[i·k + j] = ‖x_i − c_j‖²` for `rows` rows of `x` (row-major, `dimension` wide).
    ///
    /// - Complexity: O(rows · k · dimension).

    public static func squaredDistances(
        rows x: UnsafePointer<Float>, count rows: Int,
        centers c: UnsafePointer<Float>, k: Int, dimension d: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        for i in 0..<rows {
            let xi = x + i &* d
            let oi = out + i &* k
            var j = 0
            while j &+ 4 <= k {
                let c0 = c + j &* d
                let c1 = c0 + d
                let c2 = c1 + d
                let c3 = c2 + d
                var a0: Float = 0
                var a1: Float = 0
                var a2: Float = 0
                var a3: Float = 0
                for t in 0..<d {
                    let v = xi[t]
                    let e0 = v - c0[t]
                    let e1 = v - c1[t]
                    let e2 = v - c2[t]
                    let e3 = v - c3[t]
                    a0 = Relaxed.multiplyAdd(e0, e0, a0)
                    a1 = Relaxed.multiplyAdd(e1, e1, a1)
                    a2 = Relaxed.multiplyAdd(e2, e2, a2)
                    a3 = Relaxed.multiplyAdd(e3, e3, a3)
                }
                oi[j] = a0
                oi[j &+ 1] = a1
                oi[j &+ 2] = a2
                oi[j &+ 3] = a3
                j &+= 4
            }
            while j < k {
                oi[j] = squaredDistance(xi, c + j &* d, dimension: d)
                j &+= 1
            }
        }
    }

    /// `‖a − b‖²` for two `dimension`-wide vectors.

    public static func squaredDistance(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, dimension d: Int) -> Float {
        var acc: Float = 0
        for t in 0..<d {
            let e = a[t] - b[t]
            acc = Relaxed.multiplyAdd(e, e, acc)
        }
        return acc
    }
}

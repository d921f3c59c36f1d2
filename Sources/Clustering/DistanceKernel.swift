import CKernelShims
import RealModule

/// Squared Euclidean distances between rows and centers.
///
/// The direct form `Σ (x − c)²` is used rather than `‖x‖² − 2x·c + ‖c‖²`: the expanded form
/// cancels catastrophically when the data sit far from the origin (coordinates near 1000 with a
/// spread of 1 lose every significant digit in float32), and entmax decides supports from small
/// differences of distances. Four centers are processed per pass over a row so each loaded
/// coordinate of `x` is used four times; reassociation lets the compiler vectorize the reductions
/// and fuse the multiply-adds (see `CKernels.c`).
public enum DistanceKernel {
    /// Writes `out[i·k + j] = ‖x_i − c_j‖²` for `rows` rows of `x` (row-major, `dimension` wide).
    ///
    /// - Complexity: O(rows · k · dimension).

    public static func squaredDistances(
        rows x: UnsafePointer<Float>, count rows: Int,
        centers c: UnsafePointer<Float>, k: Int, dimension d: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        // In C, compiled for the baseline and for AVX2 + FMA, picked at run time.
        voronoid_squared_distances(x, rows, c, k, d, out)
    }

    /// Whether distances at this shape are better computed through the matrix product (the
    /// expansion, screened where exactness matters) than by the direct form. Measured
    /// (`voronoid bench core --distances direct|screened`, OpenBLAS's AVX-512 kernels, one
    /// thread): the product wins from d 128 (d 128, k 256, hard: 2.5×; d 784, k 10: 1.6×;
    /// d 768, k 1024: 6×) and loses below (d 64, k 64: direct 1.3×).
    public static func prefersMatrixProduct(k: Int, dimension d: Int) -> Bool {
        d >= 128
    }

    /// Whether this processor can multiply the screen's matrix product in bfloat16 (AVX-512 BF16).
    public static let bfloat16Available = voronoid_bfloat16_available() != 0

    /// `out[i·k + j]` = the inner product of row `i` and center `j`, each rounded to bfloat16
    /// (to nearest, ties to even), the products summed in float32: the screen's matrix product
    /// on its own, for tests and measurements (it allocates its packed copies; the updater keeps
    /// its own). Only where ``bfloat16Available``.
    public static func bfloat16InnerProducts(
        rows x: UnsafePointer<Float>, count n: Int, centers c: UnsafePointer<Float>, k: Int, dimension d: Int,
        into out: UnsafeMutablePointer<Float>
    ) {
        precondition(bfloat16Available, "bfloat16InnerProducts: the processor lacks AVX-512 BF16")
        let stride = (d + 1) & ~1
        let rows = [UInt16](unsafeUninitializedCapacity: max(1, n * stride)) { b, count in
            let norms = UnsafeMutablePointer<Float>.allocate(capacity: max(1, n))
            defer { norms.deallocate() }
            voronoid_bfloat16_rows(x, n, d, nil, b.baseAddress!, norms)
            count = max(1, n * stride)
        }
        var packed = [UInt16](repeating: 0, count: (k + 31) / 32 * 32 * stride)
        packed.withUnsafeMutableBufferPointer { voronoid_bfloat16_pack_centers(c, 0, k, k, d, $0.baseAddress!) }
        voronoid_bfloat16_products_into(rows, n, packed, k, d, out)
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

extension UpdateConfiguration.DistanceMethod {
    /// Whether distances at this shape go through the matrix product: `.automatic` where
    /// ``DistanceKernel/prefersMatrixProduct(k:dimension:)`` says so, `.screened` always,
    /// `.direct` never.
    public func usesMatrixProduct(k: Int, dimension d: Int) -> Bool {
        switch self {
        case .automatic: DistanceKernel.prefersMatrixProduct(k: k, dimension: d)
        case .direct: false
        case .screened: true
        }
    }
}

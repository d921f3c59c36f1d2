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

/// The screen's matrix product in bfloat16 on its own, for tests and measurements: inner
/// products of rows and centers each rounded to bfloat16 (to nearest, ties to even; below
/// float32's normal range to zero), the products summed in float32. The updater runs the same
/// kernels on buffers of its own. Only where ``DistanceKernel/bfloat16Available``.
public final class BFloat16Product {
    /// Centers, their dimension, and the most rows one call takes.
    public let k: Int, dimension: Int, rowCapacity: Int
    private let packedRows: UnsafeMutablePointer<UInt16>
    private let packedCenters: UnsafeMutablePointer<UInt16>
    private let norms: UnsafeMutablePointer<Float>

    /// Buffers for `k` centers and up to `rowCapacity` rows of `dimension`; the centers start zero.
    public init(k: Int, dimension d: Int, rowCapacity: Int) {
        precondition(DistanceKernel.bfloat16Available, "BFloat16Product: the processor lacks AVX-512 BF16")
        precondition(k >= 1 && d >= 1 && rowCapacity >= 1, "BFloat16Product: k, dimension and rowCapacity must be ≥ 1")
        (self.k, dimension, self.rowCapacity) = (k, d, rowCapacity)
        packedRows = LargeBuffer.allocate(UInt16.self, capacity: rowCapacity * Self.rowStride(dimension: d))
        let count = Self.packedCount(k: k, dimension: d)
        packedCenters = LargeBuffer.allocate(UInt16.self, capacity: count)
        packedCenters.initialize(repeating: 0, count: count)
        norms = .allocate(capacity: rowCapacity)
    }

    /// Values a bfloat16 row takes: `d` rounded up to even (the kernel multiplies in pairs).
    static func rowStride(dimension d: Int) -> Int { (d + 1) & ~1 }

    /// Values `k` packed centers take: whole panels of 32 centers, each pair-padded.
    static func packedCount(k: Int, dimension d: Int) -> Int { (k + 31) / 32 * 32 * rowStride(dimension: d) }

    deinit {
        packedRows.deallocate()
        packedCenters.deallocate()
        norms.deallocate()
    }

    /// Rounds and packs the `k` centers (row-major, `dimension` wide).
    public func setCenters(_ centers: UnsafePointer<Float>) {
        voronoid_bfloat16_pack_centers(centers, nil, 0, k, k, dimension, packedCenters, nil)
    }

    /// `out[i·k + j]` = the inner product of row `i` of `rows` and center `j`, for `count` rows.
    public func products(rows: UnsafePointer<Float>, count: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(count <= rowCapacity, "BFloat16Product: \(count) rows exceed the capacity \(rowCapacity)")
        voronoid_bfloat16_rows(rows, count, dimension, nil, packedRows, norms)
        voronoid_bfloat16_products_into(packedRows, count, packedCenters, k, dimension, out)
    }
}

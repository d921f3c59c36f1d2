import CKernelShims
import COpenBLAS

/// Squared distances from rows to centers, a block of rows at a time, by the direct form or
/// through a matrix product of centered rows and centers (the expansion `‖x‖² + ‖c‖² − 2x·c`,
/// whose rounding only matters for near ties): for the seeding's statistics and refinement,
/// which run once per model and may resolve a near tie either way. Allocates its scratch once.
struct BlockDistances {
    let count: Int
    let d: Int
    let k: Int
    let products: Bool
    let block: Int
    var distances: [Float]
    var centeredRows: [Float]
    var rowNorms: [Float]
    var centeredCenters: [Float]
    var centerNorms: [Float]
    var mean: [Float]

    init(count: Int, dimension d: Int, k: Int, products: Bool) {
        self.count = count
        self.d = d
        self.k = k
        self.products = products
        // About 4 MiB of distances per block.
        block = max(1, min(count, (1 << 20) / k))
        distances = LargeBuffer.array(repeating: 0, count: block * k)
        centeredRows = products ? LargeBuffer.array(repeating: 0, count: block * d) : []
        rowNorms = products ? [Float](repeating: 0, count: block) : []
        centeredCenters = products ? LargeBuffer.array(repeating: 0, count: k * d) : []
        centerNorms = products ? [Float](repeating: 0, count: k) : []
        mean = [Float](repeating: 0, count: d)
        // Parallel callers run one block's product per thread (as ``MiniBatchUpdater`` has it).
        if products { useOneBLASThread() }
    }

    /// Calls `body(first row, rows, distances)` for each block of the `count` rows at `x` (or of
    /// `rows` rows: the scratch is per block, so any number will do), the distances `rows × k`,
    /// row after row.
    mutating func forEachBlock(
        rows x: UnsafePointer<Float>, count rowCount: Int? = nil, centers: [Float],
        _ body: (Int, Int, UnsafePointer<Float>) -> Void
    ) {
        let count = rowCount ?? self.count
        if products {
            // Centered on the centers' mean: the expansion then loses digits only on the
            // scale of the data's spread, not of its offset from the origin.
            for t in 0..<d { mean[t] = 0 }
            for j in 0..<k { centers.withUnsafeBufferPointer { voronoid_add_scaled(&mean, $0.baseAddress! + j * d, 1 / Float(k), d) } }
            voronoid_center_rows(centers, k, d, mean, &centeredCenters, &centerNorms)
        }
        var lo = 0
        while lo < count {
            let n = min(block, count - lo)
            if products {
                voronoid_center_rows(x + lo * d, n, d, mean, &centeredRows, &rowNorms)
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(k), Int32(d),
                            -2, centeredRows, Int32(d), centeredCenters, Int32(d), 0, &distances, Int32(k))
                voronoid_expand_rows(&distances, n, k, rowNorms, centerNorms)
            } else {
                centers.withUnsafeBufferPointer { c in
                    DistanceKernel.squaredDistances(rows: x + lo * d, count: n, centers: c.baseAddress!, k: k, dimension: d,
                                                    into: &distances)
                }
            }
            distances.withUnsafeBufferPointer { body(lo, n, $0.baseAddress!) }
            lo += n
        }
    }
}

/// ``BlockDistances`` over rows cut into one range per part of a loop (at least 256 rows a
/// range), each range with its own blocks, kept between calls.
struct RangedBlockDistances<Loop: ParallelLoop> {
    let count: Int
    let d: Int
    let loop: Loop
    private var parts: [BlockDistances]

    init(count: Int, dimension d: Int, k: Int, products: Bool, loop: Loop) {
        self.count = count
        self.d = d
        self.loop = loop
        let n = max(1, min(loop.width, count / 256))
        parts = (0..<n).map { p in
            BlockDistances(count: (p + 1) * count / n - p * count / n, dimension: d, k: k, products: products)
        }
    }

    /// Calls `body(row, distances)` once for each of the `count` rows at `x` (or of `rows` rows),
    /// with its `k` distances. Rows of different ranges are visited on their parts' threads at
    /// once, so `body` writes only what belongs to its row.
    mutating func forEachRow(
        rows x: UnsafePointer<Float>, count rowCount: Int? = nil, centers: [Float], _ body: (Int, UnsafePointer<Float>) -> Void
    ) {
        let count = rowCount ?? self.count
        let (d, n, loop) = (self.d, max(1, min(parts.count, count / 256)), self.loop)
        parts.withUnsafeMutableBufferPointer { pBuf in
            let blocks = pBuf.baseAddress!
            loop.run(n) { p in
                let lo = p * count / n
                let k = blocks[p].k
                blocks[p].forEachBlock(rows: x + lo * d, count: (p + 1) * count / n - lo, centers: centers) { first, rows, distances in
                    for i in 0..<rows { body(lo + first + i, distances + i * k) }
                }
            }
        }
    }
}

import CAllocationCounter
import Clustering
import Testing

/// Steady-state batches allocate nothing: scratch buffers are sized once and reused.
@Suite struct AllocationTests {
    @Test(arguments: ResponsibilityMode.allCases)
    func steadyStateBatchesAllocateNothing(mode: ResponsibilityMode) {
        let blobs = TestBlobs(k: 8, d: 16, perCluster: 512, spread: 1, side: 30, seed: 1)
        var state = blobs.rows.withUnsafeBufferPointer {
            ModelState.seeded(warmup: $0, count: 1024, dimension: 16, k: 8, seed: 3)
        }
        let updater = MiniBatchUpdater(configuration: UpdateConfiguration(mode: mode, separationInterval: 1))
        let n = blobs.rows.count / 16
        var allocations = -1
        blobs.rows.withUnsafeBufferPointer { rows in
            func batch(_ b: Int) {
                let start = (b * 256) % (n - 256)
                updater.update(&state, rows: UnsafeBufferPointer(rebasing: rows[(start * 16)..<((start + 256) * 16)]), count: 256)
            }
            for b in 0..<4 { batch(b) }            // warm-up: buffers are sized here
            voronoid_allocations_start()
            for b in 4..<104 { batch(b) }
            allocations = voronoid_allocations_stop()
        }
        #expect(allocations == 0, "\(allocations) allocations in 100 steady-state \(mode) batches")
        #expect(state.batches == 104)
    }

    @Test func theCounterSeesAllocations() {
        voronoid_allocations_start()
        let array = [Int](repeating: 7, count: 1000)
        let n = voronoid_allocations_stop()
        #expect(array.count == 1000)
        #expect(n >= 1)
    }
}

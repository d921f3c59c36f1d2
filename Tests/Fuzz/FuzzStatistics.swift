// libFuzzer target: what reaches a coordinator's statistics socket and a worker's model socket.
// Each frame goes to a `StatisticsMerger` over a fixed 2 × 3 model (model epoch 1), as the
// coordinator's clustering thread hands it over, and to the acknowledgements decoder a worker
// applies to a model message's second frame.
//
// Input: one options byte, then frames, each a 2-byte little-endian length and that many bytes
// (the layout of the wire targets). Options bit 0: apply what is pending after every frame (else
// only at the end); bits 1-2: the staleness bound (0-3).
//
// Invariants: nothing traps; every frame has exactly one outcome, counted once (merged epochs,
// drops by reason and refusals add up to the frames seen); the model's centers and counts stay
// finite whatever was merged; its version grows by one per step applied; an acknowledgement
// decoded from any bytes is only ever found for a worker the frame lists.

import Clustering

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzStatistics(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let options = data[0]
    let schedule = TemperatureSchedule(kind: .exponential, initial: 1, floor: 0.01, halfLife: 1000)
    let start = ModelState(centers: [0, 0, 0, 4, 4, 4], k: 2, dimension: 3, schedule: schedule,
                           random: RandomSource(seed: 1), epoch: 1)
    var update = UpdateConfiguration(countHalfLife: 1000, deadCenterFraction: 0, separationInterval: 2)
    update.drift = DriftParameters(tolerance: 0.1, sigmas: 12)
    let merger = StatisticsMerger(model: start, updater: MiniBatchUpdater(configuration: update),
                                  maxStaleness: Int((options >> 1) & 3))
    var frames = 0, pendingOutcomes = 0, steps: UInt64 = 0
    var offset = 1
    while offset + 2 <= size {
        let length = Int(data[offset]) | Int(data[offset + 1]) << 8
        offset += 2
        let end = min(size, offset + length)
        let frame = UnsafeRawBufferPointer(start: data + offset, count: end - offset)
        offset = end
        frames += 1
        if merger.receive(frame) == .pending { pendingOutcomes += 1 }
        if let position = try? ModelMessage.acknowledgement(for: 1, in: frame) {
            invariant(frame.count >= 8 + 24, "an acknowledgement found in a frame that lists no worker")
            _ = position
        }
        if options & 1 != 0, merger.applyPending() != nil { steps += 1 }
    }
    if merger.applyPending() != nil { steps += 1 }
    let c = merger.counters
    let dropped = c.duplicatesDropped + c.supersededDropped + c.staleDropped + c.foreignEpochDropped
        + c.refused.values.reduce(0, +)
    invariant(c.epochsMerged == UInt64(pendingOutcomes), "merged \(c.epochsMerged) of \(pendingOutcomes) admitted epochs")
    invariant(c.epochsMerged + dropped == UInt64(frames), "\(frames) frames, \(c.epochsMerged) merged, \(dropped) dropped")
    invariant(c.stepsApplied == steps && merger.model.batches == steps, "\(steps) steps, version \(merger.model.batches)")
    invariant(merger.model.centers.allSatisfy(\.isFinite), "a center is not finite: \(merger.model.centers)")
    invariant(merger.model.counts.allSatisfy { $0.isFinite && $0 >= 0 }, "a count is not finite: \(merger.model.counts)")
    return 0
}

func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { fatalError("fuzz invariant broken: \(message())") }
}

import Clustering

/// One model version on the wire, coordinator → workers: two or three frames (or, from a
/// coordinator that has no model, the one-frame request ``requestMagic``).
///
/// ```
/// frame 0: the model, encoded as a checkpoint (ModelState.encoded(): "VORONOID", format 2, CRC-32C)
/// frame 1: "VAK1" | count u32 | count × (worker u64 | incarnation u64 | sequence u64)
/// frame 2: the same layout (only from a coordinator that checkpoints)
/// ```
///
/// The model's (epoch, version) is the message's sequence number (the zguide's Clone pattern:
/// every message is a whole snapshot, so a worker that missed versions only needs the newest).
/// The model's ``ModelState/mergedEpochs`` say which of each worker's epochs it holds.
/// Frame 1 acknowledges, per worker, the newest epoch the coordinator has received (merged or
/// dropped), so a worker knows how many of its statistics messages are still on their way.
/// Frame 2 lists the epochs the coordinator's newest checkpoint holds: a worker keeps a copy of
/// each epoch it sent until that frame covers it, so a coordinator restored from that checkpoint
/// can be sent again what it lost. Without frame 2 (no checkpoints) the model's own merged
/// epochs are what a worker waits for.
enum ModelMessage {
    static let acknowledgementsMagic: [UInt8] = Array("VAK1".utf8)
    /// A coordinator without a model (restarted without checkpoints) asks for one: a single
    /// frame, "VNOM". A worker holding a model offers it back as it offers a seed, and the
    /// coordinator carries the cluster on from that copy of its last model.
    static let requestMagic: [UInt8] = Array("VNOM".utf8)

    /// The acknowledgements frame (frame 1 or 2) for `received`, in worker order, into `bytes` (capacity reused).
    static func encodeAcknowledgements(_ received: [UInt64: EpochLedger.Position], into bytes: inout [UInt8]) {
        bytes.removeAll(keepingCapacity: true)
        bytes.append(contentsOf: acknowledgementsMagic)
        append(&bytes, UInt32(received.count))
        for (worker, position) in received.sorted(by: { $0.key < $1.key }) {
            append(&bytes, worker)
            append(&bytes, position.incarnation)
            append(&bytes, position.sequence)
        }
    }

    /// The acknowledgement for `worker` in an acknowledgements frame: nil when the frame does not
    /// list it; throws when the frame is not one.
    static func acknowledgement(for worker: UInt64, in frame: UnsafeRawBufferPointer) throws(StatisticsMessage.DecodeError) -> EpochLedger.Position? {
        guard frame.count >= 8, frame.starts(with: acknowledgementsMagic) else {
            throw .init(reason: .malformed, detail: "not a VAK1 frame (\(frame.count) bytes)")
        }
        let count = Int(UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: 4, as: UInt32.self)))
        guard frame.count == 8 + 24 * count else {
            throw .init(reason: .malformed, detail: "\(frame.count) bytes for \(count) acknowledgements")
        }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        for i in 0..<count where u64(8 + 24 * i) == worker {
            let o = 8 + 24 * i
            return EpochLedger.Position(incarnation: u64(o + 8), sequence: u64(o + 16))
        }
        return nil
    }

    private static func append(_ bytes: inout [UInt8], _ v: some FixedWidthInteger) {
        withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) }
    }
}

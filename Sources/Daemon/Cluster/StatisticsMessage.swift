import Clustering

/// One epoch of a worker's sufficient statistics on the wire, worker → coordinator.
///
/// A single frame, little-endian, floats unaligned:
///
/// ```
/// "VST1" | worker u64 | incarnation u64 | sequence u64 | model epoch u64 | base version u64
///        | k u32 | dimension u32 | vectors u64 | support total u64 | one-hot rows u64
///        | weight f64 | inertia f64 | squared errors f64
///        | mass k×f64 | nearest error k×f64 | nearest weight k×f64 | delta k·d×f32
/// ```
///
/// `(worker, incarnation, sequence)` names the epoch for the coordinator's ``EpochLedger``;
/// `(model epoch, base version)` names the model the statistics were computed against.
struct StatisticsMessage: Equatable {
    /// Who sent the epoch and where it stands in that worker's numbering.
    struct Origin: Equatable {
        var worker: UInt64
        var incarnation: UInt64
        var sequence: UInt64
        /// The model epoch (``ModelState/epoch``) of the base version.
        var modelEpoch: UInt64
    }

    /// Why a frame was refused. Each reason is counted by the coordinator.
    struct DecodeError: Error, Equatable, CustomStringConvertible {
        enum Reason: String, Sendable, CaseIterable {
            /// Not a statistics frame, or a size that does not match its own header.
            case malformed = "statistics_malformed"
            /// k or dimension differ from the coordinator's model.
            case shape = "statistics_shape"
            /// The sums cannot come from real rows (``SufficientStatistics/validationError``).
            case invalid = "statistics_invalid"
        }
        var reason: Reason
        var detail: String
        var description: String { "\(reason.rawValue): \(detail)" }
    }

    static let magic: [UInt8] = Array("VST1".utf8)
    static let headerSize = 4 + 5 * 8 + 2 * 4 + 3 * 8 + 3 * 8

    /// The frame's size for `k` centers of `dimension`.
    static func size(k: Int, dimension: Int) -> Int { headerSize + 3 * 8 * k + 4 * k * dimension }

    /// Encodes `statistics` from `origin` into `bytes`: a buffer that holds a frame of the same
    /// shape (pass the previous frame back, not emptied) is overwritten in place, without
    /// allocating; any other is replaced.
    static func encode(_ statistics: SufficientStatistics, origin: Origin, into bytes: inout [UInt8]) {
        let k = statistics.k, d = statistics.dimension
        let total = size(k: k, dimension: d)
        if bytes.count != total { bytes = [UInt8](repeating: 0, count: total) }
        bytes.withUnsafeMutableBytes { out in
            // Values stored at their offsets, little-endian, with no per-value closure.
            out[0] = 0x56; out[1] = 0x53; out[2] = 0x54; out[3] = 0x31  // "VST1"
            out.storeBytes(of: origin.worker.littleEndian, toByteOffset: 4, as: UInt64.self)
            out.storeBytes(of: origin.incarnation.littleEndian, toByteOffset: 12, as: UInt64.self)
            out.storeBytes(of: origin.sequence.littleEndian, toByteOffset: 20, as: UInt64.self)
            out.storeBytes(of: origin.modelEpoch.littleEndian, toByteOffset: 28, as: UInt64.self)
            out.storeBytes(of: statistics.baseVersion.littleEndian, toByteOffset: 36, as: UInt64.self)
            var o = 44
            out.storeBytes(of: UInt32(k).littleEndian, toByteOffset: o, as: UInt32.self)
            out.storeBytes(of: UInt32(d).littleEndian, toByteOffset: o + 4, as: UInt32.self)
            o += 8
            out.storeBytes(of: UInt64(statistics.vectors).littleEndian, toByteOffset: o, as: UInt64.self)
            out.storeBytes(of: UInt64(statistics.supportTotal).littleEndian, toByteOffset: o + 8, as: UInt64.self)
            out.storeBytes(of: UInt64(statistics.oneHotRows).littleEndian, toByteOffset: o + 16, as: UInt64.self)
            out.storeBytes(of: statistics.weight.bitPattern.littleEndian, toByteOffset: o + 24, as: UInt64.self)
            out.storeBytes(of: statistics.inertia.bitPattern.littleEndian, toByteOffset: o + 32, as: UInt64.self)
            out.storeBytes(of: statistics.squaredErrors.bitPattern.littleEndian, toByteOffset: o + 40, as: UInt64.self)
            o += 48
            statistics.mass.withUnsafeBufferPointer { m in
                for j in 0..<k { out.storeBytes(of: m[j].bitPattern.littleEndian, toByteOffset: o + 8 * j, as: UInt64.self) }
            }
            o += 8 * k
            statistics.nearestError.withUnsafeBufferPointer { m in
                for j in 0..<k { out.storeBytes(of: m[j].bitPattern.littleEndian, toByteOffset: o + 8 * j, as: UInt64.self) }
            }
            o += 8 * k
            statistics.nearestWeight.withUnsafeBufferPointer { m in
                for j in 0..<k { out.storeBytes(of: m[j].bitPattern.littleEndian, toByteOffset: o + 8 * j, as: UInt64.self) }
            }
            o += 8 * k
            statistics.delta.withUnsafeBufferPointer { m in
                #if _endian(little)
                UnsafeMutableRawBufferPointer(rebasing: out[o..<(o + 4 * k * d)]).copyMemory(from: UnsafeRawBufferPointer(m))
                #else
                for t in 0..<(k * d) { out.storeBytes(of: m[t].bitPattern.littleEndian, toByteOffset: o + 4 * t, as: UInt32.self) }
                #endif
            }
        }
    }

    /// Decodes a frame into `statistics` (which must already have the model's shape, so a
    /// steady stream allocates nothing) and returns its origin.
    ///
    /// - Throws: ``DecodeError`` for a malformed frame, another shape, or impossible sums;
    ///   `statistics` is then left in an unspecified state and must not be merged.
    static func decode(_ frame: UnsafeRawBufferPointer, into statistics: inout SufficientStatistics) throws(DecodeError) -> Origin {
        guard frame.count >= headerSize, frame[0] == magic[0], frame[1] == magic[1], frame[2] == magic[2], frame[3] == magic[3] else {
            throw DecodeError(reason: .malformed, detail: "not a VST1 frame (\(frame.count) bytes)")
        }
        func u64(_ o: Int) -> UInt64 { UInt64(littleEndian: frame.loadUnaligned(fromByteOffset: o, as: UInt64.self)) }
        func u32(_ o: Int) -> UInt32 { UInt32(littleEndian: frame.loadUnaligned(fromByteOffset: o, as: UInt32.self)) }
        let origin = Origin(worker: u64(4), incarnation: u64(12), sequence: u64(20), modelEpoch: u64(28))
        let baseVersion = u64(36)
        let k = Int(u32(44)), d = Int(u32(48))
        guard k == statistics.k, d == statistics.dimension else {
            throw DecodeError(reason: .shape, detail: "k = \(k), dimension = \(d); the model has k = \(statistics.k), dimension = \(statistics.dimension)")
        }
        guard frame.count == size(k: k, dimension: d) else {
            throw DecodeError(reason: .malformed, detail: "\(frame.count) bytes for k = \(k), dimension = \(d) (expected \(size(k: k, dimension: d)))")
        }
        let counts = (u64(52), u64(60), u64(68))
        guard counts.0 <= UInt64(Int32.max) * 1024, counts.1 <= counts.0 &* UInt64(k), counts.2 <= counts.0 else {
            throw DecodeError(reason: .invalid, detail: "row counts are inconsistent (vectors \(counts.0), support \(counts.1), one-hot \(counts.2))")
        }
        statistics.baseVersion = baseVersion
        statistics.vectors = Int(counts.0)
        statistics.supportTotal = Int(counts.1)
        statistics.oneHotRows = Int(counts.2)
        statistics.weight = Double(bitPattern: u64(76))
        statistics.inertia = Double(bitPattern: u64(84))
        statistics.squaredErrors = Double(bitPattern: u64(92))
        var o = headerSize
        statistics.mass.withUnsafeMutableBufferPointer { m in
            for j in 0..<k { m[j] = Double(bitPattern: u64(o)); o += 8 }
        }
        statistics.nearestError.withUnsafeMutableBufferPointer { m in
            for j in 0..<k { m[j] = Double(bitPattern: u64(o)); o += 8 }
        }
        statistics.nearestWeight.withUnsafeMutableBufferPointer { m in
            for j in 0..<k { m[j] = Double(bitPattern: u64(o)); o += 8 }
        }
        statistics.delta.withUnsafeMutableBufferPointer { m in
            #if _endian(little)
            // The k·d sums are the frame's bulk: one copy.
            UnsafeMutableRawBufferPointer(m).copyMemory(from: UnsafeRawBufferPointer(rebasing: frame[o..<(o + 4 * k * d)]))
            #else
            for t in 0..<(k * d) { m[t] = Float(bitPattern: u32(o)); o += 4 }
            #endif
        }
        if let why = statistics.validationError { throw DecodeError(reason: .invalid, detail: why) }
        return origin
    }

}

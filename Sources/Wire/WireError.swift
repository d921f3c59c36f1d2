/// An error from decoding (or, for JSON, encoding) a protocol v1 message.
///
/// Input from the wire is untrusted: a decoder never traps on it, it throws a `WireError`.
/// The daemon drops the message, counts it under ``reason`` and goes on, so `reason` is a
/// small closed set of stable names while ``detail`` carries the specifics for a log line.
public struct WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Why a message was rejected.
    ///
    /// The raw values are stable snake_case names meant to be used as a metric label
    /// (`voronoid_dropped_total{reason="non_finite"}`) and as the reason frame of an error reply.
    /// New reasons may be added in later protocol versions; match with a `default` case.
    public enum Reason: String, Sendable, Hashable, CaseIterable {
        /// The message has a number of frames that no format allows.
        case frameCount = "frame_count"
        /// The topic frame is empty or longer than ``WireLimits/maxTopicBytes``.
        case badTopic = "bad_topic"
        /// A frame is larger than ``WireLimits/maxFrameBytes`` (or JSON text than ``WireLimits/maxJSONBytes``).
        case frameTooLarge = "frame_too_large"
        /// The header's magic or the format selector is not one this version knows.
        case unknownFormat = "unknown_format"
        /// The header frame has the wrong length or an impossible field (a zero count).
        case badHeader = "bad_header"
        /// A body (or a vector) is empty, or its byte length is not a multiple of 4.
        case badBodyLength = "bad_body_length"
        /// The body's size does not agree with the header's vector count.
        case countMismatch = "count_mismatch"
        /// The vectors' dimension differs from the expected one, or rows of one message differ.
        case dimensionMismatch = "dimension_mismatch"
        /// The dimension exceeds ``WireLimits/maxDimension``.
        case dimensionTooLarge = "dimension_too_large"
        /// The message carries more than ``WireLimits/maxVectorsPerMessage`` vectors.
        case tooManyVectors = "too_many_vectors"
        /// A value is NaN or ±infinity (or a JSON number too large for a `Float`).
        case nonFinite = "non_finite"
        /// A finite value whose magnitude exceeds ``WireLimits/maxAbsoluteValue``: squared
        /// distances between such vectors would overflow float32 and poison the model.
        case outOfRange = "out_of_range"
        /// A vector of length zero sent to a model with the cosine metric, which needs a direction.
        case zeroNorm = "zero_norm"
        /// The ids frame (or JSON ids) is malformed: wrong size, wrong count, empty or mixed ids.
        case badIDs = "bad_ids"
        /// A weights frame (or JSON weights) is malformed, or a weight is not finite and > 0.
        case badWeights = "bad_weights"
        /// A string id is longer than ``VectorID/maxStringBytes`` bytes.
        case idTooLong = "id_too_long"
        /// Text that must be UTF-8 (topic, string id, JSON) is not valid UTF-8.
        case invalidUTF8 = "invalid_utf8"
        /// JSON text is malformed, nests too deep, repeats a key, or has a field of the wrong type.
        case badJSON = "bad_json"
        /// A query request's first frame names no known request.
        case unknownRequest = "unknown_request"
        /// An assignments message's sparse support is inconsistent (offsets, indices, best index).
        case badSupport = "bad_support"
    }

    /// The stable, countable reason.
    public var reason: Reason
    /// A human-readable explanation naming the offending value; not stable, not for matching.
    public var detail: String

    /// Creates an error.
    /// - Parameters:
    ///   - reason: the stable reason.
    ///   - detail: a human-readable explanation.
    public init(_ reason: Reason, _ detail: String) {
        self.reason = reason
        self.detail = detail
    }

    /// `reason: detail`, for logs.
    public var description: String { "\(reason.rawValue): \(detail)" }
}

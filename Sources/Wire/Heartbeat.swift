/// The periodic liveness and throughput message on the `heartbeat` topic: `[topic, json]`.
public struct Heartbeat: Sendable, Hashable {
    /// Identifies the daemon run.
    public var startEpoch: UInt64
    /// The publish sequence number on this topic within ``startEpoch``.
    public var sequence: UInt64
    /// Wall-clock time of the heartbeat, in milliseconds since the Unix epoch.
    public var timeUnixMilliseconds: Int64
    /// Vectors received since start.
    public var vectorsIn: UInt64
    /// Vectors accepted into training since start.
    public var vectorsAccepted: UInt64
    /// Inbound messages dropped since start, every reason together.
    public var dropped: UInt64
    /// The current model version.
    public var modelVersion: UInt64
    /// The current responsibility temperature.
    public var temperature: Double

    /// Creates a heartbeat.
    public init(
        startEpoch: UInt64, sequence: UInt64, timeUnixMilliseconds: Int64, vectorsIn: UInt64,
        vectorsAccepted: UInt64, dropped: UInt64, modelVersion: UInt64, temperature: Double
    ) {
        self.startEpoch = startEpoch
        self.sequence = sequence
        self.timeUnixMilliseconds = timeUnixMilliseconds
        self.vectorsIn = vectorsIn
        self.vectorsAccepted = vectorsAccepted
        self.dropped = dropped
        self.modelVersion = modelVersion
        self.temperature = temperature
    }

    /// Appends `[topic, json]` with keys `start_epoch`, `seq`, `time_unix_ms`, `vectors_in`,
    /// `vectors_accepted`, `dropped`, `model_version`, `temperature`.
    /// - Throws: ``WireError`` `.nonFinite` if the temperature is NaN or infinite; `message` is then unchanged.
    public func encodeJSON(topic: String = WireTopic.heartbeat, into message: inout WireMessage) throws(WireError) {
        guard temperature.isFinite else { throw WireError(.nonFinite, "temperature is \(temperature)") }
        message.appendFrame(topic)
        message.appendASCII("{")
        message.appendKey("start_epoch", first: true)
        message.appendJSONInteger(startEpoch)
        message.appendKey("seq")
        message.appendJSONInteger(sequence)
        message.appendKey("time_unix_ms")
        message.appendJSONInteger(timeUnixMilliseconds)
        message.appendKey("vectors_in")
        message.appendJSONInteger(vectorsIn)
        message.appendKey("vectors_accepted")
        message.appendJSONInteger(vectorsAccepted)
        message.appendKey("dropped")
        message.appendJSONInteger(dropped)
        message.appendKey("model_version")
        message.appendJSONInteger(modelVersion)
        message.appendKey("temperature")
        try message.appendJSONNumber(temperature, "temperature")
        message.appendASCII("}")
        message.endFrame()
    }

    /// Decodes `[topic, json]` heartbeat frames.
    /// - Throws: ``WireError`` on malformed JSON or a missing field.
    public static func decodeJSON(frames: [[UInt8]], hasTopic: Bool = true, limits: WireLimits = WireLimits()) throws(WireError) -> Heartbeat {
        try withJSONFrame(frames, hasTopic: hasTopic, limits: limits) { (r) throws(WireError) -> Heartbeat in
            var o = try r.beginObject()
            var startEpoch: UInt64?, seq: UInt64?, time: Int64?, vin: UInt64?, acc: UInt64?, dropped: UInt64?, version: UInt64?
            var temperature: Double?
            while let key = try r.nextKey(&o) {
                if r.key(key, is: "start_epoch") { startEpoch = try r.readUInt64("start_epoch") }
                else if r.key(key, is: "seq") { seq = try r.readUInt64("seq") }
                else if r.key(key, is: "time_unix_ms") { time = try r.readInt64("time_unix_ms") }
                else if r.key(key, is: "vectors_in") { vin = try r.readUInt64("vectors_in") }
                else if r.key(key, is: "vectors_accepted") { acc = try r.readUInt64("vectors_accepted") }
                else if r.key(key, is: "dropped") { dropped = try r.readUInt64("dropped") }
                else if r.key(key, is: "model_version") { version = try r.readUInt64("model_version") }
                else if r.key(key, is: "temperature") { temperature = try r.readDouble() }
                else { try r.skipValue() }
            }
            guard let startEpoch, let seq, let time, let vin, let acc, let dropped, let version, let temperature else {
                throw WireError(.badJSON, "heartbeat lacks a required field")
            }
            return Heartbeat(
                startEpoch: startEpoch, sequence: seq, timeUnixMilliseconds: time, vectorsIn: vin,
                vectorsAccepted: acc, dropped: dropped, modelVersion: version, temperature: temperature)
        }
    }
}

/// A flat JSON value used for event fields and stats: a string or a number.
public enum WireScalar: Sendable, Hashable, CustomStringConvertible {
    /// A string.
    case string(String)
    /// An integer, written without fraction or exponent.
    case int(Int64)
    /// A finite double, written in shortest round-trip form (always with a `.` or an exponent,
    /// so it decodes back as `.double`).
    case double(Double)

    /// The value as JSON text.
    public var description: String {
        switch self {
        case .string(let s): return "\"\(s)\""
        case .int(let v): return String(v)
        case .double(let v): return v.description
        }
    }
}

extension WireMessage {
    mutating func appendJSONScalar(_ v: WireScalar, _ what: @autoclosure () -> String) throws(WireError) {
        switch v {
        case .string(let s): appendJSONString(s)
        case .int(let i): appendJSONInteger(i)
        case .double(let d): try appendJSONNumber(d, what())
        }
    }

    /// Appends `{"name": scalar, …}` with keys sorted, so equal dictionaries encode identically.
    mutating func appendJSONObject(_ fields: [String: WireScalar]) throws(WireError) {
        appendASCII("{")
        for (i, name) in fields.keys.sorted().enumerated() {
            if i > 0 { appendASCII(",") }
            appendJSONString(name)
            appendASCII(":")
            try appendJSONScalar(fields[name]!, "field \(name)")
        }
        appendASCII("}")
    }
}

extension JSONReader {
    mutating func readScalar() throws(WireError) -> WireScalar {
        guard let c = peek() else { throw fail("expected a value") }
        if c == UInt8(ascii: "\"") { return .string(try readStringValue()) }
        guard c == UInt8(ascii: "-") || c &- UInt8(ascii: "0") < 10 else { throw fail("expected a string or a number") }
        let save = pos
        let n = try readNumber()
        pos = save
        if n.isIntegerLiteral, let v = try? readInt64("number") { return .int(v) }
        pos = save
        return .double(try readDouble())
    }

    /// Reads `{"name": string | number, …}`.
    mutating func readScalarObject() throws(WireError) -> [String: WireScalar] {
        var out: [String: WireScalar] = [:]
        var o = try beginObject()
        while let key = try nextKey(&o) {
            let name = String(decoding: keyBytes[key], as: UTF8.self)
            out[name] = try readScalar()
        }
        return out
    }
}

/// A lifecycle or model event on the `events` topic: `[topic, json]`.
///
/// JSON: `{"start_epoch":…, "seq":…, "time_unix_ms":…, "event":"reseed", "fields":{"center":3, …}}`.
/// Event-specific fields sit in their own `"fields"` object so that they can never collide
/// with the fixed keys, now or when a later version adds one.
public struct WireEvent: Sendable, Hashable {
    /// Identifies the daemon run.
    public var startEpoch: UInt64
    /// The publish sequence number on this topic within ``startEpoch``.
    public var sequence: UInt64
    /// Wall-clock time of the event, in milliseconds since the Unix epoch.
    public var timeUnixMilliseconds: Int64
    /// The event's name: `start`, `restore`, `reseed`, `separate`, `shutdown`, …
    public var event: String
    /// Event-specific fields (encoded with sorted keys).
    public var fields: [String: WireScalar]

    /// Creates an event.
    public init(startEpoch: UInt64, sequence: UInt64, timeUnixMilliseconds: Int64, event: String, fields: [String: WireScalar] = [:]) {
        self.startEpoch = startEpoch
        self.sequence = sequence
        self.timeUnixMilliseconds = timeUnixMilliseconds
        self.event = event
        self.fields = fields
    }

    /// Appends `[topic, json]`.
    /// - Throws: ``WireError`` `.nonFinite` if a field is a NaN/infinite double; `message` is then unchanged.
    public func encodeJSON(topic: String = WireTopic.events, into message: inout WireMessage) throws(WireError) {
        let (bytes, frames) = (message.bytes.count, message.frameCount)
        do {
            message.appendFrame(topic)
            message.appendASCII("{")
            message.appendKey("start_epoch", first: true)
            message.appendJSONInteger(startEpoch)
            message.appendKey("seq")
            message.appendJSONInteger(sequence)
            message.appendKey("time_unix_ms")
            message.appendJSONInteger(timeUnixMilliseconds)
            message.appendKey("event")
            message.appendJSONString(event)
            message.appendKey("fields")
            try message.appendJSONObject(fields)
            message.appendASCII("}")
            message.endFrame()
        } catch {
            message.truncate(bytes: bytes, frames: frames)
            throw error
        }
    }

    /// Decodes `[topic, json]` event frames.
    /// - Throws: ``WireError`` on malformed JSON or a missing field (`fields` may be absent).
    public static func decodeJSON(frames: [[UInt8]], hasTopic: Bool = true, limits: WireLimits = WireLimits()) throws(WireError) -> WireEvent {
        try withJSONFrame(frames, hasTopic: hasTopic, limits: limits) { (r) throws(WireError) -> WireEvent in
            var o = try r.beginObject()
            var startEpoch: UInt64?, seq: UInt64?, time: Int64?, event: String?
            var fields: [String: WireScalar] = [:]
            while let key = try r.nextKey(&o) {
                if r.key(key, is: "start_epoch") { startEpoch = try r.readUInt64("start_epoch") }
                else if r.key(key, is: "seq") { seq = try r.readUInt64("seq") }
                else if r.key(key, is: "time_unix_ms") { time = try r.readInt64("time_unix_ms") }
                else if r.key(key, is: "event") {
                    guard r.peek() == UInt8(ascii: "\"") else { throw r.fail("event must be a string") }
                    event = try r.readStringValue()
                } else if r.key(key, is: "fields") {
                    fields = try r.readScalarObject()
                } else { try r.skipValue() }
            }
            guard let startEpoch, let seq, let time, let event else { throw WireError(.badJSON, "event lacks a required field") }
            return WireEvent(startEpoch: startEpoch, sequence: seq, timeUnixMilliseconds: time, event: event, fields: fields)
        }
    }
}

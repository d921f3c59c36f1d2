import CZeroMQ

/// Z85, ZeroMQ's printable encoding of binary data (RFC 32/Z85): 4 bytes become 5 characters.
/// Used for CURVE keys in configuration files (40 characters for a 32-byte key).
public enum Z85 {
    /// Encodes bytes as Z85 text.
    ///
    /// The corresponding C function is `zmq_z85_encode`.
    ///
    /// - Parameter bytes: The data; its length must be a multiple of 4.
    /// - Returns: The text, 5/4 as long as the data.
    /// - Throws: `ZMQError` with `EINVAL` if the length is not a multiple of 4.
    public static func encode(_ bytes: some Collection<UInt8>) throws(ZMQError) -> String {
        let data = Array(bytes)
        guard data.count % 4 == 0 else {
            throw ZMQError(operation: "zmq_z85_encode(\(data.count) bytes, not a multiple of 4)", code: EINVAL)
        }
        var text = [CChar](repeating: 0, count: data.count / 4 * 5 + 1)
        let ok = data.withUnsafeBufferPointer { source in
            zmq_z85_encode(&text, source.baseAddress, source.count) != nil
        }
        guard ok else { throw ZMQError(operation: "zmq_z85_encode", code: EINVAL) }
        return String(decoding: text.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Decodes Z85 text.
    ///
    /// The corresponding C function is `zmq_z85_decode`.
    ///
    /// - Parameter text: The text; its length must be a multiple of 5 and every character
    ///   must be in the Z85 alphabet.
    /// - Returns: The data, 4/5 as long as the text.
    /// - Throws: `ZMQError` with `EINVAL` for a bad length or character.
    public static func decode(_ text: String) throws(ZMQError) -> [UInt8] {
        let length = text.utf8.count
        guard length % 5 == 0 else {
            throw ZMQError(operation: "zmq_z85_decode(\(length) characters, not a multiple of 5)", code: EINVAL)
        }
        var data = [UInt8](repeating: 0, count: length / 5 * 4)
        // An interior NUL would make libzmq decode a shorter string than we sized for.
        guard !text.utf8.contains(0) else { throw ZMQError(operation: "zmq_z85_decode", code: EINVAL) }
        let ok = data.withUnsafeMutableBufferPointer { destination in
            zmq_z85_decode(destination.baseAddress, text) != nil
        }
        guard ok else { throw ZMQError(operation: "zmq_z85_decode", code: EINVAL) }
        return data
    }
}

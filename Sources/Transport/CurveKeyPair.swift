import CZeroMQ

/// A CURVE (Curve25519) long-term key pair for ZeroMQ's CURVE security mechanism.
///
/// Keys are 32 raw bytes; configuration files usually carry them as 40-character Z85 text
/// (``z85PublicKey``, ``init(z85SecretKey:)``). The description shows only the public key, so
/// logging a key pair does not leak the secret.
public struct CurveKeyPair: Hashable, Sendable, CustomStringConvertible {
    /// The public key, 32 bytes: give it to peers.
    public let publicKey: [UInt8]

    /// The secret key, 32 bytes: keep it private.
    public let secretKey: [UInt8]

    /// The length of a CURVE key in bytes.
    public static let keyLength = 32

    /// Generates a fresh key pair from libsodium's random source.
    ///
    /// The corresponding C function is `zmq_curve_keypair`.
    ///
    /// - Throws: `ZMQError` with `ENOTSUP` if libzmq was built without CURVE.
    public static func generate() throws(ZMQError) -> CurveKeyPair {
        var publicText = [CChar](repeating: 0, count: 41)
        var secretText = [CChar](repeating: 0, count: 41)
        try zmqCall("zmq_curve_keypair") { zmq_curve_keypair(&publicText, &secretText) }
        return try CurveKeyPair(
            publicKey: Z85.decode(string(publicText)),
            secretKey: Z85.decode(string(secretText))
        )
    }

    /// Derives the key pair of a secret key (its public key is computed).
    ///
    /// The corresponding C function is `zmq_curve_public`.
    ///
    /// - Parameter secretKey: 32 bytes.
    /// - Throws: `ZMQError` with `EINVAL` for a key of the wrong length, `ENOTSUP` without CURVE.
    public init(secretKey: [UInt8]) throws(ZMQError) {
        let secretText = try Z85.encode(Self.checked(secretKey, "secret"))
        var publicText = [CChar](repeating: 0, count: 41)
        try zmqCall("zmq_curve_public") { zmq_curve_public(&publicText, secretText) }
        self = try CurveKeyPair(publicKey: Z85.decode(Self.string(publicText)), secretKey: secretKey)
    }

    /// Derives the key pair of a secret key given as 40 characters of Z85.
    ///
    /// - Throws: `ZMQError` with `EINVAL` for malformed text.
    public init(z85SecretKey: String) throws(ZMQError) {
        try self.init(secretKey: Z85.decode(z85SecretKey))
    }

    /// Pairs two keys without checking that they belong together.
    ///
    /// - Throws: `ZMQError` with `EINVAL` if either key is not 32 bytes.
    public init(publicKey: [UInt8], secretKey: [UInt8]) throws(ZMQError) {
        self.publicKey = try Self.checked(publicKey, "public")
        self.secretKey = try Self.checked(secretKey, "secret")
    }

    /// The public key as 40 characters of Z85.
    public var z85PublicKey: String {
        // Cannot fail: the key length (32) is a multiple of 4.
        try! Z85.encode(publicKey)
    }

    /// The secret key as 40 characters of Z85.
    public var z85SecretKey: String {
        try! Z85.encode(secretKey)
    }

    /// `"CurveKeyPair(public: <Z85>)"`; the secret key is left out on purpose.
    public var description: String {
        "CurveKeyPair(public: \(z85PublicKey))"
    }

    /// The text in a NUL-terminated buffer filled by libzmq.
    private static func string(_ text: [CChar]) -> String {
        String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private static func checked(_ key: [UInt8], _ kind: String) throws(ZMQError) -> [UInt8] {
        guard key.count == keyLength else {
            throw ZMQError(operation: "CURVE \(kind) key of \(key.count) bytes, expected \(keyLength)", code: EINVAL)
        }
        return key
    }
}

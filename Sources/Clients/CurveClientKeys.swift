import Transport

/// What a client needs to reach a daemon whose sockets require CURVE: the daemon's public key,
/// and the client's own key pair, whose public key the daemon's allow-list must hold.
public struct CurveClientKeys: Sendable {
    /// The daemon's public key (32 bytes).
    public var serverPublicKey: [UInt8]
    /// The client's key pair.
    public var keyPair: CurveKeyPair

    /// Wraps keys already at hand.
    public init(serverPublicKey: [UInt8], keyPair: CurveKeyPair) {
        self.serverPublicKey = serverPublicKey
        self.keyPair = keyPair
    }

    /// Reads the keys in the form `voronoid keygen --out PREFIX` writes them.
    ///
    /// - Parameters:
    ///   - server: the daemon's public key: its 40 Z85 characters, or a file whose first word
    ///     they are (`server.pub`).
    ///   - secretKeyFile: a file whose first word is the client's Z85 secret key
    ///     (`client.key`); the public key is derived from it.
    /// - Throws: ``ClientError`` `.io` for a file that cannot be read, `.badInput` for text
    ///   that is not a key; the message names the file or value.
    public static func load(server: String, secretKeyFile: String) throws(ClientError) -> CurveClientKeys {
        let serverText = server.utf8.count == 40 && (try? Z85.decode(server)) != nil
            ? server : try firstWord(ofFile: server)
        guard let serverKey = try? Z85.decode(serverText), serverKey.count == 32 else {
            throw ClientError(.badInput, "\(server): not a Z85 CURVE public key (40 characters) or a file holding one")
        }
        let secretText = try firstWord(ofFile: secretKeyFile)
        guard let pair = try? CurveKeyPair(z85SecretKey: secretText) else {
            throw ClientError(.badInput, "\(secretKeyFile) does not hold a Z85 CURVE secret key (40 characters)")
        }
        return CurveClientKeys(serverPublicKey: serverKey, keyPair: pair)
    }

    /// Makes `socket` a CURVE client of the daemon. Call before connecting.
    /// - Throws: `ZMQError`, for example when libzmq was built without CURVE.
    public func apply(to socket: ZMQSocket) throws(ZMQError) {
        try socket.configureCurveClient(keyPair: keyPair, serverPublicKey: serverPublicKey)
    }

    /// The first whitespace-separated word of a small text file (a key file has one line).
    static func firstWord(ofFile path: String) throws(ClientError) -> String {
        let reader = LineReader(file: try CFile.open(path), name: path)
        while let line = try reader.nextLine() {
            if let word = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).first {
                return String(word)
            }
        }
        throw ClientError(.badInput, "\(path) is empty: expected a Z85 CURVE key")
    }
}

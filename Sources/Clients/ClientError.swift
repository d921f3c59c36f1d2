/// An error of the client side: bad input data, an unusable file, a query that timed out, or
/// an error reply from the daemon.
///
/// A struct with an extensible ``Code`` (rather than an enum) so that codes can be added
/// without breaking callers' `switch` statements.
public struct ClientError: Error, Sendable, Hashable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
        /// A short stable name, such as `"bad_input"`.
        public var rawValue: String

        /// Wraps a name.
        public init(rawValue: String) { self.rawValue = rawValue }

        /// Input data that cannot be used: a malformed CSV line, a non-finite value, ragged rows.
        public static let badInput = Code(rawValue: "bad_input")
        /// A file in a format or layout this client does not read (for example a big-endian
        /// or Fortran-ordered `.npy` array).
        public static let unsupportedFormat = Code(rawValue: "unsupported_format")
        /// A file could not be opened or read.
        public static let io = Code(rawValue: "io")
        /// No reply (or no message) arrived in time.
        public static let timeout = Code(rawValue: "timeout")
        /// The daemon refused this client's security handshake (CURVE: a key not on its
        /// allow-list, another server key, or plaintext to a CURVE socket).
        public static let refused = Code(rawValue: "refused")
        /// The daemon answered with something that is not a valid reply.
        public static let badReply = Code(rawValue: "bad_reply")
        /// The daemon answered with an error reply `["error", reason, detail]`.
        public static let remote = Code(rawValue: "remote")
        /// An operation a source cannot perform (for example rewinding standard input).
        public static let unsupported = Code(rawValue: "unsupported")

        /// The raw name.
        public var description: String { rawValue }
    }

    /// The kind of failure.
    public var code: Code
    /// A human-readable explanation naming the offending value, line or file.
    public var message: String
    /// The 1-based line of a text input the error refers to, if any.
    public var line: Int?
    /// For ``Code/remote``: the daemon's reason (a `WireError.Reason` raw value) and detail.
    public var remote: (reason: String, detail: String)? {
        guard let remoteReason else { return nil }
        return (remoteReason, remoteDetail ?? "")
    }

    private var remoteReason: String?
    private var remoteDetail: String?

    /// Creates an error.
    /// - Parameters:
    ///   - code: the kind of failure.
    ///   - message: what went wrong, naming the value or file.
    ///   - line: the 1-based input line, if the error is about one.
    public init(_ code: Code, _ message: String, line: Int? = nil) {
        self.code = code
        self.message = message
        self.line = line
    }

    /// An error for the daemon's error reply `["error", reason, detail]`.
    public static func remote(reason: String, detail: String) -> ClientError {
        var e = ClientError(.remote, "\(reason): \(detail)")
        e.remoteReason = reason
        e.remoteDetail = detail
        return e
    }

    /// `message`, prefixed with `line N: ` when the error names a line.
    public var description: String {
        if let line { return "line \(line): \(message)" }
        return message
    }
}

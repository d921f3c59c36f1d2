import Glibc

/// sd_notify(3) without libsystemd: one datagram of `KEY=VALUE` lines to `$NOTIFY_SOCKET`.
/// A no-op when the variable is unset (not under systemd, or `Type=` is not notify).
public struct SystemdNotifier: Sendable {
    private let path: [UInt8]?
    /// The watchdog interval systemd asked for, if any (`$WATCHDOG_USEC`, for this pid).
    public let watchdogMicroseconds: UInt64?

    /// Reads the environment.
    public init() {
        if let raw = getenv("NOTIFY_SOCKET"), raw.pointee != 0 {
            var bytes = Array(String(cString: raw).utf8)
            // A leading '@' names a socket in the abstract namespace: its first byte is NUL.
            if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }
            path = bytes
        } else {
            path = nil
        }
        var watchdog: UInt64?
        if let usec = getenv("WATCHDOG_USEC"), let value = UInt64(String(cString: usec)), value > 0 {
            let pidOK = getenv("WATCHDOG_PID").map { UInt32(String(cString: $0)) == UInt32(getpid()) } ?? true
            if pidOK { watchdog = value }
        }
        watchdogMicroseconds = watchdog
    }

    /// Whether a notify socket is configured.
    public var isActive: Bool { path != nil }

    /// Sends `state` (for example `"READY=1\nSTATUS=listening"`); returns whether it was sent.
    @discardableResult
    public func notify(_ state: String) -> Bool {
        guard let path, path.count < 108 else { return false }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + path.count)
        let bytes = Array(state.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL), sa, length) }
            }
        }
        return sent == bytes.count
    }
}

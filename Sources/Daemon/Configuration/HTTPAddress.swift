import Glibc

/// A parsed `host:port` for the metrics listener.
struct HTTPAddress {
    var host: String
    var port: UInt16
    var family: Int32

    init?(_ text: String) {
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":"),
                  let port = UInt16(text[text.index(close, offsetBy: 2)...]) else { return nil }
            host = String(text[text.index(after: text.startIndex)..<close])
            self.port = port
            family = AF_INET6
        } else {
            guard let colon = text.lastIndex(of: ":"), let port = UInt16(text[text.index(after: colon)...]) else { return nil }
            host = String(text[..<colon])
            self.port = port
            family = AF_INET
        }
        var probe = in6_addr()
        guard inet_pton(family, host, &probe) == 1 else { return nil }
    }
}

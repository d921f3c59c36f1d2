import Glibc
import Logging
import Transport

/// The daemon's CURVE identity and the client keys it lets in.
///
/// CURVE alone encrypts but accepts any client key; the allow-list is enforced by a ZAP handler
/// (``ZAPHandler``) bound in the same context before any CURVE socket binds.
struct CurveSecurity: Sendable {
    let keyPair: CurveKeyPair
    /// Allowed client public keys (32 bytes) and the names used for them in logs and counters.
    let allowed: [[UInt8]: String]
    let sockets: Set<String>

    /// The ZAP domain the daemon's sockets use.
    static let domain = "voronoid"

    /// Reads the key files named by the configuration; nil when CURVE is off.
    static func load(_ c: DaemonConfiguration.Security) throws(DaemonRunner.StartError) -> CurveSecurity? {
        guard c.enabled else { return nil }
        func fail(_ key: String, _ why: String) -> DaemonRunner.StartError {
            DaemonRunner.StartError(description: "\(key): \(why)", status: 78)
        }
        let secretText = try read(c.curveSecretKeyFile, key: "security.curve_secret_key_file")
            .split(whereSeparator: { $0 == "\n" || $0 == " " || $0 == "\r" }).first.map(String.init) ?? ""
        let keyPair: CurveKeyPair
        do {
            keyPair = try CurveKeyPair(z85SecretKey: secretText)
        } catch {
            throw fail("security.curve_secret_key_file", "\(c.curveSecretKeyFile) does not hold a Z85 CURVE secret key (40 characters): \(error)")
        }
        var allowed: [[UInt8]: String] = [:]
        let list = try read(c.allowedClientsFile, key: "security.allowed_clients_file")
        for (number, line) in list.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            // '#' is a Z85 digit, so only a line that starts with it is a comment.
            let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" })
            guard let first = fields.first, !first.hasPrefix("#") else { continue }
            // Any decoding failure is the same configuration error, named with the line below.
            guard let key = try? Z85.decode(String(first)), key.count == 32 else {
                throw fail("security.allowed_clients_file", "\(c.allowedClientsFile):\(number + 1): \(first) is not a Z85 public key (40 characters)")
            }
            allowed[key] = fields.count > 1 ? String(fields[1]) : String(first)
        }
        if allowed.isEmpty {
            throw fail("security.allowed_clients_file", "\(c.allowedClientsFile) lists no client keys: nobody could connect")
        }
        return CurveSecurity(keyPair: keyPair, allowed: allowed, sockets: Set(c.curveSockets))
    }

    /// Makes `socket` a CURVE server checked by the ZAP handler, if `role` is protected.
    func apply(to socket: ZMQSocket, role: String) throws(ZMQError) {
        guard sockets.contains(role) else { return }
        try socket.configureCurveServer(keyPair: keyPair)
        try socket.setZAPDomain(Self.domain)
        // Clients libzmq refuses before asking the ZAP handler (plaintext, or encrypted to
        // another server key) are seen only through the socket monitor. Best effort: a
        // reopened query socket may find the name still held by its predecessor's monitor,
        // and its protocol refusals then go uncounted (ZAP refusals are counted regardless).
        try? socket.monitorHandshakeFailures(Self.monitorName(role))
    }

    /// The inproc name of the handshake monitor of the socket with `role`.
    static func monitorName(_ role: String) -> String { "voronoid.handshakes." + role }

    /// A file's text; `credential:NAME` reads `$CREDENTIALS_DIRECTORY/NAME` (systemd's
    /// LoadCredential=), so keys never need to sit in the configuration directory.
    static func read(_ reference: String, key: String) throws(DaemonRunner.StartError) -> String {
        var path = reference
        if reference.hasPrefix("credential:") {
            guard let dir = getenv("CREDENTIALS_DIRECTORY").map({ String(cString: $0) }) else {
                throw DaemonRunner.StartError(description: "\(key): \(reference) names a systemd credential, but $CREDENTIALS_DIRECTORY is not set", status: 78)
            }
            path = dir + "/" + reference.dropFirst("credential:".count)
        }
        // The reason (errno) is read just below, in the error it throws.
        guard let bytes = try? LocalFile.read(path) else {
            throw DaemonRunner.StartError(description: "\(key): cannot read \(path): \(String(cString: strerror(errno)))", status: 78)
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}

/// Answers libzmq's ZAP requests (RFC 27) for the CURVE sockets: 200 for listed client keys,
/// 400 for everyone else. The reply's user id (the key's name) then arrives on every message
/// from that client, so logs and per-producer counters can name it.
final class ZAPHandler: Sendable {
    let security: CurveSecurity
    let context: ZMQContext
    let statistics: Statistics
    let stop: EventFD
    let logger: Logger
    let health: LoopHealth
    let fault: DaemonConfiguration.Fault
    let limiter: DropLogLimiter
    // SAFETY: set by start() and read by run(), both on the handler's own thread, never elsewhere.
    nonisolated(unsafe) private var socket: ZMQSocket?

    init(security: CurveSecurity, context: ZMQContext, statistics: Statistics, stop: EventFD, health: LoopHealth,
         fault: DaemonConfiguration.Fault, limiter: DropLogLimiter, logger: Logger) {
        self.security = security
        self.health = health
        self.fault = fault
        self.limiter = limiter
        self.context = context
        self.statistics = statistics
        self.stop = stop
        self.logger = logger
    }

    /// Binds the handler; must happen before any CURVE socket binds.
    func openSocket() throws(ZMQError) -> ZMQSocket {
        let socket = try ZMQSocket(context: context, type: .rep, linger: 0)
        try socket.bind("inproc://zeromq.zap.01")
        return socket
    }

    /// Answers ZAP requests until `stop`; returns the socket it ends with (a new one if a reply
    /// failed to send, since a REP that missed a reply cannot receive again).
    func run(socket initial: ZMQSocket) -> ZMQSocket? {
        var socket: ZMQSocket? = initial
        // inproc allows connecting before the monitored sockets bind their monitors.
        var monitors: [ZMQSocket] = []
        for role in security.sockets.sorted() {
            do {
                let pair = try ZMQSocket(context: context, type: .pair, linger: 0)
                try pair.connect("inproc://" + CurveSecurity.monitorName(role))
                monitors.append(pair)
            } catch {
                logger.warning("cannot watch CURVE handshakes on the \(role) socket: \(error); refused plaintext clients there go uncounted")
            }
        }
        defer { for m in monitors { m.close() } }
        var poller = ZMQPoller()
        var polled: ZMQSocket?
        var socketIndex = 0, stopIndex = 0
        var monitorIndices: [Int] = []
        let started = Clock.monotonicMilliseconds()
        while true {
            health.beat(.zap)
            if fault.failureDue("zap", started: started, now: Clock.monotonicMilliseconds()) {
                health.fail(.zap, "poll: injected fault (fault.fail_loop)")
                return socket
            }
            guard let current = socket else {
                // Without a handler every CURVE handshake would hang: rebinding is urgent.
                socket = try? openSocket()
                if socket == nil { usleep(100_000) }
                continue
            }
            // One poller per handler socket, rebuilt only when a broken one was replaced.
            if polled !== current {
                poller = ZMQPoller()
                socketIndex = poller.add(current)
                stopIndex = poller.add(stop)
                monitorIndices = monitors.map { poller.add($0) }
                polled = current
            }
            do {
                _ = try poller.poll(timeoutMilliseconds: 1000)
            } catch {
                if error.isEINTR { continue }
                if error.isETERM { return socket }
                health.fail(.zap, "poll: \(error)")
                return socket
            }
            if poller.isReadable(stopIndex) { return socket }
            for (i, index) in monitorIndices.enumerated() where poller.isReadable(index) {
                // Monitor events are advisory: a receive error only ends this drain.
                while let frames = try? monitors[i].receiveMultipart(dontWait: true) {
                    if let failure = ZMQHandshakeFailure(frames: frames) { record(failure) }
                }
            }
            guard poller.isReadable(socketIndex) else { continue }
            let frames: [[UInt8]]
            do {
                guard let got = try current.receiveMultipart(dontWait: true) else { continue }
                frames = got
            } catch {
                logger.error("ZAP handler: receive failed: \(error); binding the handler anew")
                current.close()
                socket = nil
                continue
            }
            let reply = answer(frames)
            let sent = (try? current.send(reply, dontWait: false)) ?? false  // the failure is handled just below
            if !sent {
                logger.error("ZAP handler: reply not sent; binding the handler anew so later handshakes are answered")
                current.close()
                socket = nil
            }
        }
    }

    /// Counts and logs a handshake libzmq refused. ZAP refusals were counted when answered;
    /// the others (libzmq 4.3 reports a plaintext client on a CURVE socket as a failure
    /// without detail, a client keyed to another server as a protocol error) count here.
    func record(_ failure: ZMQHandshakeFailure) {
        statistics.handshakeFailures.add(1, ordering: .relaxed)
        guard failure.kind != .authentication else { return }
        statistics.authenticationsDenied.add(1, ordering: .relaxed)
        limiter.log(logger, reason: "handshake", detail: failure.description)
    }

    /// The reply to one ZAP request (RFC 27): 200 for a listed CURVE key, 400 for any other
    /// client, 500 for a request too malformed to check. Every request gets a reply, or the REP
    /// socket could not take the next one and later handshakes would hang.
    func answer(_ frames: [[UInt8]]) -> [[UInt8]] {
        // version, request id, domain, address, identity, mechanism, credentials…
        let version = frames.first ?? Array("1.0".utf8)
        let requestID = frames.count > 1 ? frames[1] : []
        guard frames.count >= 6 else {
            statistics.authenticationsDenied.add(1, ordering: .relaxed)
            limiter.log(logger, reason: "zap", detail: "malformed ZAP request of \(frames.count) frames")
            return [version, requestID, Array("500".utf8), Array("malformed request".utf8), [], []]
        }
        let mechanism = String(decoding: frames[5], as: UTF8.self)
        let address = String(decoding: frames[3], as: UTF8.self)
        if mechanism == "CURVE", frames.count >= 7, let name = security.allowed[frames[6]] {
            statistics.authenticationsAllowed.add(1, ordering: .relaxed)
            return [version, requestID, Array("200".utf8), Array("OK".utf8), Array(name.utf8), []]
        }
        statistics.authenticationsDenied.add(1, ordering: .relaxed)
        // Z85 fails only for a key that is not 32 bytes, which the log then says.
        let key = frames.count >= 7 ? ((try? Z85.encode(frames[6])) ?? "(not 32 bytes)") : "none"
        limiter.log(logger, reason: "unauthorized", detail: "\(mechanism) client \(key) from \(address): key not in the allow-list")
        return [version, requestID, Array("400".utf8), Array("client key not allowed".utf8), [], []]
    }
}

extension ZAPHandler: DaemonService, StoppedByEventFD {
    var loop: LoopHealth.Loop { .zap }

    func start() throws(StartupFailure) {
        do {
            socket = try openSocket()
        } catch {
            throw .opening(.zap, "the ZAP handler inproc://zeromq.zap.01", error)
        }
    }

    func run() {
        guard let socket else { return }
        run(socket: socket)?.close()
    }
}

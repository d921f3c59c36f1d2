import Glibc
import Synchronization
import Transport

/// Why a loop could not start. Typed, so the exit status follows from the kind of failure and
/// never from the text of a message.
public struct StartupFailure: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Something the operator configured cannot work (a malformed endpoint, an unknown
        /// interface, an unreadable key): exit 78, and restarting will not help.
        case configuration
        /// The address is taken (by another instance, or one still shutting down): exit 1, so
        /// the service manager retries.
        case addressInUse
        /// The system refused a resource (descriptors, memory): exit 1.
        case system
    }

    /// The loop that failed.
    public var loop: String
    /// What it was opening, such as `output.endpoint tcp://127.0.0.1:5556`.
    public var what: String
    public var kind: Kind
    /// The system's or library's reason.
    public var reason: String

    public var description: String { "\(what): \(reason)" }

    /// The exit status for this failure (sysexits.h EX_CONFIG for configuration errors).
    public var exitStatus: Int32 { kind == .configuration ? 78 : 1 }

    /// A failure to open a ZeroMQ socket: a taken address is transient, resource exhaustion is
    /// the system's, anything else (bad endpoint, unknown interface, unsupported transport) is
    /// the configuration's.
    static func opening(_ loop: LoopHealth.Loop, _ what: String, _ error: ZMQError) -> StartupFailure {
        let kind: Kind = switch error.code {
        case EADDRINUSE: .addressInUse
        case EMFILE, ENFILE, ENOMEM, ENOBUFS: .system
        default: .configuration
        }
        return StartupFailure(loop: loop.rawValue, what: what, kind: kind, reason: error.reason)
    }
}

/// One loop of the daemon (ingest, clustering, publish, query, checkpoint writer, metrics,
/// ZAP). Each runs on an OS thread of its own: ``start()`` and ``run()`` are called on that
/// thread, so sockets opened in `start` stay with the thread that uses them; ``requestStop()``
/// may be called from any thread.
protocol DaemonService: AnyObject, Sendable {
    /// Which loop this is, for health, logs and the thread's name.
    var loop: LoopHealth.Loop { get }
    /// Opens what the loop needs (binds its socket). A failure stops the daemon's start-up.
    func start() throws(StartupFailure)
    /// Works until ``requestStop()``, or until it fails: a failure is recorded in
    /// ``LoopHealth``, never swallowed.
    func run()
    /// Asks ``run()`` to return after the work in hand.
    func requestStop()
}

/// A service whose loop polls an eventfd that asks it to stop.
protocol StoppedByEventFD {
    var stop: EventFD { get }
}

extension DaemonService where Self: StoppedByEventFD {
    func requestStop() { try? stop.signal() }  // an eventfd signal fails only on counter overflow
}

/// Starts the daemon's services in a declared order, each on its own thread and each only
/// after the previous one has started (the ZAP handler must be bound before any CURVE socket,
/// consumers before producers of data), and stops them in the reverse order, so data flows
/// out before the loops it flows to stop.
final class Supervisor {
    private let health: LoopHealth
    private var running: [(service: any DaemonService, thread: OSThread)] = []

    init(health: LoopHealth) {
        self.health = health
    }

    /// Starts `services` in order; on the first failure stops those already started and throws.
    func start(_ services: [any DaemonService]) throws(StartupFailure) {
        for service in services {
            let outcome = Mutex<Result<Void, StartupFailure>?>(nil)
            health.register(service.loop)
            let thread = OSThread(name: service.loop.rawValue) {
                do throws(StartupFailure) {
                    try service.start()
                    outcome.withLock { $0 = .success(()) }
                } catch {
                    outcome.withLock { $0 = .failure(error) }
                    return
                }
                service.run()
            }
            // Start-up is quick (a bind), so waiting by polling costs nothing worth a condition variable.
            var result: Result<Void, StartupFailure>?
            while result == nil {
                result = outcome.withLock { $0 }
                if result == nil { usleep(500) }
            }
            if case .failure(let failure) = result {
                thread.join()
                stopAll()
                throw failure
            }
            running.append((service, thread))
        }
    }

    /// Stops every started service, the last started first, each joined before the next.
    func stopAll() {
        while let (service, thread) = running.popLast() {
            service.requestStop()
            thread.join()
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Set by the SIGINT/SIGTERM handler, read by the command loops.
private let interruptRequested = Atomic<Bool>(false)

/// Ctrl-C and SIGTERM as a polled flag, so the synchronous command loops (which poll with
/// short timeouts) can stop cleanly and print their summary.
public enum Interrupt {
    /// Installs handlers for SIGINT and SIGTERM that set ``isRequested``. A second SIGINT
    /// gets the default action (ends the process), so a stuck loop can still be killed.
    public static func install() {
        signal(SIGINT) { _ in
            // Only async-signal-safe work here: a lock-free store and signal(2).
            interruptRequested.store(true, ordering: .relaxed)
            signal(SIGINT, SIG_DFL)
        }
        signal(SIGTERM) { _ in
            interruptRequested.store(true, ordering: .relaxed)
        }
    }

    /// Whether SIGINT or SIGTERM arrived since ``install()``.
    public static var isRequested: Bool { interruptRequested.load(ordering: .relaxed) }
}

/// Sleeps on the calling thread for up to `duration`, in steps of at most `step`, returning
/// early once `stop()` is true. Returns whether it was stopped.
@discardableResult
func sleep(for duration: Duration, step: Duration = .milliseconds(5), stop: () -> Bool) -> Bool {
    let clock = ContinuousClock()
    let deadline = clock.now + duration
    while true {
        if stop() { return true }
        let left = deadline - clock.now
        if left <= .zero { return false }
        sleepBlocking(min(left, step))
    }
}

/// Blocks the calling thread (never call from async code) for `duration`.
func sleepBlocking(_ duration: Duration) {
    let (seconds, attoseconds) = duration.components
    guard seconds > 0 || attoseconds > 0 else { return }
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    // An interrupting signal ends the nap early; callers re-check their deadline anyway.
    _ = nanosleep(&request, &remaining)
}

import Glibc

/// Wall-clock and monotonic time for the daemon (the core never reads a clock).
public enum Clock {
    /// Milliseconds since the Unix epoch.
    public static func unixMilliseconds() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    /// Monotonic nanoseconds.
    public static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }

    /// Monotonic milliseconds.
    public static func monotonicMilliseconds() -> UInt64 { monotonicNanoseconds() / 1_000_000 }
}

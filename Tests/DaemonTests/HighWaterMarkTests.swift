@testable import Daemon
import Testing

/// The PULL input's receive high-water mark, kept at about `input.buffer_bytes` of messages.
struct HighWaterMarkTests {
    static func input(_ socket: DaemonConfiguration.InputSocket, budget: Int, ceiling: Int = 100_000) -> DaemonConfiguration.Input {
        var input = DaemonConfiguration.Input()
        input.socket = socket
        input.bufferBytes = budget
        input.highWaterMark = ceiling
        return input
    }

    @Test func followsTheSizeOfTheMessages() {
        var mark = IngestLoop.HighWaterMark(Self.input(.pull, budget: 32 << 20))
        #expect(mark.current == 1000, "libzmq's default until a message is seen")
        // 1.5 MiB batches: about 21 of them.
        #expect(mark.observe(bytes: 1536 << 10) == 21)
        #expect(mark.observe(bytes: 1536 << 10) == nil, "no change, no system call")
        // Single vectors of 1.5 KiB: the mean falls over a few dozen messages and the mark rises
        // to within a factor 2 of the budget's 21 845 (it moves only by halves and doubles).
        var last = mark.current
        for _ in 0..<200 { if let next = mark.observe(bytes: 1536) { last = next } }
        #expect(last > 21_845 / 2 && last <= 21_845, "\(last)")
        var small = IngestLoop.HighWaterMark(Self.input(.pull, budget: 32 << 20, ceiling: 5000))
        #expect(small.observe(bytes: 100) == 5000)
        // Messages larger than the budget: never below the minimum.
        var huge = IngestLoop.HighWaterMark(Self.input(.pull, budget: 1 << 20))
        #expect(huge.observe(bytes: 64 << 20) == IngestLoop.minimumHighWaterMark)
    }

    @Test func subAndAZeroBudgetKeepTheConfiguredMark() {
        var sub = IngestLoop.HighWaterMark(Self.input(.sub, budget: 32 << 20, ceiling: 7000))
        #expect(sub.current == 7000)
        #expect(sub.observe(bytes: 1 << 20) == nil)
        var off = IngestLoop.HighWaterMark(Self.input(.pull, budget: 0, ceiling: 7000))
        #expect(off.current == 7000)
        #expect(off.observe(bytes: 1 << 20) == nil)
    }
}

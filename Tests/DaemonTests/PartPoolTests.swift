import Daemon
import Glibc
import Synchronization
import Testing

/// The threads that run a batch's parts (`PartPool`, `CPartPool`).
struct PartPoolTests {
    /// Every part runs exactly once per call, whatever the number of parts against threads, over
    /// many calls in a row (a pool thread still polling must never take a part of the next call).
    @Test(arguments: [(width: 2, parts: 2), (width: 2, parts: 7), (width: 3, parts: 2), (width: 4, parts: 64)])
    func everyPartRunsOncePerCall(width: Int, parts: Int) {
        let pool = PartPool(width: width)
        let counts = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: parts)
        for p in 0..<parts { (counts + p).initialize(to: Atomic(0)) }
        defer { counts.deallocate() }
        for call in 1...3_000 {
            pool.run(parts) { p in counts[p].add(1, ordering: .relaxed) }
            // Every part done before run returns: no count may lag behind the call number.
            for p in 0..<parts where counts[p].load(ordering: .relaxed) != call {
                Issue.record("call \(call): part \(p) ran \(counts[p].load(ordering: .relaxed)) times")
                return
            }
        }
    }

    /// The parts of one call really run on more than one thread at once: two parts that each
    /// wait for the other finish only if both run together.
    @Test func partsRunConcurrently() {
        let pool = PartPool(width: 2)
        let arrived = Atomic<Int>(0)
        let metEachOther = Atomic<Int>(0)
        pool.run(2) { _ in
            arrived.add(1, ordering: .sequentiallyConsistent)
            let deadline = Clock.monotonicNanosecondsForTests() + 5_000_000_000
            while arrived.load(ordering: .sequentiallyConsistent) < 2 && Clock.monotonicNanosecondsForTests() < deadline {}
            if arrived.load(ordering: .sequentiallyConsistent) == 2 { metEachOther.add(1, ordering: .relaxed) }
        }
        #expect(metEachOther.load(ordering: .relaxed) == 2)
    }

    /// Width 1, or one part: everything on the caller, in order.
    @Test func oneWideRunsInOrderOnTheCaller() {
        let pool = PartPool(width: 1)
        let caller = pthread_self()
        var order: [Int] = []
        var onCaller = true
        pool.run(4) { p in
            order.append(p)
            onCaller = onCaller && pthread_equal(pthread_self(), caller) != 0
        }
        #expect(order == [0, 1, 2, 3])
        #expect(onCaller)
    }

    /// Between batches the pool's threads poll briefly and then sleep: an idle pool takes no
    /// processor time, so an idle daemon does not either.
    @Test func anIdlePoolSleeps() {
        let name = "vtest-idle"
        let pool = PartPool(width: 2, pollNanoseconds: 1_000_000, name: name)
        pool.run(2) { _ in }
        usleep(50_000)
        let before = Self.processorTicks(ofThreadsNamed: name)
        #expect(before != nil, "the pool's thread carries its name")
        usleep(300_000)
        let used = (Self.processorTicks(ofThreadsNamed: name) ?? 0) - (before ?? 0)
        // Clock ticks are hundredths of a second: at most one tick of 30.
        #expect(used <= 1, "an idle pool used \(used) ticks of processor time in 0.3 s")
        // And it wakes for the next call.
        let ran = Atomic<Int>(0)
        pool.run(2) { _ in ran.add(1, ordering: .relaxed) }
        #expect(ran.load(ordering: .relaxed) == 2)
    }

    /// User and system clock ticks of this process's threads named `name`, from `/proc`; nil
    /// when there is none. Other tests run at the same time, so the process's total would not do.
    static func processorTicks(ofThreadsNamed name: String) -> Int? {
        guard let tasks = opendir("/proc/self/task") else { return nil }
        defer { closedir(tasks) }
        var total: Int?
        while let entry = readdir(tasks) {
            let tid = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
            guard Int(tid) != nil, read("/proc/self/task/\(tid)/comm")?.trimmingSuffixNewline == name,
                  let stat = read("/proc/self/task/\(tid)/stat"), let close = stat.lastIndex(of: ")") else { continue }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            // After the name: state is field 3, utime 14 and stime 15 (proc(5)).
            guard fields.count > 12, let user = Int(fields[11]), let system = Int(fields[12]) else { continue }
            total = (total ?? 0) + user + system
        }
        return total
    }

    static func read(_ path: String) -> String? {
        guard let file = fopen(path, "r") else { return nil }
        defer { fclose(file) }
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = fread(&buffer, 1, buffer.count - 1, file)
        return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

private extension String {
    var trimmingSuffixNewline: String { hasSuffix("\n") ? String(dropLast()) : self }
}

private enum Clock {
    static func monotonicNanosecondsForTests() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}

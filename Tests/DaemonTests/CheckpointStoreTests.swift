import Clustering
@testable import Daemon
import Glibc
import Testing

@Suite struct CheckpointStoreTests {
    static func temporaryDirectory() -> String {
        var template = Array("/tmp/voronoid-test-XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)) }
        return path
    }

    static func remove(_ dir: String) {
        for name in CheckpointStore(directory: dir).list() { unlink(dir + "/" + name) }
        rmdir(dir)
    }

    static func state(version: UInt64) -> ModelState {
        var s = ModelState(centers: [1, 2, 3, 4], k: 2, dimension: 2, schedule: .constant(1), random: RandomSource(seed: version))
        s.batches = version
        s.counts = [Double(version), 2]
        return s
    }

    @Test func newestValidWinsAndDamagedOnesAreReported() throws {
        let dir = Self.temporaryDirectory()
        defer { Self.remove(dir) }
        let store = CheckpointStore(directory: dir)
        try store.write(Self.state(version: 5))
        let newest = try store.write(Self.state(version: 9))
        #expect(store.list().count == 2)
        #expect(store.loadNewest().state == Self.state(version: 9))
        // Damage the newest: the previous one is used, and the damage is reported.
        var bytes = try LocalFile.read(newest)
        bytes[40] ^= 0xFF
        let fd = open(newest, O_WRONLY | O_TRUNC)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let found = store.loadNewest()
        #expect(found.state == Self.state(version: 5))
        #expect(found.skipped.count == 1 && found.skipped[0].reason.contains("checksum"))
    }

    @Test func onlyTheNewestTwoAreKept() throws {
        let dir = Self.temporaryDirectory()
        defer { Self.remove(dir) }
        let store = CheckpointStore(directory: dir)
        for v in [1, 2, 3, 10, 11] as [UInt64] { try store.write(Self.state(version: v)) }
        #expect(store.list() == ["checkpoint-00000000000000000011.vrnd", "checkpoint-00000000000000000010.vrnd"])
    }

    @Test func anUnwritableDirectoryIsAnErrorNotACrash() {
        let store = CheckpointStore(directory: "/proc/voronoid-cannot-write-here")
        #expect(throws: CheckpointStore.Failure.self) { try store.write(Self.state(version: 1)) }
    }
}

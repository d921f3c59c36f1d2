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
        let store = CheckpointStore(directory: dir)
        for name in store.list() + store.damaged() + [".running"] { unlink(dir + "/" + name) }
        rmdir(dir)
    }

    static func state(version: UInt64, epoch: UInt64 = 1) -> ModelState {
        var s = ModelState(centers: [1, 2, 3, 4], k: 2, dimension: 2, schedule: .constant(1), random: RandomSource(seed: version), epoch: epoch)
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
        #expect(store.list() == ["checkpoint-00000000000000000005.vrnd", "checkpoint-00000000000000000004.vrnd"])
        #expect(store.loadNewest().state == Self.state(version: 11))
    }

    static func damage(_ path: String) throws {
        var bytes = try LocalFile.read(path)
        bytes[40] ^= 0xFF
        let fd = open(path, O_WRONLY | O_TRUNC)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
    }

    /// A new model (`--fresh`) starts again at version 1: its checkpoints must still be the
    /// newest, never pruned in favour of the old model's higher versions.
    @Test func aFreshModelsCheckpointsOutliveTheOldModelsHigherVersions() throws {
        let dir = Self.temporaryDirectory()
        defer { Self.remove(dir) }
        let store = CheckpointStore(directory: dir)
        for v in [500, 900] as [UInt64] { try store.write(Self.state(version: v, epoch: 1)) }
        try store.write(Self.state(version: 1, epoch: 2))
        #expect(store.loadNewest().state == Self.state(version: 1, epoch: 2))
        try store.write(Self.state(version: 2, epoch: 2))
        #expect(store.list().count == 2)
        #expect(store.loadNewest().state == Self.state(version: 2, epoch: 2))
        // The shutdown checkpoint of the new model survives a restart of the store.
        #expect(CheckpointStore(directory: dir).loadNewest().state == Self.state(version: 2, epoch: 2))
    }

    /// After falling back past a damaged newest checkpoint, the damaged file holds none of the
    /// two places: the next write leaves two valid checkpoints, the older good one among them.
    @Test func aDamagedCheckpointIsMovedAsideAndTwoValidOnesStay() throws {
        let dir = Self.temporaryDirectory()
        defer { Self.remove(dir) }
        let store = CheckpointStore(directory: dir)
        try store.write(Self.state(version: 3))
        try store.write(Self.state(version: 4))
        let newest = try store.write(Self.state(version: 5))
        try Self.damage(newest)
        let found = store.loadNewest()
        #expect(found.state == Self.state(version: 4))
        #expect(found.skipped.count == 1 && found.skipped[0].movedTo != nil)
        #expect(store.damaged() == ["damaged-checkpoint-00000000000000000003.vrnd"])
        #expect(store.list() == ["checkpoint-00000000000000000002.vrnd"])
        // Training goes on from version 4; its next checkpoint takes a sequence never used.
        let next = try store.write(Self.state(version: 5, epoch: 7))
        #expect(next.hasSuffix("checkpoint-00000000000000000004.vrnd"))
        #expect(store.list().count == 2)
        for name in store.list() {
            #expect((try? ModelState(encoded: LocalFile.read(dir + "/" + name))) != nil, "\(name) must be valid")
        }
        #expect(store.loadNewest().state == Self.state(version: 5, epoch: 7))
    }

    /// Every damaged checkpoint is skipped; with none valid, nothing is restored and nothing valid is lost.
    @Test func allDamagedRestoresNothing() throws {
        let dir = Self.temporaryDirectory()
        defer { Self.remove(dir) }
        let store = CheckpointStore(directory: dir)
        try Self.damage(try store.write(Self.state(version: 1)))
        try Self.damage(try store.write(Self.state(version: 2)))
        let found = store.loadNewest()
        #expect(found.state == nil && found.skipped.count == 2)
        #expect(store.list().isEmpty && store.damaged().count == 2)
        #expect(store.nextSequence() == 3)
    }

    /// Checkpoints named by version (an earlier layout) are read, and the sequence continues above them.
    @Test func versionNamedCheckpointsAreContinued() throws {
        let dir = Self.temporaryDirectory()
        defer { Self.remove(dir) }
        let bytes = Self.state(version: 77).encoded()
        let fd = open(dir + "/checkpoint-00000000000000000077.vrnd", O_WRONLY | O_CREAT, 0o600)
        _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        close(fd)
        let store = CheckpointStore(directory: dir)
        #expect(store.loadNewest().state == Self.state(version: 77))
        #expect(try store.write(Self.state(version: 1, epoch: 2)).hasSuffix("00000000000000000078.vrnd"))
    }

    @Test func faultLoopNamesAreTheLoops() {
        #expect(DaemonConfiguration.Fault.loopNames == LoopHealth.Loop.allCases.map(\.rawValue))
    }

    @Test func theRunningMarkerTellsAnUncleanStop() {
        let dir = Self.temporaryDirectory()
        defer { Self.remove(dir) }
        let store = CheckpointStore(directory: dir)
        #expect(store.markRunning() == false)
        #expect(store.markRunning() == true, "a second start without a stop finds the marker")
        store.markStopped()
        #expect(store.markRunning() == false)
    }

    @Test func anUnwritableDirectoryIsAnErrorNotACrash() {
        let store = CheckpointStore(directory: "/proc/voronoid-cannot-write-here")
        #expect(throws: CheckpointStore.Failure.self) { try store.write(Self.state(version: 1)) }
    }
}

import Clustering
import Glibc

/// Checkpoint files in one directory, written atomically and read back newest-valid-first.
///
/// Each checkpoint is `checkpoint-<sequence, 20 digits>.vrnd`. The sequence only grows: each
/// write takes one more than the highest in the directory, across restarts, `--fresh` and
/// restores from an older checkpoint, so "newest" always means "written last" (the model
/// epoch and version are inside the file). A write goes to a temporary file, is `fsync`ed,
/// renamed to its final name, and the directory is `fsync`ed. After a write the newest
/// ``keep`` checkpoints stay; a checkpoint that fails to read back is moved aside as
/// `damaged-…` so it never holds one of those places.
public struct CheckpointStore: Sendable {
    /// The directory.
    public let directory: String
    /// How many checkpoints to keep (at least 2).
    public let keep: Int
    /// Damaged files kept for inspection; older ones are removed.
    public static let damagedKept = 4
    /// Called after a checkpoint's bytes are written and before they are synced (fault
    /// injection: a slow disk).
    let beforeSync: @Sendable () -> Void

    public init(directory: String, keep: Int = 2, beforeSync: @escaping @Sendable () -> Void = {}) {
        self.directory = directory
        self.keep = max(2, keep)
        self.beforeSync = beforeSync
    }

    /// A failed checkpoint operation, with the system's reason.
    public struct Failure: Error, CustomStringConvertible {
        public var operation: String
        public var path: String
        public var errno: Int32
        public var description: String { "\(operation) \(path): \(String(cString: strerror(errno)))" }
    }

    /// Something found while restoring that an operator should hear about.
    public struct Skipped: Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        /// Where the damaged file was moved (nil: it could not be moved and was left in place).
        public var movedTo: String?
        public var description: String {
            "\(path): \(reason)" + (movedTo.map { "; moved aside to \($0)" } ?? "")
        }
    }

    static let prefix = "checkpoint-"
    static let damagedPrefix = "damaged-"
    static let suffix = ".vrnd"

    /// The file name of checkpoint `sequence`.
    static func name(sequence: UInt64) -> String {
        let digits = String(sequence)
        return prefix + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + suffix
    }

    /// The sequence in a checkpoint file name, or nil for any other name.
    static func sequence(of name: String, prefix: String = prefix) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count == prefix.count + 20 + suffix.count else { return nil }
        return UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
    }

    private func names(prefix: String) -> [(name: String, sequence: UInt64)] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var found: [(String, UInt64)] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if let s = Self.sequence(of: name, prefix: prefix) { found.append((name, s)) }
        }
        return found.sorted { $0.1 > $1.1 }
    }

    /// Checkpoint file names, newest (highest sequence) first.
    public func list() -> [String] { names(prefix: Self.prefix).map(\.name) }

    /// Files moved aside as damaged, newest first.
    public func damaged() -> [String] { names(prefix: Self.damagedPrefix + Self.prefix).map(\.name) }

    /// The sequence the next write takes: one more than any checkpoint, valid or damaged.
    public func nextSequence() -> UInt64 {
        let highest = max(names(prefix: Self.prefix).first?.sequence ?? 0,
                          names(prefix: Self.damagedPrefix + Self.prefix).first?.sequence ?? 0)
        return highest &+ 1
    }

    /// The newest checkpoint that reads back, with the ones skipped on the way; every skipped
    /// file is moved aside (renamed `damaged-…`) so later pruning keeps only valid ones.
    public func loadNewest() -> (state: ModelState?, path: String?, skipped: [Skipped]) {
        var skipped: [Skipped] = []
        for name in list() {
            let path = directory + "/" + name
            do {
                let bytes = try LocalFile.read(path)
                let state = try ModelState(encoded: bytes)
                return (state, path, skipped)
            } catch {
                let reason = (error as? ModelStateError)?.description ?? "\(error)"
                let aside = directory + "/" + Self.damagedPrefix + name
                let moved = rename(path, aside) == 0
                skipped.append(Skipped(path: path, reason: reason, movedTo: moved ? aside : nil))
            }
        }
        if !skipped.isEmpty { syncDirectory() }
        for old in damaged().dropFirst(Self.damagedKept) { unlink(directory + "/" + old) }
        return (nil, nil, skipped)
    }

    /// Writes `bytes` (an encoded model) atomically as the next checkpoint and prunes old ones;
    /// returns the path.
    @discardableResult
    public func write(encoded bytes: [UInt8]) throws(Failure) -> String {
        let path = directory + "/" + Self.name(sequence: nextSequence())
        let temporary = directory + "/.checkpoint.tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure(operation: "open", path: temporary, errno: errno) }
        var written = 0
        let ok: Bool = bytes.withUnsafeBytes { raw in
            while written < raw.count {
                let n = Glibc.write(fd, raw.baseAddress! + written, raw.count - written)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                written += n
            }
            return true
        }
        let writeErrno = errno
        if !ok {
            close(fd)
            unlink(temporary)
            throw Failure(operation: "write", path: temporary, errno: writeErrno)
        }
        beforeSync()
        if fsync(fd) != 0 {
            let e = errno
            close(fd)
            unlink(temporary)
            throw Failure(operation: "fsync", path: temporary, errno: e)
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let e = errno
            unlink(temporary)
            throw Failure(operation: "rename", path: path, errno: e)
        }
        syncDirectory()
        for old in list().dropFirst(keep) { unlink(directory + "/" + old) }
        return path
    }

    /// Writes `state` as the next checkpoint; see ``write(encoded:)``.
    @discardableResult
    public func write(_ state: ModelState) throws(Failure) -> String {
        try write(encoded: state.encoded())
    }

    /// The marker present while a daemon runs on this directory: found at start, it means the
    /// last run did not stop cleanly.
    var runningMarker: String { directory + "/.running" }

    /// Marks the directory as in use; returns whether the marker was already there (the
    /// previous run ended without a clean stop).
    public func markRunning() -> Bool {
        let existed = access(runningMarker, F_OK) == 0
        let fd = open(runningMarker, O_WRONLY | O_CREAT | O_CLOEXEC, 0o600)
        if fd >= 0 { close(fd) }
        syncDirectory()
        return existed
    }

    /// Marks a clean stop: the newest checkpoint holds the last model published.
    public func markStopped() {
        unlink(runningMarker)
        syncDirectory()
    }

    /// Makes renames and unlinks in the directory durable. A failure here is not reported: the
    /// files themselves are synced, and the next write syncs the directory again.
    private func syncDirectory() {
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
    }
}

/// Reading small local files (configuration, keys, checkpoints, /proc) without Foundation.
enum LocalFile {
    /// The whole file, read with plain system calls; fails beyond about 1 GiB, which no file
    /// the daemon reads (configuration, keys, checkpoints) can legitimately reach.
    static func read(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw CheckpointStore.Failure(operation: "open", path: path, errno: errno) }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw CheckpointStore.Failure(operation: "read", path: path, errno: errno)
            }
            if n == 0 { break }
            out.append(contentsOf: chunk[0..<n])
            if out.count > ModelState.maximumElements * 4 + (1 << 20) {
                throw CheckpointStore.Failure(operation: "read", path: path, errno: EFBIG)
            }
        }
        return out
    }
}

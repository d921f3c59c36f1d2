import Clustering
import Glibc

/// Checkpoint files in one directory, written atomically and read back newest-valid-first.
///
/// Each checkpoint is `checkpoint-<model version, 20 digits>.vrnd`, written as: a temporary file,
/// `fsync`, `rename` to its final name, `fsync` of the directory. The two newest are kept, so a
/// damaged newest one still leaves the previous good one.
public struct CheckpointStore: Sendable {
    /// The directory.
    public let directory: String
    /// How many checkpoints to keep (at least 2).
    public let keep: Int

    public init(directory: String, keep: Int = 2) {
        self.directory = directory
        self.keep = max(2, keep)
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
        public var description: String { "\(path): \(reason)" }
    }

    /// Checkpoint file names, newest first.
    public func list() -> [String] {
        guard let dir = opendir(directory) else { return [] }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            if name.hasPrefix("checkpoint-") && name.hasSuffix(".vrnd") && name.count == 11 + 20 + 5 {
                names.append(name)
            }
        }
        return names.sorted(by: >)
    }

    /// The newest checkpoint that reads back, with the ones skipped on the way.
    public func loadNewest() -> (state: ModelState?, path: String?, skipped: [Skipped]) {
        var skipped: [Skipped] = []
        for name in list() {
            let path = directory + "/" + name
            do {
                let bytes = try LocalFile.read(path)
                let state = try ModelState(encoded: bytes)
                return (state, path, skipped)
            } catch let error as ModelStateError {
                skipped.append(Skipped(path: path, reason: error.description))
            } catch {
                skipped.append(Skipped(path: path, reason: "\(error)"))
            }
        }
        return (nil, nil, skipped)
    }

    /// Writes `state` atomically and prunes old checkpoints; returns the path.
    @discardableResult
    public func write(_ state: ModelState) throws -> String {
        let digits = String(state.batches)
        let name = "checkpoint-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".vrnd"
        let path = directory + "/" + name
        let temporary = directory + "/.checkpoint.tmp"
        let bytes = state.encoded()
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
        let dfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dfd >= 0 {
            _ = fsync(dfd)
            close(dfd)
        }
        for old in list().dropFirst(keep) { unlink(directory + "/" + old) }
        return path
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

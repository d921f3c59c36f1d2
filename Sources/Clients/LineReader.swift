#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open C stream, closed when released (standard input is left open).
final class CFile {
    let pointer: UnsafeMutablePointer<FILE>
    let isStandardInput: Bool

    private init(pointer: UnsafeMutablePointer<FILE>, isStandardInput: Bool) {
        self.pointer = pointer
        self.isStandardInput = isStandardInput
    }

    /// Opens `path` for reading; `-` is standard input.
    /// - Throws: ``ClientError`` `.io` with the system's reason.
    static func open(_ path: String) throws(ClientError) -> CFile {
        if path == "-" {
            guard let f = fdopen(0, "rb") else {
                throw ClientError(.io, "cannot read standard input: \(String(cString: strerror(errno)))")
            }
            return CFile(pointer: f, isStandardInput: true)
        }
        guard let f = fopen(path, "rb") else {
            throw ClientError(.io, "cannot open \(path): \(String(cString: strerror(errno)))")
        }
        return CFile(pointer: f, isStandardInput: false)
    }

    deinit {
        // Closing the stream over descriptor 0 would close standard input for the whole
        // process; the stream object itself is small, so it is left to process exit.
        if !isStandardInput { fclose(pointer) }
    }
}

/// Reads text lines one at a time from a C stream or from bytes in memory, counting them.
///
/// A class so that getline's buffer has exactly one owner and is freed once.
final class LineReader {
    private let file: CFile?
    private let name: String
    private let memory: [UInt8]
    private var memoryOffset = 0
    private var buffer: UnsafeMutablePointer<CChar>?
    private var capacity = 0
    /// The 1-based number of the line last returned (0 before the first).
    private(set) var lineNumber = 0

    init(file: CFile, name: String) {
        self.file = file
        self.name = name
        self.memory = []
    }

    init(text: String) {
        self.file = nil
        self.name = "text"
        self.memory = Array(text.utf8)
    }

    deinit { free(buffer) }

    var canRewind: Bool { !(file?.isStandardInput ?? false) }

    /// The next line without its terminator (`\n` or `\r\n`), or nil at the end.
    /// - Throws: ``ClientError`` `.io` on a read error.
    func nextLine() throws(ClientError) -> String? {
        guard let file else {
            guard memoryOffset < memory.count else { return nil }
            let end = memory[memoryOffset...].firstIndex(of: 0x0A) ?? memory.count
            defer { memoryOffset = end + 1 }
            lineNumber += 1
            return memory.withUnsafeBytes { Self.decode(UnsafeRawBufferPointer(rebasing: $0[memoryOffset..<end])) }
        }
        let n = getline(&buffer, &capacity, file.pointer)
        if n < 0 {
            if ferror(file.pointer) != 0 {
                throw ClientError(.io, "cannot read \(name): \(String(cString: strerror(errno)))")
            }
            return nil
        }
        lineNumber += 1
        return Self.decode(UnsafeRawBufferPointer(start: buffer, count: n))
    }

    /// Restarts at the first line.
    /// - Throws: ``ClientError`` `.unsupported` for standard input, `.io` if seeking fails.
    func rewind() throws(ClientError) {
        lineNumber = 0
        guard let file else {
            memoryOffset = 0
            return
        }
        guard !file.isStandardInput else { throw ClientError(.unsupported, "standard input cannot be rewound") }
        guard fseek(file.pointer, 0, SEEK_SET) == 0 else {
            throw ClientError(.io, "cannot rewind \(name): \(String(cString: strerror(errno)))")
        }
        clearerr(file.pointer)
    }

    /// Drops trailing line feeds and carriage returns (on bytes: Swift treats "\r\n" as one
    /// Character, so trimming Characters would miss it).
    private static func decode(_ bytes: UnsafeRawBufferPointer) -> String {
        var n = bytes.count
        while n > 0, bytes[n - 1] == 0x0A || bytes[n - 1] == 0x0D { n -= 1 }
        return String(decoding: UnsafeRawBufferPointer(rebasing: bytes[0..<n]), as: UTF8.self)
    }
}

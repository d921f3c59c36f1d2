@testable import Clustering
import Foundation
import Testing

/// The large buffers' huge-page advice: contents as asked for at every size, and the advice
/// recorded on the mapping wherever the kernel has transparent huge pages.
@Suite struct LargeBufferTests {
    @Test("arrays hold what they were filled with, below, at and above 2 MiB and unaligned")
    func contents() {
        let twoMiB = (2 << 20) / MemoryLayout<Float>.stride
        for count in [0, 1, 1000, twoMiB - 1, twoMiB, twoMiB + 3, 3 * twoMiB + 17] {
            let zeros: [Float] = LargeBuffer.array(repeating: 0, count: count)
            #expect(zeros.count == count && zeros.allSatisfy { $0 == 0 })
            let ramp: [Float] = LargeBuffer.array(count: count) { b in for i in b.indices { b[i] = Float(i) } }
            #expect(ramp.count == count && ramp.indices.allSatisfy { ramp[$0] == Float($0) })
        }
        let p = LargeBuffer.allocate(Int32.self, capacity: 3 << 20)
        defer { p.deallocate() }
        p.initialize(repeating: 7, count: 3 << 20)
        #expect(p[0] == 7 && p[(3 << 20) - 1] == 7)
    }

    @Test("an 8 MiB buffer's mapping carries the huge-page advice where the kernel has THP")
    func advice() throws {
        let count = 8 << 20
        let p = LargeBuffer.allocate(UInt8.self, capacity: count)
        defer { p.deallocate() }
        p.initialize(repeating: 1, count: count)
        let address = UInt(bitPattern: p) + UInt(count / 2)
        // The mapping that holds the middle of the buffer, and its VmFlags line ("hg": advised).
        // Read to the end: /proc files report a size of 0, which a whole-file read may trust.
        let handle = try #require(FileHandle(forReadingAtPath: "/proc/self/smaps"))
        defer { try? handle.close() }
        let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        var inside = false
        var holding = false
        var flags: [Substring]?
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), fields.count >= 5,
               let dash = range.firstIndex(of: "-"),
               let lo = UInt(range[..<dash], radix: 16), let hi = UInt(range[range.index(after: dash)...], radix: 16) {
                inside = lo <= address && address < hi
                holding = holding || inside
            } else if inside, line.hasPrefix("VmFlags:") {
                flags = fields.dropFirst().map { $0 }
                break
            }
        }
        #expect(holding, "no mapping in /proc/self/smaps holds the buffer")
        let hasTHP = FileManager.default.fileExists(atPath: "/sys/kernel/mm/transparent_hugepage/enabled")
        if smaps.contains("VmFlags:") {
            let found = try #require(flags, "the buffer's mapping has no VmFlags line")
            #expect(found.contains("hg") == hasTHP, "VmFlags \(found), THP in this kernel: \(hasTHP)")
        } else {
            // A kernel whose smaps lists no flags (a sandbox's): the advice cannot be seen, and
            // must not have cost the contents, checked above and by the other test.
            #expect(p[0] == 1 && p[count - 1] == 1)
        }
    }
}

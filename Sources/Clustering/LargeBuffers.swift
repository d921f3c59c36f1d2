import CKernelShims

/// Storage for the core's large buffers (the seeding's Gram matrix, the updater's row × center
/// scratch and step sums), asked to be backed by transparent huge pages.
///
/// Debian runs THP in `madvise` mode, so without the advice every 4 KiB of a buffer costs a page
/// fault when first written, and every 4 KiB touched later a TLB entry: the seeding's 64 MiB Gram
/// matrix at 4 096 warm-up rows was 16 K page faults. The advice covers the 2 MiB-aligned part
/// of each buffer and changes nothing else: the memory, its contents and its release are those
/// of an ordinary allocation, and where the kernel declines, the pages stay ordinary.
enum LargeBuffer {
    /// `UnsafeMutablePointer.allocate(capacity:)` with the advice; release with `deallocate()`.
    static func allocate<T>(_ type: T.Type, capacity: Int) -> UnsafeMutablePointer<T> {
        let p = UnsafeMutablePointer<T>.allocate(capacity: capacity)
        voronoid_advise_huge_pages(p, capacity * MemoryLayout<T>.stride)
        return p
    }

    /// An array of `count` elements written by `fill` (which must initialise all of them),
    /// with the advice given before the first write.
    static func array<T>(count: Int, _ fill: (UnsafeMutableBufferPointer<T>) -> Void) -> [T] {
        [T](unsafeUninitializedCapacity: count) { buffer, initialized in
            if let base = buffer.baseAddress { voronoid_advise_huge_pages(base, count * MemoryLayout<T>.stride) }
            fill(UnsafeMutableBufferPointer(rebasing: buffer[0..<count]))
            initialized = count
        }
    }

    /// `count` copies of `value`, with the advice given before they are written.
    static func array<T>(repeating value: T, count: Int) -> [T] {
        array(count: count) { $0.initialize(repeating: value) }
    }
}

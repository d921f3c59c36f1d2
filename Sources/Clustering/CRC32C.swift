import CKernelShims

/// CRC-32C (Castagnoli), the checksum of the model-state format.
///
/// It detects every error confined to 32 consecutive bits, so every single-byte corruption of a
/// saved state is caught. The work is `voronoid_crc32c` in C: SSE 4.2's instruction where the
/// processor has it, eight tables elsewhere.
public enum CRC32C {
    /// The checksum of `bytes`; `hardware: false` takes the table path even where the
    /// instruction exists, so a test can hold the two to the same answers.
    public static func checksum(_ bytes: UnsafeRawBufferPointer, hardware: Bool = true) -> UInt32 {
        guard let base = bytes.baseAddress else { return 0 }
        return voronoid_crc32c(base, bytes.count, hardware ? 1 : 0)
    }
}

/// Facts about how the core's kernels were compiled.
public enum Kernels {
    /// Whether the kernels were compiled for AVX2 and FMA (x86-64-v3) and need them to run.
    #if VORONOID_AVX2
    public static let requiresAVX2 = true
    #else
    public static let requiresAVX2 = false
    #endif
}

import CKernelShims

/// Which vector code the core's C kernels run. One build serves every x86-64 processor: the
/// kernels are compiled for the baseline, for AVX2 + FMA and for AVX-512, and the processor is
/// asked once.
public enum Kernels {
    /// The vector code in use.
    public enum Level: Int, Sendable {
        /// SSE2, every x86-64 processor (and any other architecture).
        case baseline = 1
        /// AVX2 and FMA (x86-64-v3).
        case avx2 = 2
        /// AVX-512 F, BW, VL and DQ (x86-64-v4), with AVX2 and FMA.
        case avx512 = 3
    }

    /// The level the kernels run at.
    public static var level: Level { Level(rawValue: Int(voronoid_kernel_level())) ?? .baseline }

    /// Runs the kernels at `requested`, or the best below it the processor has, and returns
    /// the level in force (tests and benchmarks compare the two on the same data).
    @discardableResult
    public static func setLevel(_ requested: Level) -> Level {
        Level(rawValue: Int(voronoid_set_kernel_level(Int32(requested.rawValue)))) ?? .baseline
    }
}

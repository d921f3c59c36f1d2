import CBLASSelect
import Clustering

/// What this build is: its release version and the versions of the formats it speaks.
///
/// `voronoid --version`, the `voronoid_build_info` metric and the Debian package
/// (`scripts/package-deb.sh` reads `semantic` from this file) all take their numbers from here.
public enum VoronoidVersion {
    /// The release, as a semantic version (https://semver.org).
    public static let semantic = "0.2.0"

    /// The wire protocol version producers, subscribers and query clients speak
    /// (`Sources/Wire/Wire.docc/Protocol.md`).
    public static let wireProtocol = 1

    /// The checkpoint file format this build writes and reads.
    public static let checkpointFormat = Int(ModelState.formatVersion)

    /// The OpenBLAS kernel family the matrix products run on, and, when the process corrected
    /// OpenBLAS's own choice (a processor newer than the library), what it had picked.
    public static var blas: (core: String, detected: String) {
        (String(cString: voronoid_blas_core()), String(cString: voronoid_blas_core_detected()))
    }

    /// ``blas`` as one phrase for logs: `SkylakeX (OpenBLAS picked Prescott)`.
    public static var blasDescription: String {
        let b = blas
        return b.core == b.detected ? b.core : "\(b.core) (OpenBLAS picked \(b.detected))"
    }

    /// The precision of the screen's matrix product on this processor: `bfloat16` where it has
    /// AVX-512 BF16, else `float32` (softmax mode keeps float32 everywhere; see
    /// ``UpdateConfiguration/ProductPrecision``).
    public static var screenProduct: String {
        DistanceKernel.bfloat16Available ? "bfloat16" : "float32"
    }

    /// The text `voronoid --version` prints.
    public static var description: String {
        "voronoid \(semantic) (protocol \(wireProtocol), checkpoint format \(checkpointFormat))"
    }
}

import Clustering
import Glibc

/// Start-up checks of the machine.
public enum HostCheck {
    /// A host that cannot run this build.
    public struct Unsupported: Error, CustomStringConvertible {
        public var description: String
    }

    /// The core's kernels may be built for AVX2 and FMA (see Package.swift); on a processor
    /// without them the first batch would die of SIGILL. Say so clearly at start instead.
    public static func requireVectorUnits() throws(Unsupported) {
        guard Kernels.requiresAVX2 else { return }
        guard let bytes = try? LocalFile.read("/proc/cpuinfo") else { return }
        let text = String(decoding: bytes, as: UTF8.self)
        guard let flags = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else { return }
        let set = Set(flags.split(separator: " ").map(String.init))
        if !set.contains("avx2") || !set.contains("fma") {
            throw Unsupported(description: "this voronoid was built for x86-64 processors with AVX2 and FMA, which this one lacks; rebuild with VORONOID_PORTABLE=1")
        }
    }
}

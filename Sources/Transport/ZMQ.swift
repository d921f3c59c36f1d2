import CZeroMQ

/// Facts about the libzmq library this process is linked with.
public enum ZMQ {
    /// A libzmq version number, such as 4.3.4.
    public struct Version: Hashable, Comparable, Sendable, CustomStringConvertible {
        /// The major version.
        public var major: Int32
        /// The minor version.
        public var minor: Int32
        /// The patch level.
        public var patch: Int32

        /// Creates a version number.
        public init(major: Int32, minor: Int32, patch: Int32) {
            self.major = major
            self.minor = minor
            self.patch = patch
        }

        /// `"major.minor.patch"`.
        public var description: String { "\(major).\(minor).\(patch)" }

        /// Orders versions by major, then minor, then patch.
        public static func < (lhs: Version, rhs: Version) -> Bool {
            (lhs.major, lhs.minor, lhs.patch) < (rhs.major, rhs.minor, rhs.patch)
        }
    }

    /// The version of the libzmq loaded at run time (which may differ from the headers built
    /// against). The corresponding C function is `zmq_version`.
    public static var version: Version {
        var major: Int32 = 0
        var minor: Int32 = 0
        var patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return Version(major: major, minor: minor, patch: patch)
    }

    /// Whether libzmq was built with a capability: `"ipc"`, `"pgm"`, `"tipc"`, `"norm"`,
    /// `"curve"`, `"gssapi"` or `"draft"`.
    ///
    /// Check `has("curve")` before configuring CURVE security: without libsodium, libzmq
    /// rejects the CURVE options with `EINVAL`. The corresponding C function is `zmq_has`.
    public static func has(_ capability: String) -> Bool {
        zmq_has(capability) != 0
    }
}

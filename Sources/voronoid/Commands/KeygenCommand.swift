import ArgumentParser
import Glibc
import Transport

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate a CURVE key pair (Z85) for the daemon or a client.",
        discussion: """
            With --out PREFIX, writes PREFIX.key (the secret key, mode 0600: point \
            security.curve_secret_key_file or a client at it) and PREFIX.pub (the public key: give it \
            to peers, or add it to security.allowed_clients_file). Without --out, prints both.
            """)

    @Option(help: "Write PREFIX.key and PREFIX.pub instead of printing.") var out: String?
    @Flag(help: "Overwrite existing files.") var force = false

    func run() throws {
        let pair = try CurveKeyPair.generate()
        guard let out else {
            print("public \(pair.z85PublicKey)\nsecret \(pair.z85SecretKey)")
            return
        }
        try write(out + ".key", pair.z85SecretKey + "\n", mode: 0o600)
        try write(out + ".pub", pair.z85PublicKey + "\n", mode: 0o644)
        print("wrote \(out).key (secret) and \(out).pub (public \(pair.z85PublicKey))")
    }

    private func write(_ path: String, _ text: String, mode: mode_t) throws {
        let flags = O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL)
        let fd = open(path, flags, mode)
        guard fd >= 0 else {
            throw ValidationError("cannot create \(path): \(String(cString: strerror(errno)))\(errno == EEXIST ? " (use --force to overwrite)" : "")")
        }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard bytes.withUnsafeBytes({ Glibc.write(fd, $0.baseAddress, $0.count) }) == bytes.count else {
            throw ValidationError("cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

import ArgumentParser
import Clients

/// The options that let `produce`, `watch` and `query` reach a daemon whose sockets require
/// CURVE (`security.curve_secret_key_file`).
struct CurveClientOptions: ParsableArguments {
    @Option(name: .customLong("curve-server-key"),
            help: "The daemon's CURVE public key: 40 Z85 characters, or a file holding them (server.pub from keygen).")
    var serverKey: String?
    @Option(name: .customLong("curve-key"),
            help: "This client's CURVE secret key file (client.key from keygen); its public key must be on the daemon's allow-list.")
    var secretKeyFile: String?

    func validate() throws {
        if (serverKey == nil) != (secretKeyFile == nil) {
            throw ValidationError("--curve-server-key and --curve-key go together: the daemon's public key and this client's secret key")
        }
    }

    var enabled: Bool { serverKey != nil }

    /// The keys, read from their files; nil without the options.
    func keys() throws(ClientError) -> CurveClientKeys? {
        guard let serverKey, let secretKeyFile else { return nil }
        return try CurveClientKeys.load(server: serverKey, secretKeyFile: secretKeyFile)
    }
}

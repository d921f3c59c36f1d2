import Clustering
import Glibc

extension DaemonConfiguration {
    /// Builds the configuration from the defaults, then the file, then `key=value` overrides
    /// (command-line flags), validating every value.
    ///
    /// Without an explicit file, `$CONFIGURATION_DIRECTORY/voronoid.toml` is read when systemd
    /// set that variable and the file exists; `state.directory` defaults to `$STATE_DIRECTORY`.
    /// - Throws: ``ConfigurationError`` naming the key and the value.
    public static func load(file: String?, overrides: [String]) throws(ConfigurationError) -> DaemonConfiguration {
        var c = DaemonConfiguration()
        var path = file
        if path == nil, let dir = getenv("CONFIGURATION_DIRECTORY").map({ String(cString: $0) }) {
            let candidate = String(dir.split(separator: ":").first ?? "") + "/voronoid.toml"
            if access(candidate, R_OK) == 0 { path = candidate }
        }
        var pairs: [(String, ConfigurationValue)] = []
        if let path {
            let bytes: [UInt8]
            do {
                bytes = try LocalFile.read(path)
            } catch {
                throw ConfigurationError(key: "--config", reason: "cannot read \(path): \(error)")
            }
            guard let text = String(validating: bytes, as: UTF8.self) else {
                throw ConfigurationError(key: path, reason: "not UTF-8 text")
            }
            pairs += try ConfigurationReader.parse(text, source: path)
        }
        for item in overrides {
            guard let eq = item.firstIndex(of: "=") else {
                throw ConfigurationError(key: "--set", reason: "expected key=value, got \(item)")
            }
            let key = String(item[..<eq]).trimmed
            let value = try ConfigurationReader.parseValue(String(item[item.index(after: eq)...]).trimmed, key: key, bareStrings: true)
            pairs.removeAll { $0.0 == key }
            pairs.append((key, value))
        }
        try ConfigurationReader.apply(pairs, to: &c)
        // "" means the default place: systemd's StateDirectory= when there is one (it may list
        // several, separated by ':'; the first is ours), else no checkpoints. "none" turns them off.
        if c.state.directory.isEmpty, let state = getenv("STATE_DIRECTORY").map({ String(cString: $0) }), !state.isEmpty {
            c.state.directory = String(state.split(separator: ":").first ?? "")
        } else if c.state.directory == "none" {
            c.state.directory = ""
        }
        return c
    }
}

import Clustering
import Glibc

/// One command-line setting: a key and a value already typed, so a flag's text reaches the
/// validators as given (an endpoint or a path may hold quotes, brackets or `=`).
public struct ConfigurationOverride: Sendable, Equatable {
    public var key: String
    public var value: ConfigurationValue

    public init(key: String, value: ConfigurationValue) {
        self.key = key
        self.value = value
    }

    /// A `--set key=value` override: the value is read as a TOML-like scalar or array, and
    /// bare text is a string.
    /// - Throws: ``ConfigurationError`` for text without `=` or a value that cannot be read.
    public init(parsing item: String) throws(ConfigurationError) {
        guard let eq = item.firstIndex(of: "=") else {
            throw ConfigurationError(key: "--set", reason: "expected key=value, got \(item)")
        }
        key = String(item[..<eq]).trimmed
        value = try ConfigurationReader.parseValue(String(item[item.index(after: eq)...]).trimmed, key: key, bareStrings: true)
    }
}

extension DaemonConfiguration {
    /// ``load(file:overrides:)`` with `--set key=value` texts.
    public static func load(file: String?, set items: [String]) throws(ConfigurationError) -> DaemonConfiguration {
        var typed: [ConfigurationOverride] = []
        for item in items { typed.append(try ConfigurationOverride(parsing: item)) }
        return try load(file: file, overrides: typed)
    }

    /// Builds the configuration from the defaults, then the file, then the overrides (command-
    /// line flags, later ones winning), validating every value.
    ///
    /// Without an explicit file, `$CONFIGURATION_DIRECTORY/voronoid.toml` is read when systemd
    /// set that variable and the file exists; `state.directory` defaults to `$STATE_DIRECTORY`.
    /// - Throws: ``ConfigurationError`` naming the key and the value.
    public static func load(file: String?, overrides: [ConfigurationOverride] = []) throws(ConfigurationError) -> DaemonConfiguration {
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
            pairs.removeAll { $0.0 == item.key }
            pairs.append((item.key, item.value))
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

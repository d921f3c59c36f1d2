import TOMLKit

extension ConfigurationReader {
    /// Parses a configuration file's text into (full key, value) pairs, sorted by key.
    ///
    /// The text is TOML 1.0 (multi-line arrays, literal strings, every number form), parsed by
    /// toml++ through TOMLKit; this layer only flattens `[section] key` into `section.key` and
    /// keeps the value kinds the keys take (strings, numbers, booleans, arrays of strings).
    /// - Throws: ``ConfigurationError`` naming the file, line and column of a syntax error, or
    ///   the key of a value of a kind no key takes.
    public static func parse(_ text: String, source: String) throws(ConfigurationError) -> [(String, ConfigurationValue)] {
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            let at = error.source.begin
            // The offending line itself, so the message names the value as well as the place.
            let lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
            let line = at.line >= 1 && at.line <= lines.count ? lines[at.line - 1].trimmed : ""
            throw ConfigurationError(key: "\(source):\(at.line):\(at.column)", reason: "\(error.description), got \(line)")
        } catch {
            throw ConfigurationError(key: source, reason: "\(error)")
        }
        var out: [(String, ConfigurationValue)] = []
        for (name, value) in table {
            if value.type == .table, let section = value.table {
                for (key, inner) in section {
                    out.append(("\(name).\(key)", try convert(inner, key: "\(name).\(key)")))
                }
            } else {
                // A key outside any section: no such key exists, and `apply` says so by name.
                out.append((name, try convert(value, key: name)))
            }
        }
        return out.sorted { $0.0 < $1.0 }
    }

    private static func convert(_ value: TOMLValueConvertible, key: String) throws(ConfigurationError) -> ConfigurationValue {
        switch value.type {
        case .string:
            return .string(value.string ?? "")
        case .int:
            let i = value.int ?? 0
            return .number(Double(i), text: String(i))
        case .double:
            let d = value.double ?? .nan
            return .number(d, text: "\(d)")
        case .bool:
            return .bool(value.bool ?? false)
        case .array:
            var items: [String] = []
            for element in value.array ?? TOMLArray() {
                guard element.type == .string, let s = element.string else {
                    throw ConfigurationError(key: key, reason: "arrays hold strings only, got a \(element.type)")
                }
                items.append(s)
            }
            return .array(items)
        case .table:
            throw ConfigurationError(key: key, reason: "unknown key (no key of voronoid takes a table)")
        default:
            throw ConfigurationError(key: key, reason: "dates and times are not configuration values, got a \(value.type)")
        }
    }
}

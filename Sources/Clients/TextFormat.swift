import Foundation
import Wire

/// Text and JSON renderings of daemon replies and updates, shared by the `query` and
/// `watch` commands (and checked by the tests).
public enum TextFormat {
    /// Centers as a table: a summary line, then one line per center with its soft count,
    /// share and values.
    public static func centersTable(_ s: CentersSnapshot) -> String {
        var out = "k \(s.k)  d \(s.dimension)  model version \(s.modelVersion)  model epoch \(s.modelEpoch)"
            + "  temperature \(number(s.temperature))  start epoch \(s.startEpoch)  seq \(s.sequence)\n"
        let total = s.counts.reduce(0, +)
        out += pad("center", 7, right: true) + pad("count", 13, right: true) + pad("share", 8, right: true) + "  values\n"
        for c in 0..<s.k {
            let share = total > 0 ? s.counts[c] / total : 0
            var line = pad(String(c), 7, right: true) + pad(String(format: "%.2f", s.counts[c]), 13, right: true)
                + pad(String(format: "%.1f%%", share * 100), 8, right: true) + " "
            for j in 0..<s.dimension {
                line += " " + String(format: "%10.4f", Double(s.centers[c * s.dimension + j]))
            }
            out += line + "\n"
        }
        return out
    }

    /// The snapshot as one JSON object (the `centers.json` form: `k`, `d`, `start_epoch`,
    /// `seq`, `model_epoch`, `model_version`, `temperature`, `centers`, `counts`), no newline.
    /// - Throws: ``Wire/WireError`` `.nonFinite` if a value cannot be written as JSON.
    public static func centersJSON(_ s: CentersSnapshot) throws(WireError) -> String {
        var message = WireMessage()
        try s.encodeJSON(topic: WireTopic.centersJSON, into: &message)
        return message.withFrame(1) { String(decoding: $0, as: UTF8.self) }
    }

    /// Stats as aligned `key  value` lines, keys sorted.
    public static func statsTable(_ stats: [String: WireScalar]) -> String {
        let width = (stats.keys.map(\.count).max() ?? 0) + 2
        return stats.keys.sorted().map { key -> String in
            let value: String
            switch stats[key]! {
            case .string(let s): value = s
            case .int(let v): value = String(v)
            case .double(let v): value = number(v)
            }
            return pad(key, width) + value + "\n"
        }.joined()
    }

    /// The header line of ``predictionLine(row:assignments:index:)``.
    public static let predictionHeader = pad("row", 6, right: true) + pad("best", 6, right: true) + pad("dist", 14, right: true) + "  support\n"

    /// One predicted row: its number, best center, squared distance and sparse
    /// responsibilities (`center:weight`, largest first).
    /// - Parameters:
    ///   - row: the row's number in the input (shown).
    ///   - assignments: the reply.
    ///   - index: the row's index in `assignments`.
    public static func predictionLine(row: Int, assignments a: Assignments, index i: Int) -> String {
        let support = sortedSupport(a, i).map { "\($0.center):\(String(format: "%.4f", Double($0.weight)))" }.joined(separator: " ")
        return pad(String(row), 6, right: true) + pad(String(a.best[i]), 6, right: true)
            + pad(String(format: "%.6g", Double(a.distances[i])), 14, right: true) + "  " + support + "\n"
    }

    /// One predicted row as a JSON object without newline:
    /// `{"row":0,"id":7,"best":3,"dist":1.5,"support":[[3,0.75],[0,0.25]]}` (`id` only when
    /// the row has one; support largest first).
    public static func predictionJSON(row: Int, assignments a: Assignments, index i: Int) -> String {
        var out = "{\"row\":\(row)"
        if a.ids.count > 0, let id = a.ids[i] {
            switch id {
            case .int(let v): out += ",\"id\":\(v)"
            case .string(let s): out += ",\"id\":" + jsonString(s)
            }
        }
        // Assignments are validated on decode, so every distance and weight is finite.
        out += ",\"best\":\(a.best[i]),\"dist\":\(a.distances[i].description),\"support\":["
        out += sortedSupport(a, i).map { "[\($0.center),\($0.weight.description)]" }.joined(separator: ",")
        return out + "]}"
    }

    /// `text` as a JSON string literal.
    public static func jsonString(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out + "\""
    }

    /// A compact number: integers without a fraction, others with up to 6 significant digits.
    static func number(_ v: Double) -> String {
        if v == v.rounded(), abs(v) < 1e15 { return String(Int64(v)) }
        return String(format: "%.6g", v)
    }

    /// `n` with thousands separators.
    static func grouped(_ n: Int) -> String {
        let digits = String(abs(n))
        var out = ""
        for (i, ch) in digits.reversed().enumerated() {
            if i > 0 && i % 3 == 0 { out.append(",") }
            out.append(ch)
        }
        return (n < 0 ? "-" : "") + String(out.reversed())
    }

    /// `HH:MM:SS.mmmZ` of a Unix time in milliseconds (UTC, no time zone database needed).
    static func timeOfDay(unixMilliseconds ms: Int64) -> String {
        let dayMs = ((ms % 86_400_000) + 86_400_000) % 86_400_000
        let h = dayMs / 3_600_000, m = dayMs / 60_000 % 60, s = dayMs / 1000 % 60, f = dayMs % 1000
        return String(format: "%02d:%02d:%02d.%03dZ", Int(h), Int(m), Int(s), Int(f))
    }

    static func sortedSupport(_ a: Assignments, _ i: Int) -> [(center: Int, weight: Float)] {
        a.support(row: i).sorted { $0.weight != $1.weight ? $0.weight > $1.weight : $0.center < $1.center }
    }

    static func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
        guard s.count < n else { return s }
        let space = String(repeating: " ", count: n - s.count)
        return right ? space + s : s + space
    }
}

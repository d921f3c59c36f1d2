import Foundation
import Wire

/// Renders a ``WatchState`` as text: a full view for a terminal, or a compact block for logs
/// and pipes.
public enum WatchView {
    /// ANSI "cursor home, clear screen", written before each full redraw on a terminal.
    public static let clearScreen = "\u{1B}[H\u{1B}[2J"

    /// The full view: model, run, rates, gaps, one bar per cluster and the recent events.
    /// - Parameters:
    ///   - state: what is known.
    ///   - endpoint: shown in the title.
    ///   - elapsed: seconds since the watcher started.
    ///   - barWidth: the width of the largest cluster's bar.
    ///   - maxClusters: clusters beyond this many are summarised (the largest are shown).
    public static func render(_ state: WatchState, endpoint: String, elapsed: Double, barWidth: Int = 40, maxClusters: Int = 32) -> String {
        var out = "voronoid watch  \(endpoint)  (\(fixedText(elapsed, 0)) s)\n"
        out += modelLine(state) + "\n"
        out += runLine(state) + "\n"
        out += rateLine(state) + "\n"
        out += gapLine(state) + "\n"
        let shares = state.shares
        if shares.isEmpty {
            out += "clusters  waiting for \(WireTopic.centersBinary)…\n"
        } else {
            out += "clusters\n"
            var shown = shares
            if shown.count > maxClusters {
                shown = Array(shown.sorted { $0.count > $1.count }.prefix(maxClusters)).sorted { $0.center < $1.center }
            }
            let largest = shown.map(\.count).max() ?? 0
            for s in shown {
                let filled = largest > 0 ? Int((s.count / largest * Double(barWidth)).rounded()) : 0
                let bar = String(repeating: "█", count: filled) + String(repeating: "·", count: barWidth - filled)
                out += TextFormat.pad(String(s.center), 6, right: true) + " " + bar
                    + TextFormat.pad(String(format: "%.1f", s.count), 12, right: true)
                    + TextFormat.pad(String(format: "%.1f%%", s.share * 100), 8, right: true) + "\n"
            }
            if shares.count > shown.count {
                out += "       … \(shares.count - shown.count) smaller clusters not shown\n"
            }
        }
        out += "events\n"
        if state.recentEvents.isEmpty { out += "       none yet\n" }
        for e in state.recentEvents.reversed() {
            out += "       " + eventText(e) + "\n"
        }
        return out
    }

    /// A compact block of four lines (plus a blank line) for non-terminal output.
    public static func renderCompact(_ state: WatchState, elapsed: Double) -> String {
        var out = "[\(fixedText(elapsed, 1)) s] " + modelLine(state) + "\n"
        out += "  " + runLine(state) + "  " + rateLine(state) + "\n"
        out += "  " + gapLine(state) + "\n"
        let shares = state.shares
        out += "  shares " + (shares.isEmpty ? "(no centers yet)" : shares.map { "\($0.center):\(String(format: "%.1f", $0.share * 100))%" }.joined(separator: " "))
        if let last = state.recentEvents.last { out += "\n  last event " + eventText(last) }
        return out + "\n\n"
    }

    static func modelLine(_ s: WatchState) -> String {
        guard s.modelVersion != nil || s.centers != nil else { return "model    (nothing received yet)" }
        var line = "model    version " + (s.modelVersion.map(String.init) ?? "?")
        if let c = s.centers { line += "  epoch \(c.modelEpoch)" }
        line += "  temperature " + (s.temperature.map(TextFormat.number) ?? "?")
        if let c = s.centers { line += "  k \(c.k)  d \(c.dimension)" }
        return line
    }

    static func runLine(_ s: WatchState) -> String {
        "run      start epoch " + (s.startEpoch.map(String.init) ?? "?") + "  restarts \(s.restarts)"
    }

    static func rateLine(_ s: WatchState) -> String {
        var line = "rate     "
        if let v = s.heartbeatVectorsPerSecond {
            line += TextFormat.grouped(Int(v.rounded())) + " vectors/s (heartbeat)"
        } else if let v = s.assignmentRowsPerSecond {
            line += TextFormat.grouped(Int(v.rounded())) + " vectors/s (assignments)"
        } else {
            line += "? vectors/s"
        }
        line += "  " + (s.assignmentRowsPerSecond.map { TextFormat.grouped(Int($0.rounded())) } ?? "?") + " assignment rows/s"
        if let h = s.heartbeat {
            line += "  in \(h.vectorsIn) accepted \(h.vectorsAccepted) dropped \(h.dropped)"
        }
        return line
    }

    static func gapLine(_ s: WatchState) -> String {
        let topics = WatchMessage.topics.map { "\($0) \(s.gaps[$0] ?? 0)" }.joined(separator: "  ")
        var line = "gaps     " + topics
        let duplicates = s.duplicates.values.reduce(0, +)
        if duplicates > 0 || s.undecodable > 0 { line += "  (duplicates \(duplicates), undecodable \(s.undecodable))" }
        return line
    }

    static func eventText(_ e: WireEvent) -> String {
        let fields = e.fields.keys.sorted().map { key -> String in
            switch e.fields[key]! {
            case .string(let v): return "\(key)=\(v)"
            case .int(let v): return "\(key)=\(v)"
            case .double(let v): return "\(key)=\(TextFormat.number(v))"
            }
        }
        return ([TextFormat.timeOfDay(unixMilliseconds: e.timeUnixMilliseconds), e.event] + fields).joined(separator: " ")
    }

    static func fixedText(_ v: Double, _ places: Int) -> String { fixed(v, places) }
}

import Foundation
import Wire

/// Renders a ``WatchState`` as text: a full view for a terminal, or a compact block for logs
/// and pipes.
public enum WatchView {
    /// ANSI "cursor home, clear screen", written before each full redraw on a terminal.
    public static let clearScreen = "\u{1B}[H\u{1B}[2J"

    /// The full view: model, run, rates, gaps, one bar per cluster with the center's first
    /// coordinates, and the recent events; a stale state (heartbeats stopped) says so on top.
    /// - Parameters:
    ///   - state: what is known.
    ///   - endpoint: shown in the title.
    ///   - elapsed: seconds since the watcher started.
    ///   - barWidth: the width of the largest cluster's bar.
    ///   - maxClusters: clusters beyond this many are summarised (the largest are shown).
    ///   - maxCoordinates: how many of each center's coordinates to show.
    public static func render(_ state: WatchState, endpoint: String, elapsed: Double, barWidth: Int = 30, maxClusters: Int = 32,
                              maxCoordinates: Int = 4) -> String {
        var out = "voronoid watch  \(endpoint)  (\(fixedText(elapsed, 0)) s)" + (state.isStale ? "  STALE" : "") + "\n"
        if let stale = staleLine(state) { out += stale + "\n" }
        out += modelLine(state) + "\n"
        out += runLine(state) + "\n"
        out += rateLine(state) + "\n"
        out += gapLine(state) + "\n"
        let shares = state.shares
        if shares.isEmpty {
            out += "clusters  waiting for \(WireTopic.centersBinary)…\n"
        } else {
            out += "clusters" + (state.centers.map { $0.dimension > maxCoordinates ? "  (center: first \(maxCoordinates) of \($0.dimension) coordinates)" : "  (center coordinates)" } ?? "") + "\n"
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
                    + TextFormat.pad(String(format: "%.1f%%", s.share * 100), 8, right: true)
                    + "  " + coordinatesText(state, center: s.center, count: maxCoordinates) + "\n"
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

    /// A compact block (plus a blank line) for non-terminal output: model, run and rate, gaps,
    /// shares, the first centers' first coordinates and the last event; a stale state (heartbeats
    /// stopped) says so on its first line.
    /// - Parameters:
    ///   - state: what is known.
    ///   - elapsed: seconds since the watcher started.
    ///   - maxCenters: how many centers' coordinates to list.
    ///   - maxCoordinates: how many of each center's coordinates to show.
    public static func renderCompact(_ state: WatchState, elapsed: Double, maxCenters: Int = 8, maxCoordinates: Int = 3) -> String {
        var out = "[\(fixedText(elapsed, 1)) s] " + (staleLine(state).map { $0 + "\n  " } ?? "") + modelLine(state) + "\n"
        out += "  " + runLine(state) + "  " + rateLine(state) + "\n"
        out += "  " + gapLine(state) + "\n"
        let shares = state.shares
        out += "  shares " + (shares.isEmpty ? "(no centers yet)" : shares.map { "\($0.center):\(String(format: "%.1f", $0.share * 100))%" }.joined(separator: " "))
        if let c = state.centers, c.k > 0 {
            out += "\n  centers " + (0..<min(c.k, maxCenters)).map { "\($0):" + coordinatesText(state, center: $0, count: maxCoordinates) }.joined(separator: " ")
            if c.k > maxCenters { out += " … \(c.k - maxCenters) more" }
        }
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

    /// The warning shown while heartbeats have stopped; nil while they arrive.
    static func staleLine(_ s: WatchState) -> String? {
        guard s.isStale, let at = s.sampledAt, let silence = s.heartbeatSilence(now: at) else { return nil }
        return "STALE    no heartbeat for \(fixedText(silence, 1)) s (stale after \(fixedText(s.staleAfterSeconds, 1)) s): "
            + "the daemon stopped or cannot be reached; what follows is what it last said"
    }

    static func rateLine(_ s: WatchState) -> String {
        var line = "rate     "
        if s.isStale {
            // The last rates describe a daemon that has gone quiet: shown only as history.
            line += "– vectors/s (stale"
            if let v = s.heartbeatVectorsPerSecond { line += "; last heartbeat rate " + TextFormat.grouped(Int(v.rounded())) + " vectors/s" }
            line += ")"
        } else if let v = s.heartbeatVectorsPerSecond {
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

    /// `(x0, x1, …)`: the center's first `count` coordinates, rounded to two decimals (three
    /// significant digits when large), with `…` when there are more.
    static func coordinatesText(_ s: WatchState, center: Int, count: Int) -> String {
        let values = s.coordinates(of: center, first: count)
        guard !values.isEmpty else { return "" }
        let more = (s.centers?.dimension ?? 0) > values.count
        let text = values.map { v -> String in
            let d = Double(v)
            return abs(d) >= 1000 ? String(format: "%.3g", d) : String(format: "%.2f", d)
        }
        return "(" + text.joined(separator: ", ") + (more ? ", …" : "") + ")"
    }

    static func fixedText(_ v: Double, _ places: Int) -> String { fixed(v, places) }
}

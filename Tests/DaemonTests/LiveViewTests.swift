import Clustering
@testable import Daemon
import Foundation
import Testing
import Wire

@Suite("Center projection")
struct CenterProjectionTests {
    /// Pairwise squared distances of the projected points.
    func distances(_ p: CenterProjection) -> [[Double]] {
        p.x.indices.map { a in
            p.x.indices.map { b in
                let dx = p.x[a] - p.x[b], dy = p.y[a] - p.y[b]
                return dx * dx + dy * dy
            }
        }
    }

    func distances(_ rows: [[Double]]) -> [[Double]] {
        rows.map { (a: [Double]) -> [Double] in
            rows.map { (b: [Double]) -> Double in
                var s = 0.0
                for i in a.indices { s += (a[i] - b[i]) * (a[i] - b[i]) }
                return s
            }
        }
    }

    func expectClose(_ a: [[Double]], _ b: [[Double]], tolerance: Double) {
        for i in a.indices { for j in a[i].indices { #expect(abs(a[i][j] - b[i][j]) <= tolerance, "(\(i), \(j)): \(a[i][j]) vs \(b[i][j])") } }
    }

    @Test("points on a line land on the first axis, spaced as they were, whether k ≤ d or k > d")
    func line() {
        // Centers along the direction (1, 2, 2)/3, offset from the origin: five in three
        // dimensions, and three in six (the same direction, padded with constant coordinates).
        let cases: [(steps: [Double], pad: Int)] = [([-2, -1, 0, 0.5, 2.5], 0), ([-1, 0.25, 3], 3)]
        for (steps, pad) in cases {
            let rows = steps.map { t in [10 + t, -4 + 2 * t, 7 + 2 * t] + [Double](repeating: 1.5, count: pad) }
            let p = CenterProjection.project(centers: rows.flatMap { $0.map(Float.init) }, k: steps.count, dimension: 3 + pad)
            // |(1, 2, 2)| = 3, so a step of 1 moves a point by 3 from the centers' mean.
            let mean = steps.reduce(0, +) / Double(steps.count)
            for (c, t) in steps.enumerated() {
                #expect(abs(p.x[c] - 3 * (t - mean)) < 1e-4, "center \(c): \(p.x[c])")
                #expect(p.y[c] == 0)
            }
            #expect(p.variance.1 == 0)
            #expect(abs(p.variance.0 - p.totalVariance) < 1e-6 * p.totalVariance)
        }
    }

    @Test("points in a plane keep their distances, whether k ≤ d or k > d")
    func plane() {
        // A plane in five dimensions spanned by two orthonormal directions, plus an offset.
        let u: [Double] = [0.6, 0.8, 0, 0, 0]
        let v: [Double] = [0, 0, 0.6, 0, 0.8]
        let offset: [Double] = [3, -1, 2, 5, 0.5]
        func rows(_ coefficients: [(Double, Double)]) -> [[Double]] {
            coefficients.map { a, b in (0..<5).map { offset[$0] + a * u[$0] + b * v[$0] } }
        }
        let few = rows([(0, 0), (4, 0), (0, 3), (-2, -1)])                                   // k 4 < d 5
        let many = rows([(0, 0), (4, 0), (0, 3), (-2, -1), (1, 1), (3, -2), (-1, 2), (2, 2)])  // k 8 > d 5
        for set in [few, many] {
            let p = CenterProjection.project(centers: set.flatMap { $0.map(Float.init) }, k: set.count, dimension: 5)
            expectClose(distances(p), distances(set), tolerance: 1e-4)
            #expect(abs(p.variance.0 + p.variance.1 - p.totalVariance) < 1e-5 * p.totalVariance)
            #expect(p.variance.0 >= p.variance.1)
            // Centred: the projected points have mean zero.
            #expect(abs(p.x.reduce(0, +)) < 1e-6 && abs(p.y.reduce(0, +)) < 1e-6)
        }
    }

    @Test("the two largest directions are found and ordered; the rest is left out")
    func topTwo() {
        // Spread 10 along axis 2, 5 along axis 0, 1 along axis 1 (a sign pattern per center).
        let rows: [[Double]] = [[5, 1, 10], [-5, -1, 10], [5, -1, -10], [-5, 1, -10]]
        let p = CenterProjection.project(centers: rows.flatMap { $0.map(Float.init) }, k: 4, dimension: 3)
        #expect(p.x.map { abs($0) }.allSatisfy { abs($0 - 10) < 1e-4 })
        #expect(p.y.map { abs($0) }.allSatisfy { abs($0 - 5) < 1e-4 })
        #expect(abs(p.variance.0 - 100) < 1e-3 && abs(p.variance.1 - 25) < 1e-3)
        #expect(abs(p.totalVariance - 126) < 1e-3)
        // The sign rule: the center farthest out along each component is on its positive side.
        #expect(p.x.max()! > 0 && p.y.max()! > 0)
    }

    @Test("two equal leading variances still give a faithful plane")
    func tie() {
        // A square: its two principal variances are equal.
        let rows: [[Double]] = [[1, 1, 0, 0], [-1, 1, 0, 0], [-1, -1, 0, 0], [1, -1, 0, 0]]
        let p = CenterProjection.project(centers: rows.flatMap { $0.map(Float.init) }, k: 4, dimension: 4)
        expectClose(distances(p), distances(rows), tolerance: 1e-6)
    }

    @Test("degenerate inputs give zeros, never NaN")
    func degenerate() {
        let none = CenterProjection.project(centers: [], k: 0, dimension: 3)
        #expect(none.x.isEmpty && none.y.isEmpty)
        let one = CenterProjection.project(centers: [1, 2, 3], k: 1, dimension: 3)
        #expect(one.x == [0] && one.y == [0])
        let same = CenterProjection.project(centers: [Float](repeating: 4, count: 12), k: 4, dimension: 3)
        #expect(same.x == [0, 0, 0, 0] && same.y == [0, 0, 0, 0] && same.totalVariance == 0)
        let scalar = CenterProjection.project(centers: [1, 4, -2], k: 3, dimension: 1)
        #expect(scalar.y == [0, 0, 0])
        #expect(zip(scalar.x, [0, 3, -3] as [Double]).allSatisfy { abs($0 - $1) < 1e-9 })
        let far = CenterProjection.project(centers: [1e30, 1e30, -1e30, 0, 0, 1e30], k: 3, dimension: 2)
        let coordinates = far.x + far.y
        #expect(coordinates.allSatisfy { $0.isFinite })
    }
}

@Suite("Live view snapshot")
struct LiveViewSnapshotTests {
    @Test("the event ring keeps the newest events, oldest first")
    func ring() {
        let ring = RecentEvents(capacity: 3)
        for i in 0..<5 { ring.record(.init(timeUnixMilliseconds: Int64(i), name: "e\(i)", fields: [:])) }
        #expect(ring.entries.map(\.name) == ["e2", "e3", "e4"])
        let s = Statistics()
        #expect(s.recentEvents === s.recentEvents)
        #expect(s.recentEvents !== Statistics().recentEvents)
    }

    @Test("the JSON escapes text, writes every number finite and parses")
    func json() throws {
        let statistics = Statistics()
        statistics.drop("bad \"json\"\n")
        statistics.recentEvents.record("note", ["text": .string("a</script>\u{1}"), "value": .double(.nan), "n": .int(-3)])
        let centers: [Float] = [0, 0, 3, 4, -1, 2]
        let state = ModelState(centers: centers, k: 3, dimension: 2, schedule: .constant(4), random: RandomSource(seed: 1))
        let model = SharedModel.Snapshot(state: state, update: UpdateConfiguration())
        let snapshot = LiveViewSnapshot(
            timeUnixMilliseconds: 1_700_000_000_000, ready: true, health: (true, ["clustering: ok"]), model: model,
            projection: CenterProjection.project(centers: centers, k: 3, dimension: 2), statistics: statistics,
            history: [.init(timeUnixMilliseconds: 1, modelVersion: 0, temperature: .infinity, inertiaPerVector: 2, vectorsAccepted: 0)],
            historyIntervalMilliseconds: 1000, events: statistics.recentEvents.entries)
        let text = snapshot.json()
        #expect(!text.contains("</script>"))
        #expect(!text.lowercased().contains("nan") && !text.lowercased().contains("inf"))
        let object = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
        #expect(object["k"] as? Int == 3 && object["d"] as? Int == 2)
        #expect((object["centers"] as? [[Double]]) == [[0, 0], [3, 4], [-1, 2]])
        #expect((object["dropped"] as? [String: Int]) == ["bad \"json\"\n": 1])
        let events = try #require(object["events"] as? [[String: Any]])
        let fields = try #require(events.first?["fields"] as? [String: Any])
        #expect(fields["text"] as? String == "a</script>\u{1}")
        #expect(fields["value"] is NSNull)
        let projection = try #require(object["projection"] as? [String: Any])
        #expect((projection["x"] as? [Double])?.count == 3)
    }
}

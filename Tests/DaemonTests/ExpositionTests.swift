import Clustering
@testable import Daemon
import Logging
import Testing
import Transport

/// The Prometheus text exposition: label values escaped, every sample a number.
@Suite struct ExpositionTests {
    @Test func labelValuesAreEscaped() {
        #expect(MetricsServer.escapeLabel(#"plain-name_7"#) == #"plain-name_7"#)
        #expect(MetricsServer.escapeLabel(#"a"b"#) == #"a\"b"#)
        #expect(MetricsServer.escapeLabel(#"back\slash"#) == #"back\\slash"#)
        #expect(MetricsServer.escapeLabel("two\nlines") == #"two\nlines"#)
        #expect(MetricsServer.escapeLabel("naïve ✓") == "naïve ✓")
    }

    /// A producer name holding every character that needs escaping still yields one well-formed
    /// sample line, whose label value reads back as the name.
    @Test func hostileProducerNamesKeepTheExpositionParseable() throws {
        let statistics = Statistics()
        let name = "evil\"} 1\nvoronoid_fake 2 \\"
        statistics.producerVectors(name, 5, limit: 8)
        let logger = Logger(label: "voronoid-test", factory: { StderrLogHandler(label: $0, level: .warning) })
        let server = MetricsServer(
            address: "127.0.0.1:0", statistics: statistics, shared: SharedModel(update: UpdateConfiguration()),
            stop: try EventFD(), loops: LoopHealth(logger: logger), fault: .init(), logger: logger,
            isReady: { true }, health: { (true, []) })
        let lines = server.exposition().split(separator: "\n")
        #expect(!lines.contains { $0.hasPrefix("voronoid_fake") }, "a name must not inject a sample")
        let sample = try #require(lines.first { $0.hasPrefix("voronoid_producer_vectors_total{") })
        #expect(sample == #"voronoid_producer_vectors_total{producer="evil\"} 1\nvoronoid_fake 2 \\"} 5"#)
        for line in lines where !line.hasPrefix("#") {
            let value = line.split(separator: " ").last.map(String.init) ?? ""
            #expect(Double(value) != nil || ["+Inf", "-Inf"].contains(value), "\(line)")
        }
    }
}

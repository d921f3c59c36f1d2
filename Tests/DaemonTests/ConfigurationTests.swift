import Clustering
@testable import Daemon
import Glibc
import Testing

@Suite struct ConfigurationTests {
    static let root: String = {
        var path = #filePath
        for _ in 0..<3 { path = String(path[..<path.lastIndex(of: "/")!]) }
        return path
    }()

    @Test func theReferenceFileStatesExactlyTheDefaults() throws {
        let loaded = try DaemonConfiguration.load(file: Self.root + "/config/voronoid.toml", overrides: [])
        var expected = DaemonConfiguration()
        // The environment may point state.directory somewhere (systemd); the file says "".
        expected.state.directory = ""
        var got = loaded
        got.state.directory = ""
        #expect(got == expected)
    }

    @Test func everyKeyIsDocumentedInTheReferenceFile() throws {
        let text = String(decoding: try LocalFile.read(Self.root + "/config/voronoid.toml"), as: UTF8.self)
        let pairs = try ConfigurationReader.parse(text, source: "voronoid.toml")
        #expect(Set(pairs.map(\.0)) == Set(ConfigurationReader.keys))
    }

    @Test(arguments: [
        ("input.batch_size=0", "input.batch_size", "got 0"),
        ("model.k=-3", "model.k", "got -3"),
        ("model.mode=fuzzy", "model.mode", "got \"fuzzy\""),
        ("temperature.initial=-1", "temperature.initial", "got -1"),
        ("input.endpoints=localhost:5555", "input.endpoints", "localhost:5555"),
        ("model.count_half_life=0", "model.count_half_life", "got 0"),
        ("model.pacing=adaptive", "model.pacing", "got \"adaptive\""),
        ("model.memory_fraction=0", "model.memory_fraction", "got 0"),
        ("model.memory_fraction=inf", "model.memory_fraction", "got inf"),
        ("model.memory_floor=-1", "model.memory_floor", "got -1"),
        ("model.warmup_iterations=-1", "model.warmup_iterations", "got -1"),
        ("model.warmup_seedings=0", "model.warmup_seedings", "got 0"),
        ("model.warmup_seedings=1.5", "model.warmup_seedings", "whole number"),
        ("temperature.cooling_per_center=0", "temperature.cooling_per_center", "got 0"),
        ("temperature.support_limit=0.5", "temperature.support_limit", "at least 1"),
        ("temperature.support_limit=-1", "temperature.support_limit", "got -1"),
        ("changes.size_factor=1", "changes.size_factor", "got 1"),
        ("changes.spread_factor=0.5", "changes.spread_factor", "got 0.5"),
        ("changes.location_fraction=0", "changes.location_fraction", "got 0"),
        ("changes.enabled=sometimes", "changes.enabled", "true or false"),
        ("nonsense.key=1", "nonsense.key", "unknown key"),
        ("model.k", "--set", "expected key=value"),
        ("input.connect=maybe", "input.connect", "true or false"),
        ("cluster.role=leader", "cluster.role", "got \"leader\""),
        ("cluster.staleness=-1", "cluster.staleness", "got -1"),
        ("cluster.workers=0", "cluster.workers", "got 0"),
        ("cluster.window=0", "cluster.window", "got 0"),
        ("cluster.queue_epochs=0", "cluster.queue_epochs", "got 0"),
        ("cluster.retain_epochs=-1", "cluster.retain_epochs", "got -1"),
        ("cluster.worker_id=-5", "cluster.worker_id", "got -5"),
        ("cluster.statistics_endpoint=host:5570", "cluster.statistics_endpoint", "host:5570"),
        ("cluster.worker_timeout_s=0", "cluster.worker_timeout_s", "got 0"),
        // Found by fuzzing: these trapped or produced a schedule whose checkpoints never restore.
        ("model.seed=9223372036854775807", "model.seed", "out of range"),
        ("state.checkpoint_batches=1e300", "state.checkpoint_batches", "out of range"),
        ("model.k=2.5", "model.k", "whole number"),
        ("temperature.initial=1e-322", "temperature.initial", "unusable"),
    ])
    func badValuesNameTheKeyAndTheValue(override: String, key: String, fragment: String) {
        do {
            _ = try DaemonConfiguration.load(file: nil, set: [override])
            Issue.record("\(override) was accepted")
        } catch {
            #expect(error.key == key)
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test func fileSyntaxErrorsNameTheLine() throws {
        let path = "/tmp/voronoid-config-\(getpid()).toml"
        let text = "[model]\nk = 4\nmode = entmax15\n"
        _ = text.withCString { p in
            let f = fopen(path, "w")
            defer { fclose(f) }
            return fputs(p, f)
        }
        defer { unlink(path) }
        do {
            _ = try DaemonConfiguration.load(file: path, overrides: [])
            Issue.record("a bare string was accepted")
        } catch {
            #expect(error.key == path + ":3:8")
            #expect(error.reason.contains("mode = entmax15"), "\(error)")
        }
    }

    /// TOML as people write it: multi-line arrays with trailing commas and comments, literal
    /// strings, integers with underscores, `inf`.
    @Test func fullTOMLIsRead() throws {
        let text = """
        [input]
        endpoints = [
            "tcp://127.0.0.1:7001",  # first
            'tcp://127.0.0.1:7002',
        ]
        topics = ['sensors/"quoted"']
        high_water_mark = 100_000
        [model]
        count_half_life = inf
        initial_centers = 'C:\\centers.csv'
        """
        var c = DaemonConfiguration()
        try ConfigurationReader.apply(try ConfigurationReader.parse(text, source: "full.toml"), to: &c)
        #expect(c.input.endpoints == ["tcp://127.0.0.1:7001", "tcp://127.0.0.1:7002"])
        #expect(c.input.topics == ["sensors/\"quoted\""])
        #expect(c.input.highWaterMark == 100_000)
        #expect(c.model.countHalfLife == .infinity)
        #expect(c.model.initialCenters == "C:\\centers.csv", "a literal string keeps its backslash")
    }

    /// Flags arrive typed: their text reaches the validators as given, quotes and brackets
    /// included, and a `--set` after them still wins.
    @Test func typedOverridesAreNotReparsed() throws {
        let odd = "/tmp/state \"with\" [brackets] = and quotes"
        let c = try DaemonConfiguration.load(file: nil, overrides: [
            ConfigurationOverride(key: "state.directory", value: .string(odd)),
            ConfigurationOverride(key: "input.endpoints", value: .array(["tcp://127.0.0.1:7001", "ipc:///tmp/a,b"])),
            try ConfigurationOverride(parsing: "model.k=5"),
        ])
        #expect(c.state.directory == odd)
        #expect(c.input.endpoints == ["tcp://127.0.0.1:7001", "ipc:///tmp/a,b"])
        #expect(c.model.k == 5)
        do {
            _ = try DaemonConfiguration.load(file: nil, overrides: [ConfigurationOverride(key: "output.endpoint", value: .string("udp://\"x\""))])
            Issue.record("a bad endpoint was accepted")
        } catch {
            #expect(error.key == "output.endpoint" && error.reason.contains("udp://\"x\""), "\(error)")
        }
    }

    @Test func valuesOfKindsNoKeyTakesAreNamed() {
        for (text, key) in [("[model]\nk = 1979-05-27\n", "model.k"), ("[input]\ntopics = [1, 2]\n", "input.topics"),
                            ("[model.extra]\nk = 1\n", "model.extra"), ("k = 3\n", "k")] {
            do {
                var c = DaemonConfiguration()
                try ConfigurationReader.apply(try ConfigurationReader.parse(text, source: "x.toml"), to: &c)
                Issue.record("accepted \(text)")
            } catch {
                #expect(error.key == key, "\(text): \(error)")
            }
        }
    }

    @Test func windowsLineEndingsAreRead() throws {
        let pairs = try ConfigurationReader.parse("[model]\r\nk = 4\r\nmode = \"hard\"\r\n", source: "crlf.toml")
        #expect(pairs.map(\.0) == ["model.k", "model.mode"])
    }

    @Test func flagsOverrideTheFileAndValuesParse() throws {
        let c = try DaemonConfiguration.load(file: nil, set: [
            "model.k=12", "model.mode=hard", "input.socket=pull", "input.topics=[\"a\", \"b\"]",
            "model.count_half_life=inf", "temperature.initial=2.5", "model.learning_rate=0.3",
        ])
        #expect(c.model.k == 12 && c.model.mode == .hard && c.input.socket == .pull)
        #expect(c.input.topics == ["a", "b"])
        #expect(c.model.countHalfLife == .infinity)
        // Model pacing (the default): the half-life is cooling_per_center × k.
        #expect(c.fixedSchedule == TemperatureSchedule(kind: .exponential, initial: 2.5, floor: 0.0025, halfLife: 1200))
        #expect(c.update.learningRate == .fixed(0.3))
        #expect(c.update.pacing.kind == .model)
        let fixed = try DaemonConfiguration.load(file: nil, set: ["model.k=12", "temperature.initial=2.5", "model.pacing=fixed"])
        #expect(fixed.fixedSchedule == TemperatureSchedule(kind: .exponential, initial: 2.5, floor: 0.0025, halfLife: 20_000))
        #expect(fixed.update.pacing.kind == .fixed)
    }
}

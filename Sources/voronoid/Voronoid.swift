import ArgumentParser
import Clustering
import Daemon

@main
struct Voronoid: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "voronoid",
        abstract: "Streaming clustering over ZeroMQ with annealed Entmax-1.5 responsibilities.",
        version: VoronoidVersion.description,
        subcommands: [Run.self, Demo.self, Produce.self, Watch.self, Query.self, Keygen.self, Bench.self]
    )
}

// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "voronoid",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "voronoid", targets: ["voronoid"]),
        .library(name: "Clustering", targets: ["Clustering"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // The pure core: maths and model state, no I/O, no Foundation.
        .target(
            name: "Clustering",
            dependencies: [.product(name: "RealModule", package: "swift-numerics")]
        ),
        .systemLibrary(name: "CZeroMQ"),
        .target(name: "Transport", dependencies: ["CZeroMQ"]),
        .target(name: "Wire"),
        .target(
            name: "Daemon",
            dependencies: [
                "Clustering", "Transport", "Wire",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "voronoid",
            dependencies: [
                "Daemon", "Clustering",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "ClusteringTests", dependencies: ["Clustering"]),
        .testTarget(name: "TransportTests", dependencies: ["Transport"]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "Transport", "Wire", "Clustering"]),
    ]
)

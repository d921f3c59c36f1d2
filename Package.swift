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
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        // The pure core: maths and model state, no I/O, no Foundation. No build flags: it is a
        // library other packages can depend on by version.
        .target(
            name: "Clustering",
            dependencies: ["CKernelShims", "COpenBLAS", .product(name: "RealModule", package: "swift-numerics")]
        ),
        // OpenBLAS (Debian's libopenblas-dev) for the matrix product behind distances at
        // embedding sizes.
        .systemLibrary(name: "COpenBLAS"),
        // The hottest loops in C, for the baseline and for AVX2 + FMA chosen at run time, and a
        // vector comparison read as a bit mask, which Swift cannot express (see the header).
        .target(name: "CKernelShims"),
        // Corrects OpenBLAS's kernel choice on processors newer than the library (see the C file).
        .target(name: "CBLASSelect", dependencies: ["COpenBLAS"], linkerSettings: [.linkedLibrary("dl")]),
        .systemLibrary(name: "CZeroMQ"),
        // Signal handlers that only record and wake the supervisor (see the header).
        .target(name: "CSignalShims"),
        // The threads that run a batch's parts (see the header).
        .target(name: "CPartPool"),
        .target(name: "Transport", dependencies: ["CZeroMQ"]),
        .target(name: "Wire"),
        .target(
            name: "Daemon",
            dependencies: [
                "Clustering", "Transport", "Wire", "CSignalShims", "CBLASSelect", "CPartPool",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // Producer, watcher and query clients: what the subcommands and the tests drive.
        .target(name: "Clients", dependencies: ["Clustering", "Transport", "Wire"]),
        // `voronoid bench`: the core alone, and the whole daemon fed over loopback.
        .target(
            name: "Benchmarks",
            dependencies: [
                "Daemon", "Clients", "Clustering", "COpenBLAS", "Transport", "Wire",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .executableTarget(
            name: "voronoid",
            dependencies: [
                "Daemon", "Clients", "Clustering", "Transport", "Wire", "Benchmarks",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        // Counts a thread's heap allocations, so tests can show steady-state batches allocate nothing.
        .target(name: "CAllocationCounter", path: "Tests/CAllocationCounter"),
        // Helpers every test target shares: temporary directories, threads, waiting.
        .target(name: "TestSupport", path: "Tests/TestSupport"),
        .testTarget(
            name: "ClusteringTests",
            dependencies: ["Clustering", "CAllocationCounter", .product(name: "RealModule", package: "swift-numerics")]
        ),
        .testTarget(name: "TransportTests", dependencies: ["Transport", "TestSupport"]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "ClientsTests", dependencies: ["Clients", "Transport", "Wire", "Clustering", "TestSupport"]),
        .testTarget(name: "DaemonTests", dependencies: ["Daemon", "Transport", "Wire", "Clustering", "CAllocationCounter"]),
    ]
)

import ArgumentParser

struct Produce: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Not built yet.")
    func run() throws { throw ValidationError("produce: not built yet") }
}

import ArgumentParser

struct Watch: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Not built yet.")
    func run() throws { throw ValidationError("watch: not built yet") }
}

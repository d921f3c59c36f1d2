// libFuzzer target: configuration values, `ConfigurationReader.parseValue` then
// `ConfigurationReader.apply(_:to:)` on the defaults, as `DaemonConfiguration.load` does.
// The file's TOML syntax is toml++'s (through TOMLKit), built and tested upstream; what is
// ours, and fuzzed here, is every value that reaches the validators and the validators.
//
// Input: text in lines, `[section]` and `key = value` (values as `--set` writes them), so the
// corpus reads like configuration files. The first line is also read as a bare `--set` value.
//
// Invariants: nothing traps; an accepted file yields a configuration that passes the reader's
// cross-key validation again, whose update rule and fixed temperature schedule pass their own
// validation (the core traps on an invalid update rule), whose queue sizes and wire limits are
// ones the daemon's constructors accept, and applying the same pairs again gives the same
// configuration.

import Clustering

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzConfiguration(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data else { return 0 }
    guard let text = String(validating: UnsafeBufferPointer(start: data, count: size), as: UTF8.self) else { return 0 }
    if let firstLine = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first {
        _ = try? ConfigurationReader.parseValue(String(firstLine).trimmed, key: "fuzz", bareStrings: true)
    }
    let pairs: [(String, ConfigurationValue)]
    do {
        pairs = try sectionedPairs(text)
    } catch {
        invariant(!error.key.isEmpty && !error.reason.isEmpty, "a parse error without key or reason")
        return 0
    }
    var c = DaemonConfiguration()
    do {
        try ConfigurationReader.apply(pairs, to: &c)
    } catch {
        invariant(!error.key.isEmpty && !error.reason.isEmpty, "an apply error without key or reason")
        return 0
    }
    do {
        try ConfigurationReader.validate(c)
    } catch {
        invariantFailure("an accepted configuration fails validation: \(error)")
    }
    if let why = c.update.validationError { invariantFailure("accepted configuration, invalid update rule: \(why)") }
    if let schedule = c.fixedSchedule, let why = schedule.validationError {
        invariantFailure("accepted configuration, invalid temperature schedule \(schedule): \(why)")
    }
    invariant(c.model.k >= 1 && c.model.dimension >= 0 && c.model.threads >= 1, "model sizes out of range")
    invariant(c.input.batchSize >= 1 && c.input.queueBatches >= 1 && c.output.queueMessages >= 1, "queue sizes out of range")
    invariant(c.input.maxFrameBytes > 0 && c.input.maxVectorsPerMessage > 0 && c.query.maxPredictVectors > 0, "limits out of range")
    invariant(!c.input.endpoints.isEmpty && !c.output.endpoint.isEmpty, "no endpoints")
    invariant(c.warmupVectors >= 1, "no warm-up vectors")
    var again = DaemonConfiguration()
    do {
        try ConfigurationReader.apply(pairs, to: &again)
    } catch {
        invariantFailure("applying the same pairs twice gave different outcomes: \(error)")
    }
    invariant(again == c, "applying the same pairs twice gave different configurations")
    return 0
}

/// `precondition` that keeps its message in an optimized build: a broken invariant traps, so
/// libFuzzer saves the input, and the message says which invariant broke.
@inline(__always)
func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() { invariantFailure(message()) }
}

func invariantFailure(_ message: String) -> Never {
    fatalError("fuzz invariant broken: \(message)")
}

/// `[section]` lines and `key = value` lines into (full key, value) pairs, values read as
/// `--set` reads them; a repeated key keeps its last value, as overrides do.
func sectionedPairs(_ text: String) throws(ConfigurationError) -> [(String, ConfigurationValue)] {
    var section = ""
    var out: [(String, ConfigurationValue)] = []
    for raw in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
        let line = raw.trimmed
        if line.hasPrefix("[") && line.hasSuffix("]") {
            section = String(line.dropFirst().dropLast()).trimmed
            continue
        }
        guard let eq = line.firstIndex(of: "=") else { continue }
        let name = String(line[..<eq]).trimmed
        guard !name.isEmpty else { continue }  // TOML itself refuses an empty bare key
        let key = section.isEmpty ? name : section + "." + name
        let value = try ConfigurationReader.parseValue(String(line[line.index(after: eq)...]).trimmed, key: key, bareStrings: false)
        out.removeAll { $0.0 == key }
        out.append((key, value))
    }
    return out
}

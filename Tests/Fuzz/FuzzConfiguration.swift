// libFuzzer target: the configuration file, `ConfigurationReader.parse(_:source:)` then
// `ConfigurationReader.apply(_:to:)` on the defaults, as `DaemonConfiguration.load` does.
//
// Input: the file's bytes (text that is not UTF-8 is refused before parsing, as `load` does).
// The first line is also read as a `--set` value (`parseValue(_:key:bareStrings: true)`).
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
        pairs = try ConfigurationReader.parse(text, source: "fuzz.toml")
    } catch {
        invariant(!error.key.isEmpty && !error.reason.isEmpty, "a parse error without key or reason")
        return 0
    }
    var seen = Set<String>()
    for (key, _) in pairs { invariant(seen.insert(key).inserted, "parse returned \(key) twice") }
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

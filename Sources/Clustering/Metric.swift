/// How the model compares vectors.
///
/// Cosine is spherical k-means: vectors are scaled to unit length on arrival and centers are kept
/// on the unit sphere, so the squared Euclidean distance every kernel computes *is* the cosine
/// distance `2 − 2·cos(x, c)`, and entmax, schedules, checkpoints and published distances need
/// nothing else.
public enum Metric: String, Sendable, Equatable, CaseIterable {
    /// Squared Euclidean distance `‖x − c‖²`.
    case euclidean
    /// `2 − 2·cos(x, c)` between unit vectors.
    case cosine

    var code: UInt8 { self == .euclidean ? 0 : 1 }

    init?(code: UInt8) {
        switch code {
        case 0: self = .euclidean
        case 1: self = .cosine
        default: return nil
        }
    }

    /// Scales each of `count` rows of `dimension` values in place to unit length; returns the
    /// index of the first row of zero length (left unchanged, with every row after it), or nil.
    @discardableResult
    public static func normalize(rows: UnsafeMutablePointer<Float>, count: Int, dimension d: Int) -> Int? {
        for i in 0..<count {
            let row = rows + i * d
            var sum: Double = 0
            for t in 0..<d { sum += Double(row[t]) * Double(row[t]) }
            guard sum > 0 else { return i }
            let scale = Float(1 / sum.squareRoot())
            for t in 0..<d { row[t] *= scale }
        }
        return nil
    }
}

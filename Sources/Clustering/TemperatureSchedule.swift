/// The temperature `T` as a function of the number of vectors seen, `n`.
///
/// `T` is the coefficient on squared distance in the logits `z_k = −‖x − c_k‖² / T`, so it has
/// the units of a squared distance. (arXiv 2603.04625 writes the temperature as σ; with logits
/// `−d/(2σ²)` the conversion is `T = 2σ²`.)
///
/// ```
/// constant:      T(n) = T₀
/// exponential:   T(n) = max(T_min, T₀ · 2^(−n / h))
/// inverse time:  T(n) = max(T_min, T₀ / (1 + n / h))
/// ```
public struct TemperatureSchedule: Sendable, Hashable, Codable {
    /// The shape of the decay.
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case constant
        case exponential
        case inverseTime = "inverse_time"

        var code: UInt8 {
            switch self {
            case .constant: 0
            case .exponential: 1
            case .inverseTime: 2
            }
        }

        init?(code: UInt8) {
            switch code {
            case 0: self = .constant
            case 1: self = .exponential
            case 2: self = .inverseTime
            default: return nil
            }
        }
    }

    /// The shape of the decay.
    public var kind: Kind
    /// The starting temperature `T₀` (> 0).
    public var initial: Double
    /// The floor `T_min` (> 0, ≤ `initial`); ignored by `.constant`.
    public var floor: Double
    /// The half-life `h`, in vectors (> 0); ignored by `.constant`.
    public var halfLife: Double

    /// Creates a schedule. Use ``isValid`` (or ``validationError``) before trusting outside values.
    public init(kind: Kind, initial: Double, floor: Double, halfLife: Double) {
        self.kind = kind
        self.initial = initial
        self.floor = floor
        self.halfLife = halfLife
    }

    /// A constant temperature.
    public static func constant(_ temperature: Double) -> TemperatureSchedule {
        TemperatureSchedule(kind: .constant, initial: temperature, floor: temperature, halfLife: 1)
    }

    /// The temperature after `n` vectors.
    public func temperature(after n: UInt64) -> Double {
        temperature(at: Double(n))
    }

    /// The temperature after a total sample weight `n` (a vector of weight w counts as w vectors).
    public func temperature(at n: Double) -> Double {
        let x = n / halfLife
        switch kind {
        case .constant:
            return initial
        case .exponential:
            return Swift.max(floor, initial * _exp2(-x))
        case .inverseTime:
            return Swift.max(floor, initial / (1 + x))
        }
    }

    /// Why the schedule cannot be used, or `nil` when it can.
    public var validationError: String? {
        if !(initial.isFinite && initial > 0) { return "initial temperature must be finite and > 0, got \(initial)" }
        if kind != .constant {
            if !(floor.isFinite && floor > 0) { return "temperature floor must be finite and > 0, got \(floor)" }
            if floor > initial { return "temperature floor \(floor) is above the initial temperature \(initial)" }
            if !(halfLife.isFinite && halfLife > 0) { return "temperature half-life must be finite and > 0, got \(halfLife)" }
        }
        return nil
    }

    /// Whether the schedule can be used.
    public var isValid: Bool { validationError == nil }
}

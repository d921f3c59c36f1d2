/// How each vector's responsibilities over the centers are computed from its squared distances.
///
/// All three feed the same update; they differ in how mass is shared between centers:
///
/// ```
/// entmax15:  r = entmax₁.₅(−d / T)          exactly sparse; one-hot once d₂ − d₁ ≥ 2T
/// softmax:   r = softmax(−(d − d_min) / T)   dense (zero only through underflow)
/// hard:      r = one-hot(argmin d)           mini-batch K-Means
/// ```
public enum ResponsibilityMode: String, Sendable, CaseIterable, Codable {
    /// Entmax-1.5 (Peters, Niculae and Martins, ACL 2019): exact, sparse; the default.
    case entmax15
    /// Max-shifted softmax.
    case softmax
    /// One-hot assignment to the nearest center (lowest index on ties).
    case hard

    var code: UInt8 {
        switch self {
        case .entmax15: 0
        case .softmax: 1
        case .hard: 2
        }
    }
}

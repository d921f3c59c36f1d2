/// A small, fast, seedable pseudo-random generator (xoshiro256**) whose whole state is four words.
///
/// The core never reads entropy from the system: every random choice (seeding, re-seeding dead
/// centers, separating coinciding centers) draws from this generator, and its state is saved with
/// the model, so a restored model continues the exact same random sequence.
///
/// The algorithm is Blackman and Vigna's xoshiro256** ("Scrambled Linear Pseudorandom Number
/// Generators", ACM TOMS 2021); the seed is expanded with SplitMix64 as its authors recommend.
public struct RandomSource: RandomNumberGenerator, Sendable, Hashable {
    /// The generator's four state words, in the order they are saved.
    public private(set) var state: (UInt64, UInt64, UInt64, UInt64)

    /// Creates a generator from a 64-bit seed.
    public init(seed: UInt64) {
        var s = seed
        func splitMix(_ x: inout UInt64) -> UInt64 {
            x &+= 0x9E37_79B9_7F4A_7C15
            var z = x
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        state = (splitMix(&s), splitMix(&s), splitMix(&s), splitMix(&s))
    }

    /// Restores a generator from saved state words.
    ///
    /// - Precondition: not all words are zero (the all-zero state is the generator's one fixed point).
    public init(state: (UInt64, UInt64, UInt64, UInt64)) {
        precondition(state != (0, 0, 0, 0), "RandomSource: the all-zero state never changes")
        self.state = state
    }

    /// Returns the next 64 random bits.
    public mutating func next() -> UInt64 {
        let result = rotl(state.1 &* 5, 7) &* 9
        let t = state.1 << 17
        state.2 ^= state.0
        state.3 ^= state.1
        state.1 ^= state.2
        state.0 ^= state.3
        state.2 ^= t
        state.3 = rotl(state.3, 45)
        return result
    }

    /// A uniformly distributed `Double` in `[0, 1)` with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1.0p-53
    }

    /// A standard normal variate (Box–Muller), used for random directions.
    public mutating func nextGaussian() -> Double {
        // 1 - u keeps the logarithm's argument in (0, 1].
        let u = 1 - nextUnit()
        let v = nextUnit()
        return (-2 * _log(u)).squareRoot() * _cos(2 * Double.pi * v)
    }

    public static func == (a: RandomSource, b: RandomSource) -> Bool {
        a.state == b.state
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(state.0)
        hasher.combine(state.1)
        hasher.combine(state.2)
        hasher.combine(state.3)
    }

    @inline(__always)
    private func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

import RealModule

// Elementary functions through swift-numerics, so the core needs neither Foundation nor Glibc.
@inline(__always) func _log(_ x: Double) -> Double { Double.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Double.cos(x) }
@inline(__always) func _exp2(_ x: Double) -> Double { Double.exp2(x) }
@inline(__always) func _log1p(_ x: Double) -> Double { Double.log(onePlus: x) }

/// Whether no value is infinite or NaN: one pass without a branch per value, so it vectorises
/// (all exponent bits set is what both have).
func allFinite(_ values: [Float]) -> Bool {
    values.withUnsafeBufferPointer { v in
        var special: UInt32 = 0
        for x in v { special |= (x.bitPattern & 0x7F80_0000) == 0x7F80_0000 ? 1 : 0 }
        return special == 0
    }
}

import RealModule

// Elementary functions through swift-numerics, so the core needs neither Foundation nor Glibc.
@inline(__always) func _log(_ x: Double) -> Double { Double.log(x) }
@inline(__always) func _cos(_ x: Double) -> Double { Double.cos(x) }
@inline(__always) func _exp2(_ x: Double) -> Double { Double.exp2(x) }
@inline(__always) func _log1p(_ x: Double) -> Double { Double.log(onePlus: x) }

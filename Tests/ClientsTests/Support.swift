import Foundation
import Synchronization
import Testing
import Transport
import TestSupport

/// Little-endian bytes of float32 values.
func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// Little-endian bytes of float64 values.
func littleEndianBytes(_ values: [Double]) -> [UInt8] {
    values.flatMap { v -> [UInt8] in withUnsafeBytes(of: v.bitPattern.littleEndian) { Array($0) } }
}

/// A `.npy` file built by hand: magic, version, header length, the padded header dictionary
/// (total header a multiple of 64 bytes, ending in a line feed, as NumPy writes it), payload.
func npyFile(major: UInt8 = 1, descr: String, fortran: Bool = false, shape: String, payload: [UInt8]) -> [UInt8] {
    let fixed = major == 1 ? 10 : 12
    var dictionary = "{'descr': '\(descr)', 'fortran_order': \(fortran ? "True" : "False"), 'shape': \(shape), }"
    let unpadded = fixed + dictionary.utf8.count + 1
    dictionary += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    let length = dictionary.utf8.count
    var bytes: [UInt8] = [0x93] + Array("NUMPY".utf8) + [major, 0]
    if major == 1 {
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8)]
    } else {
        bytes += [UInt8(length & 0xFF), UInt8(length >> 8 & 0xFF), UInt8(length >> 16 & 0xFF), UInt8(length >> 24)]
    }
    return bytes + Array(dictionary.utf8) + payload
}

import Transport
import Wire

extension ZMQSocket {
    /// Sends every frame of `message` as one multipart message, straight from its buffer.
    /// - Returns: false on `EAGAIN` (send timeout or `dontWait`): nothing was queued.
    /// - Throws: `ZMQError`.
    func send(_ message: WireMessage, dontWait: Bool = false) throws(ZMQError) -> Bool {
        let result: Result<Bool, ZMQError> = message.bytes.withUnsafeBytes { raw in
            var frames: [UnsafeRawBufferPointer] = []
            frames.reserveCapacity(message.frameCount)
            for i in 0..<message.frameCount {
                frames.append(UnsafeRawBufferPointer(rebasing: raw[message.frameRange(i)]))
            }
            return frames.withUnsafeBufferPointer { pointers in
                Result { () throws(ZMQError) -> Bool in try self.send(rawFrames: pointers, dontWait: dontWait) }
            }
        }
        return try result.get()
    }
}

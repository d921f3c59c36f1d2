import Daemon
import Testing

@Suite struct StatisticsTests {
    /// Every reason counts messages; the vectors of dropped well-formed batches are counted beside.
    @Test func dropsCountMessagesAndTheVectorsTheyHeld() {
        let s = Statistics()
        s.drop("bad_json")
        s.drop("bad_json")
        s.drop("queue_full", messages: 3, vectors: 192)
        s.drop("queue_full", messages: 1, vectors: 64)
        #expect(s.dropsByReason == ["bad_json": 2, "queue_full": 4])
        #expect(s.droppedVectorsByReason == ["queue_full": 256])
        #expect(s.totalDropped == 6)
    }
}

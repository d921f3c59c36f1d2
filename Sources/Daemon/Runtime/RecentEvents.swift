import Synchronization
import Wire

/// The last few lifecycle and model events (`start`, `seeded`, `reseed`, …), newest last, for
/// readers that join late: the live view on the metrics port shows them without subscribing to
/// the `events` topic.
///
/// Bounded: recording drops the oldest event once ``capacity`` are held. Events are rare (a
/// handful per run, a few per reseed), so one lock per event costs nothing measurable.
public final class RecentEvents: Sendable {
    /// One recorded event.
    struct Entry: Sendable, Hashable {
        /// Wall-clock time, milliseconds since the Unix epoch.
        var timeUnixMilliseconds: Int64
        /// The event's name.
        var name: String
        /// Its fields, as published on the `events` topic.
        var fields: [String: WireScalar]
    }

    /// How many events are kept.
    let capacity: Int
    private let ring: Mutex<[Entry]>

    /// An empty ring holding at most `capacity` (≥ 1) events.
    init(capacity: Int = 20) {
        self.capacity = max(1, capacity)
        ring = Mutex([])
    }

    /// Records an event that happens now.
    func record(_ name: String, _ fields: [String: WireScalar]) {
        record(Entry(timeUnixMilliseconds: Clock.unixMilliseconds(), name: name, fields: fields))
    }

    /// Records `entry`, dropping the oldest one when full.
    func record(_ entry: Entry) {
        ring.withLock { events in
            if events.count >= capacity { events.removeFirst(events.count - capacity + 1) }
            events.append(entry)
        }
    }

    /// The events held, oldest first.
    var entries: [Entry] { ring.withLock { $0 } }
}

#ifndef VORONOID_ALLOCATION_COUNTER_H
#define VORONOID_ALLOCATION_COUNTER_H

/// Starts counting heap allocations made by the calling thread.
void voronoid_allocations_start(void);
/// Stops counting and returns how many allocations the calling thread made since the start.
long voronoid_allocations_stop(void);

#endif

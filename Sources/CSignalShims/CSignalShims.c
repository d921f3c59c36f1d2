#include "CSignalShims.h"

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

static volatile int signal_fd = -1;
static unsigned received;  // accessed with __atomic builtins only: the handler may run on any thread

// Only async-signal-safe work: an atomic OR and a write(2), errno preserved.
static void record(int number) {
    int saved = errno;
    __atomic_fetch_or(&received, 1u << (unsigned)number, __ATOMIC_SEQ_CST);
    uint64_t one = 1;
    if (signal_fd >= 0) { ssize_t ignored = write(signal_fd, &one, sizeof one); (void)ignored; }
    errno = saved;
}

int voronoid_signals_install(int event_fd) {
    signal_fd = event_fd;
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = record;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    int wanted[] = {SIGTERM, SIGINT, SIGHUP};
    for (unsigned i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
        if (sigaction(wanted[i], &action, 0) != 0) return -1;
    }
    return 0;
}

unsigned voronoid_signals_take(void) { return __atomic_exchange_n(&received, 0u, __ATOMIC_SEQ_CST); }

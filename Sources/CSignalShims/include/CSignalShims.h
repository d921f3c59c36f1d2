#ifndef VORONOID_C_SIGNAL_SHIMS_H
#define VORONOID_C_SIGNAL_SHIMS_H

/// Installs handlers for SIGTERM, SIGINT and SIGHUP that record the signal and make `event_fd`
/// (an eventfd) readable. A handler runs on whichever thread the kernel picks, including
/// threads that libraries start before `main` with every signal unblocked (OpenBLAS's pool),
/// so the daemon sees every signal without relying on each thread's mask. Returns 0, or -1 with
/// errno set.
int voronoid_signals_install(int event_fd);

/// The signals received since the last call, as a bit mask (`1 << signal number`), cleared.
unsigned voronoid_signals_take(void);

#endif

#ifndef VORONOID_CZEROMQ_SHIM_H
#define VORONOID_CZEROMQ_SHIM_H
#include <zmq.h>
#include <sys/eventfd.h>
#endif

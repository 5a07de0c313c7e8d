/* One non-blocking send() on a socket, for an answer the transport would otherwise send
 * itself (wsfast/_datapath_c: a listener's reply when the transport has nothing buffered).
 *
 * Returns the number of bytes the socket took, or -1 (errno set) when it took nothing:
 * would block, or an error, which the caller leaves to the transport to meet and report.
 * Interrupted calls are retried. Where there is no POSIX send() on an int descriptor
 * (Windows), it always returns -1: the transport sends everything.
 */
#ifndef WSF_SEND_H
#define WSF_SEND_H

#include <stddef.h>

#ifdef _WIN32
static inline long wsf_send(int fd, const char *data, size_t n)
{
    (void)fd; (void)data; (void)n;
    return -1;
}
#else
#include <errno.h>
#include <sys/types.h>
#include <sys/socket.h>

static inline long wsf_send(int fd, const char *data, size_t n)
{
    ssize_t sent;
    do {
        sent = send(fd, data, n, 0);
    } while (sent < 0 && errno == EINTR);
    return (long)sent;
}
#endif

#endif /* WSF_SEND_H */

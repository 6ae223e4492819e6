/*
 * net.h - addresses and listening sockets.
 */
#ifndef KILN_NET_H
#define KILN_NET_H

#include <stddef.h>
#include <sys/socket.h>

/* Parses "HOST:PORT" ("127.0.0.1:0", "[::1]:7077", "localhost:7077").
 * 0 or -1 with a message. */
int net_parse_addr(const char *hostport, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen);
/* "ip:port" of an address. */
void net_format_addr(const struct sockaddr *sa, char *buf, size_t len);
/* "ip:port" of a connected socket's peer ("local" for a unix socket). */
void net_peer_name(int fd, char *buf, size_t len);
/* True when the address is loopback (127/8 or ::1). */
int net_is_loopback(const struct sockaddr_storage *ss);
/* Opens a listening TCP socket (non-blocking, close-on-exec, SO_REUSEADDR);
 * *port gets the bound port. Returns the fd, or -1 with a message. */
int net_listen(const char *hostport, int *port, char *err, size_t errlen);
/* Connects to host:port, giving up after 10 s; the fd is blocking, with TCP
 * keepalive (a vanished peer fails it in ~25 s). fd, or -1 with a message. */
int net_connect_blocking(const char *hostport, char *err, size_t errlen);
/* Writes the ports file of a daemon: "name port" lines, atomically. */
int net_write_ports(const char *dir, const char *const *names, const int *ports, int n, char *err, size_t errlen);

#endif

/*
 * net.c - socket addresses, listening and blocking connects. No state.
 */
#include "net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

#define NET_CONNECT_MS  10000 /* a connect that takes longer fails */
#define NET_KEEPIDLE_S  10    /* TCP keepalive of blocking connections: first probe after 10 s idle, */
#define NET_KEEPINTVL_S 5     /* then every 5 s, */
#define NET_KEEPCNT     3     /* and the connection fails after 3 unanswered */

int net_parse_addr(const char *hostport, struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen)
{
    char host[256];
    const char *colon;
    const char *hp = hostport ? hostport : "";
    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (!close || close[1] != ':') return errf(err, errlen, "bad address '%s' (want [IPv6]:PORT)", hp);
        snprintf(host, sizeof host, "%.*s", (int)(close - hp - 1), hp + 1);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon) return errf(err, errlen, "bad address '%s' (want HOST:PORT)", hp);
        snprintf(host, sizeof host, "%.*s", (int)(colon - hp), hp);
    }
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || port < 0 || port > 65535) return errf(err, errlen, "bad port in '%s'", hp);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host[0] ? host : "0.0.0.0", NULL, &hints, &res);
    if (rc != 0 || !res) return errf(err, errlen, "cannot resolve '%s': %s", host, gai_strerror(rc));
    memset(ss, 0, sizeof *ss);
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
    if (ss->ss_family == AF_INET)
        ((struct sockaddr_in *)ss)->sin_port = htons((uint16_t)port);
    else
        ((struct sockaddr_in6 *)ss)->sin6_port = htons((uint16_t)port);
    return 0;
}

void net_format_addr(const struct sockaddr *sa, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s->sin_addr, ip, sizeof ip);
        port = ntohs(s->sin_port);
        snprintf(buf, len, "%s:%d", ip, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof ip);
        port = ntohs(s->sin6_port);
        snprintf(buf, len, "[%s]:%d", ip, port);
    } else {
        snprintf(buf, len, "local");
    }
}

void net_peer_name(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
        net_format_addr((struct sockaddr *)&ss, buf, len);
    else
        snprintf(buf, len, "local");
}

int net_is_loopback(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s = (const struct sockaddr_in *)ss;
        return (ntohl(s->sin_addr.s_addr) >> 24) == 127;
    }
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)ss;
        return IN6_IS_ADDR_LOOPBACK(&s->sin6_addr);
    }
    return 0;
}

int net_listen(const char *hostport, int *port, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_parse_addr(hostport, &ss, &sl, err, errlen) < 0) return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return errf(err, errlen, "socket: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) {
        int e = errno;
        close(fd);
        return errf(err, errlen, "cannot bind %s: %s", hostport, strerror(e));
    }
    if (listen(fd, 512) < 0) {
        int e = errno;
        close(fd);
        return errf(err, errlen, "cannot listen on %s: %s", hostport, strerror(e));
    }
    struct sockaddr_storage bound;
    socklen_t bl = sizeof bound;
    getsockname(fd, (struct sockaddr *)&bound, &bl);
    *port = bound.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&bound)->sin_port)
                                       : ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
    return fd;
}

int net_connect_blocking(const char *hostport, char *err, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    if (net_parse_addr(hostport, &ss, &sl, err, errlen) < 0) return -1;
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return errf(err, errlen, "socket: %s", strerror(errno));
    /* non-blocking, so that an unreachable host fails in NET_CONNECT_MS, not
     * after the kernel's minutes of SYN retries */
    int e = 0;
    if (connect(fd, (struct sockaddr *)&ss, sl) < 0) {
        e = errno;
        if (e == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int n;
            do
                n = poll(&pfd, 1, NET_CONNECT_MS);
            while (n < 0 && errno == EINTR);
            socklen_t el = sizeof e;
            if (n == 0)
                e = ETIMEDOUT;
            else if (n < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el) < 0)
                e = errno;
        }
    }
    if (e) {
        close(fd);
        errf(err, errlen, "cannot connect to %s: %s", hostport, strerror(e));
        errno = e; /* callers add what to do about it (client_hint) */
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
        e = errno;
        close(fd);
        return errf(err, errlen, "fcntl: %s", strerror(e));
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    /* a peer whose host vanished (no FIN, no RST) is noticed within ~25 s
     * instead of never: a blocking read then fails with ETIMEDOUT */
    int idle = NET_KEEPIDLE_S, intvl = NET_KEEPINTVL_S, cnt = NET_KEEPCNT;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof idle);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof intvl);
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    return fd;
}

int net_write_ports(const char *dir, const char *const *names, const int *ports, int n, char *err, size_t errlen)
{
    char buf[512], path[4096];
    size_t off = 0;
    for (int i = 0; i < n; i++)
        off += (size_t)snprintf(buf + off, sizeof buf - off, "%s %d\n", names[i], ports[i]);
    snprintf(path, sizeof path, "%s/ports", dir);
    return write_file_atomic(path, buf, off, err, errlen);
}

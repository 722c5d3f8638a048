/* CIDR lists for server.allow. */
#ifndef SG_CIDR_H
#define SG_CIDR_H

#include <netinet/in.h>
#include <stdint.h>
#include <sys/socket.h>

typedef struct sg_cidr_s {
    int family;          /* AF_INET or AF_INET6 */
    uint8_t addr[16];
    unsigned prefix;     /* bits */
} sg_cidr_t;

/* "10.0.0.0/8", "::1", "192.168.1.7" (= /32). 0, or -1 when malformed or
 * when host bits are set beyond the prefix ("10.0.0.1/8"). */
int sg_cidr_parse(const char *s, sg_cidr_t *out);
/* An IPv4-mapped IPv6 address matches IPv4 entries. */
int sg_cidr_match(const sg_cidr_t *c, const struct sockaddr *sa);
int sg_cidr_list_match(const sg_cidr_t *list, int n, const struct sockaddr *sa);

#endif

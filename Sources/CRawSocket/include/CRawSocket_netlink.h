// Shims for netlink: rtnetlink, inet_diag, nf_tables (owned by the netlink side of RawSocket).
#ifndef CRAWSOCKET_NETLINK_H
#define CRAWSOCKET_NETLINK_H

#endif

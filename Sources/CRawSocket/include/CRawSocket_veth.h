// What the two-namespace peer (`demo --serve --veth`) needs that Glibc does not import: the
// ethtool ioctl's argument (offloads off on a veth, so segments show as on a wire).
#ifndef CRAWSOCKET_VETH_H
#define CRAWSOCKET_VETH_H

#include <stdint.h>
#include <string.h>
#include <net/if.h>
#include <linux/sockios.h>
#include <linux/ethtool.h>

/// `SIOCETHTOOL`, the one ioctl behind every ethtool request.
static const unsigned long crawsocket_siocethtool = SIOCETHTOOL;

/// Points `request`'s ifr_data at `value` (an ethtool_value that must outlive the ioctl).
static inline void crawsocket_ifreq_set_ethtool(struct ifreq *request, struct ethtool_value *value) {
  request->ifr_data = (char *)value;
}

#endif

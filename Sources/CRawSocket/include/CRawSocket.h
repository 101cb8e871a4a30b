// CRawSocket: the Linux kernel headers Glibc does not import into Swift, and static-inline shims
// for macros (errno, CMSG_*). Headers only in spirit: no logic lives here.
#ifndef CRAWSOCKET_H
#define CRAWSOCKET_H

#include <errno.h>
#include <poll.h>
#include <unistd.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/filter.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/inet_diag.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/capability.h>

#include "CRawSocket_packet.h"
#include "CRawSocket_netlink.h"
#include "CRawSocket_namespace.h"
#include "CRawSocket_privatetmp.h"
#include "CRawSocket_script.h"
#include "CRawSocket_process.h"
#include "CRawSocket_trace.h"
#include "CRawSocket_veth.h"

#endif

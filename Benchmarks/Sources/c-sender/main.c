// The plain C raw-socket sender peers.sh compares tcpcraft with: 40-byte SYNs (IPv4 + TCP, no
// options), a new sequence number and TCP checksum for every packet, sent with sendto() one at
// a time or sendmmsg() in batches, on SOCK_RAW + IP_HDRINCL, for a bounded time and count.
//
//   c-sender --mode sendto|sendmmsg [--batch 64] [--src 127.0.0.1] [--dst 127.0.0.1]
//            [--sport 40000] [--dport 9] [--seconds 3] [--count N]
//
// Prints one line: "c-sender MODE sent N errors E seconds T pps R". Traffic is refused unless
// the destination is in 127.0.0.0/8 or --allow-any is given (peers.sh uses its own namespace).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PACKET 40
#define MAX_BATCH 1024

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint16_t fold(uint32_t s) {
  while (s >> 16) s = (s & 0xFFFF) + (s >> 16);
  return (uint16_t)s;
}

static void build(uint8_t *b, uint32_t src, uint32_t dst, uint16_t sport, uint16_t dport, uint32_t seq) {
  memset(b, 0, PACKET);
  b[0] = 0x45;
  b[2] = 0; b[3] = PACKET;
  b[6] = 0x40;  // DF
  b[8] = 64;
  b[9] = 6;
  memcpy(b + 12, &src, 4);  // network order already
  memcpy(b + 16, &dst, 4);
  uint8_t *t = b + 20;
  t[0] = (uint8_t)(sport >> 8); t[1] = (uint8_t)sport;
  t[2] = (uint8_t)(dport >> 8); t[3] = (uint8_t)dport;
  t[4] = (uint8_t)(seq >> 24); t[5] = (uint8_t)(seq >> 16); t[6] = (uint8_t)(seq >> 8); t[7] = (uint8_t)seq;
  t[12] = 5 << 4;
  t[13] = 0x02;
  t[14] = 0xFF; t[15] = 0xFF;
  uint32_t sum = 6 + 20;
  for (int i = 12; i < 20; i += 2) sum += (uint32_t)(b[i] << 8 | b[i + 1]);
  for (int i = 0; i < 20; i += 2) sum += (uint32_t)(t[i] << 8 | t[i + 1]);
  uint16_t c = (uint16_t)~fold(sum);
  t[16] = (uint8_t)(c >> 8); t[17] = (uint8_t)c;
  // The kernel fills the IPv4 checksum (and total length) on IP_HDRINCL sockets.
}

int main(int argc, char **argv) {
  const char *mode = "sendmmsg";
  const char *src_text = "127.0.0.1", *dst_text = "127.0.0.1";
  int batch = 64, allow_any = 0;
  unsigned sport = 40000, dport = 9;
  double seconds = 3;
  unsigned long long count = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (!strcmp(a, "--mode") && v) mode = argv[++i];
    else if (!strcmp(a, "--batch") && v) batch = atoi(argv[++i]);
    else if (!strcmp(a, "--src") && v) src_text = argv[++i];
    else if (!strcmp(a, "--dst") && v) dst_text = argv[++i];
    else if (!strcmp(a, "--sport") && v) sport = (unsigned)atoi(argv[++i]);
    else if (!strcmp(a, "--dport") && v) dport = (unsigned)atoi(argv[++i]);
    else if (!strcmp(a, "--seconds") && v) seconds = atof(argv[++i]);
    else if (!strcmp(a, "--count") && v) count = strtoull(argv[++i], NULL, 10);
    else if (!strcmp(a, "--allow-any")) allow_any = 1;
    else {
      fprintf(stderr, "usage: c-sender --mode sendto|sendmmsg [--batch N] [--src A] [--dst A] [--sport N] [--dport N] [--seconds S] [--count N]\n");
      return 2;
    }
  }
  if (batch < 1) batch = 1;
  if (batch > MAX_BATCH) batch = MAX_BATCH;
  if (seconds <= 0 || seconds > 120) seconds = 3;
  struct in_addr src, dst;
  if (!inet_aton(src_text, &src) || !inet_aton(dst_text, &dst)) {
    fprintf(stderr, "c-sender: bad address\n");
    return 2;
  }
  if (!allow_any && (ntohl(dst.s_addr) >> 24) != 127) {
    fprintf(stderr, "c-sender: destination must be in 127.0.0.0/8 (or --allow-any for a namespace of your own)\n");
    return 2;
  }
  int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
  if (fd < 0) {
    perror("c-sender: socket (needs CAP_NET_RAW)");
    return 1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one);
  struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = dst};

  static uint8_t packets[MAX_BATCH][PACKET];
  static struct iovec iov[MAX_BATCH];
  static struct mmsghdr msgs[MAX_BATCH];
  for (int i = 0; i < MAX_BATCH; i++) {
    iov[i].iov_base = packets[i];
    iov[i].iov_len = PACKET;
    msgs[i].msg_hdr.msg_iov = &iov[i];
    msgs[i].msg_hdr.msg_iovlen = 1;
    msgs[i].msg_hdr.msg_name = &to;
    msgs[i].msg_hdr.msg_namelen = sizeof to;
  }
  int use_mmsg = !strcmp(mode, "sendmmsg");
  if (!use_mmsg) batch = 1;
  unsigned long long sent = 0, errors = 0;
  uint32_t seq = 1;
  double start = now(), deadline = start + seconds;
  unsigned long long rounds = 0;
  for (;;) {
    if (count && sent + errors >= count) break;
    if ((rounds++ & 63) == 0 && now() >= deadline) break;
    int n = batch;
    if (count && (unsigned long long)n > count - sent - errors) n = (int)(count - sent - errors);
    for (int i = 0; i < n; i++) build(packets[i], src.s_addr, dst.s_addr, (uint16_t)sport, (uint16_t)dport, seq++);
    if (use_mmsg) {
      int r = sendmmsg(fd, msgs, (unsigned)n, 0);
      if (r < 0) {
        errors += (unsigned long long)n;
        if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) { perror("c-sender: sendmmsg"); break; }
      } else {
        sent += (unsigned long long)r;
      }
    } else {
      ssize_t r = sendto(fd, packets[0], PACKET, 0, (struct sockaddr *)&to, sizeof to);
      if (r < 0) {
        errors++;
        if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) { perror("c-sender: sendto"); break; }
      } else {
        sent++;
      }
    }
  }
  double elapsed = now() - start;
  printf("c-sender %s sent %llu errors %llu seconds %.3f pps %.0f\n", mode, sent, errors, elapsed, (double)sent / elapsed);
  close(fd);
  return 0;
}

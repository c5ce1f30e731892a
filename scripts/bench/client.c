/*
 * Load client for the vncws benchmark (scripts/bench.ts), in C so that the
 * client is never the bottleneck.
 *
 * usage: bench_client KIND HOST PORT TEST ARGS...
 *   KIND  tcp | ws | wss   (ws: RFC 6455 client, masked 64 KiB binary frames;
 *                           wss: the same over TLS, certificate not verified)
 *   TEST  down BYTES CONC    BYTES target->client over CONC parallel sessions
 *         up BYTES CONC      BYTES client->target over CONC parallel sessions
 *         rtt COUNT SIZE     COUNT sequential SIZE-byte round trips (+ warm-up)
 *         rfb COUNT          COUNT RFB-shaped request/update exchanges
 *         rfbhs COUNT        the same after a real RFB 3.8 handshake (security None)
 *                            and a SetEncodings, against the target's RFB port:
 *                            what a proxy that follows RFB (vncws --view-only) needs
 *         idle N             open N sessions, print {"ready":N}, hold them
 *                            until a line (or EOF) on stdin
 *         burst N PAR        N sessions opened and closed, PAR at a time
 *         ticks N SECS SIZE  open N sessions that each get a SIZE-byte update a
 *                            second from the target; print {"ready":N}, let them
 *                            run a second, print {"measuring":N}, count what
 *                            arrives for SECS, print the totals, then hold the
 *                            sessions until a line (or EOF) on stdin
 *         probe TIMEOUT_MS   retry one session until it works
 * Prints one JSON object on stdout; on failure {"error":"..."} and exit 1.
 * A session is connect (+ TLS) (+ WebSocket handshake); the commands sent to
 * the target are described in target.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define RBUF 262144
#define MSG 65536
#define FRAME_HEAD 14
#define IO_TIMEOUT_S 60

enum kind { K_TCP, K_WS, K_WSS };

typedef struct {
  int fd;
  SSL *ssl;
  int ws;
  uint8_t *rbuf;
  size_t rpos, rlen;
  uint64_t left; /* payload bytes left in the current frame */
  uint8_t *sbuf;
  uint64_t rng;
} conn;

static enum kind g_kind;
static const char *g_host;
static int g_port;
static SSL_CTX *g_ctx;

static pthread_mutex_t g_err_lock = PTHREAD_MUTEX_INITIALIZER;
static char g_err[512];

static void set_err(const char *fmt, ...) {
  pthread_mutex_lock(&g_err_lock);
  if (g_err[0] == 0) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_err, sizeof g_err, fmt, ap);
    va_end(ap);
  }
  pthread_mutex_unlock(&g_err_lock);
}

static void fail_exit(void) {
  /* JSON-safe: the messages we write contain no quotes or backslashes */
  for (char *p = g_err; *p; p++)
    if (*p == '"' || *p == '\\' || *p == '\n') *p = ' ';
  printf("{\"error\":\"%s\"}\n", g_err[0] ? g_err : "unknown failure");
  fflush(stdout);
  _exit(1);
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ---- raw I/O (TCP or TLS) ---- */

static ssize_t sock_read(conn *c, uint8_t *p, size_t n) {
  if (c->ssl) {
    int r = SSL_read(c->ssl, p, n > 0x40000000 ? 0x40000000 : (int)n);
    return r > 0 ? r : (SSL_get_error(c->ssl, r) == SSL_ERROR_ZERO_RETURN ? 0 : -1);
  }
  for (;;) {
    ssize_t r = read(c->fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    return r;
  }
}

static int sock_write_all(conn *c, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w;
    if (c->ssl) {
      int r = SSL_write(c->ssl, p, (int)n);
      if (r <= 0) return -1;
      w = r;
    } else {
      w = write(c->fd, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Makes at least `need` unread bytes available in rbuf. */
static int fill(conn *c, size_t need) {
  if (c->rlen - c->rpos >= need) return 0;
  memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
  c->rlen -= c->rpos;
  c->rpos = 0;
  while (c->rlen < need) {
    ssize_t r = sock_read(c, c->rbuf + c->rlen, RBUF - c->rlen);
    if (r <= 0) return -1;
    c->rlen += (size_t)r;
  }
  return 0;
}

/* ---- RFC 6455 client framing ---- */

static uint64_t next_rng(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

/* Writes one masked binary frame for data[0..n) into out; returns its length. */
static size_t frame_into(conn *c, uint8_t *out, const uint8_t *data, size_t n) {
  size_t h = 0;
  out[h++] = 0x82;
  if (n < 126) {
    out[h++] = (uint8_t)(0x80 | n);
  } else if (n < 65536) {
    out[h++] = 0x80 | 126;
    out[h++] = (uint8_t)(n >> 8);
    out[h++] = (uint8_t)n;
  } else {
    out[h++] = 0x80 | 127;
    for (int i = 7; i >= 0; i--) out[h++] = (uint8_t)((uint64_t)n >> (8 * i));
  }
  uint32_t key = (uint32_t)next_rng(&c->rng);
  uint8_t kb[8];
  memcpy(kb, &key, 4);
  memcpy(kb + 4, &key, 4);
  memcpy(out + h, kb, 4);
  h += 4;
  uint64_t k64;
  memcpy(&k64, kb, 8);
  uint8_t *dst = out + h;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v;
    memcpy(&v, data + i, 8);
    v ^= k64;
    memcpy(dst + i, &v, 8);
  }
  for (; i < n; i++) dst[i] = data[i] ^ kb[i & 3];
  return h + n;
}

static int c_send(conn *c, const uint8_t *p, size_t n) {
  if (!c->ws) return sock_write_all(c, p, n);
  while (n > 0) {
    size_t k = n < MSG ? n : MSG;
    size_t len = frame_into(c, c->sbuf, p, k);
    if (sock_write_all(c, c->sbuf, len) < 0) return -1;
    p += k;
    n -= k;
  }
  return 0;
}

/* Reads up to max stream bytes: WebSocket payload for ws, raw bytes for tcp. 0 = EOF. */
static ssize_t c_recv(conn *c, uint8_t *dst, size_t max) {
  if (!c->ws) {
    if (c->rpos < c->rlen) {
      size_t k = c->rlen - c->rpos < max ? c->rlen - c->rpos : max;
      memcpy(dst, c->rbuf + c->rpos, k);
      c->rpos += k;
      return (ssize_t)k;
    }
    return sock_read(c, dst, max);
  }
  while (c->left == 0) {
    if (fill(c, 2) < 0) return -1;
    uint8_t b0 = c->rbuf[c->rpos], b1 = c->rbuf[c->rpos + 1];
    size_t len7 = b1 & 0x7f;
    size_t hl = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
    if (b1 & 0x80) {
      set_err("server sent a masked frame (RFC 6455 forbids it)");
      return -1;
    }
    if (fill(c, hl) < 0) return -1;
    const uint8_t *q = c->rbuf + c->rpos;
    uint64_t len = len7;
    if (len7 == 126) len = ((uint64_t)q[2] << 8) | q[3];
    if (len7 == 127) {
      len = 0;
      for (int i = 0; i < 8; i++) len = (len << 8) | q[2 + i];
    }
    c->rpos += hl;
    int op = b0 & 0x0f;
    if (op == 8) return 0;
    if (op == 9 || op == 10) { /* ping/pong: skip (control payload <= 125) */
      if (fill(c, (size_t)len) < 0) return -1;
      c->rpos += (size_t)len;
      continue;
    }
    c->left = len;
  }
  size_t k = c->left < max ? (size_t)c->left : max;
  ssize_t got;
  if (c->rpos < c->rlen) {
    if (k > c->rlen - c->rpos) k = c->rlen - c->rpos;
    memcpy(dst, c->rbuf + c->rpos, k);
    c->rpos += k;
    got = (ssize_t)k;
  } else {
    got = sock_read(c, dst, k); /* never past the frame end */
    if (got <= 0) return got;
  }
  c->left -= (uint64_t)got;
  return got;
}

static int c_recv_exact(conn *c, uint8_t *dst, size_t n) {
  while (n > 0) {
    ssize_t r = c_recv(c, dst, n);
    if (r <= 0) {
      set_err("connection closed or failed while reading (%zu bytes still expected)", n);
      return -1;
    }
    dst += r;
    n -= (size_t)r;
  }
  return 0;
}

static int send_cmd(conn *c, char op, uint64_t arg) {
  uint8_t cmd[16] = {0};
  cmd[0] = (uint8_t)op;
  for (int i = 0; i < 8; i++) cmd[8 + i] = (uint8_t)(arg >> (8 * i));
  return c_send(c, cmd, 16);
}

/* ---- sessions ---- */

static void conn_free(conn *c) {
  if (!c) return;
  if (c->ssl) {
    SSL_shutdown(c->ssl);
    SSL_free(c->ssl);
  }
  if (c->fd >= 0) close(c->fd);
  free(c->rbuf);
  free(c->sbuf);
  free(c);
}

/* The key and answer from RFC 6455 section 1.3. */
static const char WS_KEY[] = "dGhlIHNhbXBsZSBub25jZQ==";
static const char WS_ACCEPT[] = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=";

static int ws_handshake(conn *c) {
  char req[768];
  /* BENCH_WS_PATH: the request path (default "/"), e.g. "/?token=t9999" for a token file */
  const char *path = getenv("BENCH_WS_PATH");
  if (!path || !*path || strlen(path) > 200) path = "/";
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   path, g_host, g_port, WS_KEY);
  if (sock_write_all(c, (const uint8_t *)req, (size_t)n) < 0) {
    set_err("writing the WebSocket handshake failed: %s", strerror(errno));
    return -1;
  }
  for (;;) {
    c->rbuf[c->rlen] = 0;
    char *end = strstr((char *)c->rbuf, "\r\n\r\n");
    if (end) {
      if (strncmp((char *)c->rbuf, "HTTP/1.1 101", 12) != 0) {
        char *eol = strstr((char *)c->rbuf, "\r\n");
        *eol = 0;
        set_err("handshake refused: %s", (char *)c->rbuf);
        return -1;
      }
      *end = 0;
      if (!strcasestr((char *)c->rbuf, WS_ACCEPT)) {
        set_err("101 without the expected Sec-WebSocket-Accept");
        return -1;
      }
      c->rpos = (size_t)(end + 4 - (char *)c->rbuf);
      return 0;
    }
    if (c->rlen >= 8192) {
      set_err("handshake response head too long");
      return -1;
    }
    ssize_t r = sock_read(c, c->rbuf + c->rlen, 8192 - c->rlen);
    if (r <= 0) {
      set_err("connection closed during the WebSocket handshake");
      return -1;
    }
    c->rlen += (size_t)r;
  }
}

static conn *conn_open(void) {
  conn *c = calloc(1, sizeof *c);
  c->fd = -1;
  c->rbuf = malloc(RBUF + 1);
  c->sbuf = malloc(MSG + FRAME_HEAD);
  c->ws = g_kind != K_TCP;
  c->rng = 0x243f6a8885a308d3ull ^ (uint64_t)(uintptr_t)c ^ (uint64_t)(now_s() * 1e9);
  if (!c->rbuf || !c->sbuf) {
    set_err("out of memory");
    conn_free(c);
    return NULL;
  }
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    set_err("socket: %s", strerror(errno));
    conn_free(c);
    return NULL;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  struct timeval tv = {IO_TIMEOUT_S, 0};
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_port = htons((uint16_t)g_port);
  inet_pton(AF_INET, g_host, &sa.sin_addr);
  if (connect(c->fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    set_err("connect %s:%d: %s", g_host, g_port, strerror(errno));
    conn_free(c);
    return NULL;
  }
  if (g_kind == K_WSS) {
    c->ssl = SSL_new(g_ctx);
    SSL_set_fd(c->ssl, c->fd);
    if (SSL_connect(c->ssl) != 1) {
      set_err("TLS handshake failed: %s", ERR_error_string(ERR_get_error(), NULL));
      conn_free(c);
      return NULL;
    }
  }
  if (c->ws && ws_handshake(c) < 0) {
    conn_free(c);
    return NULL;
  }
  return c;
}

/* Proves the whole path to the target exists: the target answers 'P' with 'P'. */
static int ping(conn *c) {
  uint8_t b;
  if (send_cmd(c, 'P', 0) < 0 || c_recv_exact(c, &b, 1) < 0) return -1;
  if (b != 'P') {
    set_err("ping answered with 0x%02x instead of 'P'", b);
    return -1;
  }
  return 0;
}

/* ---- workloads ---- */

struct job {
  pthread_t t;
  pthread_barrier_t *barrier;
  char test;
  uint64_t bytes;
  int ok;
};

static void *bulk_thread(void *arg) {
  struct job *j = arg;
  conn *c = conn_open();
  pthread_barrier_wait(j->barrier);
  if (!c) return NULL;
  if (send_cmd(c, j->test == 'd' ? 'D' : 'U', j->bytes) < 0) {
    set_err("sending the command failed");
    conn_free(c);
    return NULL;
  }
  if (j->test == 'd') {
    uint8_t *buf = malloc(MSG);
    uint64_t left = j->bytes;
    while (left > 0) {
      ssize_t r = c_recv(c, buf, left < MSG ? (size_t)left : MSG);
      if (r <= 0) {
        set_err("down: stream ended with %llu bytes still expected", (unsigned long long)left);
        break;
      }
      left -= (uint64_t)r;
    }
    free(buf);
    j->ok = left == 0;
  } else {
    uint8_t *zeros = calloc(1, MSG);
    uint64_t left = j->bytes;
    while (left > 0) {
      size_t k = left < MSG ? (size_t)left : MSG;
      if (c_send(c, zeros, k) < 0) {
        set_err("up: write failed with %llu bytes left: %s", (unsigned long long)left,
                strerror(errno));
        break;
      }
      left -= k;
    }
    free(zeros);
    uint8_t ack = 0;
    j->ok = left == 0 && c_recv_exact(c, &ack, 1) == 0 && ack == 'K';
    if (left == 0 && ack != 'K') set_err("up: no ack from the target");
  }
  conn_free(c);
  return NULL;
}

static void run_bulk(char test, uint64_t bytes, int conc) {
  struct job *jobs = calloc((size_t)conc, sizeof *jobs);
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, (unsigned)conc + 1);
  for (int i = 0; i < conc; i++) {
    jobs[i].barrier = &barrier;
    jobs[i].test = test;
    jobs[i].bytes = bytes / (uint64_t)conc + (i == 0 ? bytes % (uint64_t)conc : 0);
    pthread_create(&jobs[i].t, NULL, bulk_thread, &jobs[i]);
  }
  pthread_barrier_wait(&barrier);
  double t0 = now_s();
  int ok = 1;
  for (int i = 0; i < conc; i++) {
    pthread_join(jobs[i].t, NULL);
    ok &= jobs[i].ok;
  }
  double secs = now_s() - t0;
  if (!ok) fail_exit();
  printf("{\"bytes\":%llu,\"secs\":%.6f}\n", (unsigned long long)bytes, secs);
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void run_rtt(int count, int size) {
  conn *c = conn_open();
  if (!c || send_cmd(c, 'E', 0) < 0) fail_exit();
  uint8_t *out = malloc((size_t)size), *in = malloc((size_t)size);
  double *lat = malloc(sizeof(double) * (size_t)count);
  int warm = count / 2 < 500 ? count / 2 : 500;
  double t0 = 0;
  for (int i = -warm; i < count; i++) {
    if (i == 0) t0 = now_s();
    for (int k = 0; k < size; k++) out[k] = (uint8_t)(i + k);
    double a = now_s();
    if (c_send(c, out, (size_t)size) < 0 || c_recv_exact(c, in, (size_t)size) < 0) fail_exit();
    double b = now_s();
    if (memcmp(in, out, (size_t)size) != 0) {
      set_err("echo returned different bytes");
      fail_exit();
    }
    if (i >= 0) lat[i] = (b - a) * 1e6;
  }
  double secs = now_s() - t0;
  double sum = 0;
  for (int i = 0; i < count; i++) sum += lat[i];
  qsort(lat, (size_t)count, sizeof(double), cmp_double);
  printf("{\"count\":%d,\"p50_us\":%.1f,\"p99_us\":%.1f,\"mean_us\":%.1f,\"secs\":%.6f}\n", count,
         lat[count / 2], lat[(size_t)count * 99 / 100], sum / count, secs);
  conn_free(c);
}

/* The viewer's side of an RFB 3.8 handshake with security None, then SetEncodings [Raw]. */
static int rfb_handshake(conn *c) {
  static const uint8_t version[12] = "RFB 003.008\n";
  static const uint8_t none[1] = {1}, shared[1] = {1};
  static const uint8_t encodings[8] = {2, 0, 0, 1, 0, 0, 0, 0};
  uint8_t buf[256];
  if (c_recv_exact(c, buf, 12) < 0 || memcmp(buf, "RFB ", 4) != 0) return -1;
  if (c_send(c, version, 12) < 0 || c_recv_exact(c, buf, 1) < 0 || buf[0] == 0) return -1;
  if (c_recv_exact(c, buf, buf[0]) < 0 || c_send(c, none, 1) < 0) return -1;
  if (c_recv_exact(c, buf, 4) < 0 || buf[3] != 0 || c_send(c, shared, 1) < 0) return -1;
  if (c_recv_exact(c, buf, 24) < 0) return -1;
  uint32_t name = ((uint32_t)buf[20] << 24) | ((uint32_t)buf[21] << 16) | (buf[22] << 8) | buf[23];
  if (name > sizeof buf || c_recv_exact(c, buf, name) < 0) return -1;
  return c_send(c, encodings, 8);
}

static void run_rfb(int count, int handshake) {
  conn *c = conn_open();
  if (!c) fail_exit();
  if (handshake ? rfb_handshake(c) < 0 : send_cmd(c, 'R', (uint64_t)count) < 0) {
    set_err("rfb: %s failed", handshake ? "RFB handshake" : "command");
    fail_exit();
  }
  /* two PointerEvents and a FramebufferUpdateRequest, as separate messages */
  static const uint8_t pe[6] = {5, 0, 0, 10, 0, 20};
  static const uint8_t fbur[10] = {3, 1, 0, 0, 0, 0, 4, 0, 3, 0};
  uint8_t req[3 * FRAME_HEAD + 22];
  size_t req_len = 0;
  if (c->ws) {
    req_len += frame_into(c, req + req_len, pe, 6);
    req_len += frame_into(c, req + req_len, pe, 6);
    req_len += frame_into(c, req + req_len, fbur, 10);
  } else {
    memcpy(req, pe, 6);
    memcpy(req + 6, pe, 6);
    memcpy(req + 12, fbur, 10);
    req_len = 22;
  }
  uint8_t *scratch = malloc(MSG);
  uint64_t bytes = 0;
  double t0 = now_s();
  for (int i = 0; i < count; i++) {
    if (sock_write_all(c, req, req_len) < 0) {
      set_err("rfb: request write failed");
      fail_exit();
    }
    uint8_t head[4];
    if (c_recv_exact(c, head, 4) < 0) fail_exit();
    unsigned nrects = ((unsigned)head[2] << 8) | head[3];
    bytes += 4;
    for (unsigned k = 0; k < nrects; k++) {
      uint8_t rh[12];
      if (c_recv_exact(c, rh, 12) < 0) fail_exit();
      size_t len = (size_t)(((unsigned)rh[4] << 8) | rh[5]) * (((unsigned)rh[6] << 8) | rh[7]) * 4;
      bytes += 12 + len;
      while (len > 0) {
        size_t k2 = len < MSG ? len : MSG;
        if (c_recv_exact(c, scratch, k2) < 0) fail_exit();
        len -= k2;
      }
    }
  }
  double secs = now_s() - t0;
  printf("{\"updates\":%d,\"bytes\":%llu,\"secs\":%.6f}\n", count, (unsigned long long)bytes, secs);
  conn_free(c);
}

static void raise_nofile(void) {
  struct rlimit rl = {131072, 131072};
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0) return;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

static void run_idle(int n) {
  conn **cs = calloc((size_t)n, sizeof *cs);
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    cs[i] = conn_open();
    if (!cs[i] || ping(cs[i]) < 0) {
      char first[512];
      snprintf(first, sizeof first, "%s", g_err);
      g_err[0] = 0;
      set_err("idle session %d of %d failed: %s", i + 1, n, first);
      fail_exit();
    }
    /* rbuf/sbuf are the client's, not the proxy's: give the memory back */
    free(cs[i]->rbuf);
    free(cs[i]->sbuf);
    cs[i]->rbuf = NULL;
    cs[i]->sbuf = NULL;
  }
  printf("{\"ready\":%d,\"secs\":%.6f}\n", n, now_s() - t0);
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) { /* EOF also releases */
  }
  for (int i = 0; i < n; i++) conn_free(cs[i]);
}

struct burst_job {
  pthread_t t;
  pthread_barrier_t *barrier;
  int count;
  int ok;
};

static void *burst_thread(void *arg) {
  struct burst_job *j = arg;
  pthread_barrier_wait(j->barrier);
  for (int i = 0; i < j->count; i++) {
    conn *c = conn_open();
    if (!c) return NULL;
    int r = ping(c);
    conn_free(c);
    if (r < 0) return NULL;
    j->ok++;
  }
  return NULL;
}

static void run_burst(int n, int par) {
  if (par > n) par = n;
  struct burst_job *jobs = calloc((size_t)par, sizeof *jobs);
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, (unsigned)par + 1);
  for (int i = 0; i < par; i++) {
    jobs[i].barrier = &barrier;
    jobs[i].count = n / par + (i < n % par ? 1 : 0);
    pthread_create(&jobs[i].t, NULL, burst_thread, &jobs[i]);
  }
  pthread_barrier_wait(&barrier);
  double t0 = now_s();
  int ok = 0;
  for (int i = 0; i < par; i++) {
    pthread_join(jobs[i].t, NULL);
    ok += jobs[i].ok;
  }
  double secs = now_s() - t0;
  if (ok != n) {
    char first[512];
    snprintf(first, sizeof first, "%s", g_err);
    g_err[0] = 0;
    set_err("burst: %d of %d sessions failed, first: %s", n - ok, n, first);
    fail_exit();
  }
  printf("{\"sessions\":%d,\"secs\":%.6f}\n", n, secs);
}

static void run_probe(int timeout_ms) {
  double t0 = now_s();
  for (;;) {
    conn *c = conn_open();
    if (c && ping(c) == 0) {
      conn_free(c);
      printf("{\"ms\":%.3f}\n", (now_s() - t0) * 1e3);
      return;
    }
    conn_free(c);
    if ((now_s() - t0) * 1e3 > timeout_ms) {
      char first[512];
      snprintf(first, sizeof first, "%s", g_err);
      g_err[0] = 0;
      set_err("probe: no working session within %d ms, last: %s", timeout_ms, first);
      fail_exit();
    }
    g_err[0] = 0;
    usleep(2000);
  }
}

/* ---- ticks: many sessions, each receiving a small update a second ---- */

#define TICK_WARM_S 1.0

/* One ticking session and the state of its WebSocket frame parser. */
typedef struct {
  conn *c;
  uint8_t head[FRAME_HEAD];
  size_t have;   /* header bytes collected; the header is complete when in_payload */
  int in_payload;
  int op;
  uint64_t left; /* payload bytes left in the current frame */
  uint8_t ctl[125];
  size_t ctl_len;
  uint64_t got;  /* data payload bytes received so far */
  uint64_t mark; /* got when the measured window began */
} ticker;

static size_t head_need(const ticker *t) {
  if (t->have < 2) return 2;
  size_t len7 = t->head[1] & 0x7f;
  return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
}

/* Answers a ping with a pong of the same payload (the proxy may run a heartbeat). */
static void tick_pong(ticker *t) {
  uint8_t out[FRAME_HEAD + 125];
  size_t len = frame_into(t->c, out, t->ctl, t->ctl_len);
  out[0] = 0x8a; /* frame_into writes a binary frame; this one is a pong */
  /* a few bytes into an empty send buffer: a failure would show as a closed session */
  sock_write_all(t->c, out, len);
}

/* Feeds received stream bytes through the frame parser; -1 on a close frame or bad frame. */
static int tick_feed(ticker *t, const uint8_t *p, size_t n) {
  if (!t->c->ws) {
    t->got += n;
    return 0;
  }
  while (n > 0) {
    if (!t->in_payload) {
      t->head[t->have++] = *p++;
      n--;
      if (t->have < head_need(t)) continue;
      if (t->head[1] & 0x80) {
        set_err("server sent a masked frame (RFC 6455 forbids it)");
        return -1;
      }
      uint64_t len = t->head[1] & 0x7f;
      if (len == 126) len = ((uint64_t)t->head[2] << 8) | t->head[3];
      if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; i++) len = (len << 8) | t->head[2 + i];
      }
      t->op = t->head[0] & 0x0f;
      if (t->op >= 8 && len > 125) {
        set_err("control frame longer than 125 bytes");
        return -1;
      }
      t->left = len;
      t->ctl_len = 0;
      t->in_payload = 1;
    } else {
      size_t k = t->left < n ? (size_t)t->left : n;
      if (t->op < 8) {
        t->got += k;
      } else {
        memcpy(t->ctl + t->ctl_len, p, k);
        t->ctl_len += k;
      }
      p += k;
      n -= k;
      t->left -= k;
    }
    if (t->in_payload && t->left == 0) { /* frame complete (also an empty one) */
      if (t->op == 8) {
        set_err("the proxy sent a close frame");
        return -1;
      }
      if (t->op == 9) tick_pong(t);
      t->in_payload = 0;
      t->have = 0;
    }
  }
  return 0;
}

/* Non-blocking read: >0 bytes, 0 EOF, -1 error, -2 nothing to read now. */
static ssize_t sock_read_nb(conn *c, uint8_t *p, size_t n) {
  if (c->ssl) {
    int r = SSL_read(c->ssl, p, (int)n);
    if (r > 0) return r;
    int e = SSL_get_error(c->ssl, r);
    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE ? -2
           : e == SSL_ERROR_ZERO_RETURN                        ? 0
                                                               : -1;
  }
  for (;;) {
    ssize_t r = read(c->fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return -2;
    return r;
  }
}

/*
 * Reads whatever arrives on the sessions for `secs` (0: only what is there
 * now); fails if any session ends.
 */
static void tick_loop(int ep, ticker *ts, double secs) {
  static uint8_t buf[65536];
  struct epoll_event evs[1024];
  double end = now_s() + secs;
  for (int first = 1;; first = 0) {
    double left = end - now_s();
    if (left <= 0 && !first) return;
    int n = epoll_wait(ep, evs, 1024, left <= 0 ? 0 : (int)(left * 1e3) + 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      set_err("epoll_wait: %s", strerror(errno));
      fail_exit();
    }
    for (int i = 0; i < n; i++) {
      ticker *t = &ts[evs[i].data.u32];
      for (;;) {
        ssize_t r = sock_read_nb(t->c, buf, sizeof buf);
        if (r == -2) break;
        if (r <= 0 || tick_feed(t, buf, (size_t)r) < 0) {
          char first[512];
          snprintf(first, sizeof first, "%s", g_err);
          g_err[0] = 0;
          set_err("ticks: session %u ended: %s", evs[i].data.u32 + 1,
                  first[0] ? first : r == 0 ? "EOF" : strerror(errno));
          fail_exit();
        }
      }
    }
  }
}

static void run_ticks(int n, int secs, int size) {
  ticker *ts = calloc((size_t)n, sizeof *ts);
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (!ts || ep < 0) {
    set_err("ticks: out of memory or epoll_create1 failed");
    fail_exit();
  }
  double t0 = now_s();
  for (int i = 0; i < n; i++) {
    ticker *t = &ts[i];
    t->c = conn_open();
    if (!t->c || send_cmd(t->c, 'T', (uint64_t)size) < 0) {
      char first[512];
      snprintf(first, sizeof first, "%s", g_err);
      g_err[0] = 0;
      set_err("ticks session %d of %d failed: %s", i + 1, n, first);
      fail_exit();
    }
    conn *c = t->c;
    /* bytes read past the handshake answer belong to the stream */
    if (c->rpos < c->rlen && tick_feed(t, c->rbuf + c->rpos, c->rlen - c->rpos) < 0) fail_exit();
    /* rbuf/sbuf are the client's, not the proxy's: give the memory back */
    free(c->rbuf);
    free(c->sbuf);
    c->rbuf = NULL;
    c->sbuf = NULL;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (uint32_t)i};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) {
      set_err("epoll_ctl: %s", strerror(errno));
      fail_exit();
    }
    /* read the sessions already open while opening more (a slow setup, TLS, would otherwise
       leave a backlog of updates that the measured window then counts) */
    tick_loop(ep, ts, 0);
  }
  printf("{\"ready\":%d,\"secs\":%.6f}\n", n, now_s() - t0);
  fflush(stdout);
  tick_loop(ep, ts, TICK_WARM_S); /* every session has had its first update */
  for (int i = 0; i < n; i++) ts[i].mark = ts[i].got;
  printf("{\"measuring\":%d}\n", n);
  fflush(stdout);
  double w0 = now_s();
  tick_loop(ep, ts, secs);
  double window = now_s() - w0;
  uint64_t bytes = 0;
  int silent = 0;
  for (int i = 0; i < n; i++) {
    bytes += ts[i].got - ts[i].mark;
    silent += ts[i].got == ts[i].mark;
  }
  printf("{\"sessions\":%d,\"bytes\":%llu,\"updates\":%llu,\"silent\":%d,\"secs\":%.6f}\n", n,
         (unsigned long long)bytes, (unsigned long long)(bytes / (uint64_t)size), silent, window);
  fflush(stdout);
  char line[64];
  if (!fgets(line, sizeof line, stdin)) { /* EOF also releases */
  }
  for (int i = 0; i < n; i++) conn_free(ts[i].c);
  free(ts);
  close(ep);
}

static void usage(void) {
  fprintf(stderr,
          "usage: bench_client tcp|ws|wss HOST PORT "
          "down BYTES CONC | up BYTES CONC | rtt COUNT SIZE | rfb COUNT | rfbhs COUNT | idle N | "
          "burst N PAR | probe TIMEOUT_MS | ticks N SECS SIZE\n");
  exit(2);
}

int main(int argc, char **argv) {
  if (argc < 5) usage();
  if (strcmp(argv[1], "tcp") == 0) g_kind = K_TCP;
  else if (strcmp(argv[1], "ws") == 0) g_kind = K_WS;
  else if (strcmp(argv[1], "wss") == 0) g_kind = K_WSS;
  else usage();
  g_host = argv[2];
  g_port = atoi(argv[3]);
  const char *test = argv[4];
  raise_nofile();
  /* a write to a closed session must be reported as an error, not kill the client */
  signal(SIGPIPE, SIG_IGN);
  if (g_kind == K_WSS) {
    g_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_verify(g_ctx, SSL_VERIFY_NONE, NULL);
  }
  if ((strcmp(test, "down") == 0 || strcmp(test, "up") == 0) && argc == 7) {
    run_bulk(test[0], strtoull(argv[5], NULL, 10), atoi(argv[6]));
  } else if (strcmp(test, "rtt") == 0 && argc == 7) {
    run_rtt(atoi(argv[5]), atoi(argv[6]));
  } else if (strcmp(test, "rfb") == 0 && argc == 6) {
    run_rfb(atoi(argv[5]), 0);
  } else if (strcmp(test, "rfbhs") == 0 && argc == 6) {
    run_rfb(atoi(argv[5]), 1);
  } else if (strcmp(test, "idle") == 0 && argc == 6) {
    run_idle(atoi(argv[5]));
  } else if (strcmp(test, "burst") == 0 && argc == 7) {
    run_burst(atoi(argv[5]), atoi(argv[6]));
  } else if (strcmp(test, "ticks") == 0 && argc == 8) {
    int size = atoi(argv[7]);
    if (size < 1 || size > 4096) usage();
    run_ticks(atoi(argv[5]), atoi(argv[6]), size);
  } else if (strcmp(test, "probe") == 0 && argc == 6) {
    run_probe(atoi(argv[5]));
  } else {
    usage();
  }
  fflush(stdout);
  return 0;
}

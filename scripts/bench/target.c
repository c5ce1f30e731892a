/*
 * Stand-in VNC server for the vncws benchmark (scripts/bench.ts).
 *
 * usage: bench_target PORT [RFB_PORT]     (0 picks a free one)
 * Prints "listening PORT\n" on stdout once it accepts connections, and with
 * RFB_PORT "rfb-listening PORT\n" for the second port: there the target is an
 * RFB 3.8 server (security None; 1024x768, 32 bits per pixel) that answers
 * each FramebufferUpdateRequest with an update like 'R''s, reading the
 * viewer's other messages by their length (a proxy may have dropped some).
 *
 * A connection starts with a 16-byte command: op (1 byte), 7 reserved bytes,
 * arg (u64 little-endian).
 *   'D' N  source: write N bytes in 64 KiB writes, then wait for EOF
 *   'U' N  sink: read N bytes, write one byte 'K', then wait for EOF
 *   'E' -  echo everything until EOF
 *   'P' -  ping: answer 'P' and stay idle (proves the path exists)
 *   'R' N  RFB-shaped: N times read a 22-byte request (two PointerEvents and a
 *          FramebufferUpdateRequest), answer with a FramebufferUpdate of Raw
 *          rectangles whose sizes follow a fixed mix of small and large
 *   'T' N  ticks: write an N-byte update (1..4096) once a second until EOF,
 *          as an idle desktop's clock or cursor blink would; anything the
 *          client sends is read and dropped
 * A connection that sends nothing stays idle. One epoll thread holds every
 * connection until its command is complete (so 10 000 idle sessions cost no
 * threads); a command then gets a blocking worker thread of its own, except
 * 'P' and 'T', which the epoll thread serves (10 000 ticking sessions, no threads).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK 65536
#define MAX_FDS 262144

static uint8_t source_buf[CHUNK]; /* read-only payload for 'D' */

struct pending {
  uint8_t cmd[16];
  int have;
};
static struct pending *pendings[MAX_FDS];

/*
 * Ticking sessions: update size per fd (0 = not ticking). The second is cut
 * into TICK_SLOTS slots and fd f is served in slot f % TICK_SLOTS, so the
 * updates are spread over the second as independent desktops' would be, not
 * sent in one burst.
 */
#define TICK_MAX 4096
#define TICK_SLOTS 100
static uint16_t tick_size[MAX_FDS];
static int tick_count, tick_max_fd, tick_slot;
static double tick_next; /* when the next slot is due */
static uint8_t tick_buf[TICK_MAX];

static void die(const char *what) {
  perror(what);
  exit(1);
}

static int write_all(int fd, const uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static int read_exact(int fd, uint8_t *p, size_t n) {
  while (n > 0) {
    ssize_t r = read(fd, p, n);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return -1;
    p += r;
    n -= (size_t)r;
  }
  return 0;
}

static void wait_eof(int fd) {
  uint8_t b[4096];
  for (;;) {
    ssize_t r = read(fd, b, sizeof b);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return;
  }
}

/* Deterministic generator so every peer gets the same RFB stream. */
static uint32_t next_rand(uint32_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 17;
  *s ^= *s << 5;
  return *s;
}

/*
 * A server-side output buffer the size libvncserver uses (UPDATE_BUF_SIZE), so
 * small rectangles coalesce and large ones go out in big writes, as a real
 * VNC server's would.
 */
#define OUT_SIZE 30000
struct out {
  int fd;
  size_t len;
  uint8_t buf[OUT_SIZE];
};

static int out_flush(struct out *o) {
  int rc = write_all(o->fd, o->buf, o->len);
  o->len = 0;
  return rc;
}

static int out_put(struct out *o, const uint8_t *p, size_t n) {
  while (n > 0) {
    if (o->len == OUT_SIZE && out_flush(o) < 0) return -1;
    size_t room = OUT_SIZE - o->len;
    size_t k = n < room ? n : room;
    memcpy(o->buf + o->len, p, k);
    o->len += k;
    p += k;
    n -= k;
  }
  return 0;
}

static void put16(uint8_t *p, unsigned v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

/* One rectangle: mostly small (cursor, text), some tiles, a few large areas. */
static void rect_size(uint32_t *seed, unsigned *w, unsigned *h) {
  uint32_t r = next_rand(seed) % 1000;
  if (r < 350) { *w = 8; *h = 8; }              /* 256 B */
  else if (r < 600) { *w = 16; *h = 16; }       /* 1 KiB */
  else if (r < 900) { *w = 64; *h = 64; }       /* 16 KiB */
  else if (r < 990) { *w = 256; *h = 256; }     /* 256 KiB */
  else { *w = 1024; *h = 768; }                 /* 3 MiB */
}

/* Raw pixels of every update: read-only, so the sessions share them. */
static uint8_t pixels[1024 * 768 * 4];

/* A write buffer for fd. */
static struct out *out_new(int fd) {
  struct out *o = malloc(sizeof *o);
  if (!o) die("malloc");
  o->fd = fd;
  o->len = 0;
  return o;
}

/* One FramebufferUpdate of 1 to 4 Raw rectangles into `o`; -1 when the write failed. */
static int send_update(struct out *o, uint32_t *seed) {
  unsigned nrects = 1 + next_rand(seed) % 4;
  uint8_t head[4] = {0, 0, 0, 0};
  put16(head + 2, nrects);
  if (out_put(o, head, 4) < 0) return -1;
  for (unsigned k = 0; k < nrects; k++) {
    unsigned w, h;
    rect_size(seed, &w, &h);
    uint8_t rh[12] = {0};
    put16(rh + 4, w);
    put16(rh + 6, h); /* x, y = 0; encoding 0 = Raw */
    size_t len = (size_t)w * h * 4;
    if (out_put(o, rh, 12) < 0) return -1;
    if (len > OUT_SIZE) {
      if (out_flush(o) < 0 || write_all(o->fd, pixels, len) < 0) return -1;
    } else if (out_put(o, pixels, len) < 0) {
      return -1;
    }
  }
  return out_flush(o);
}

static void serve_rfb(int fd, uint64_t count) {
  struct out *o = out_new(fd);
  uint32_t seed = 0x9e3779b9u;
  for (uint64_t i = 0; i < count; i++) {
    uint8_t req[22];
    if (read_exact(fd, req, sizeof req) < 0 || send_update(o, &seed) < 0) break;
  }
  free(o);
}

/* Reads and forgets n bytes. */
static int skip_bytes(int fd, size_t n) {
  uint8_t junk[4096];
  while (n > 0) {
    size_t k = n < sizeof junk ? n : sizeof junk;
    if (read_exact(fd, junk, k) < 0) return -1;
    n -= k;
  }
  return 0;
}

/* The RFB port: handshake, then an update per FramebufferUpdateRequest until EOF. */
static void *rfb_session(void *arg) {
  int fd = (int)(intptr_t)arg;
  static const uint8_t init[] = {4, 0, 3, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0,
                                 0, 0, 0, 0, 0, 0, 5, 'b', 'e', 'n', 'c', 'h'};
  uint8_t b[16];
  struct out *o = out_new(fd);
  uint32_t seed = 0x9e3779b9u;
  if (write_all(fd, (const uint8_t *)"RFB 003.008\n", 12) == 0 && read_exact(fd, b, 12) == 0 &&
      write_all(fd, (const uint8_t *)"\x01\x01", 2) == 0 && read_exact(fd, b, 1) == 0 &&
      write_all(fd, (const uint8_t *)"\0\0\0\0", 4) == 0 && read_exact(fd, b, 1) == 0 &&
      write_all(fd, init, sizeof init) == 0) {
    for (int ok = 1; ok && read_exact(fd, b, 1) == 0;) {
      switch (b[0]) {
        case 0: ok = skip_bytes(fd, 19) == 0; break; /* SetPixelFormat */
        case 2: /* SetEncodings */
          ok = read_exact(fd, b + 1, 3) == 0 && skip_bytes(fd, 4u * ((b[2] << 8) | b[3])) == 0;
          break;
        case 3: ok = skip_bytes(fd, 9) == 0 && send_update(o, &seed) == 0; break;
        case 4: ok = skip_bytes(fd, 7) == 0; break; /* KeyEvent */
        case 5: ok = skip_bytes(fd, 5) == 0; break; /* PointerEvent */
        default: ok = 0; fprintf(stderr, "bench_target: RFB message type %u\n", b[0]);
      }
    }
  }
  free(o);
  close(fd);
  return NULL;
}

/* Accepts on the RFB port (blocking, its own thread): a thread per session. */
static void *rfb_accept(void *arg) {
  int lfd = (int)(intptr_t)arg;
  int one = 1;
  for (;;) {
    int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (c < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      die("accept (rfb)");
    }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    pthread_t t;
    if (pthread_create(&t, NULL, rfb_session, (void *)(intptr_t)c) != 0) close(c);
    else pthread_detach(t);
  }
  return NULL;
}

/* A listening socket on 127.0.0.1:port (0: a free one); its port goes into *bound. */
static int listen_on(int port, int flags, int *bound) {
  int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | flags, 0);
  if (lfd < 0) die("socket");
  int one = 1;
  setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in sa = {0};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons((uint16_t)port);
  if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0) die("bind");
  if (listen(lfd, 4096) < 0) die("listen");
  socklen_t sl = sizeof sa;
  getsockname(lfd, (struct sockaddr *)&sa, &sl);
  *bound = ntohs(sa.sin_port);
  return lfd;
}

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Milliseconds until the next tick slot is due; -1 (wait forever) when nothing ticks. */
static int tick_timeout(void) {
  if (tick_count == 0) return -1;
  double ms = (tick_next - now_s()) * 1e3;
  return ms <= 0 ? 0 : (int)ms + 1;
}

/* Serves every slot that is due: one update to each ticking fd of the slot. */
static void tick_due(void) {
  if (tick_count == 0) return;
  double now = now_s();
  /* after a stall (a busy machine), the slots missed are served now: every session still
     gets one update per second on average, which the client counts */
  while (now >= tick_next) {
    for (int fd = tick_slot; fd <= tick_max_fd; fd += TICK_SLOTS) {
      if (!tick_size[fd]) continue;
      /* non-blocking and unchecked: a client that stopped reading loses updates instead of
         stalling the others, and a broken connection is closed by the read side */
      ssize_t w = write(fd, tick_buf, tick_size[fd]);
      (void)w;
    }
    tick_slot = (tick_slot + 1) % TICK_SLOTS;
    tick_next += 1.0 / TICK_SLOTS;
  }
}

static void tick_start(int fd, uint64_t size) {
  if (tick_count == 0) tick_next = now_s();
  tick_size[fd] = (uint16_t)(size < 1 ? 1 : size > TICK_MAX ? TICK_MAX : size);
  tick_count++;
  if (fd > tick_max_fd) tick_max_fd = fd;
}

/* Forgets an fd the epoll thread held (idle, pinged or ticking) and closes it. */
static void drop(int ep, int fd) {
  epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
  free(pendings[fd]);
  pendings[fd] = NULL;
  if (tick_size[fd]) {
    tick_size[fd] = 0;
    tick_count--;
  }
  close(fd);
}

static void *worker(void *arg) {
  int fd = (int)(intptr_t)arg;
  struct pending *p = pendings[fd];
  pendings[fd] = NULL;
  uint8_t op = p->cmd[0];
  uint64_t n = 0;
  for (int i = 7; i >= 0; i--) n = (n << 8) | p->cmd[8 + i];
  free(p);
  if (op == 'D') {
    while (n > 0) {
      size_t k = n < CHUNK ? (size_t)n : CHUNK;
      if (write_all(fd, source_buf, k) < 0) break;
      n -= k;
    }
    wait_eof(fd);
  } else if (op == 'U') {
    uint8_t *buf = malloc(4 * CHUNK);
    while (n > 0) {
      size_t want = n < 4 * CHUNK ? (size_t)n : 4 * CHUNK;
      ssize_t r = read(fd, buf, want);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      n -= (uint64_t)r;
    }
    free(buf);
    if (n == 0 && write_all(fd, (const uint8_t *)"K", 1) == 0) wait_eof(fd);
  } else if (op == 'E') {
    uint8_t *buf = malloc(CHUNK);
    for (;;) {
      ssize_t r = read(fd, buf, CHUNK);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0 || write_all(fd, buf, (size_t)r) < 0) break;
    }
    free(buf);
  } else if (op == 'R') {
    serve_rfb(fd, n);
    wait_eof(fd);
  } else {
    fprintf(stderr, "bench_target: unknown command byte 0x%02x\n", op);
  }
  close(fd);
  return NULL;
}

static void start_worker(int fd) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 256 * 1024);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int rc = pthread_create(&t, &attr, worker, (void *)(intptr_t)fd);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    fprintf(stderr, "bench_target: pthread_create: %s\n", strerror(rc));
    free(pendings[fd]);
    pendings[fd] = NULL;
    close(fd);
  }
}

static void raise_nofile(void) {
  struct rlimit rl = {MAX_FDS / 2, MAX_FDS / 2};
  if (setrlimit(RLIMIT_NOFILE, &rl) == 0) return;
  getrlimit(RLIMIT_NOFILE, &rl);
  rl.rlim_cur = rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

int main(int argc, char **argv) {
  if (argc != 2 && argc != 3) {
    fprintf(stderr, "usage: bench_target PORT [RFB_PORT]\n");
    return 2;
  }
  raise_nofile();
  /* a write to a connection the proxy just closed must fail with EPIPE, not kill the target */
  signal(SIGPIPE, SIG_IGN);
  for (size_t i = 0; i < CHUNK; i++) source_buf[i] = (uint8_t)(i * 7);
  for (size_t i = 0; i < TICK_MAX; i++) tick_buf[i] = (uint8_t)(i * 13);
  int one = 1;
  int bound;
  int lfd = listen_on(atoi(argv[1]), SOCK_NONBLOCK, &bound);
  printf("listening %d\n", bound);
  if (argc == 3) {
    int rfd = listen_on(atoi(argv[2]), 0, &bound);
    pthread_t t;
    if (pthread_create(&t, NULL, rfb_accept, (void *)(intptr_t)rfd) != 0) die("pthread_create");
    printf("rfb-listening %d\n", bound);
  }
  fflush(stdout);

  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) die("epoll_create1");
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
  epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, tick_timeout());
    if (n < 0) {
      if (errno == EINTR) continue;
      die("epoll_wait");
    }
    tick_due();
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == lfd) {
        for (;;) {
          int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
          if (c < 0) break;
          if (c >= MAX_FDS) {
            close(c);
            continue;
          }
          setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          pendings[c] = calloc(1, sizeof(struct pending));
          struct epoll_event cev = {.events = EPOLLIN | EPOLLRDHUP, .data.fd = c};
          epoll_ctl(ep, EPOLL_CTL_ADD, c, &cev);
        }
        continue;
      }
      struct pending *p = pendings[fd];
      if (tick_size[fd]) { /* ticking: drop what the client sends, close at EOF */
        uint8_t junk[4096];
        ssize_t r = read(fd, junk, sizeof junk);
        if (r == 0 || (r < 0 && errno != EAGAIN && errno != EINTR)) drop(ep, fd);
        continue;
      }
      ssize_t r = read(fd, p->cmd + p->have, (size_t)(16 - p->have));
      if (r < 0 && (errno == EAGAIN || errno == EINTR)) continue;
      if (r <= 0) {
        drop(ep, fd);
        continue;
      }
      p->have += (int)r;
      if (p->have < 16) continue;
      if (p->cmd[0] == 'P') { /* ping: answer here and stay idle in epoll */
        p->have = 0;
        if (write(fd, "P", 1) != 1) drop(ep, fd);
        continue;
      }
      if (p->cmd[0] == 'T') {
        uint64_t size = 0;
        for (int k = 7; k >= 0; k--) size = (size << 8) | p->cmd[8 + k];
        tick_start(fd, size);
        continue;
      }
      epoll_ctl(ep, EPOLL_CTL_DEL, fd, NULL);
      /* blocking from here on: the worker owns the socket */
      int fl = fcntl(fd, F_GETFL);
      fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
      start_worker(fd);
    }
  }
}

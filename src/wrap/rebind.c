/*
 * rebind.so — LD_PRELOAD shim for vncws wrap mode.
 *
 * Moves the wrapped VNC server's listening port out of the way so vncws can
 * listen on it, reports which process did that, and ends the server when
 * vncws dies.
 *
 * Rule (websockify's, extended to IPv6):
 *   bind() whose port == REBIND_OLD_PORT
 *     AF_INET  (any address) -> 127.0.0.1:REBIND_NEW_PORT
 *     AF_INET6 (any address, incl. [::] and [::1]) -> [::1]:REBIND_NEW_PORT
 *   every other bind (other ports, port 0, AF_UNIX, short addrlen) passes
 *   through untouched. Both variables must be decimal 1-65535, else nothing
 *   moves.
 *   With VNCWS_REPORT_PORT set (vncws passed the port on the server's command
 *   line instead, --wrap-port-arg), a bind of that port is left as it is but
 *   reported and watched like a moved one.
 *
 * Report: after a moved bind, "PID FAMILY\n" (FAMILY 4 or 6) is appended to
 * the file named by VNCWS_REBIND_REPORT; a failed moved bind appends
 * "PID FAMILY E<errno>\n". One write(2) with O_APPEND, so lines from several
 * processes never interleave. vncws learns the real server PID this way even
 * when a wrapper script (vncserver, tightvncserver) forks it and exits.
 *
 * Orphan protection: vncws passes VNCWS_PARENT_PID and VNCWS_PARENT_START
 * (field 22 of /proc/PID/stat, to tell vncws from a process that reused its
 * PID). A watcher thread waits on a pidfd (pidfd_open(2); Linux >= 5.3) of
 * vncws, or checks /proc once a second where pidfd_open is unavailable, and
 * when vncws is gone — including SIGKILL — sends SIGTERM to its own process
 * group (unless that is vncws's group) and itself, then SIGKILL 5 s later.
 * The watcher runs in:
 *   - the direct child of vncws (started from the constructor): vncws spawns
 *     it as a session and group leader, so this covers the whole tree that
 *     stays in that group;
 *   - every process that performs a moved bind (started once, on the first
 *     moved bind): this covers a server that a daemonizing wrapper forked,
 *     after the wrapper exited.
 * Why not PR_SET_PDEATHSIG: it fires when the *parent* dies, and the parent of
 * a daemonized Xvnc is the wrapper script, which exits right after forking
 * (so the server would be killed at once), and the server is then reparented
 * to init (so it would never fire again). Why not an inherited pipe: Deno's
 * process API cannot hand a child an extra file descriptor, and daemons close
 * inherited descriptors. A pidfd needs no inheritance.
 * It also removes vncws's private directory (report file, rebind.so), which
 * a killed vncws leaves behind.
 * Before acting, the watcher re-checks through /proc that vncws is really
 * gone, so a program that closes and reuses the pidfd's number cannot
 * trigger it by accident.
 *
 * The bind path allocates nothing beyond a stack copy of the sockaddr; the
 * watcher thread is created at most once per process.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

typedef int (*bind_fn)(int, const struct sockaddr *, socklen_t);

/* Parses a decimal port 1-65535 from the whole string; 0 when absent or bad. */
static int parse_port(const char *s) {
  if (s == NULL || *s == '\0') return 0;
  long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return 0;
    v = v * 10 + (*p - '0');
    if (v > 65535) return 0;
  }
  return (int)v;
}

/* Parses a decimal non-negative integer from the whole string; -1 when bad. */
static long long parse_num(const char *s) {
  if (s == NULL || *s == '\0') return -1;
  long long v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    v = v * 10 + (*p - '0');
    if (v > (1LL << 53)) return -1;
  }
  return v;
}

/* Writes the decimal form of v at the end of buf (which ends at end); returns the start. */
static char *put_num(char *end, unsigned long long v) {
  do {
    *--end = (char)('0' + v % 10);
    v /= 10;
  } while (v);
  return end;
}

/* Appends "PID FAMILY[ Eerrno]\n" to $VNCWS_REBIND_REPORT in one write. */
static void report(int family, int err) {
  const char *path = getenv("VNCWS_REBIND_REPORT");
  if (path == NULL || *path == '\0') return;
  char line[64];
  char *end = line + sizeof line;
  char *p = end;
  *--p = '\n';
  if (err) {
    p = put_num(p, (unsigned long long)err);
    *--p = 'E';
    *--p = ' ';
  }
  *--p = family == AF_INET6 ? '6' : '4';
  *--p = ' ';
  p = put_num(p, (unsigned long long)getpid());
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return;
  ssize_t n = write(fd, p, (size_t)(end - p));
  (void)n;
  close(fd);
}

/* Start time (clock ticks after boot, /proc/PID/stat field 22); -1 when gone. */
static long long start_time(pid_t pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  char buf[1024];
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = '\0';
  /* The command name (field 2) may hold spaces and ')': skip to the last ')'. */
  char *p = strrchr(buf, ')');
  if (p == NULL) return -1;
  /* After ") " comes field 3 (state); field 22 is 19 fields further. */
  p++;
  int field = 2;
  while (*p && field < 22) {
    if (*p == ' ') field++;
    p++;
  }
  if (field != 22) return -1;
  if (*p == 'Z') return -1;
  long long v = 0;
  while (*p >= '0' && *p <= '9') v = v * 10 + (*p++ - '0');
  return v;
}

static pid_t parent_pid;
static long long parent_start = -1;
static pid_t parent_pgid;
static pid_t watcher_owner; /* the process that started the watcher (reset by fork) */

static int parent_alive(void) {
  long long st = start_time(parent_pid);
  return st >= 0 && (parent_start < 0 || st == parent_start);
}

static void end_self(int sig) {
  pid_t pgrp = getpgrp();
  if (pgrp != parent_pgid) kill(0, sig);
  kill(getpid(), sig);
}

/* vncws could not clean up its private directory: remove the two files it
 * puts there (the report and, when it is the same directory, rebind.so) and
 * the directory if that leaves it empty. Never anything else. */
static void remove_private_dir(void) {
  const char *report_path = getenv("VNCWS_REBIND_REPORT");
  if (report_path == NULL) return;
  char dir[4096];
  size_t n = strlen(report_path);
  if (n >= sizeof dir || n < 8 || strcmp(report_path + n - 7, "/report") != 0) return;
  memcpy(dir, report_path, n - 7);
  dir[n - 7] = '\0';
  char path[4096 + 16];
  snprintf(path, sizeof path, "%s/report", dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/rebind.so", dir);
  unlink(path);
  rmdir(dir);
}

static void *watch(void *arg) {
  (void)arg;
  int pidfd = (int)syscall(SYS_pidfd_open, parent_pid, 0);
  if (pidfd >= 0) fcntl(pidfd, F_SETFD, FD_CLOEXEC);
  while (parent_alive()) {
    if (pidfd < 0) {
      sleep(1);
      continue;
    }
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int r = poll(&pfd, 1, -1);
    if (r < 0 && errno == EINTR) continue;
    /* Woken while vncws lives: the program closed or reused our fd number.
     * Stop trusting it and fall back to polling /proc. */
    if (parent_alive()) pidfd = -1;
  }
  remove_private_dir();
  end_self(SIGTERM);
  sleep(5);
  end_self(SIGKILL);
  return NULL;
}

/* Starts the watcher once per process, when vncws asked for one. */
static void start_watcher(void) {
  if (parent_pid <= 0 || watcher_owner == getpid()) return;
  watcher_owner = getpid();
  pthread_attr_t attr;
  pthread_t thread;
  if (pthread_attr_init(&attr) != 0) return;
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  /* Signals belong to the program's own threads, not to the watcher. */
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  pthread_create(&thread, &attr, watch, NULL);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

__attribute__((constructor)) static void rebind_init(void) {
  long long pid = parse_num(getenv("VNCWS_PARENT_PID"));
  if (pid <= 0) return;
  parent_pid = (pid_t)pid;
  parent_start = parse_num(getenv("VNCWS_PARENT_START"));
  parent_pgid = getpgid(parent_pid);
  if (parent_pgid < 0) parent_pgid = 0;
  if (getppid() == parent_pid) start_watcher();
}

/* Port of an IPv4/IPv6 sockaddr that is long enough to hold one; 0 otherwise. */
static int port_of(const struct sockaddr *addr, socklen_t addrlen) {
  if (addr->sa_family == AF_INET && addrlen >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in a;
    memcpy(&a, addr, sizeof a);
    return ntohs(a.sin_port);
  }
  if (addr->sa_family == AF_INET6 && addrlen >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 a;
    memcpy(&a, addr, sizeof a);
    return ntohs(a.sin6_port);
  }
  return 0;
}

/* Binds unchanged; a bind of `port` is reported and watched (port given by argument). */
static int report_only(int fd, const struct sockaddr *addr, socklen_t addrlen, int port,
                       bind_fn real_bind) {
  int r = real_bind(fd, addr, addrlen);
  if (port_of(addr, addrlen) != port) return r;
  int saved = errno;
  report(addr->sa_family, r == 0 ? 0 : saved);
  start_watcher();
  errno = saved;
  return r;
}

int bind(int fd, const struct sockaddr *addr, socklen_t addrlen) {
  static bind_fn real_bind;
  if (real_bind == NULL) {
    real_bind = (bind_fn)dlsym(RTLD_NEXT, "bind");
    if (real_bind == NULL) {
      errno = ENOSYS;
      return -1;
    }
  }
  if (addr == NULL) return real_bind(fd, addr, addrlen);
  int report_port = parse_port(getenv("VNCWS_REPORT_PORT"));
  if (report_port != 0) return report_only(fd, addr, addrlen, report_port, real_bind);
  int old_port = parse_port(getenv("REBIND_OLD_PORT"));
  int new_port = parse_port(getenv("REBIND_NEW_PORT"));
  if (old_port == 0 || new_port == 0) return real_bind(fd, addr, addrlen);

  if (addr->sa_family == AF_INET && addrlen >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in moved;
    memcpy(&moved, addr, sizeof moved);
    if (ntohs(moved.sin_port) != old_port) return real_bind(fd, addr, addrlen);
    moved.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    moved.sin_port = htons((uint16_t)new_port);
    int r = real_bind(fd, (const struct sockaddr *)&moved, sizeof moved);
    int saved = errno;
    report(AF_INET, r == 0 ? 0 : saved);
    start_watcher();
    errno = saved;
    return r;
  }
  if (addr->sa_family == AF_INET6 && addrlen >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 moved;
    memcpy(&moved, addr, sizeof moved);
    if (ntohs(moved.sin6_port) != old_port) return real_bind(fd, addr, addrlen);
    moved.sin6_addr = in6addr_loopback;
    moved.sin6_port = htons((uint16_t)new_port);
    moved.sin6_scope_id = 0;
    int r = real_bind(fd, (const struct sockaddr *)&moved, sizeof moved);
    int saved = errno;
    report(AF_INET6, r == 0 ? 0 : saved);
    start_watcher();
    errno = saved;
    return r;
  }
  return real_bind(fd, addr, addrlen);
}

/*
 * floor.c is the C floor of the bench's echo targets (floor-c): the least
 * an epoll echo server can do, so that a target's CPU per message can be
 * set against what the kernel alone charges for one.
 *
 * One thread, one edge-triggered epoll set. Per ready socket it reads
 * into a shared buffer until EAGAIN and writes each chunk straight back;
 * what the kernel refuses is kept for that socket, which is then not read
 * until the EPOLLOUT edge has let all of it go (so a client that does not
 * read cannot make the server buffer without bound).
 *
 * With -short it stops reading a socket after a read that did not fill the
 * buffer instead of reading again to see EAGAIN: that read emptied the
 * socket, and bytes that arrive after it raise a new edge. A ping-pong
 * message then costs one read and one write, the calls upoll's epoll
 * backend makes, instead of two reads and a write.
 *
 * Usage: floor [-short] ADDR:PORT (IPv4). Once listening it prints
 * "READY ADDR:PORT" with the bound port on stdout. It exits when its stdin
 * reaches EOF, so it does not outlive the process that started it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAXEVENTS 256
#define BUFSIZE (64 << 10)

/* out is the output the kernel refused for one fd. */
struct out {
	char *buf;
	size_t off, len;
};

static struct out *outs; /* by fd */
static size_t nouts;
static char buf[BUFSIZE];
static int short_read_drains; /* -short */

static void die(const char *op)
{
	fprintf(stderr, "floor-c: %s: %s\n", op, strerror(errno));
	exit(1);
}

static void drop(int fd)
{
	free(outs[fd].buf);
	outs[fd] = (struct out){0};
	close(fd); /* also removes fd from the epoll set */
}

/*
 * send_all writes b[0:n] to fd and returns 1 if all of it went. What the
 * kernel refuses becomes fd's pending output (kept is that output
 * already, being sent again); an error closes fd.
 */
static int send_all(int fd, const char *b, size_t n, int kept)
{
	while (n > 0) {
		ssize_t m = write(fd, b, n);
		if (m >= 0) {
			b += m;
			n -= m;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			struct out *o = &outs[fd];
			if (kept) {
				o->off = o->len - n;
				return 0;
			}
			o->buf = malloc(n);
			if (o->buf == NULL)
				die("malloc");
			memcpy(o->buf, b, n);
			o->off = 0;
			o->len = n;
			return 0;
		}
		drop(fd);
		return 0;
	}
	if (kept) {
		free(outs[fd].buf);
		outs[fd] = (struct out){0};
	}
	return 1;
}

/* serve handles any event of fd: pending output first, then input. */
static void serve(int fd)
{
	struct out *o = &outs[fd];
	if (o->buf != NULL && !send_all(fd, o->buf + o->off, o->len - o->off, 1))
		return;
	for (;;) {
		ssize_t n = read(fd, buf, sizeof buf);
		if (n > 0) {
			if (!send_all(fd, buf, n, 0))
				return;
			if (short_read_drains && (size_t)n < sizeof buf)
				return; /* drained; the next bytes raise a new edge */
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		drop(fd); /* EOF or an error */
		return;
	}
}

/* accept_all takes every pending connection of the listener lfd. */
static void accept_all(int ep, int lfd)
{
	for (;;) {
		int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				usleep(10000); /* the level-triggered listener comes back */
			else if (errno != EAGAIN)
				fprintf(stderr, "floor-c: accept4: %s\n", strerror(errno));
			return;
		}
		if ((size_t)fd >= nouts) {
			size_t n = nouts ? nouts : 1024;
			while (n <= (size_t)fd)
				n *= 2;
			outs = realloc(outs, n * sizeof *outs);
			if (outs == NULL)
				die("realloc");
			memset(outs + nouts, 0, (n - nouts) * sizeof *outs);
			nouts = n;
		}
		/* Every target sends without Nagle's delay. */
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.fd = fd};
		if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0)
			close(fd);
	}
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "-short") == 0) {
		short_read_drains = 1;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: floor [-short] ADDR:PORT\n");
		return 2;
	}
	char host[64];
	const char *colon = strrchr(argv[1], ':');
	if (colon == NULL || (size_t)(colon - argv[1]) >= sizeof host) {
		fprintf(stderr, "floor-c: want an IPv4 address:port, got %s\n", argv[1]);
		return 2;
	}
	memcpy(host, argv[1], colon - argv[1]);
	host[colon - argv[1]] = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "floor-c: want an IPv4 address:port, got %s\n", argv[1]);
		return 2;
	}

	/* A write to a closed connection fails with EPIPE instead of killing. */
	signal(SIGPIPE, SIG_IGN);
	/* Hold as many connections as the hard limit allows. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket");
	int one = 1;
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0)
		die("setsockopt");
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind");
	if (listen(lfd, 4096) < 0)
		die("listen");
	socklen_t salen = sizeof sa;
	if (getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("getsockname");
	int ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1");
	struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
	if (epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0)
		die("epoll_ctl");
	/* stdin may be a file epoll cannot watch; then nothing ends the loop. */
	ev = (struct epoll_event){.events = EPOLLIN, .data.fd = 0};
	epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);

	printf("READY %s:%d\n", host, ntohs(sa.sin_port));
	fflush(stdout);

	struct epoll_event evs[MAXEVENTS];
	for (;;) {
		int n = epoll_wait(ep, evs, MAXEVENTS, -1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("epoll_wait");
		}
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == lfd) {
				accept_all(ep, lfd);
			} else if (fd == 0) {
				char c[64];
				ssize_t r = read(0, c, sizeof c);
				if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
					return 0;
			} else {
				serve(fd);
			}
		}
	}
}

/*
 * floor_uring.c is the io_uring floor of the bench's echo targets
 * (floor-c-uring): the least an io_uring echo server can do, so that
 * upoll-uring-echo's CPU per message can be set against what the kernel
 * charges for one through io_uring, as floor.c does for epoll.
 *
 * One thread and one ring, set up with SINGLE_ISSUER and DEFER_TASKRUN,
 * so that every completion's task work runs on this thread when it
 * waits, and no other thread is woken for it. A multishot ACCEPT takes
 * connections straight into the ring's file table (direct descriptors:
 * no fget per request). Each connection has one multishot RECV that
 * picks its buffers from a provided-buffer ring; each received chunk is
 * sent back from the buffer it arrived in by a SEND, and the buffer goes
 * back to the ring when the send completes. A connection sends one chunk
 * at a time, in order; the rest wait in its queue, holding their
 * buffers, so a client that does not read stops the receive once the
 * ring runs dry (ENOBUFS) rather than making the server buffer more.
 * Every pass is one io_uring_enter that submits what the last pass
 * queued and waits for at least one completion.
 *
 * With -plain connections are ordinary descriptors (accepted into the
 * process's table, requests look them up each time), to show what the
 * file table saves.
 *
 * Usage: floor_uring [-plain] ADDR:PORT (IPv4). Once listening it prints
 * "READY ADDR:PORT" with the bound port on stdout. Each line it reads on
 * stdin after that makes it print "ENTERS N", the io_uring_enter calls
 * it has made so far, so that the bench can set upoll's count of them
 * against the floor's. It exits when its stdin reaches EOF, so it does
 * not outlive the process that started it.
 * A kernel without one of the features it needs makes it exit 1 at
 * setup, naming the feature; floor_uring -probe sets up and exits.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SQ_ENTRIES 4096
#define CQ_ENTRIES 16384
#define NBUF 4096 /* provided buffers (a power of two) */
#define BUFSZ 4096
#define BGID 0

/* Kinds of requests, in the low byte of user_data; the connection is in
 * the next 32 bits. */
enum { K_ACCEPT = 1, K_RECV, K_SEND, K_STDIN, K_CLOSE };

/* conn is one connection: its queue of received chunks (buffer ids,
 * linked through bnext), whether a send is in flight, whether its
 * receive is armed, and whether it is ending. */
struct conn {
	int qhead, qtail; /* -1: empty */
	int sending, receiving, ending, open, starved;
};

static int ring;
static unsigned sq_entries, *sq_ktail, *sq_khead, *sq_mask, *sq_array, sq_tail, pending;
static struct io_uring_sqe *sqes;
static unsigned *cq_khead, *cq_ktail, *cq_mask;
static struct io_uring_cqe *cqes;

static struct io_uring_buf_ring *br;
static unsigned br_tail;
static char *bufs;
static int boff[NBUF], blen[NBUF], bnext[NBUF];

static struct conn *conns;
static int nconns;
static int fixed = 1; /* direct descriptors; -plain turns them off */
static int lfd;
static int starved; /* connections whose receive stopped for lack of buffers */
static char stdin_buf[64];
static unsigned long long enters; /* io_uring_enter calls, EINTR included */

static void die(const char *what, int err)
{
	fprintf(stderr, "floor-c-uring: %s: %s\n", what, strerror(err));
	exit(1);
}

static int enter(unsigned submit, unsigned wait, unsigned flags)
{
	enters++;
	return syscall(__NR_io_uring_enter, ring, submit, wait, flags, NULL, 0);
}

/* submit hands the queued entries to the kernel without waiting. */
static void submit(void)
{
	__atomic_store_n(sq_ktail, sq_tail, __ATOMIC_RELEASE);
	while (pending > 0) {
		int n = enter(pending, 0, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			die("io_uring_enter", errno);
		}
		pending -= n;
	}
}

static struct io_uring_sqe *sqe(void)
{
	if (sq_tail - __atomic_load_n(sq_khead, __ATOMIC_ACQUIRE) == sq_entries)
		submit();
	unsigned i = sq_tail & *sq_mask;
	sq_array[i] = i;
	sq_tail++;
	pending++;
	struct io_uring_sqe *s = &sqes[i];
	memset(s, 0, sizeof *s);
	return s;
}

static uint64_t ud(int kind, int c) { return (uint64_t)kind | (uint64_t)(uint32_t)c << 8; }

static void use_fd(struct io_uring_sqe *s, int c)
{
	s->fd = c;
	if (fixed)
		s->flags |= IOSQE_FIXED_FILE;
}

static void arm_accept(void)
{
	struct io_uring_sqe *s = sqe();
	s->opcode = IORING_OP_ACCEPT;
	s->fd = lfd;
	s->ioprio = IORING_ACCEPT_MULTISHOT;
	if (fixed)
		s->file_index = IORING_FILE_INDEX_ALLOC; /* no descriptor, so no SOCK_CLOEXEC */
	else
		s->accept_flags = SOCK_CLOEXEC;
	s->user_data = ud(K_ACCEPT, 0);
}

/* arm_stdin reads stdin, whose EOF ends the program. */
static void arm_stdin(void)
{
	struct io_uring_sqe *s = sqe();
	s->opcode = IORING_OP_READ;
	s->fd = 0;
	s->addr = (uint64_t)(uintptr_t)stdin_buf;
	s->len = sizeof stdin_buf;
	s->off = (uint64_t)-1;
	s->user_data = ud(K_STDIN, 0);
}

static void arm_recv(int c)
{
	struct io_uring_sqe *s = sqe();
	s->opcode = IORING_OP_RECV;
	use_fd(s, c);
	s->flags |= IOSQE_BUFFER_SELECT;
	s->buf_group = BGID;
	s->ioprio = IORING_RECV_MULTISHOT;
	s->user_data = ud(K_RECV, c);
	conns[c].receiving = 1;
}

static void send_head(int c)
{
	int b = conns[c].qhead;
	struct io_uring_sqe *s = sqe();
	s->opcode = IORING_OP_SEND;
	use_fd(s, c);
	s->addr = (uint64_t)(uintptr_t)(bufs + (size_t)b * BUFSZ + boff[b]);
	s->len = blen[b] - boff[b];
	s->msg_flags = MSG_NOSIGNAL;
	s->user_data = ud(K_SEND, c);
	conns[c].sending = 1;
}

/* give_back returns buffer b to the provided-buffer ring; the tail is
 * published once per pass (publish_bufs). */
static void give_back(int b)
{
	struct io_uring_buf *e = &br->bufs[br_tail & (NBUF - 1)];
	e->addr = (uint64_t)(uintptr_t)(bufs + (size_t)b * BUFSZ);
	e->len = BUFSZ;
	e->bid = b;
	br_tail++;
}

static void publish_bufs(void)
{
	__atomic_store_n(&br->tail, (uint16_t)br_tail, __ATOMIC_RELEASE);
}

static void grow(int c)
{
	if (c < nconns)
		return;
	int n = nconns ? nconns : 1024;
	while (n <= c)
		n *= 2;
	conns = realloc(conns, n * sizeof *conns);
	if (conns == NULL)
		die("realloc", ENOMEM);
	for (int i = nconns; i < n; i++)
		conns[i] = (struct conn){.qhead = -1, .qtail = -1};
	nconns = n;
}

/* maybe_close closes c once nothing of it is in flight. */
static void maybe_close(int c)
{
	struct conn *k = &conns[c];
	if (!k->open || !k->ending || k->sending || k->receiving)
		return;
	for (int b = k->qhead; b >= 0;) {
		int next = bnext[b];
		give_back(b);
		b = next;
	}
	if (k->starved)
		starved--;
	*k = (struct conn){.qhead = -1, .qtail = -1};
	if (fixed) {
		struct io_uring_sqe *s = sqe();
		s->opcode = IORING_OP_CLOSE;
		s->file_index = c + 1;
		s->user_data = ud(K_CLOSE, c);
	} else {
		close(c);
	}
}

/* end makes c's receive stop (a shutdown ends it) and closes c after. */
static void end(int c)
{
	struct conn *k = &conns[c];
	if (k->ending)
		return;
	k->ending = 1;
	if (k->receiving) {
		if (fixed) {
			struct io_uring_sqe *s = sqe();
			s->opcode = IORING_OP_SHUTDOWN;
			use_fd(s, c);
			s->len = SHUT_RDWR;
			s->user_data = ud(K_CLOSE, c);
		} else {
			shutdown(c, SHUT_RDWR);
		}
	}
	maybe_close(c);
}

static void on_accept(struct io_uring_cqe *e)
{
	if (e->res == -EINVAL)
		die("multishot accept into the file table (Linux 5.19)", EINVAL);
	if (!(e->flags & IORING_CQE_F_MORE))
		arm_accept();
	if (e->res < 0) {
		if (e->res != -ECONNABORTED && e->res != -EINTR)
			fprintf(stderr, "floor-c-uring: accept: %s\n", strerror(-e->res));
		if (e->res == -EMFILE || e->res == -ENFILE)
			usleep(10000);
		return;
	}
	int c = e->res;
	grow(c);
	conns[c] = (struct conn){.qhead = -1, .qtail = -1, .open = 1};
	if (!fixed) {
		/* Every target sends without Nagle's delay (with direct
		 * descriptors the listener's setting is inherited). */
		int one = 1;
		setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	}
	arm_recv(c);
}

static void on_recv(struct io_uring_cqe *e, int c)
{
	struct conn *k = &conns[c];
	int more = e->flags & IORING_CQE_F_MORE;
	if (!more)
		k->receiving = 0;
	if (e->res > 0) {
		int b = e->flags >> IORING_CQE_BUFFER_SHIFT;
		boff[b] = 0;
		blen[b] = e->res;
		bnext[b] = -1;
		if (k->qtail >= 0)
			bnext[k->qtail] = b;
		else
			k->qhead = b;
		k->qtail = b;
		if (!k->sending)
			send_head(c);
		if (!more && !k->ending)
			arm_recv(c);
		return;
	}
	if (e->res == -ENOBUFS && !k->ending) {
		/* Armed again once buffers come back (on_send). */
		if (!k->starved) {
			k->starved = 1;
			starved++;
		}
		return;
	}
	end(c); /* EOF or an error */
	maybe_close(c);
}

static void rearm_starved(void)
{
	for (int c = 0; c < nconns && starved > 0; c++) {
		if (conns[c].starved) {
			conns[c].starved = 0;
			starved--;
			if (!conns[c].receiving && !conns[c].ending)
				arm_recv(c);
		}
	}
}

static void on_send(struct io_uring_cqe *e, int c)
{
	struct conn *k = &conns[c];
	k->sending = 0;
	int b = k->qhead;
	if (e->res < 0) {
		end(c);
		maybe_close(c);
		return;
	}
	boff[b] += e->res;
	if (boff[b] < blen[b]) {
		send_head(c); /* the rest of a short send */
		return;
	}
	k->qhead = bnext[b];
	if (k->qhead < 0)
		k->qtail = -1;
	give_back(b);
	if (k->qhead >= 0)
		send_head(c);
	maybe_close(c);
}

static void setup(void)
{
	struct io_uring_params p = {0};
	p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_SUBMIT_ALL |
		  IORING_SETUP_CQSIZE;
	p.cq_entries = CQ_ENTRIES;
	ring = syscall(__NR_io_uring_setup, SQ_ENTRIES, &p);
	if (ring < 0)
		die("io_uring_setup (SINGLE_ISSUER|DEFER_TASKRUN, Linux 6.1)", errno);
	if (!(p.features & IORING_FEAT_SINGLE_MMAP))
		die("io_uring_setup: no IORING_FEAT_SINGLE_MMAP (Linux 5.4)", EINVAL);
	size_t sqsz = p.sq_off.array + p.sq_entries * sizeof(unsigned);
	size_t cqsz = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
	size_t sz = sqsz > cqsz ? sqsz : cqsz;
	char *m = mmap(NULL, sz, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQ_RING);
	if (m == MAP_FAILED)
		die("mmap of the rings", errno);
	sq_entries = p.sq_entries;
	sq_khead = (unsigned *)(m + p.sq_off.head);
	sq_ktail = (unsigned *)(m + p.sq_off.tail);
	sq_mask = (unsigned *)(m + p.sq_off.ring_mask);
	sq_array = (unsigned *)(m + p.sq_off.array);
	sq_tail = *sq_ktail;
	cq_khead = (unsigned *)(m + p.cq_off.head);
	cq_ktail = (unsigned *)(m + p.cq_off.tail);
	cq_mask = (unsigned *)(m + p.cq_off.ring_mask);
	cqes = (struct io_uring_cqe *)(m + p.cq_off.cqes);
	sqes = mmap(NULL, p.sq_entries * sizeof(struct io_uring_sqe), PROT_READ | PROT_WRITE,
		    MAP_SHARED | MAP_POPULATE, ring, IORING_OFF_SQES);
	if (sqes == MAP_FAILED)
		die("mmap of the submission entries", errno);

	br = mmap(NULL, NBUF * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bufs = mmap(NULL, (size_t)NBUF * BUFSZ, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (br == MAP_FAILED || bufs == MAP_FAILED)
		die("mmap of the buffers", errno);
	struct io_uring_buf_reg reg = {.ring_addr = (uint64_t)(uintptr_t)br, .ring_entries = NBUF, .bgid = BGID};
	if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_PBUF_RING, &reg, 1) < 0)
		die("IORING_REGISTER_PBUF_RING (Linux 5.19)", errno);
	for (int b = 0; b < NBUF; b++)
		give_back(b);
	publish_bufs();

	if (fixed) {
		struct rlimit rl;
		unsigned n = 32768;
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n)
			n = rl.rlim_cur;
		struct io_uring_rsrc_register fr = {.nr = n, .flags = IORING_RSRC_REGISTER_SPARSE};
		if (syscall(__NR_io_uring_register, ring, IORING_REGISTER_FILES2, &fr, sizeof fr) < 0)
			die("IORING_REGISTER_FILES2 sparse (Linux 5.19)", errno);
	}
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "-probe") == 0) {
		setup(); /* exits 1 naming what is missing */
		return 0;
	}
	if (argc == 3 && strcmp(argv[1], "-plain") == 0) {
		fixed = 0;
		argv++;
		argc--;
	}
	if (argc != 2) {
		fprintf(stderr, "usage: floor_uring [-plain] ADDR:PORT, or floor_uring -probe\n");
		return 2;
	}
	char host[64];
	const char *colon = strrchr(argv[1], ':');
	if (colon == NULL || (size_t)(colon - argv[1]) >= sizeof host) {
		fprintf(stderr, "floor-c-uring: want an IPv4 address:port, got %s\n", argv[1]);
		return 2;
	}
	memcpy(host, argv[1], colon - argv[1]);
	host[colon - argv[1]] = 0;
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(atoi(colon + 1))};
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		fprintf(stderr, "floor-c-uring: want an IPv4 address:port, got %s\n", argv[1]);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	setup();

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0)
		die("socket", errno);
	int one = 1;
	if (setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    setsockopt(lfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0)
		die("setsockopt", errno);
	if (bind(lfd, (struct sockaddr *)&sa, sizeof sa) < 0)
		die("bind", errno);
	if (listen(lfd, 4096) < 0)
		die("listen", errno);
	socklen_t salen = sizeof sa;
	if (getsockname(lfd, (struct sockaddr *)&sa, &salen) < 0)
		die("getsockname", errno);

	arm_accept();
	arm_stdin();
	submit();

	printf("READY %s:%d\n", host, ntohs(sa.sin_port));
	fflush(stdout);

	for (;;) {
		__atomic_store_n(sq_ktail, sq_tail, __ATOMIC_RELEASE);
		int n = enter(pending, 1, IORING_ENTER_GETEVENTS);
		if (n < 0) {
			if (errno == EINTR || errno == EBUSY)
				continue;
			die("io_uring_enter", errno);
		}
		pending -= n;
		unsigned head = *cq_khead;
		unsigned tail = __atomic_load_n(cq_ktail, __ATOMIC_ACQUIRE);
		unsigned returned = br_tail;
		for (; head != tail; head++) {
			struct io_uring_cqe *e = &cqes[head & *cq_mask];
			int c = (int)(uint32_t)(e->user_data >> 8);
			switch (e->user_data & 0xff) {
			case K_ACCEPT:
				on_accept(e);
				break;
			case K_RECV:
				on_recv(e, c);
				break;
			case K_SEND:
				on_send(e, c);
				break;
			case K_STDIN:
				if (e->res > 0 || e->res == -EINTR || e->res == -EAGAIN) {
					for (int i = 0; i < e->res; i++)
						if (stdin_buf[i] == '\n')
							printf("ENTERS %llu\n", enters);
					fflush(stdout);
					arm_stdin();
					break;
				}
				return 0; /* EOF or an error: the parent is gone */
			case K_CLOSE:
				break;
			}
		}
		__atomic_store_n(cq_khead, head, __ATOMIC_RELEASE);
		if (br_tail != returned) {
			publish_bufs();
			if (starved > 0)
				rearm_starved();
		}
	}
}

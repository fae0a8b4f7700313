/*
 * Known-answer program for holds open when a trace starts or ends: one task holds its mmap_lock for read, asleep,
 * until this program is killed, so the hold is open at whatever moment a trace starts or ends meanwhile.
 *
 * The sleep under the lock is a FUSE read that is never answered. A read of /proc/self/mem goes through
 * access_remote_vm(), which takes mmap_lock for read and faults the page in without FAULT_FLAG_ALLOW_RETRY, so the
 * fault cannot drop the lock while it waits for the page (a task's own page faults can, and do). The page is the first
 * of a file served by this program, and its FUSE_READ request is the one request it never answers.
 *
 * This process is the FUSE server. In a mount namespace of its own (nothing propagates out of it), it mounts the file
 * system over /tmp, then forks the reader. When the server receives FUSE_READ, the reader holds the lock and is
 * waiting for the reply: READY is created (by rename, so it appears whole) with the reader's pid, and the server waits
 * to be killed. When the server dies its /dev/fuse descriptor closes, which aborts the connection: the read fails, the
 * reader leaves the lock, and it dies with its parent (PR_SET_PDEATHSIG).
 * Exits 77 when this kernel has no FUSE (no /dev/fuse or no fuse file system), 1 on any other failure.
 * Usage: ka_hold_open READY
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <linux/fuse.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
	EXIT_NO_FUSE = 77,
	ROOT_NODE = FUSE_ROOT_ID,
	FILE_NODE = 2,
	PAGE = 4096,
	/* The kernel refuses to hand a request to a read buffer smaller than FUSE_MIN_READ_BUFFER. */
	REQUEST_BUFFER = 1 << 17,
};

static const char MOUNT_POINT[] = "/tmp";
static const char FILE_NAME[] = "page";
static const char FILE_PATH[] = "/tmp/page";

static void die(const char *what)
{
	perror(what);
	_exit(1);
}

/* The reader: its pread() below is the hold. */
static void read_through_mem(void)
{
	int fd = open(FILE_PATH, O_RDONLY);
	if (fd < 0)
		die(FILE_PATH);
	char *page = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
	if (page == MAP_FAILED)
		die("mmap");
	int mem = open("/proc/self/mem", O_RDONLY);
	if (mem < 0)
		die("/proc/self/mem");
	char c;
	(void)!pread(mem, &c, 1, (off_t)(uintptr_t)page);
	_exit(0); /* reached only once the server is gone */
}

static void reply(int dev, uint64_t unique, int error, const void *payload, size_t len)
{
	char buf[sizeof(struct fuse_out_header) + sizeof(struct fuse_entry_out) + sizeof(struct fuse_init_out)];
	struct fuse_out_header out = { .len = sizeof out + len, .error = error, .unique = unique };
	memcpy(buf, &out, sizeof out);
	memcpy(buf + sizeof out, payload, len);
	/* ENOENT: the request was interrupted meanwhile, which is no failure of ours. */
	if (write(dev, buf, out.len) != (ssize_t)out.len && errno != ENOENT)
		die("reply to /dev/fuse");
}

static struct fuse_attr attr_of(uint64_t node)
{
	struct fuse_attr a = { .ino = node, .blksize = PAGE };
	if (node == ROOT_NODE) {
		a.mode = S_IFDIR | 0755;
		a.nlink = 2;
	} else {
		a.mode = S_IFREG | 0444;
		a.nlink = 1;
		a.size = PAGE;
		a.blocks = PAGE / 512;
	}
	return a;
}

static void mark_ready(int dir, const char *name, pid_t reader)
{
	char tmp[4096], line[32];
	snprintf(tmp, sizeof tmp, "%s.tmp", name);
	int len = snprintf(line, sizeof line, "%d\n", (int)reader);
	int fd = openat(dir, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, line, len) != len || close(fd) || renameat(dir, tmp, dir, name))
		die("ready file");
}

/* Answers every request but the read of the file, which it keeps unanswered until it is killed. */
static void serve(int dev, int ready_dir, const char *ready_name, pid_t reader)
{
	static char req[REQUEST_BUFFER];
	for (;;) {
		ssize_t n = read(dev, req, sizeof req);
		if (n < 0 && (errno == EINTR || errno == ENOENT))
			continue;
		if (n < (ssize_t)sizeof(struct fuse_in_header))
			die("read /dev/fuse");
		struct fuse_in_header *in = (struct fuse_in_header *)req;
		const char *arg = req + sizeof *in;
		switch (in->opcode) {
		case FUSE_INIT: {
			const struct fuse_init_in *init = (const void *)arg;
			struct fuse_init_out out = { .major = FUSE_KERNEL_VERSION, .minor = FUSE_KERNEL_MINOR_VERSION,
						     .max_readahead = init->max_readahead, .max_background = 1,
						     .congestion_threshold = 1, .max_write = PAGE, .time_gran = 1 };
			reply(dev, in->unique, 0, &out, sizeof out);
			break;
		}
		case FUSE_LOOKUP: {
			if (in->nodeid != ROOT_NODE || strcmp(arg, FILE_NAME) != 0) {
				reply(dev, in->unique, -ENOENT, NULL, 0);
				break;
			}
			struct fuse_entry_out out = { .nodeid = FILE_NODE, .generation = 1, .entry_valid = 3600,
						      .attr_valid = 3600, .attr = attr_of(FILE_NODE) };
			reply(dev, in->unique, 0, &out, sizeof out);
			break;
		}
		case FUSE_GETATTR: {
			struct fuse_attr_out out = { .attr_valid = 3600, .attr = attr_of(in->nodeid) };
			reply(dev, in->unique, 0, &out, sizeof out);
			break;
		}
		case FUSE_OPEN: {
			struct fuse_open_out out = { .fh = 1 };
			reply(dev, in->unique, 0, &out, sizeof out);
			break;
		}
		case FUSE_READ:
			mark_ready(ready_dir, ready_name, reader);
			for (;;)
				pause();
		case FUSE_FORGET:
		case FUSE_BATCH_FORGET:
		case FUSE_INTERRUPT:
			break; /* these get no reply */
		case FUSE_FLUSH:
		case FUSE_RELEASE:
			reply(dev, in->unique, 0, NULL, 0);
			break;
		default:
			reply(dev, in->unique, -ENOSYS, NULL, 0);
		}
	}
}

static void reader_gone(int sig)
{
	(void)sig;
	static const char msg[] = "ka_hold_open: the reader exited before its read reached the server\n";
	(void)!write(STDERR_FILENO, msg, sizeof msg - 1);
	_exit(1);
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ka_hold_open READY\n");
		return 2;
	}
	int dev = open("/dev/fuse", O_RDWR | O_CLOEXEC);
	if (dev < 0) {
		perror("ka_hold_open: /dev/fuse");
		return EXIT_NO_FUSE;
	}
	/* READY's directory, opened before /tmp is covered (READY may lie under /tmp). */
	char *ready_copy = strdup(argv[1]), *name_copy = strdup(argv[1]);
	int ready_dir = open(dirname(ready_copy), O_PATH | O_DIRECTORY | O_CLOEXEC);
	const char *ready_name = basename(name_copy);
	if (ready_dir < 0)
		die("READY's directory");
	if (unshare(CLONE_NEWNS) || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		die("a private mount namespace");
	char opts[128];
	snprintf(opts, sizeof opts, "fd=%d,rootmode=%o,user_id=0,group_id=0", dev, S_IFDIR);
	if (mount("holdscope-hold-open", MOUNT_POINT, "fuse", MS_NOSUID | MS_NODEV, opts)) {
		int e = errno;
		fprintf(stderr, "ka_hold_open: mount fuse: %s\n", strerror(e));
		return e == ENODEV ? EXIT_NO_FUSE : 1;
	}
	signal(SIGCHLD, reader_gone);
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		close(dev);
		read_through_mem();
	}
	serve(dev, ready_dir, ready_name, pid);
	return 1;
}

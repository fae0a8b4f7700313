/* The undo journal: before a workload changes a system setting (a khugepaged knob, a memory cgroup, a scratch file),
 * it writes how to undo it to /run/holdscope/undo/PID. A workload that ends normally undoes its changes and removes
 * the journal; one that is killed cannot, so holdscope undoes them from the journal when the workload dies, whatever
 * its status, and at its next start for workloads that died with it (tool/settings_journal.cpp reads this format:
 * one "KIND<TAB>PATH<TAB>VALUE" line per change, KIND write|rmdir|unlink). */
#ifndef HOLDSCOPE_WORKLOAD_JOURNAL_H
#define HOLDSCOPE_WORKLOAD_JOURNAL_H

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#define WL_JOURNAL_DIR "/run/holdscope/undo"

static char wl_journal_file[64];

static inline void wl_journal(const char *kind, const char *path, const char *value)
{
	mkdir("/run", 0755);
	mkdir("/run/holdscope", 0700);
	mkdir(WL_JOURNAL_DIR, 0700);
	snprintf(wl_journal_file, sizeof wl_journal_file, WL_JOURNAL_DIR "/%d", (int)getpid());
	int fd = open(wl_journal_file, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0) {
		perror("undo journal");
		return;
	}
	dprintf(fd, "%s\t%s\t%s\n", kind, path, value ? value : "");
	close(fd);
}

/* Everything is undone: the journal has nothing left to say. */
static inline void wl_journal_done(void)
{
	if (wl_journal_file[0])
		unlink(wl_journal_file);
}

/* In a forked child: die with the parent, so no child of a killed workload keeps its cgroup busy. */
static inline void wl_die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(1);
}

#endif

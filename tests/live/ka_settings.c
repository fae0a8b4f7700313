/*
 * Known-answer program for the undo journal. It changes what the workloads change, journaling each change first
 * exactly as they do (workloads/journal.h): khugepaged's two scan-sleep knobs, a memory cgroup it moves into (where
 * the machine has a memory controller), a scratch file in /var/tmp. Then it writes READY (by rename, whole), one
 * "pid N" line and one line per change ("knob PATH ORIGINAL", "cgroup PATH", "file PATH"), and waits to be killed.
 * Usage: ka_settings READY
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "journal.h"
#include "memcg.h"

#define KNOBS "/sys/kernel/mm/transparent_hugepage/khugepaged/"

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: ka_settings READY\n");
		return 2;
	}
	char tmp[4096], line[512];
	snprintf(tmp, sizeof tmp, "%s.tmp", argv[1]);
	FILE *ready = fopen(tmp, "w");
	if (!ready) {
		perror("ready file");
		return 1;
	}
	fprintf(ready, "pid %d\n", (int)getpid());
	const char *knobs[] = {KNOBS "scan_sleep_millisecs", KNOBS "alloc_sleep_millisecs"};
	for (int i = 0; i < 2; i++) {
		FILE *k = fopen(knobs[i], "r");
		if (!k)
			continue;
		char was[64] = "";
		int ok = fgets(was, sizeof was, k) != NULL;
		fclose(k);
		if (!ok)
			continue;
		was[strcspn(was, "\n")] = 0;
		wl_journal("write", knobs[i], was);
		k = fopen(knobs[i], "w");
		if (!k || fputs("10", k) < 0 || fclose(k)) {
			perror(knobs[i]);
			return 1;
		}
		fprintf(ready, "knob %s %s\n", knobs[i], was);
	}
	struct stat st;
	if ((stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0 || stat("/sys/fs/cgroup/memory", &st) == 0) &&
	    memcg_enter("ka-settings", 256) == 0)
		fprintf(ready, "cgroup %s\n", memcg_dir);
	snprintf(line, sizeof line, "/var/tmp/holdscope-ka-settings-%d", (int)getpid());
	wl_journal("unlink", line, NULL);
	FILE *f = fopen(line, "w");
	if (!f || fclose(f)) {
		perror(line);
		return 1;
	}
	fprintf(ready, "file %s\n", line);
	if (fclose(ready) || rename(tmp, argv[1])) {
		perror("ready file");
		return 1;
	}
	for (;;)
		pause();
}

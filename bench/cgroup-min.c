/* The physical lower bound of rcon's job on cgroup v1: mkdir a group in
 * three hierarchies, write three limits, fork, join the group in the
 * child, exec, wait, rmdir. No parsing, no reporting, no cleanup of
 * leftovers, no error messages: nothing a real tool could skip.
 *
 * usage: cgroup-min CPUDIR MEMDIR PIDSDIR CMD [ARGS...]
 * (the three directories to create; bench.sh picks them under the
 * caller's own cgroups) */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int put(const char *dir, const char *file, const char *val)
{
	char p[4096];
	snprintf(p, sizeof p, "%s/%s", dir, file);
	int fd = open(p, O_WRONLY);
	if (fd < 0)
		return -1;
	int r = write(fd, val, strlen(val)) < 0 ? -1 : 0;
	close(fd);
	return r;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return 125;
	const char *dirs[3] = {argv[1], argv[2], argv[3]};
	for (int i = 0; i < 3; i++)
		if (mkdir(dirs[i], 0755) < 0)
			return 125;
	if (put(dirs[0], "cpu.cfs_quota_us", "50000") || put(dirs[1], "memory.limit_in_bytes", "209715200") ||
	    put(dirs[2], "pids.max", "100"))
		return 125;
	pid_t pid = fork();
	if (pid == 0) {
		for (int i = 0; i < 3; i++)
			if (put(dirs[i], "tasks", "0"))
				_exit(125);
		execvp(argv[4], argv + 4);
		_exit(127);
	}
	int st = 0;
	waitpid(pid, &st, 0);
	for (int i = 0; i < 3; i++)
		rmdir(dirs[i]);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

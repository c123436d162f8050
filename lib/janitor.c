/*
 * janitor.c - the process that removes a pool's folders once its master is
 * gone, however it went: closed, crashed, or killed with SIGKILL.
 *
 * It is forked at open, while the master is still small, and reads folder
 * names (and the pool's status page) from a pipe whose only writer is the
 * master. End of file on that
 * pipe means the master closed it or died; either way the janitor removes
 * every folder it was told of (what the master already removed is simply
 * not there) and exits. loky's resource tracker does the same for Python.
 */
#include "pool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

void jp__remove_folder(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd < 0)
		return;
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct dirent *de;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dfd, de->d_name, 0);
	closedir(d);
	rmdir(dir);
}

static void janitor_main(int fd)
{
	jp__close_inherited(fd, -1);
	/* Ctrl-C, a hang-up or a group SIGTERM take the master down: the
	 * janitor must outlive it to clean up. */
	struct sigaction ign = { .sa_handler = SIG_IGN };
	sigaction(SIGINT, &ign, NULL);
	sigaction(SIGHUP, &ign, NULL);
	sigaction(SIGTERM, &ign, NULL);
	sigaction(SIGPIPE, &ign, NULL);

	char **dirs = NULL;
	size_t ndirs = 0;
	char line[4096];
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, line + len, sizeof line - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		char *nl;
		while ((nl = memchr(line, '\n', len))) {
			*nl = '\0';
			char **d = realloc(dirs, (ndirs + 1) * sizeof *d);
			if (d && (d[ndirs] = strdup(line))) {
				dirs = d;
				ndirs++;
			} else if (d) {
				dirs = d;
			}
			size_t used = (size_t)(nl + 1 - line);
			memmove(line, nl + 1, len - used);
			len -= used;
		}
		if (len == sizeof line - 1)
			len = 0; /* no path is this long: drop it */
	}
	for (size_t i = 0; i < ndirs; i++) {
		/* a file is a status page (status.c): its folder goes with the
		 * last page in it */
		if (unlink(dirs[i]) == 0) {
			char *slash = strrchr(dirs[i], '/');
			if (slash && slash != dirs[i]) {
				*slash = '\0';
				rmdir(dirs[i]);
			}
		} else {
			jp__remove_folder(dirs[i]);
		}
	}
	_exit(0);
}

int jp__janitor_start(jp_pool *p)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		jp__pool_set_error(p, "janitor: pipe: %s", strerror(errno));
		return -errno;
	}
	fflush(stdout);
	fflush(stderr);
	pid_t pid = fork();
	if (pid == 0) {
		close(fds[1]);
		janitor_main(fds[0]);
	}
	int err = pid < 0 ? -errno : 0;
	close(fds[0]);
	if (err) {
		close(fds[1]);
		jp__pool_set_error(p, "janitor: fork: %s", strerror(-err));
		return err;
	}
	p->share.janitor = pid;
	p->share.janitor_fd = fds[1];
	return 0;
}

int jp__janitor_watch(jp_pool *p, const char *dir)
{
	size_t n = strlen(dir);
	char *line = malloc(n + 2);
	if (!line)
		return -ENOMEM;
	memcpy(line, dir, n);
	line[n] = '\n';
	/* one write of less than PIPE_BUF: never torn */
	ssize_t w;
	do
		w = write(p->share.janitor_fd, line, n + 1);
	while (w < 0 && errno == EINTR);
	free(line);
	return w == (ssize_t)(n + 1) ? 0 : -EPIPE;
}

void jp__janitor_stop(jp_pool *p)
{
	if (p->share.janitor_fd >= 0)
		close(p->share.janitor_fd);
	p->share.janitor_fd = -1;
	if (p->share.janitor > 0) {
		while (waitpid(p->share.janitor, NULL, 0) < 0 && errno == EINTR)
			;
	}
	p->share.janitor = 0;
}

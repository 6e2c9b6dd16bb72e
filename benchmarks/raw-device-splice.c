/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A baseline for benchmarks/transfer.py: a device's state moved from its
 * data_fd to another device's data_fd over TCP by splice alone - no
 * protocol, no checks, no agent. What a transfer of these devices could
 * cost at the very least. Built by transfer.py against the build tree:
 *
 *   raw-device-splice send DEV PORT     (connects to 127.0.0.1:PORT)
 *   raw-device-splice recv DEV PORT     (listens, prints "ready")
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nvfm/nvfm.h"

static void die(const char *what, GError *e)
{
	fprintf(stderr, "raw-device-splice: %s: %s\n", what, e ? e->message : strerror(errno));
	exit(1);
}

/* splice @in to @out until @in ends; both blocking, so no polls */
static long long pump(int in, int out)
{
	long long total = 0;

	fcntl(in, F_SETFL, fcntl(in, F_GETFL) & ~O_NONBLOCK);
	fcntl(out, F_SETFL, fcntl(out, F_GETFL) & ~O_NONBLOCK);
	for (;;) {
		ssize_t n = splice(in, NULL, out, NULL, 1 << 20, SPLICE_F_MOVE | SPLICE_F_MORE);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("splice", NULL);
		if (n == 0)
			return total;
		total += n;
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	GError *e = NULL;
	NvfmDevice *dev;
	int s, fd, one = 1;

	if (argc != 4)
		return 2;
	sa.sin_port = htons((unsigned short)atoi(argv[3]));
	dev = nvfm_device_open(argv[2], &e);
	if (!dev)
		die("open", e);
	s = socket(AF_INET, SOCK_STREAM, 0);
	if (strcmp(argv[1], "send") == 0) {
		if (connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("connect", NULL);
		if (!nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP_COPY, &e))
			die("STOP_COPY", e);
		pump(nvfm_device_data_fd(dev), s);
		close(s);
		nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP, NULL);
	} else {
		int c;

		setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(s, 1) < 0)
			die("listen", NULL);
		printf("ready\n");
		fflush(stdout);
		c = accept(s, NULL, NULL);
		if (!nvfm_device_set_state(dev, NVFM_MIG_STATE_RESUMING, &e))
			die("RESUMING", e);
		fd = nvfm_device_data_fd(dev);
		pump(c, fd);
		if (!nvfm_device_set_state(dev, NVFM_MIG_STATE_STOP, &e))
			die("RESUMING -> STOP", e);
	}
	nvfm_device_close(dev);
	return 0;
}

/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Helpers for benchmarks/transfer.py, built by it against the build tree.
 *
 * A baseline: a device's state moved from its data_fd to another device's
 * data_fd over TCP by splice alone - no protocol, no checks, no agent.
 * What a transfer of these devices could cost at the very least:
 *
 *   raw-device-splice send DEV PORT     (connects to 127.0.0.1:PORT)
 *   raw-device-splice recv DEV PORT     (listens, prints "ready")
 *
 * Ours, timed from inside: the library's own transfer to an agent, exactly
 * what `nvme-vf-migrate send` does, but the clock starts once the process
 * is loaded (before the device is opened and the agent connected) and
 * stops when the agent's verdict is in. The CLI's wall time also counts
 * exec and dynamic linking of ~60 libraries, which says nothing about the
 * data path; transfer.py shows both.
 *
 *   raw-device-splice ours DEV HOST:PORT TARGET [verify] [tls=DIR]
 *       prints "seconds S" and exits 0 when TARGET took the state
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

static int ours(int argc, char **argv)
{
	gint64 t0 = g_get_monotonic_time();
	NvfmTlsOptions to = { 0 };
	NvfmTls *tls = NULL;
	NvfmAgentClient *client;
	NvfmSendOptions so;
	NvfmTransferStats st;
	GError *e = NULL;
	NvfmDevice *dev;
	g_autoptr(NvfmAddress) addr = NULL;

	nvfm_send_options_init(&so);
	so.target = argv[4];
	so.save.timeout_ms = 60000;
	for (int i = 5; i < argc; i++) {
		if (strcmp(argv[i], "verify") == 0)
			so.verify = TRUE;
		else if (strncmp(argv[i], "tls=", 4) == 0)
			to.dir = argv[i] + 4;
		else
			return 2;
	}
	if (to.dir) {
		tls = nvfm_tls_new(FALSE, &to, &e);
		if (!tls)
			die("TLS credentials", e);
	}
	addr = nvfm_address_parse(argv[2], &e);
	dev = addr ? nvfm_device_open(addr, &e) : NULL;
	if (!dev)
		die("open", e);
	client = nvfm_agent_client_connect(argv[3], tls, 60000, &e);
	if (!client)
		die("connect", e);
	if (!nvfm_agent_client_send(client, dev, &so, &st, NULL, &e))
		die("send", e);
	printf("seconds %.6f\n", (g_get_monotonic_time() - t0) / 1e6);
	nvfm_agent_client_free(client);
	nvfm_device_close(dev);
	nvfm_tls_free(tls);
	return 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	GError *e = NULL;
	NvfmDevice *dev;
	g_autoptr(NvfmAddress) addr = NULL;
	int s, fd, one = 1;

	if (argc >= 5 && strcmp(argv[1], "ours") == 0)
		return ours(argc, argv);
	if (argc != 4)
		return 2;
	sa.sin_port = htons((unsigned short)atoi(argv[3]));
	addr = nvfm_address_parse(argv[2], &e);
	dev = addr ? nvfm_device_open(addr, &e) : NULL;
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
		/* wake per MiB, not per segment: as (a) in transfer.py */
		setsockopt(c, SOL_SOCKET, SO_RCVLOWAT, &(int){ 1 << 20 }, sizeof(int));
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

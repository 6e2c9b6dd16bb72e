/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Runs a fuzz target over files and directories of inputs without
 * libFuzzer, so seed corpora are exercised with any compiler:
 *   fuzz-NAME-replay CORPUS_DIR_OR_FILE...
 */
#include <stdint.h>
#include <stdio.h>

#include <glib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static guint replay_path(const char *path)
{
	g_autoptr(GError) error = NULL;
	g_autofree char *data = NULL;
	gsize len = 0;
	guint n = 0;

	if (g_file_test(path, G_FILE_TEST_IS_DIR)) {
		g_autoptr(GDir) dir = g_dir_open(path, 0, &error);
		const char *name;

		if (!dir) {
			fprintf(stderr, "replay: %s\n", error->message);
			return 0;
		}
		while ((name = g_dir_read_name(dir))) {
			g_autofree char *child = g_build_filename(path, name, NULL);

			n += replay_path(child);
		}
		return n;
	}
	if (!g_file_get_contents(path, &data, &len, &error)) {
		fprintf(stderr, "replay: %s\n", error->message);
		return 0;
	}
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	return 1;
}

int main(int argc, char **argv)
{
	guint n = 0;

	for (int i = 1; i < argc; i++)
		n += replay_path(argv[i]);
	printf("replayed %u inputs\n", n);
	/* an empty corpus means a broken setup, not a pass */
	return n ? 0 : 1;
}

/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The configuration file, nvme-vf-migrate.conf (a GKeyFile with the
 * sections [client], [agent] and [hook]), layered under the environment
 * and the command line: flags > NVFM_<SECTION>_<KEY> > file > built-in
 * defaults. It is parsed once, at the edge, into an NvfmConfig whose
 * values are already checked; see docs/configuration.md.
 */
#pragma once

#include <glib.h>
#include <jansson.h>

G_BEGIN_DECLS

/**
 * NvfmConfigSource - where a setting's value came from, weakest first
 * @NVFM_CONFIG_DEFAULT: the built-in default
 * @NVFM_CONFIG_FILE: the configuration file
 * @NVFM_CONFIG_ENV: an NVFM_<SECTION>_<KEY> environment variable
 * @NVFM_CONFIG_FLAG: a command-line flag
 */
typedef enum {
	NVFM_CONFIG_DEFAULT,
	NVFM_CONFIG_FILE,
	NVFM_CONFIG_ENV,
	NVFM_CONFIG_FLAG,
} NvfmConfigSource;

/**
 * NvfmConfigKey - every setting, by section
 * @NVFM_CFG_N_KEYS: the number of settings
 *
 * The [client] settings serve migrate, check, send and agent request;
 * [agent] the agent and receive; [hook] the libvirt hook.
 */
typedef enum {
	NVFM_CFG_CLIENT_AGENT,
	NVFM_CFG_CLIENT_PORT,
	NVFM_CFG_CLIENT_PKI_DIR,
	NVFM_CFG_CLIENT_DEST_PF,
	NVFM_CFG_CLIENT_DRIVER,
	NVFM_CFG_CLIENT_DEVICE_STATE,
	NVFM_CFG_CLIENT_TIMEOUT,
	NVFM_CFG_CLIENT_PHASE_TIMEOUTS,
	NVFM_CFG_CLIENT_INTEGRITY,
	NVFM_CFG_CLIENT_DOWNTIME_LIMIT,
	NVFM_CFG_CLIENT_PRECOPY_ROUNDS,
	NVFM_CFG_CLIENT_PRECOPY_THRESHOLD,
	NVFM_CFG_AGENT_LISTEN,
	NVFM_CFG_AGENT_PKI_DIR,
	NVFM_CFG_AGENT_ALLOW,
	NVFM_CFG_AGENT_ADMIN,
	NVFM_CFG_AGENT_PF,
	NVFM_CFG_AGENT_DRIVER,
	NVFM_CFG_AGENT_INTEGRITY,
	NVFM_CFG_AGENT_TIMEOUT,
	NVFM_CFG_AGENT_IDLE_TIMEOUT,
	NVFM_CFG_AGENT_MAX_SESSIONS,
	NVFM_CFG_AGENT_RUNTIME_DIR,
	NVFM_CFG_AGENT_LOG,
	NVFM_CFG_AGENT_LOG_FILE,
	NVFM_CFG_AGENT_QMP_DIR,
	NVFM_CFG_HOOK_PF,
	NVFM_CFG_HOOK_DRIVER,
	NVFM_CFG_HOOK_REQUIRE_MIGRATION,
	NVFM_CFG_HOOK_HOSTDEVS,
	NVFM_CFG_HOOK_UNKNOWN_REASON,
	NVFM_CFG_HOOK_QEMU_LOG_DIR,
	NVFM_CFG_HOOK_RUNTIME_DIR,
	NVFM_CFG_HOOK_AGENT_RUNTIME_DIR,
	NVFM_CFG_HOOK_LOG_FILE,
	NVFM_CFG_HOOK_EMU_DIR,
	NVFM_CFG_HOOK_MAX_XML_SIZE,
	NVFM_CFG_N_KEYS
} NvfmConfigKey;

typedef struct NvfmConfig NvfmConfig;

/**
 * nvfm_config_default_path() - the file read when none is named
 *
 * Return: SYSCONFDIR/nvme-vf-migrate/nvme-vf-migrate.conf of the build.
 */
const char *nvfm_config_default_path(void);

/**
 * nvfm_config_load() - read the defaults, the file and the environment
 * @path: the file to read; %NULL: $NVFM_CONFIG, else the default path
 * @error: return location for a #GError
 *
 * Only the default file may be absent (then no file is read); a named
 * one (@path or $NVFM_CONFIG) must exist. An unknown section or key, or a
 * value a setting does not accept, in the file or the environment, is an
 * %NVFM_ERROR_INVALID_ARG error naming where it was (FILE:LINE or the
 * variable).
 *
 * Return: the configuration (free with nvfm_config_free()), or %NULL
 * with @error set.
 */
NvfmConfig *nvfm_config_load(const char *path, GError **error);

/**
 * nvfm_config_set() - give a setting the value of a command-line flag
 * @cfg: the configuration
 * @key: the setting
 * @text: the value, spelled as in the file (lists separated by ',' or ';')
 * @error: return location for a #GError
 *
 * Return: %TRUE, or %FALSE with @error set (%NVFM_ERROR_INVALID_ARG) and
 * the setting unchanged when it does not accept @text.
 */
gboolean nvfm_config_set(NvfmConfig *cfg, NvfmConfigKey key, const char *text, GError **error);

/**
 * nvfm_config_free() - free a configuration; %NULL is fine
 * @cfg: the configuration
 */
void nvfm_config_free(NvfmConfig *cfg);

/**
 * nvfm_config_path() - the file this configuration names
 * @cfg: the configuration
 * @read: (out) (optional): whether it was read (the default may be absent)
 *
 * Return: the path, owned by @cfg.
 */
const char *nvfm_config_path(const NvfmConfig *cfg, gboolean *read);

/**
 * nvfm_config_get_string() - a setting's value as text
 * @cfg: the configuration
 * @key: any setting
 *
 * Lists come joined with ", ", choices and booleans as their word, PFs
 * as they were spelled.
 *
 * Return: the text owned by @cfg, or %NULL when the setting is unset.
 */
const char *nvfm_config_get_string(const NvfmConfig *cfg, NvfmConfigKey key);

/**
 * nvfm_config_get_uint() - a number, size, boolean or choice
 * @cfg: the configuration
 * @key: a setting of one of those kinds
 *
 * Return: the number, the size in bytes, 1/0, or the choice's index in
 * the order the documentation lists the words.
 */
guint64 nvfm_config_get_uint(const NvfmConfig *cfg, NvfmConfigKey key);

/**
 * nvfm_config_get_strv() - a list setting's items
 * @cfg: the configuration
 * @key: a list setting (PF lists give the addresses as spelled)
 *
 * Return: a %NULL-terminated array owned by @cfg, or %NULL when empty.
 */
const char *const *nvfm_config_get_strv(const NvfmConfig *cfg, NvfmConfigKey key);

/**
 * nvfm_config_get_pfs() - a PF or PF list setting as addresses
 * @cfg: the configuration
 * @key: a PF setting
 *
 * Return: the #NvfmAddress items, owned by @cfg (empty when unset).
 */
GPtrArray *nvfm_config_get_pfs(const NvfmConfig *cfg, NvfmConfigKey key);

/**
 * nvfm_config_get_timeouts() - the phase timeouts setting
 * @cfg: the configuration
 * @key: %NVFM_CFG_CLIENT_PHASE_TIMEOUTS
 *
 * Return: milliseconds per #NvfmMigratePhase (0: unbounded), owned by @cfg.
 */
const int *nvfm_config_get_timeouts(const NvfmConfig *cfg, NvfmConfigKey key);

/**
 * nvfm_config_get_source() - where a setting's value came from
 * @cfg: the configuration
 * @key: any setting
 * @line: (out) (optional): the file's line, when from the file
 *
 * Return: the source.
 */
NvfmConfigSource nvfm_config_get_source(const NvfmConfig *cfg, NvfmConfigKey key, guint *line);

/**
 * nvfm_config_key_name() - a setting's names
 * @key: the setting
 * @section: (out) (optional): its section ("client", "agent", "hook")
 *
 * Return: its key in the section ("pki_dir", ...).
 */
const char *nvfm_config_key_name(NvfmConfigKey key, const char **section);

/**
 * nvfm_config_env_name() - the environment variable of a setting
 * @key: the setting
 *
 * Return: "NVFM_<SECTION>_<KEY>", upper case, newly allocated.
 */
char *nvfm_config_env_name(NvfmConfigKey key);

/**
 * nvfm_config_source_name() - "default", "file", "env" or "flag"
 * @source: a source
 *
 * Return: a static string.
 */
const char *nvfm_config_source_name(NvfmConfigSource source);

/**
 * nvfm_config_to_json() - every setting with its value and origin
 * @cfg: the configuration
 *
 * Return: {"file": PATH, "file_read": BOOL, "settings": {SECTION: {KEY:
 * {"value": V, "source": S, "line"?: N, "env"?: NAME}}}}, a new reference.
 */
json_t *nvfm_config_to_json(const NvfmConfig *cfg);

G_DEFINE_AUTOPTR_CLEANUP_FUNC(NvfmConfig, nvfm_config_free)

G_END_DECLS

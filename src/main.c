/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * memqosd [OPTIONS] [run]          the daemon, in the foreground (systemd runs it so)
 * memqosd check [--json] [--config-dir DIR] validate the configuration
 * memqosd reload                   ask the running daemon to reload (D-Bus)
 * memqosd status [--json] [TENANT] show the running daemon's tenants (D-Bus)
 * memqosd watch [--json] [TENANT...] stream OOM risk events (D-Bus signal OomRisk)
 * memqosd top [TENANT] [--window DURATION] [-n N] [--sort growth|alloc|live] [--json] [--folded]
 *                                  top allocation stacks (D-Bus TopAllocations, src/sample.h)
 * memqosd thaw TENANT              lift the storm guard's freeze of a tenant (D-Bus Thaw, src/guard.h)
 */

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "bus.h"
#include "client.h"
#include "config.h"
#include "control-loop.h"
#include "guard.h"
#include "instances.h"
#include "log.h"
#include "manager.h"
#include "metrics-http.h"
#include "risk-bus.h"
#include "risk.h"
#include "reclaim.h"
#include "sample.h"
#include "state.h"
#include "util.h"
#include "verb-check.h"

typedef struct Args {
	ManagerOptions o;
	const char *verb;
	const char *verb_arg;
	bool json;
	char **verb_args;            /* watch: the tenants (NULL-terminated, into argv) */
	uint64_t window_usec;        /* top --window (0 = the daemon's default) */
	unsigned top_n;              /* top -n */
	SampleSort sort;             /* top --sort */
	bool folded;                 /* top --folded */
	bool top_options;            /* one of the top options was given */
} Args;

static void help(void)
{
	printf("memqosd [OPTIONS] [VERB]\n\n"
	       "Memory QoS daemon: moves memory.high/low of tenant cgroups by priority.\n\n"
	       "Verbs:\n"
	       "  run               Run the daemon in the foreground (default)\n"
	       "  check [--json]    Validate the configuration and print one line per tenant\n"
	       "                    (templates too); --json: one JSON object\n"
	       "  reload            Make the running daemon reload its configuration\n"
	       "  status [--json] [TENANT]\n"
	       "                    Show the running daemon's tenants (template instances too);\n"
	       "                    --json: one JSON object\n"
	       "  watch [--json] [TENANT...]\n"
	       "                    Stream OOM risk events: a snapshot of every (selected) tenant,\n"
	       "                    then one line per level change; --json: one JSON object per line\n"
	       "  top [TENANT] [--window DURATION] [-n N] [--sort growth|alloc|live] [--json] [--folded]\n"
	       "                    Top allocation stacks of a tenant (or every tenant) over the window\n"
	       "                    (default: the tenant's WindowSec=, 10min), by net growth (default),\n"
	       "                    bytes allocated or bytes still live; --json: one JSON object;\n"
	       "                    --folded: folded stacks for flame graphs (root only)\n"
	       "  thaw TENANT       Lift the storm guard's freeze of a tenant at once (root only)\n\n"
	       "Options:\n"
	       "  -h --help             Show this help\n"
	       "     --version          Show the version\n"
	       "     --config-dir=DIR   Configuration directory instead of %s\n"
	       "     --dry-run          Log every write memqosd would make, make none\n"
	       "     --log-level=LEVEL  err, warning, notice, info or debug\n"
	       "     --cgroup-root=DIR  Manage cgroups under DIR, which must be on cgroup2; skips the\n"
	       "                        libcgroup discovery (tests on a fake tree of plain files set\n"
	       "                        MEMQOSD_TEST_FAKE_CGROUP_ROOT=1)\n"
	       "     --state-dir=DIR    Keep the original memory.high/low of tenants in DIR, so that they are\n"
	       "                        restored even after an unclean exit; default $RUNTIME_DIRECTORY if\n"
	       "                        set (systemd), else %s\n",
	       MEMQOSD_DEFAULT_CONFIG_DIR, MEMQOSD_DEFAULT_STATE_DIR);
}

static bool is_absolute_arg(const char *option, const char *arg)
{
	if (arg[0] == '/')
		return true;
	fprintf(stderr, "memqosd: %s=: '%s' is not an absolute path\n", option, arg);
	return false;
}

static int parse_argv(int argc, char *argv[], Args *a)
{
	enum { ARG_VERSION = 0x100, ARG_CONFIG_DIR, ARG_DRY_RUN, ARG_LOG_LEVEL, ARG_CGROUP_ROOT, ARG_STATE_DIR, ARG_JSON,
	       ARG_WINDOW, ARG_SORT, ARG_FOLDED };
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, ARG_VERSION },
		{ "config-dir", required_argument, NULL, ARG_CONFIG_DIR },
		{ "dry-run", no_argument, NULL, ARG_DRY_RUN },
		{ "log-level", required_argument, NULL, ARG_LOG_LEVEL },
		{ "cgroup-root", required_argument, NULL, ARG_CGROUP_ROOT },
		{ "state-dir", required_argument, NULL, ARG_STATE_DIR },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "window", required_argument, NULL, ARG_WINDOW },
		{ "sort", required_argument, NULL, ARG_SORT },
		{ "folded", no_argument, NULL, ARG_FOLDED },
		{}
	};
	int c;

	while ((c = getopt_long(argc, argv, "hn:", options, NULL)) >= 0)
		switch (c) {
		case 'h':
			help();
			return 0;
		case ARG_VERSION:
			printf("memqosd %s\n", MEMQOSD_VERSION);
			return 0;
		case ARG_CONFIG_DIR:
			a->o.config_dir = optarg;
			break;
		case ARG_DRY_RUN:
			a->o.dry_run = true;
			break;
		case ARG_LOG_LEVEL:
			if (parse_log_level(optarg, &a->o.log_level) < 0) {
				fprintf(stderr, "memqosd: --log-level=: unknown level '%s' (err, warning, notice, info, debug)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case ARG_CGROUP_ROOT:
			if (!is_absolute_arg("--cgroup-root", optarg))
				return -EINVAL;
			a->o.cgroup_root = optarg;
			break;
		case ARG_STATE_DIR:
			if (!is_absolute_arg("--state-dir", optarg))
				return -EINVAL;
			a->o.state_dir = optarg;
			break;
		case ARG_JSON:
			a->json = true;
			break;
		case ARG_WINDOW:
			if (parse_duration(optarg, &a->window_usec) < 0 || a->window_usec < USEC_PER_SEC) {
				fprintf(stderr, "memqosd: --window=: invalid duration '%s' (expected e.g. 90s, 10min, 1h)\n",
					optarg);
				return -EINVAL;
			}
			a->top_options = true;
			break;
		case 'n': {
			int n;

			if (parse_int_range(optarg, 1, 100000, &n) < 0) {
				fprintf(stderr, "memqosd: -n: '%s' is not a number of stacks (1..100000)\n", optarg);
				return -EINVAL;
			}
			a->top_n = (unsigned) n;
			a->top_options = true;
			break;
		}
		case ARG_SORT:
			a->sort = sample_sort_from_string(optarg);
			if (a->sort < 0) {
				fprintf(stderr, "memqosd: --sort=: unknown key '%s' (growth, alloc or live)\n", optarg);
				return -EINVAL;
			}
			a->top_options = true;
			break;
		case ARG_FOLDED:
			a->folded = true;
			a->top_options = true;
			break;
		case '?':
			return -EINVAL;
		default:
			return -EINVAL;
		}

	a->verb = optind < argc ? argv[optind++] : "run";
	if ((streq(a->verb, "status") || streq(a->verb, "top") || streq(a->verb, "thaw")) && optind < argc)
		a->verb_arg = argv[optind++];
	if (streq(a->verb, "thaw") && !a->verb_arg) {
		fprintf(stderr, "memqosd: thaw needs a TENANT\n");
		return -EINVAL;
	}
	if (streq(a->verb, "watch")) {
		a->verb_args = argv + optind;
		optind = argc;
	}
	if (a->json && !streq(a->verb, "watch") && !streq(a->verb, "top") && !streq(a->verb, "status") &&
	    !streq(a->verb, "check")) {
		fprintf(stderr, "memqosd: --json is an option of status, check, watch and top only\n");
		return -EINVAL;
	}
	if (a->top_options && !streq(a->verb, "top")) {
		fprintf(stderr, "memqosd: --window, -n, --sort and --folded are options of top only\n");
		return -EINVAL;
	}
	if (a->json && a->folded) {
		fprintf(stderr, "memqosd: top: --json and --folded exclude each other\n");
		return -EINVAL;
	}
	if (optind < argc) {
		fprintf(stderr, "memqosd: unexpected argument '%s'\n", argv[optind]);
		return -EINVAL;
	}
	return 1;
}

static int run_daemon(const ManagerOptions *o)
{
	_cleanup_(risk_bus_freep) RiskBus *rb = NULL;         /* outlives the bus: freed after m */
	_cleanup_(manager_freep) Manager *m = NULL;
	_cleanup_(control_loop_freep) ControlLoop *cl = NULL; /* after m: freed before it */
	_cleanup_(risk_freep) Risk *risk = NULL;              /* likewise */
	_cleanup_(sampler_freep) Sampler *sampler = NULL;     /* likewise */
	_cleanup_(reclaim_freep) Reclaim *reclaim = NULL;     /* likewise */
	_cleanup_(guard_freep) Guard *guard = NULL;           /* likewise */
	_cleanup_(metrics_freep) Metrics *metrics = NULL;     /* likewise; stops the HTTP thread first */
	_cleanup_(instances_freep) Instances *in = NULL;      /* likewise */
	_cleanup_(bus_freep) Bus *bus = NULL;                 /* likewise */
	int r;

	/* A write to a pipe whose reader is gone must fail with EPIPE, not kill the daemon before it
	 * restores anything: a writer thread blocked on a FIFO-backed file whose reader exits, or stderr
	 * on a pipe that closes. */
	(void) signal(SIGPIPE, SIG_IGN);

	r = manager_new(o, &m);
	if (r < 0)
		return EXIT_FAILURE;
	r = control_loop_install(m, &cl);
	if (r < 0)
		return EXIT_FAILURE;
	r = risk_install(m, &risk);
	if (r < 0)
		return EXIT_FAILURE;
	r = metrics_install(m, cl, MEMQOSD_VERSION, &metrics);
	if (r < 0)
		return EXIT_FAILURE;
	/* Last: instances appear at start, once the other modules can attach to them. */
	r = instances_install(m, &in);
	if (r < 0)
		return EXIT_FAILURE;
	/* The forecast feeds the control loop: tenants at risk get relief from lower priorities. */
	control_loop_set_urgency(cl, risk_tenant_urgent, risk);
	risk_set_urgency_listener(risk, control_loop_reconsider, cl);
	r = sampler_install(m, &sampler);
	if (r < 0)
		return EXIT_FAILURE;
	r = reclaim_install(m, &reclaim);
	if (r < 0)
		return EXIT_FAILURE;
	r = guard_install(m, &guard);
	if (r < 0)
		return EXIT_FAILURE;
	/* The D-Bus API connects once the manager has started, before READY=1. */
	r = bus_install(m, &bus);
	if (r < 0)
		return EXIT_FAILURE;
	r = manager_start(m);
	if (r < 0) {
		manager_stop(m);
		return EXIT_FAILURE;
	}
	/* Before the loop runs, so no call can find the methods missing. */
	(void) risk_bus_register(risk, bus_get(bus), &rb);
	(void) sampler_bus_register(sampler, bus_get(bus));
	(void) reclaim_bus_register(reclaim, bus_get(bus));
	(void) guard_bus_register(guard, bus_get(bus));
	(void) metrics_start(metrics);  /* off unless configured; a failure is logged, the daemon runs on */
	r = manager_run(m);
	return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

int main(int argc, char *argv[])
{
	Args a = { .o.log_level = -1, .top_n = 10, .sort = SAMPLE_SORT_GROWTH };
	int r;

	r = parse_argv(argc, argv, &a);
	if (r <= 0)
		return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;

	if (streq(a.verb, "run"))
		return run_daemon(&a.o);
	if (streq(a.verb, "check"))
		return verb_check(a.o.config_dir, a.json);
	if (streq(a.verb, "reload"))
		return client_reload();
	if (streq(a.verb, "status"))
		return client_status(a.verb_arg, a.json);
	if (streq(a.verb, "watch"))
		return client_watch(a.json, (const char *const *) a.verb_args);
	if (streq(a.verb, "top"))
		return client_top(a.verb_arg, a.window_usec, a.top_n, a.sort, a.json, a.folded);

	if (streq(a.verb, "thaw"))
		return client_thaw(a.verb_arg);

	fprintf(stderr, "memqosd: unknown verb '%s' (run, check, reload, status, watch, top, thaw; see --help)\n", a.verb);
	return EXIT_FAILURE;
}

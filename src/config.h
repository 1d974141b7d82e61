/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Configuration: /etc/memqosd/memqosd.conf (+ memqosd.conf.d/NAME.conf drop-ins, applied in lexical order,
 * later wins) and one profile per tenant in tenants.d/NAME.conf. Parsed with inih into a fresh Config,
 * validated as a whole; every problem is collected as "FILE:LINE: Key=: what is wrong" (LINE 0 for
 * whole-file problems). A Config is immutable once loaded; reload builds a new one and diffs.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MEMQOSD_DEFAULT_CONFIG_DIR "/etc/memqosd"

typedef enum PolicyKind {
	POLICY_PRIORITY,  /* struct_ops memcg_ops on a patched kernel; tracing fallback elsewhere */
	POLICY_OBSERVE,   /* tracing only (fentry/fexit on try_charge_memcg), any kernel with BTF */
	POLICY_NONE,      /* no BPF; PSI and memory.events only */
	_POLICY_MAX,
	_POLICY_INVALID = -22,
} PolicyKind;

const char *policy_kind_to_string(PolicyKind k);
PolicyKind policy_kind_from_string(const char *s);

/* Settings of the control loop: [Control] in memqosd.conf. Defaults in config_control_defaults(). */
typedef struct ControlParams {
	bool psi_full;                 /* PressureType=some|full (default some) */
	uint64_t psi_stall_usec;       /* PressureThresholdSec= stall per window (default 100ms) */
	uint64_t psi_window_usec;      /* PressureWindowSec= (default 1s; kernel allows 500ms..10s) */
	unsigned step_percent;         /* StepPercent= of (MemoryHighMax - MemoryHighMin) per squeeze step (10) */
	unsigned relax_percent;        /* RelaxPercent= per relax step (5) */
	uint64_t hold_usec;            /* HoldSec= pressure/activity must be gone this long before relaxing (10s) */
	uint64_t relax_ceiling_usec;   /* RelaxCeilingSec= how long a learned relax ceiling holds (2min; 0 = off) */
	uint64_t min_interval_usec;    /* MinIntervalSec= minimum time between two writes per tenant (1s) */
	uint64_t headroom_bytes;       /* Headroom= never write memory.high below current - headroom (32M) */
	uint64_t housekeeping_usec;    /* HousekeepingSec= slow tick (30s) */
	uint64_t write_timeout_usec;   /* WriteTimeoutSec= bound on an off-loop memory.high write (5s) */
} ControlParams;

/*
 * Settings of the OOM forecast (src/forecast.h, src/risk.h): [Forecast] in memqosd.conf (defaults for
 * every tenant) and in a tenant profile (overrides for that tenant). Defaults in
 * config_forecast_defaults().
 */
typedef struct ForecastParams {
	bool enable;                   /* Enable= (yes) */
	uint64_t warning_usec;         /* WarningSec= warn when the OOM is forecast within this (60s) */
	uint64_t critical_usec;        /* CriticalSec= critical within this (10s) */
	uint64_t watch_usec;           /* WatchSec= watch within this (300s) */
	uint64_t min_duration_usec;    /* MinDurationSec= a warning forecast must hold this long (10s) */
	uint64_t critical_duration_usec; /* CriticalDurationSec= a critical forecast must hold this long (2s) */
	uint64_t hold_usec;            /* HoldSec= a level is left once its reason is gone this long (30s) */
	uint64_t window_usec;          /* WindowSec= growth is fitted over this much history (30s) */
	uint64_t sample_usec;          /* SampleSec= sampling period of a tenant near its limit (1s) */
	uint64_t repeat_usec;          /* RepeatSec= OomRisk repeated this often while critical (30s) */
	uint64_t min_growth_bytes;     /* MinGrowth= per second; slower growth forecasts no OOM (1M) */
	unsigned watch_percent;        /* WatchPercent= of the limit used: watch (80) */
	unsigned pressure_percent;     /* PressurePercent= PSI avg10 some: watch; full (+ max events): warning (10) */
	unsigned thrash_percent;       /* ThrashPercent= file refaults per 10s, % of the file pages: watch (100) */
	char *hook;                    /* Hook= absolute path of a command run on every level change; NULL = none */
	uint64_t hook_timeout_usec;    /* HookTimeoutSec= the hook is killed after this (10s) */
	uint64_t hook_interval_usec;   /* HookMinIntervalSec= at most one hook run per tenant per this (10s) */
} ForecastParams;

/*
 * Settings of the allocation sampler (job 2: src/sample.h): [Sampling] in memqosd.conf (defaults for
 * every tenant) and in a tenant profile (overrides). Defaults in config_sampling_defaults().
 */
typedef struct SamplingParams {
	bool enable;                   /* Enable= (no) */
	uint64_t sample_bytes;         /* SampleSize= mean bytes charged between two samples (1M; 4K..1G) */
	uint64_t large_bytes;          /* LargeAllocation= every charge of at least this is recorded (256K; 0 = none) */
	unsigned stack_depth;          /* StackDepth= user frames kept per stack (32; 1..64) */
	uint64_t window_usec;          /* WindowSec= what `memqosd top` can look back over (10min; 1min..24h) */
	unsigned max_stacks;           /* MaxStacks= distinct stacks kept per tenant (1024; 16..65536) */
	unsigned max_per_sec;          /* MaxSamplesPerSec= per CPU; above it the interval doubles (5000) */
	bool kernel_stacks;            /* KernelStacks= kernel frames before the user frames (no) */
	uint64_t growth_alert_bytes;   /* GrowthAlert= per minute: journal record when sustained (0 = off; 0) */
	uint64_t growth_alert_usec;    /* GrowthAlertSec= ... for this long (2min; 10s..1h) */
} SamplingParams;

/*
 * Settings of proactive reclaim (issue 14: src/reclaim.h, src/reclaim-model.h): [Reclaim] in
 * memqosd.conf (defaults for every tenant) and in a tenant profile (overrides). Defaults in
 * config_reclaim_defaults().
 */
typedef struct ReclaimParams {
	bool enable;                   /* Enable= (no) */
	unsigned pressure_target;      /* PressureTarget= PSI some avg10, hundredths of a percent (0.10% = 10) */
	unsigned step_percent;         /* StepPercent= of what lies above the floor, per step (2; 1..50) */
	uint64_t step_max_bytes;       /* StepMax= one step reclaims at most this (64M; 64K..4G) */
	uint64_t floor_bytes;          /* Floor= never reclaim below this (0; MemoryHighMin=/MemoryLow= too) */
	uint64_t interval_usec;        /* IntervalSec= from step start to step start while reclaiming (1s; 100ms..1h) */
	uint64_t hold_usec;            /* HoldSec= no step for this long after a back-off (30s; 1s..1h) */
	unsigned refault_percent;      /* RefaultPercent= refaults after a step, % of its pages, that back off (5) */
} ReclaimParams;
/* Containment steps the storm guard may take ([Guard] Actions=), bit flags. */
enum {
	GUARD_ACTION_PIDS = 1 << 0,    /* pids.max = current + PidsAllowance= */
	GUARD_ACTION_FREEZE = 1 << 1,  /* cgroup.freeze = 1 */
	GUARD_ACTION_KILL = 1 << 2,    /* cgroup.kill */
	GUARD_ACTION_CPU = 1 << 3,     /* cpu.max quota = CpuMax= of one CPU (after pids, before freeze) */
};

/*
 * Settings of the storm guard (job 4: src/guard.h): [Guard] in memqosd.conf (defaults for every
 * tenant) and in a tenant profile (overrides). Defaults in config_guard_defaults(). Rates 0 = not
 * checked; a per-uid burst of 0 = the tenant's.
 */
typedef struct GuardParams {
	bool enable;                   /* Enable= (no) */
	uint64_t charge_rate;          /* ChargeRate= bytes per second (256M) */
	uint64_t charge_burst;         /* ChargeBurst= bytes (1G) */
	unsigned fork_rate;            /* ForkRate= forks per second (100) */
	unsigned fork_burst;           /* ForkBurst= forks (500) */
	uint64_t uid_charge_rate;      /* PerUidChargeRate= per uid in the tenant (0 = off) */
	uint64_t uid_charge_burst;     /* PerUidChargeBurst= (0 = ChargeBurst=) */
	unsigned uid_fork_rate;        /* PerUidForkRate= (0 = off) */
	unsigned uid_fork_burst;       /* PerUidForkBurst= (0 = ForkBurst=) */
	unsigned actions;              /* Actions= GUARD_ACTION_* (pids freeze) */
	unsigned pids_allowance;       /* PidsAllowance= pids.max = current + this (16) */
	unsigned cpu_max_percent;      /* CpuMax= the cpu step's quota, % of one CPU (10%; 1..10000) */
	uint64_t escalate_usec;        /* EscalateSec= time between two steps while the storm lasts (5s) */
	uint64_t hold_usec;            /* HoldSec= quiet this long before every step is undone (30s) */
} GuardParams;

typedef struct DaemonConfig {
	bool dry_run;            /* DryRun= */
	int log_level;           /* LogLevel= (syslog levels: err, warning, notice, info, debug) */
	char *cgroup_root;       /* CgroupRoot= absolute path of the cgroup2 root to manage; NULL = discover */
	unsigned template_instances_max; /* TemplateInstancesMax= instances per template (CONFIG_TEMPLATE_INSTANCES_MAX_DEFAULT) */
	ControlParams control;
	ForecastParams forecast; /* defaults for every tenant */
	SamplingParams sampling; /* defaults for every tenant */
	ReclaimParams reclaim;   /* defaults for every tenant */
	GuardParams guard;       /* defaults for every tenant */
	char *metrics_listen;    /* [Metrics] Listen= "ADDRESS:PORT" of the Prometheus endpoint; NULL = off */
} DaemonConfig;

typedef struct TenantConfig {
	char *name;                 /* profile file name without ".conf" */
	char *file;                 /* full path of the profile, for messages */
	unsigned cgroup_line;       /* line of Cgroup= in file, for later messages (0 if unknown) */
	char *cgroup;               /* normalised, relative to the cgroup root, no leading/trailing '/' */
	int priority;               /* 0..100, higher is more important */
	uint64_t memory_high_min;   /* bytes; UINT64_MAX = max */
	uint64_t memory_high_max;   /* bytes; UINT64_MAX = max */
	bool has_memory_low;
	uint64_t memory_low;        /* bytes, valid if has_memory_low */
	PolicyKind policy;
	ForecastParams forecast;    /* [Forecast] of the profile over the daemon's [Forecast] */
	SamplingParams sampling;    /* [Sampling] of the profile over the daemon's [Sampling] */
	ReclaimParams reclaim;      /* [Reclaim] of the profile over the daemon's [Reclaim] */
	GuardParams guard;          /* [Guard] of the profile over the daemon's [Guard] */
	bool is_template;           /* cgroup is a glob pattern (src/template.h): no tenant of its own, instances */
	char *template;             /* an instance's template name; NULL for a profile (set by src/instances.c) */
} TenantConfig;

/* Default of TemplateInstancesMax=: at most this many instances per template. */
#define CONFIG_TEMPLATE_INSTANCES_MAX_DEFAULT 256U

typedef struct Config {
	char *dir;
	DaemonConfig daemon;
	TenantConfig **tenants;  /* sorted by name */
	size_t n_tenants;
} Config;

/*
 * Collected problems. Only the first CONFIG_ERRORS_MAX are kept as text (a 100 MB profile of bad
 * lines must not cost gigabytes, nor a reply the size of the file); n_total counts all of them, so
 * "is there any error" is always n_total, never n.
 */
#define CONFIG_ERRORS_MAX 100

/*
 * Profiles and memqosd.conf files larger than this are refused as a whole ("file too large"):
 * real ones are a few hundred bytes.
 */
#define CONFIG_FILE_SIZE_MAX (UINT64_C(1) << 20)

typedef struct ConfigErrors {
	char **lines;    /* each "FILE:LINE: Key=: what is wrong"; at most CONFIG_ERRORS_MAX */
	size_t n;        /* lines kept */
	size_t n_total;  /* problems found, kept or not */
} ConfigErrors;

void config_errors_clear(ConfigErrors *e);
/* printf-style append; returns -ENOMEM on allocation failure, else 0. */
int config_errors_add(ConfigErrors *e, const char *file, unsigned line, const char *key, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/*
 * All kept lines joined by sep, followed by "SEP... and N more errors" if some were not kept;
 * built in one linear pass. NULL on allocation failure; "" if there are no errors.
 */
char *config_errors_join(const ConfigErrors *e, const char *sep);

void config_control_defaults(ControlParams *c);
void config_forecast_defaults(ForecastParams *f);
bool forecast_params_equal(const ForecastParams *a, const ForecastParams *b);
void config_sampling_defaults(SamplingParams *s);
bool sampling_params_equal(const SamplingParams *a, const SamplingParams *b);
void config_reclaim_defaults(ReclaimParams *r);
bool reclaim_params_equal(const ReclaimParams *a, const ReclaimParams *b);
void config_guard_defaults(GuardParams *g);
bool guard_params_equal(const GuardParams *a, const GuardParams *b);
/* "pids freeze kill" (the set bits, in that order; "" for none) into buf; returns buf. */
const char *guard_actions_to_string(unsigned actions, char *buf, size_t n);

/*
 * Load and validate everything under dir. Returns 0 and a Config on success; -EINVAL with every
 * problem in *errors (and no Config) if anything is wrong; other negative errno on I/O failure
 * (also described in *errors).
 */
int config_load(const char *dir, Config **ret, ConfigErrors *errors);
Config *config_free(Config *c);

const TenantConfig *config_find_tenant(const Config *c, const char *name);
bool tenant_config_equal(const TenantConfig *a, const TenantConfig *b);
/* A deep copy (name, file, cgroup, hook, template are the copy's own); NULL on allocation failure. */
TenantConfig *tenant_config_dup(const TenantConfig *t);
TenantConfig *tenant_config_free(TenantConfig *t);

/* Names of tenants added, removed and changed between two configs (borrowed pointers into them). */
typedef struct ConfigDiff {
	const char **added;
	size_t n_added;
	const char **removed;
	size_t n_removed;
	const char **changed;
	size_t n_changed;
} ConfigDiff;

int config_diff(const Config *old, const Config *new, ConfigDiff *ret);
void config_diff_clear(ConfigDiff *d);

/* Value parsers, exported for tests and for later sections. All return 0 or -EINVAL/-ERANGE. */
int parse_size(const char *s, uint64_t *ret);               /* "512M", "1G", "4096", "max" */
int parse_int_range(const char *s, int min, int max, int *ret);
int parse_boolean(const char *s, bool *ret);                /* yes/no/true/false/1/0/on/off */
int parse_duration(const char *s, uint64_t *ret_usec);      /* "100ms", "1s", "2min", "500us"; bare = seconds */
int parse_log_level(const char *s, int *ret);
int parse_hundredths(const char *s, unsigned *ret);          /* "0.1", "0.25%", "2" -> 10, 25, 200 */

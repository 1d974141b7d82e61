/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The OOM forecast: a pure model (no I/O, no clock, no logging). src/risk.c feeds it one sample per
 * SampleSec= of a tenant near its limit and acts on the level changes it returns.
 *
 * What is forecast. The kernel OOM-kills in a cgroup when a charge cannot be satisfied by reclaim:
 * what grows toward the limit is the memory reclaim cannot take back. So
 *   demand = anon + shmem + unreclaimable kernel memory + the tenant's swapped-out memory
 *   room   = how much more demand fits before the OOM: the tightest of
 *              memory.max - (memory.current - file)             (the tenant's own limit; its page
 *                                                              cache counts as reclaimable)
 *              ancestor memory.max - ancestor memory.current + the tenant's file pages
 *              the host's MemAvailable                         (no limit at all)
 *            plus the swap the tenant may still fill (its memory.swap.max chain, the host's SwapFree)
 *   ETA    = room / growth of demand
 * Growth is a least-squares fit of demand over WindowSec=, trusted only with >= 5 samples, a fit
 * that explains the data (R^2 >= 0.5), growth above MinGrowth= over the window AND over the last
 * 5 seconds (a step that stopped, or a sawtooth on its way down, is no trend). An entry condition
 * "held" for a duration may miss one sample (a loaded machine samples and leaks unevenly).
 * Page cache counts as reclaimable, unless the tenant is thrashing on it: while file refaults
 * within FORECAST_THRASH_WINDOW_USEC reach ThrashPercent= of its file pages, the file pages it
 * refaults at that rate within the window (at most all of them: the "hot" file) count as demand and
 * leave the room. The growth fit then counts the same share of the file pages of every sample in
 * its window (the history reread under what is known now: the onset of thrashing is no step). A
 * thrashing working set that keeps growing is a trend like a leak (the tenant is heading for a
 * livelock at its limit, if not the OOM killer); a reader thrashing at a steady rate is flat, no
 * trend. Thrashing alone is watch.
 *
 * Levels, ok < watch < warning < critical < oom. Each sample computes, per level, an entry condition
 * and a (looser) stay condition:
 *   watch     enter/stay: demand >= WatchPercent= of demand + room, ETA < WatchSec=, PSI some avg10
 *             >= PressurePercent=, thrashing, or memory.events max rose
 *   warning   enter: ETA < WarningSec= held MinDurationSec=, or PSI full avg10 >= PressurePercent=
 *             with memory.events max rising while demand is at WatchPercent= (stalled at the limit
 *             on memory reclaim cannot free; a cache thrasher is not); stay: ETA < 2 x WarningSec=
 *             (or the PSI condition)
 *   critical  enter (from warning or above only): ETA < CriticalSec= held CriticalDurationSec=;
 *             at once on memory.events oom (a charge failed at the limit) or >= 8 BPF charge
 *             failures per sample; stay: ETA < 2 x CriticalSec=
 *   oom       memory.events oom_kill rose: for that sample; the history is dropped and the tenant
 *             starts over at watch
 * A level is kept while its stay condition holds and for HoldSec= after (hysteresis); the new level
 * is the highest one entered or kept. A sawtooth or a big page-cache reader never warns: its demand
 * does not trend for MinDurationSec=, and cache is not demand. While critical the model asks for a
 * repeat every RepeatSec=. Once a WindowSec= passed at ok with no watch condition and no growth
 * (counted from the first sample, so a trigger always gets a full window), sampling may stop.
 *
 * Times are CLOCK_MONOTONIC microseconds.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef enum RiskLevel {
	RISK_OK,
	RISK_WATCH,
	RISK_WARNING,
	RISK_CRITICAL,
	RISK_OOM,
	_RISK_LEVEL_MAX,
	_RISK_LEVEL_INVALID = -22,
} RiskLevel;

const char *risk_level_to_string(RiskLevel l);
RiskLevel risk_level_from_string(const char *s);

#define FORECAST_NO_ETA UINT64_MAX
#define FORECAST_MAX_SAMPLES 128
#define FORECAST_MIN_SAMPLES 5
#define FORECAST_RECENT_USEC (5 * 1000000ULL)
#define FORECAST_THRASH_WINDOW_USEC (10 * 1000000ULL)
#define FORECAST_CHARGE_FAIL_CRITICAL 8
#define FORECAST_MAX_ANCESTORS 16
#define FORECAST_REASON_MAX 192

typedef enum ForecastLimitKind {
	FORECAST_LIMIT_OWN,       /* the tenant's memory.max */
	FORECAST_LIMIT_ANCESTOR,  /* an ancestor's memory.max, shared with its other children */
	FORECAST_LIMIT_HOST,      /* no memory.max: the host's memory */
	_FORECAST_LIMIT_MAX,
	_FORECAST_LIMIT_INVALID = -22,
} ForecastLimitKind;

const char *forecast_limit_kind_to_string(ForecastLimitKind k);

typedef struct ForecastAncestor {
	uint64_t max;        /* memory.max (UINT64_MAX: none; such ancestors may be left out) */
	uint64_t current;    /* memory.current */
} ForecastAncestor;

/* What the wiring read for one sample; bytes unless said otherwise. */
typedef struct ForecastRaw {
	uint64_t anon, shmem, kernel, slab_reclaimable, file;  /* memory.stat */
	uint64_t current;                /* memory.current */
	uint64_t max;                    /* memory.max (UINT64_MAX = max) */
	uint64_t swap_current;           /* memory.swap.current (0 if none) */
	uint64_t swap_max;               /* lowest memory.swap.max of the tenant and its ancestors */
	uint64_t swap_free;              /* host SwapFree */
	uint64_t mem_total, mem_available; /* host MemTotal, MemAvailable */
	ForecastAncestor ancestors[FORECAST_MAX_ANCESTORS];
	size_t n_ancestors;
} ForecastRaw;

typedef struct ForecastMeasure {
	uint64_t demand;     /* what reclaim cannot take back, swapped-out memory included */
	uint64_t room;       /* how much more demand fits before the OOM (memory + swap) */
	uint64_t swap_room;  /* the part of room that is swap */
	uint64_t usage;      /* usage against the binding limit, for reports */
	uint64_t limit;      /* the binding limit, for reports */
	ForecastLimitKind limit_kind;
} ForecastMeasure;

void forecast_measure(const ForecastRaw *raw, ForecastMeasure *ret);

/* One sample's input to the level machine. */
typedef struct ForecastInput {
	uint64_t now;
	ForecastMeasure m;
	uint64_t file;               /* file pages, bytes */
	uint64_t refaults;           /* memory.stat workingset_refault_file (cumulative, pages) */
	double psi_some, psi_full;   /* memory.pressure avg10, percent; < 0 unknown */
	uint64_t d_max, d_oom, d_oom_kill; /* memory.events deltas since the previous sample */
	uint64_t charge_fails;       /* BPF CHARGE_FAIL events since the previous sample */
} ForecastInput;

typedef struct ForecastSample {
	uint64_t t, demand;          /* ForecastInput.m.demand (hot file pages not included) */
	uint64_t file, refaults;     /* ForecastInput.file, .refaults */
} ForecastSample;

typedef struct ForecastState {
	ForecastSample ring[FORECAST_MAX_SAMPLES];
	size_t n, head;              /* head: next slot to write */
	RiskLevel level;
	uint64_t enter_since[_RISK_LEVEL_MAX];   /* entry condition true since (0 = not now; one miss forgiven) */
	unsigned enter_misses[_RISK_LEVEL_MAX];  /* consecutive samples without it */
	uint64_t stay_lost_at[_RISK_LEVEL_MAX];  /* stay condition false since (0 = holds) */
	uint64_t last_emit;
	uint64_t busy_at;            /* last sample above ok, with a watch condition or growth (or the first) */
	uint64_t refault_t, refault_ref; /* start of the current thrashing window */
	uint64_t thrash_since;       /* first sample of the current thrashing episode (0 = none) */
	double hot_fraction;         /* hot file pages / file pages now: the fit counts that share of
				      * every sample's file pages, so the onset of thrashing is no step */
	bool thrashing;
} ForecastState;

typedef struct ForecastResult {
	RiskLevel level, previous;
	bool changed;                /* the level changed at this sample */
	bool repeat;                 /* critical for RepeatSec= since the last report: report again */
	bool sampling;               /* keep sampling: something went on within the last WindowSec= */
	uint64_t eta_usec;           /* FORECAST_NO_ETA if no OOM is forecast */
	double growth;               /* bytes per second, fitted */
	double fit_r2;
	ForecastMeasure m;           /* the measure used: ForecastInput.m with the hot file pages */
	uint64_t hot_file;           /* file pages counted as unreclaimable (thrashing), bytes */
	char reason[FORECAST_REASON_MAX];
} ForecastResult;

void forecast_init(ForecastState *s);

/*
 * Growth fit over the window ending at the newest sample; false if there are too few samples. The
 * growth is the recent one (last 5 s) if that is below min_growth (bytes/s), else the window's.
 */
bool forecast_growth(const ForecastState *s, uint64_t window_usec, uint64_t min_growth, double *ret_growth,
		     double *ret_r2);

/* Feed one sample. Returns -EINVAL on bad arguments (time going backwards included). */
int forecast_step(ForecastState *s, const ForecastParams *p, const ForecastInput *in, ForecastResult *ret);


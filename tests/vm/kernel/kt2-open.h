/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Tests 8-10 share kt2.bpf.c; each loads only its own struct_ops map and programs, so that a test
 * neither attaches nor verifies the others' policies.
 */
#pragma once

#include <errno.h>
#include <string.h>

#include "cgutil.h"
#include "kt2.skel.h"

enum kt2_test { KT2_T8, KT2_T9, KT2_T10 };

static inline struct kt2 *kt2_open_for(struct kt_report *r, enum kt2_test t)
{
	struct kt2 *s = kt2__open();

	if (!s)
		kt_die(r, "opening the kt2 BPF skeleton: %s", strerror(errno));
	bpf_map__set_autocreate(s->maps.ops_fail, t == KT2_T8);
	bpf_program__set_autoload(s->progs.fail_charge, t == KT2_T8);
	bpf_program__set_autoload(s->progs.t8_charge, t == KT2_T8);
	bpf_program__set_autoload(s->progs.t8_reclaim, t == KT2_T8);
	bpf_program__set_autoload(s->progs.t8_oom, t == KT2_T8);
	bpf_map__set_autocreate(s->maps.ops_rec, t == KT2_T9);
	bpf_program__set_autoload(s->progs.rec_charge, t == KT2_T9);
	bpf_program__set_autoload(s->progs.t9_charge, t == KT2_T9);
	bpf_map__set_autocreate(s->maps.ops_off, t == KT2_T10);
	bpf_program__set_autoload(s->progs.off_offline, t == KT2_T10);
	bpf_program__set_autoload(s->progs.off_charge, t == KT2_T10);
	bpf_program__set_autoload(s->progs.off_below_low, t == KT2_T10);
	bpf_program__set_autoload(s->progs.off_below_min, t == KT2_T10);
	return s;
}

static inline void kt2_load_or_die(struct kt_report *r, struct kt2 *s)
{
	int err = kt2__load(s);

	if (err)
		kt_die(r, "loading kt2: %s (KT_VERBOSE=1 shows the verifier log)", strerror(-err));
}

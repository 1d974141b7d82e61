/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Template instances: the wiring of src/template.h. For every template profile (a Cgroup= pattern),
 * watch with inotify every directory the pattern can descend into (the directories that match its
 * first components, from the cgroup root down, including those that do not exist yet as far as
 * their existing parent), and give every cgroup that matches the whole pattern a tenant instance
 * (manager_add_instance()) as it appears, up to TemplateInstancesMax= per template (a loud warning,
 * MEMQOSD_MESSAGE_TEMPLATE_OVER_BOUND, when a pattern matches more). Any inotify event on a watched
 * directory marks its template for a rescan, run once per loop iteration: no polling, and
 * directories appearing at intermediate levels are watched as they appear. The manager drops an
 * instance whose cgroup goes away; a reload that removes a template or changes its pattern removes
 * its instances (their originals restored), one that changes its settings applies them to every
 * instance. A cgroup already managed (a profile names it, or another template's instance has it) is
 * left to that tenant.
 *
 * Attached to the manager through its hooks (config_applied); the manager owns the instances.
 */

#include "manager.h"

typedef struct Instances Instances;

int instances_install(Manager *m, Instances **ret);
Instances *instances_free(Instances *in);
DEFINE_TRIVIAL_CLEANUP_FUNC(Instances *, instances_free);

/* Number of instances the template of this name has now (tests, status). */
size_t instances_count(Manager *m, const char *template_name);

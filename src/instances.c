/* SPDX-License-Identifier: LGPL-2.1-or-later */

#include "instances.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <sys/inotify.h>
#include <sys/stat.h>

#include "journal-ids.h"
#include "template.h"
#include "util.h"

typedef struct TemplateWatch TemplateWatch;

typedef struct WatchedDir {
	TemplateWatch *owner;
	char *path;                  /* relative to the cgroup root; "" is the root */
	size_t depth;                /* its number of components: pattern component [depth] applies to its children */
	uint64_t ino;                /* a directory removed and made again under the same path is another */
	sd_event_source *source;
} WatchedDir;

struct TemplateWatch {
	Instances *owner;
	char *name;                  /* the template profile's name */
	const TenantConfig *config;  /* borrowed from manager->config; replaced on reload */
	WatchedDir **dirs;
	size_t n_dirs;
	bool dirty;                  /* rescan at the next loop iteration */
	size_t warned_matches;       /* matches when the bound was last reported; 0 = within the bound */
};

struct Instances {
	Manager *m;
	TemplateWatch **templates;
	size_t n_templates;
	sd_event_source *rescan;     /* defer: rescans the dirty templates */
};

/* A growable list of strings. */
typedef struct StrList {
	char **v;
	size_t n, cap;
} StrList;

static void strlist_clear(StrList *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	*l = (StrList) {};
}

static int strlist_push(StrList *l, char *s)
{
	if (!s)
		return -ENOMEM;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = reallocarray(l->v, cap, sizeof(*v));

		if (!v) {
			free(s);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n++] = s;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static char *path_join(const char *dir, const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return p;
}

static WatchedDir *watched_dir_free(WatchedDir *d)
{
	if (!d)
		return NULL;
	free(d->path);
	sd_event_source_disable_unref(d->source);
	free(d);
	return NULL;
}

static TemplateWatch *template_watch_free(TemplateWatch *tw)
{
	if (!tw)
		return NULL;
	for (size_t i = 0; i < tw->n_dirs; i++)
		watched_dir_free(tw->dirs[i]);
	free(tw->dirs);
	free(tw->name);
	free(tw);
	return NULL;
}

static void instances_schedule(Instances *in, TemplateWatch *tw)
{
	tw->dirty = true;
	(void) sd_event_source_set_enabled(in->rescan, SD_EVENT_ONESHOT);
}

/*
 * Only what can change the matches costs a rescan: the watched directory itself going (or the
 * queue overflowing), or a directory appearing or going whose name matches the pattern's component
 * at that level. A service starting next to the scopes a template follows costs nothing more.
 * (An instance's own cgroup going is the manager's: it drops the instance, and on_tenant_detach()
 * asks for a rescan then.)
 */
static int on_dir_event(sd_event_source *s, const struct inotify_event *ev, void *userdata)
{
	WatchedDir *d = userdata;
	TemplateWatch *tw = d->owner;
	char comp[NAME_MAX + 1];
	bool relevant;

	(void) s;
	if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_Q_OVERFLOW | IN_UNMOUNT))
		relevant = true;
	else
		relevant = (ev->mask & IN_ISDIR) && ev->len > 0 &&
			   template_component(tw->config->cgroup, d->depth, comp, sizeof(comp)) >= 0 &&
			   template_component_match(comp, ev->name);
	log_debug(&tw->owner->m->log, "Template %s: inotify mask 0x%x on %s/%s%s", tw->name, ev->mask, d->path,
		  ev->len > 0 ? ev->name : "", relevant ? "" : ", not matching: ignored");
	if (relevant)
		instances_schedule(tw->owner, tw);
	return 0;
}

/*
 * Walk the pattern from the cgroup root: every directory that matches its first d components
 * (d < depth) goes to *dirs (to watch), every one that matches all of them to *matches.
 * Directories that vanish during the walk are skipped (the inotify event of their removal comes).
 */
static int template_walk(Manager *m, const char *pattern, StrList *dirs, StrList *matches)
{
	size_t depth = template_depth(pattern);
	StrList level = {}, next = {};
	char comp[NAME_MAX + 1];
	int r;

	r = strlist_push(&level, strdup(""));
	for (size_t d = 0; r >= 0 && d < depth; d++) {
		if (template_component(pattern, d, comp, sizeof(comp)) < 0) {
			r = -EINVAL;
			break;
		}
		for (size_t i = 0; r >= 0 && i < level.n; i++) {
			_cleanup_close_ int fd = -EBADF;
			DIR *dir;
			int k;

			r = strlist_push(dirs, strdup(level.v[i]));
			if (r < 0)
				break;
			k = cgroup_open(m->root, level.v[i], &fd);
			if (k < 0) {
				log_debug_errno(&m->log, k, "Cannot open %s/%s for a template walk, skipping: %m",
						m->root->path, level.v[i]);
				continue;
			}
			dir = fdopendir(fd);
			if (!dir) {
				log_debug_errno(&m->log, negative_errno(), "Cannot list %s/%s, skipping: %m", m->root->path,
						level.v[i]);
				continue;
			}
			TAKE_FD(fd);
			for (struct dirent *de; r >= 0 && (de = readdir(dir));) {
				struct stat st;

				if (de->d_name[0] == '.' && (de->d_name[1] == '\0' || streq(de->d_name, "..")))
					continue;
				if (!template_component_match(comp, de->d_name))
					continue;
				if (de->d_type != DT_DIR) {
					if (de->d_type != DT_UNKNOWN)
						continue;
					if (fstatat(dirfd(dir), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
					    !S_ISDIR(st.st_mode))
						continue;
				}
				r = strlist_push(d + 1 == depth ? matches : &next, path_join(level.v[i], de->d_name));
			}
			closedir(dir);
		}
		strlist_clear(&level);
		level = next;
		next = (StrList) {};
	}
	strlist_clear(&level);
	strlist_clear(&next);
	if (r < 0)
		return r;
	qsort(matches->v, matches->n, sizeof(*matches->v), cmp_str);
	return 0;
}

/* Watch exactly the directories in want; keep the watches that are still right. */
static void template_rewatch(TemplateWatch *tw, StrList *want)
{
	Manager *m = tw->owner->m;
	WatchedDir **dirs;
	size_t n = 0;

	dirs = calloc(want->n ? want->n : 1, sizeof(*dirs));
	if (!dirs) {
		log_warning_errno(&m->log, -ENOMEM, "Template %s: cannot update its watches, keeping the old ones: %m",
				  tw->name);
		return;
	}
	for (size_t i = 0; i < want->n; i++) {
		_cleanup_close_ int fd = -EBADF;
		WatchedDir *d = NULL;
		struct stat st;
		int r;

		r = cgroup_open(m->root, want->v[i], &fd);
		if (r < 0 || fstat(fd, &st) < 0)
			continue; /* gone meanwhile: its parent's watch reports it */
		for (size_t j = 0; j < tw->n_dirs; j++)
			if (tw->dirs[j] && tw->dirs[j]->ino == (uint64_t) st.st_ino && streq(tw->dirs[j]->path, want->v[i])) {
				d = TAKE_PTR(tw->dirs[j]);
				break;
			}
		if (!d) {
			d = calloc(1, sizeof(*d));
			if (!d) {
				log_warning_errno(&m->log, -ENOMEM, "Template %s: cannot watch %s/%s: %m", tw->name,
						  m->root->path, want->v[i]);
				continue;
			}
			d->owner = tw;
			d->path = TAKE_PTR(want->v[i]);
			d->depth = template_depth(d->path);
			d->ino = (uint64_t) st.st_ino;
			r = sd_event_add_inotify_fd(m->event, &d->source, fd,
						    IN_CREATE | IN_MOVED_TO | IN_DELETE | IN_MOVED_FROM | IN_DELETE_SELF |
						    IN_MOVE_SELF | IN_ONLYDIR,
						    on_dir_event, d);
			if (r < 0) {
				log_warning_errno(&m->log, r, "Template %s: cannot watch %s/%s, cgroups appearing there are missed: %m",
						  tw->name, m->root->path, d->path);
				watched_dir_free(d);
				continue;
			}
			(void) sd_event_source_set_description(d->source, "template-dir-watch");
		}
		dirs[n++] = d;
	}
	for (size_t j = 0; j < tw->n_dirs; j++)
		watched_dir_free(tw->dirs[j]);
	free(tw->dirs);
	tw->dirs = dirs;
	tw->n_dirs = n;
}

/* An instance's own profile: the template's settings, its own name and cgroup. */
static TenantConfig *instance_config(const TenantConfig *tmpl, const char *cgroup)
{
	TenantConfig *c;
	char *name = NULL;

	if (template_instance_name(tmpl->name, tmpl->cgroup, cgroup, &name) < 0)
		return NULL;
	c = tenant_config_dup(tmpl);
	if (!c) {
		free(name);
		return NULL;
	}
	free(c->name);
	c->name = name;
	free(c->cgroup);
	c->cgroup = strdup(cgroup);
	c->template = strdup(tmpl->name);
	c->is_template = false;
	if (!c->cgroup || !c->template)
		return tenant_config_free(c);
	return c;
}

/* The instances of a template now (borrowed), sorted by cgroup. */
static int template_instances(Manager *m, const char *name, Tenant ***ret, size_t *ret_n)
{
	Tenant **v = calloc(m->n_tenants + 1, sizeof(*v));
	size_t n = 0;

	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < m->n_tenants; i++)
		if (!m->tenants[i]->gone && m->tenants[i]->config->template &&
		    streq(m->tenants[i]->config->template, name))
			v[n++] = m->tenants[i];
	*ret = v;
	*ret_n = n;
	return 0;
}

size_t instances_count(Manager *m, const char *template_name)
{
	_cleanup_free_ Tenant **v = NULL;
	size_t n = 0;

	if (template_instances(m, template_name, &v, &n) < 0)
		return 0;
	return n;
}

static int cmp_tenant_cgroup(const void *a, const void *b)
{
	return strcmp((*(Tenant *const *) a)->config->cgroup, (*(Tenant *const *) b)->config->cgroup);
}

static void template_report_bound(TemplateWatch *tw, size_t matches, size_t bound)
{
	Manager *m = tw->owner->m;
	char f_t[256], f_c[512], f_m[64], f_b[64];
	const char *fields[] = { f_t, f_c, f_m, f_b, NULL };

	if (matches <= bound) {
		if (tw->warned_matches > 0)
			log_notice(&m->log, "Template %s: %zu matching cgroups, within TemplateInstancesMax=%zu again",
				   tw->name, matches, bound);
		tw->warned_matches = 0;
		return;
	}
	/* Loud once per crossing, and again each time the excess doubles. */
	if (tw->warned_matches > 0 && matches - bound < 2 * (tw->warned_matches - bound))
		return;
	tw->warned_matches = matches;
	snprintf(f_t, sizeof(f_t), "MEMQOSD_TEMPLATE=%s", tw->name);
	snprintf(f_c, sizeof(f_c), "MEMQOSD_CGROUP=%s", tw->config->cgroup);
	snprintf(f_m, sizeof(f_m), "MEMQOSD_MATCHES=%zu", matches);
	snprintf(f_b, sizeof(f_b), "MEMQOSD_BOUND=%zu", bound);
	log_struct(&m->log, LOG_WARNING, MEMQOSD_MESSAGE_TEMPLATE_OVER_BOUND, fields,
		   "%s:%u: Cgroup=: template %s matches %zu cgroups, more than TemplateInstancesMax=%zu: %zu of them "
		   "get no tenant (raise TemplateInstancesMax= or narrow the pattern)",
		   tw->config->file, tw->config->cgroup_line, tw->name, matches, bound, matches - bound);
}

/* Bring a template's watches and instances in line with the cgroups there are now. */
static void template_rescan(TemplateWatch *tw)
{
	Manager *m = tw->owner->m;
	size_t bound = m->config->daemon.template_instances_max, n_have = 0, n_claimable = 0;
	StrList dirs = {}, matches = {};
	_cleanup_free_ Tenant **have = NULL;
	int r;

	tw->dirty = false;
	r = template_walk(m, tw->config->cgroup, &dirs, &matches);
	if (r < 0) {
		log_warning_errno(&m->log, r, "Template %s: cannot scan for cgroups matching %s: %m", tw->name,
				  tw->config->cgroup);
		goto finish;
	}
	template_rewatch(tw, &dirs);

	r = template_instances(m, tw->name, &have, &n_have);
	if (r < 0)
		goto finish;
	qsort(have, n_have, sizeof(*have), cmp_tenant_cgroup);
	/* The bound was lowered: the last instances by cgroup go (their originals restored). */
	while (n_have > bound)
		manager_remove_instance(m, have[--n_have], "TemplateInstancesMax= lowered");

	for (size_t i = 0; i < matches.n; i++) {
		Tenant *t = manager_find_tenant_by_cgroup(m, matches.v[i]);
		TenantConfig *c;

		if (t) {
			if (!t->config->template || !streq(t->config->template, tw->name))
				log_debug(&m->log, "Template %s: cgroup %s is tenant %s's already", tw->name, matches.v[i],
					  t->config->name);
			else
				n_claimable++;
			continue;
		}
		n_claimable++;
		if (n_have >= bound)
			continue;
		c = instance_config(tw->config, matches.v[i]);
		if (!c) {
			log_warning_errno(&m->log, -ENOMEM, "Template %s: cannot make an instance for %s: %m", tw->name,
					  matches.v[i]);
			continue;
		}
		r = manager_add_instance(m, c, NULL);
		if (r < 0)
			log_warning_errno(&m->log, r, "Template %s: cannot add an instance for %s: %m", tw->name,
					  matches.v[i]);
		else
			n_have++;
	}
	template_report_bound(tw, n_claimable, bound);
finish:
	strlist_clear(&dirs);
	strlist_clear(&matches);
}

static int on_rescan(sd_event_source *s, void *userdata)
{
	Instances *in = userdata;

	(void) s;
	for (size_t i = 0; i < in->n_templates; i++)
		if (in->templates[i]->dirty)
			template_rescan(in->templates[i]);
	return 0;
}

static TemplateWatch *instances_find(Instances *in, const char *name)
{
	for (size_t i = 0; i < in->n_templates; i++)
		if (streq(in->templates[i]->name, name))
			return in->templates[i];
	return NULL;
}

/* Every instance of a template goes (template removed, or its pattern changed). */
static void template_remove_instances(Manager *m, const char *name, const char *why)
{
	_cleanup_free_ Tenant **have = NULL;
	size_t n = 0;

	if (template_instances(m, name, &have, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++)
		manager_remove_instance(m, have[i], why);
}

/* The template's settings changed: every instance gets them. */
static void template_reconfigure_instances(Manager *m, const TenantConfig *tmpl)
{
	_cleanup_free_ Tenant **have = NULL;
	size_t n = 0;

	if (template_instances(m, tmpl->name, &have, &n) < 0)
		return;
	for (size_t i = 0; i < n; i++) {
		TenantConfig *c = instance_config(tmpl, have[i]->config->cgroup);

		if (!c)
			log_warning_errno(&m->log, -ENOMEM, "Tenant %s: cannot apply template %s's new settings: %m",
					  have[i]->config->name, tmpl->name);
		else
			manager_reconfigure_instance(m, have[i], c);
	}
}

/* An instance leaves (its cgroup went, or it is removed): a slot under the bound may be free now. */
static void on_tenant_detach(Manager *m, Tenant *t, void *userdata)
{
	Instances *in = userdata;
	TemplateWatch *tw;

	(void) m;
	if (t->config->template && (tw = instances_find(in, t->config->template)))
		instances_schedule(in, tw);
}

static void on_config_applied(Manager *m, const Config *old, void *userdata)
{
	Instances *in = userdata;
	TemplateWatch **v;
	size_t n = 0;

	(void) old;
	v = calloc(m->config->n_tenants + 1, sizeof(*v));
	if (!v) {
		log_error_errno(&m->log, -ENOMEM, "Cannot apply the templates of the new configuration: %m");
		return;
	}
	/* Templates gone, or on another pattern: their instances go (restored). */
	for (size_t i = 0; i < in->n_templates; i++) {
		TemplateWatch *tw = in->templates[i];
		const TenantConfig *nc = config_find_tenant(m->config, tw->name);

		if (nc && nc->is_template && streq(nc->cgroup, tw->config->cgroup)) {
			if (!tenant_config_equal(nc, tw->config))
				template_reconfigure_instances(m, nc);
			tw->config = nc;
			v[n++] = tw;
			continue;
		}
		template_remove_instances(m, tw->name, nc ? "reload: template's Cgroup= changed" : "reload: template removed");
		template_watch_free(tw);
	}
	free(in->templates);
	in->templates = v;
	in->n_templates = n;

	for (size_t i = 0; i < m->config->n_tenants; i++) {
		const TenantConfig *c = m->config->tenants[i];
		TemplateWatch *tw;

		if (!c->is_template || instances_find(in, c->name))
			continue;
		tw = calloc(1, sizeof(*tw));
		if (!tw || !(tw->name = strdup(c->name))) {
			free(tw);
			log_error_errno(&m->log, -ENOMEM, "Template %s: cannot set it up: %m", c->name);
			continue;
		}
		tw->owner = in;
		tw->config = c;
		in->templates[in->n_templates++] = tw;
		log_info(&m->log, "Template %s: following cgroups matching %s (at most %u instances)", c->name, c->cgroup,
			 m->config->daemon.template_instances_max);
	}
	/* At once: start-up wants the instances before the state records are swept. */
	for (size_t i = 0; i < in->n_templates; i++)
		template_rescan(in->templates[i]);
}

int instances_install(Manager *m, Instances **ret)
{
	_cleanup_(instances_freep) Instances *in = NULL;
	int r;

	in = calloc(1, sizeof(*in));
	if (!in)
		return -ENOMEM;
	in->m = m;
	r = sd_event_add_defer(m->event, &in->rescan, on_rescan, in);
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to add the template rescan source: %m");
	(void) sd_event_source_set_description(in->rescan, "template-rescan");
	(void) sd_event_source_set_enabled(in->rescan, SD_EVENT_OFF);
	r = manager_add_hooks(m, &(ManagerHooks) {
		.tenant_detach = on_tenant_detach,
		.config_applied = on_config_applied,
		.userdata = in,
	});
	if (r < 0)
		return log_error_errno(&m->log, r, "Failed to register the template hooks: %m");
	*ret = TAKE_PTR(in);
	return 0;
}

Instances *instances_free(Instances *in)
{
	if (!in)
		return NULL;
	manager_remove_hooks(in->m, in);
	for (size_t i = 0; i < in->n_templates; i++)
		template_watch_free(in->templates[i]);
	free(in->templates);
	sd_event_source_disable_unref(in->rescan);
	free(in);
	return NULL;
}
